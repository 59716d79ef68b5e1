//! [`Impaired`]: applies [`LinkConditions`] on top of any real ggrs socket.

use std::fmt;
use std::hash::Hash;

use ggrs::{Message, NonBlockingSocket};

use super::{LinkConditions, LinkShaper, LinkStats, NetsimError};
use crate::clock::SharedClock;
use crate::wire;

/// A decorator that delays, drops, duplicates and reorders the packets of an inner socket.
///
/// Outbound packets are shaped with `outbound` and sent to the inner socket when due;
/// inbound packets are shaped with `inbound` before ggrs sees them. Due packets are flushed
/// whenever ggrs calls the socket (every `poll_remote_clients`, i.e. at least once a frame),
/// so with a [`crate::clock::WallClock`] the timing resolution is the caller's poll rate.
pub struct Impaired<S, A> {
    inner: S,
    clock: SharedClock,
    outbound: LinkShaper<(A, Message)>,
    inbound: LinkShaper<(A, Message)>,
}

impl<S, A> fmt::Debug for Impaired<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Impaired")
            .field("outbound", self.outbound.conditions())
            .field("inbound", self.inbound.conditions())
            .finish()
    }
}

impl<S, A> Impaired<S, A>
where
    S: NonBlockingSocket<A>,
    A: Clone + PartialEq + Eq + Hash + Send + Sync,
{
    /// Wraps `inner`; `seed` makes the impairment reproducible for a given call sequence.
    pub fn new(
        inner: S,
        outbound: LinkConditions,
        inbound: LinkConditions,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, NetsimError> {
        outbound.validate()?;
        inbound.validate()?;
        Ok(Self {
            inner,
            clock,
            outbound: LinkShaper::new(outbound, seed),
            inbound: LinkShaper::new(inbound, seed.rotate_left(17) ^ 0x5bd1_e995),
        })
    }

    /// Statistics of the outbound direction.
    pub fn outbound_stats(&self) -> &LinkStats {
        self.outbound.stats()
    }

    /// Statistics of the inbound direction.
    pub fn inbound_stats(&self) -> &LinkStats {
        self.inbound.stats()
    }

    /// The wrapped socket.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn flush_outbound(&mut self) {
        let now = self.clock.now();
        let inner = &mut self.inner;
        self.outbound
            .deliver_due(now, |(addr, msg)| inner.send_to(&msg, &addr));
    }
}

impl<S, A> NonBlockingSocket<A> for Impaired<S, A>
where
    S: NonBlockingSocket<A>,
    A: Clone + PartialEq + Eq + Hash + Send + Sync,
{
    fn send_to(&mut self, msg: &Message, addr: &A) {
        let now = self.clock.now();
        let size = if self.outbound.conditions().bandwidth.is_some() {
            wire::encoded_len(msg)
        } else {
            0
        };
        self.outbound.submit(now, (addr.clone(), msg.clone()), size);
        self.flush_outbound();
    }

    fn receive_all_messages(&mut self) -> Vec<(A, Message)> {
        self.flush_outbound();
        let now = self.clock.now();
        let bw = self.inbound.conditions().bandwidth.is_some();
        for (addr, msg) in self.inner.receive_all_messages() {
            let size = if bw { wire::encoded_len(&msg) } else { 0 };
            self.inbound.submit(now, (addr, msg), size);
        }
        let mut out = Vec::new();
        self.inbound.deliver_due(now, |m| out.push(m));
        out
    }
}
