//! [`SimNetwork`]: in-memory endpoints joined by shaped links on a [`VirtualClock`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ggrs::{Message, NonBlockingSocket};
use serde::{Deserialize, Serialize};

use super::{LinkConditions, LinkShaper, LinkStats, NetsimError};
use crate::clock::VirtualClock;
use crate::wire;

/// Address of a simulated endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct SimAddr(pub u16);

impl fmt::Display for SimAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sim:{}", self.0)
    }
}

struct NetInner {
    seed: u64,
    next_addr: u16,
    default_conditions: LinkConditions,
    links: BTreeMap<(SimAddr, SimAddr), LinkShaper<Message>>,
}

impl NetInner {
    fn link(&mut self, from: SimAddr, to: SimAddr) -> &mut LinkShaper<Message> {
        let seed = self.seed
            ^ (u64::from(from.0) << 32 | u64::from(to.0)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let cond = self.default_conditions;
        self.links
            .entry((from, to))
            .or_insert_with(|| LinkShaper::new(cond, seed))
    }
}

/// A simulated network: create endpoints with [`SimNetwork::endpoint`], set per-direction
/// [`LinkConditions`], and drive time with the [`VirtualClock`]. Clones share the network.
#[derive(Clone)]
pub struct SimNetwork {
    inner: Arc<Mutex<NetInner>>,
    clock: VirtualClock,
}

impl fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNetwork")
            .field("now", &self.clock.now())
            .finish()
    }
}

fn lock(m: &Mutex<NetInner>) -> MutexGuard<'_, NetInner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimNetwork {
    /// A network whose links are seeded from `seed`, on `clock`.
    pub fn new(seed: u64, clock: VirtualClock) -> Self {
        Self {
            inner: Arc::new(Mutex::new(NetInner {
                seed,
                next_addr: 1,
                default_conditions: LinkConditions::ideal(),
                links: BTreeMap::new(),
            })),
            clock,
        }
    }

    /// The network's clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// Conditions for links not configured explicitly.
    pub fn set_default_conditions(&self, c: LinkConditions) -> Result<(), NetsimError> {
        c.validate()?;
        lock(&self.inner).default_conditions = c;
        Ok(())
    }

    /// A new endpoint with a fresh address.
    pub fn endpoint(&self) -> SimSocket {
        let mut inner = lock(&self.inner);
        let addr = SimAddr(inner.next_addr);
        inner.next_addr = inner.next_addr.wrapping_add(1);
        SimSocket {
            net: self.inner.clone(),
            clock: self.clock.clone(),
            addr,
        }
    }

    /// Sets the conditions of the direction `from → to`.
    pub fn set_link(
        &self,
        from: SimAddr,
        to: SimAddr,
        c: LinkConditions,
    ) -> Result<(), NetsimError> {
        c.validate()?;
        lock(&self.inner).link(from, to).set_conditions(c);
        Ok(())
    }

    /// Sets the same conditions on both directions between `a` and `b`.
    pub fn set_symmetric(
        &self,
        a: SimAddr,
        b: SimAddr,
        c: LinkConditions,
    ) -> Result<(), NetsimError> {
        self.set_link(a, b, c)?;
        self.set_link(b, a, c)
    }

    /// Statistics of the direction `from → to`.
    pub fn link_stats(&self, from: SimAddr, to: SimAddr) -> LinkStats {
        *lock(&self.inner).link(from, to).stats()
    }

    /// Earliest pending delivery on any link.
    pub fn next_delivery(&self) -> Option<Duration> {
        lock(&self.inner)
            .links
            .values()
            .filter_map(LinkShaper::next_due)
            .min()
    }
}

/// One endpoint of a [`SimNetwork`]; a `ggrs::NonBlockingSocket<SimAddr>`.
pub struct SimSocket {
    net: Arc<Mutex<NetInner>>,
    clock: VirtualClock,
    addr: SimAddr,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimSocket")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimSocket {
    /// This endpoint's address.
    pub fn addr(&self) -> SimAddr {
        self.addr
    }
}

impl NonBlockingSocket<SimAddr> for SimSocket {
    fn send_to(&mut self, msg: &Message, addr: &SimAddr) {
        let now = self.clock.now();
        let mut inner = lock(&self.net);
        let link = inner.link(self.addr, *addr);
        let size = if link.conditions().bandwidth.is_some() {
            wire::encoded_len(msg)
        } else {
            0
        };
        link.submit(now, msg.clone(), size);
    }

    fn receive_all_messages(&mut self) -> Vec<(SimAddr, Message)> {
        let now = self.clock.now();
        let mut inner = lock(&self.net);
        let mut out = Vec::new();
        for ((from, to), link) in inner.links.iter_mut() {
            if *to == self.addr {
                let from = *from;
                link.deliver_due(now, |m| out.push((from, m)));
            }
        }
        out
    }
}
