//! A socket wrapper that remembers the latest input and sync packets per remote so the
//! runner can re-send them on its own clock (see the module docs of [`super`]), and times
//! ggrs's probes to the remote player on that clock ([`super::rtt`]).

use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ggrs::{Message, NonBlockingSocket};

use super::rtt::{probe_of, ProbeDir, RttEstimator};
use crate::clock::SharedClock;
use crate::wire::{self, MessageKind};

struct TapInner<A> {
    socket: Box<dyn NonBlockingSocket<A>>,
    latest: Vec<(A, MessageKind, Message)>,
    sent: u64,
    received: u64,
    clock: SharedClock,
    remote: A,
    from_remote: u64,
    rtt: RttEstimator,
}

/// The half given to ggrs.
pub(crate) struct TappedSocket<A>(Arc<Mutex<TapInner<A>>>);

/// The half kept by the runner.
pub(crate) struct Tap<A>(Arc<Mutex<TapInner<A>>>);

fn lock<A>(m: &Mutex<TapInner<A>>) -> MutexGuard<'_, TapInner<A>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Splits `socket` into ggrs's half and the runner's; probes to and from `remote` are
/// timed on `clock`.
pub(crate) fn tap<A>(
    socket: Box<dyn NonBlockingSocket<A>>,
    clock: SharedClock,
    remote: A,
) -> (TappedSocket<A>, Tap<A>) {
    let inner = Arc::new(Mutex::new(TapInner {
        socket,
        latest: Vec::new(),
        sent: 0,
        received: 0,
        clock,
        remote,
        from_remote: 0,
        rtt: RttEstimator::default(),
    }));
    (TappedSocket(inner.clone()), Tap(inner))
}

impl<A> NonBlockingSocket<A> for TappedSocket<A>
where
    A: Clone + PartialEq + Eq + Hash + Send + Sync,
{
    fn send_to(&mut self, msg: &Message, addr: &A) {
        let kind = wire::kind(msg);
        let mut t = lock(&self.0);
        if matches!(kind, MessageKind::Input | MessageKind::SyncRequest) {
            match t
                .latest
                .iter_mut()
                .find(|(a, k, _)| a == addr && *k == kind)
            {
                Some(entry) => entry.2 = msg.clone(),
                None => t.latest.push((addr.clone(), kind, msg.clone())),
            }
        }
        if *addr == t.remote {
            if let Some((ProbeDir::Request, probe)) = probe_of(msg) {
                let now = t.clock.now();
                t.rtt.on_sent(probe, now);
            }
        }
        t.sent += 1;
        t.socket.send_to(msg, addr);
    }

    fn receive_all_messages(&mut self) -> Vec<(A, Message)> {
        let mut t = lock(&self.0);
        let msgs = t.socket.receive_all_messages();
        t.received += msgs.len() as u64;
        let now = t.clock.now();
        for (from, msg) in &msgs {
            if *from == t.remote {
                t.from_remote = t.from_remote.saturating_add(1);
                if let Some((ProbeDir::Reply, probe)) = probe_of(msg) {
                    t.rtt.on_reply(probe, now);
                }
            }
        }
        msgs
    }
}

impl<A> Tap<A>
where
    A: Clone + PartialEq + Eq + Hash + Send + Sync,
{
    /// Re-sends the latest message of `kind` to every remote; returns how many were sent.
    pub fn retransmit(&self, kind: MessageKind) -> u64 {
        let mut t = lock(&self.0);
        let TapInner {
            socket,
            latest,
            sent,
            ..
        } = &mut *t;
        let mut n = 0;
        for (addr, k, msg) in latest.iter() {
            if *k == kind {
                socket.send_to(msg, addr);
                n += 1;
            }
        }
        *sent += n;
        n
    }

    /// Mean round-trip time to the remote and its jitter, on the runner's clock, with the
    /// number of samples (`None` before the first reply).
    pub fn rtt(&self) -> Option<(Duration, Duration, usize)> {
        let t = lock(&self.0);
        Some((t.rtt.mean()?, t.rtt.jitter()?, t.rtt.len()))
    }

    /// Packets received from the remote player (not from spectators).
    pub fn received_from_remote(&self) -> u64 {
        lock(&self.0).from_remote
    }

    /// Packets sent and received through the socket.
    pub fn counters(&self) -> (u64, u64) {
        let t = lock(&self.0);
        (t.sent, t.received)
    }
}
