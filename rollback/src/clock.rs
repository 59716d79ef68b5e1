//! `clock`: the time source of a session.
//!
//! Runners, the network simulator and the socket decorators all read time through
//! [`Clock`]: a [`VirtualClock`] for simulations (time moves only when the driver moves it,
//! so a match runs as fast as the CPU allows) and the [`WallClock`] for real sockets.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic time source, as a duration since the clock's origin.
pub trait Clock: Send + Sync + Debug {
    /// Time since the origin.
    fn now(&self) -> Duration;
}

/// A clock shared between runners, sockets and the driver.
pub type SharedClock = Arc<dyn Clock>;

/// A virtual clock: time only moves when the driver sets it, so a simulated match runs as
/// fast as the CPU allows. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the time (never moves backwards).
    pub fn set(&self, t: Duration) {
        let n = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(n, Ordering::SeqCst);
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(n, Ordering::SeqCst);
    }

    /// This clock as a [`SharedClock`].
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// The current virtual time.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        VirtualClock::now(self)
    }
}

/// The wall clock (monotonic, from construction).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Instant,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock {
    /// A wall clock starting now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// This clock as a [`SharedClock`].
    pub fn shared(&self) -> SharedClock {
        Arc::new(*self)
    }

    /// Time since construction.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        WallClock::now(self)
    }
}
