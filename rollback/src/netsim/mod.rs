//! `netsim`: a seeded network simulator on a virtual clock, and a decorator for real sockets.
//!
//! * [`LinkConditions`]: latency, jitter, loss, duplication, reordering and an optional
//!   bandwidth cap, per direction.
//! * [`SimNetwork`] / [`SimSocket`]: in-memory endpoints, each a `ggrs::NonBlockingSocket`,
//!   on a [`VirtualClock`]. Time only moves when the driver moves it, so a match at 100 ms
//!   RTT runs as fast as the CPU allows (see [`crate::botmatch`]).
//! * [`SimPipe`]: a reliable, ordered, bounded message pipe (a spectator's stream).
//! * [`Impaired`]: the same conditions on top of any real socket, on the [`WallClock`].
//!
//! # ggrs and the wall clock
//! ggrs 0.13 reads the wall clock (`Instant::now()`) for: sync-request retries (200 ms),
//! input resends (200 ms without receiving input), keep-alives (200 ms), quality reports /
//! ping (200 ms), and the disconnect notify/timeout (500 ms / 2 s by default). On a virtual
//! clock that runs ~1000× faster than real time this means:
//! * ggrs's own RTT (`NetworkStats::ping`) and quality reports are near zero / rare: measure
//!   latency from the virtual clock instead ([`LinkStats`], reported by `botmatch`).
//! * the handshake costs virtual time (5 round trips) plus, when sync packets are lost,
//!   ggrs's 200 ms wall-clock retry — unless the runner re-sends on its own clock, which
//!   [`crate::session::P2PRunner`] does (`RunnerConfig::retransmit_interval`).
//! * disconnect timeouts must be set high in virtual-time mode (botmatch uses 60 s), or a
//!   slow debug-mode match could be declared disconnected by wall time.
//! * input-resend stalls: see [`crate::session`] for the start-of-match stall and how the
//!   runner avoids it.

mod conditions;
mod impaired;
mod network;
mod pipe;
mod shaper;

use thiserror::Error;

/// The clocks live in [`crate::clock`]; re-exported here for the simulator's users.
pub use crate::clock::{Clock, SharedClock, VirtualClock, WallClock};
pub use conditions::{LinkConditions, DEFAULT_REORDER_DELAY};
pub use impaired::Impaired;
pub use network::{SimAddr, SimNetwork, SimSocket};
pub use pipe::SimPipe;
pub use shaper::{LinkShaper, LinkStats};

/// Simulator configuration errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NetsimError {
    /// Out-of-range link conditions.
    #[error("invalid link conditions: {0}")]
    InvalidConditions(String),
}
