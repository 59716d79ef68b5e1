//! # rollback
//!
//! A rollback netcode engine on top of [ggrs](https://docs.rs/ggrs) 0.13: implement one
//! trait ([`Game`]) for your deterministic game state, hand any `ggrs::NonBlockingSocket`
//! to a [`session::P2PRunner`], and call `poll` + `advance(local_input)` once a frame.
//! The runner serves ggrs's save / load / advance requests, handles its events, follows its
//! time sync, detects desyncs (ggrs's checksum exchange plus our own log of confirmed-frame
//! checksums, with field-by-field state diffs) and records [`stats::RollbackStats`].
//!
//! Also in the crate: [`fighter`], a small reference fighting game; [`netsim`], a seeded
//! network simulator on a virtual clock (plus [`netsim::Impaired`] to degrade a real
//! socket); [`bot`]s; and [`botmatch`], which plays bot matches over the simulator far
//! faster than real time (`cargo run --release --example botmatch`).
//!
//! ## Plugging in your own game: the driving loop
//!
//! ```
//! use ggrs::InputStatus;
//! use rollback::game::{Game, StateHasher};
//! use rollback::clock::VirtualClock;
//! use rollback::netsim::{LinkConditions, SimNetwork};
//! use rollback::session::{P2PRunner, RunnerConfig, RunnerOptions};
//! use std::time::Duration;
//!
//! /// Two counters pushed by each player's input: the whole state, cheap to clone.
//! #[derive(Clone, Debug, Default)]
//! struct Tug { frame: u32, rope: i32 }
//!
//! impl Game for Tug {
//!     type Input = u8; // 1 = pull
//!     fn step(&mut self, inputs: &[(u8, InputStatus)]) {
//!         self.frame += 1;
//!         let pull = |i: usize| inputs.get(i).map_or(0, |(b, _)| i32::from(*b & 1));
//!         self.rope += pull(0) - pull(1);
//!     }
//!     fn hash_state(&self, h: &mut StateHasher) {
//!         h.write_u32(self.frame);
//!         h.write_i32(self.rope);
//!     }
//!     fn describe(&self) -> Vec<(String, String)> {
//!         vec![("frame".into(), self.frame.to_string()), ("rope".into(), self.rope.to_string())]
//!     }
//! }
//!
//! // Two peers on a simulated 40 ms link, on a virtual clock (runs as fast as the CPU).
//! let clock = VirtualClock::new();
//! let net = SimNetwork::new(7, clock.clone());
//! let (sa, sb) = (net.endpoint(), net.endpoint());
//! let (a, b) = (sa.addr(), sb.addr());
//! net.set_symmetric(a, b, LinkConditions::with_latency_loss(Duration::from_millis(40), 0.05))?;
//! let opts = || RunnerOptions { clock: Some(clock.shared()), ..Default::default() };
//! let config = RunnerConfig { disconnect_timeout: Duration::from_secs(60), ..Default::default() };
//! let mut peers = [
//!     P2PRunner::with_options(config.clone(), Tug::default(), sa, 0, b, opts())?,
//!     P2PRunner::with_options(config, Tug::default(), sb, 1, a, opts())?,
//! ];
//!
//! // The loop: every frame, poll the network, then advance with the local input.
//! // (In a real game: wait `frame_interval()` of wall time instead of moving the clock.)
//! while peers.iter().any(|p| p.confirmed_checksums().next_frame() <= 300) {
//!     clock.advance(peers[0].frame_interval().min(peers[1].frame_interval()));
//!     for (i, peer) in peers.iter_mut().enumerate() {
//!         peer.poll();
//!         if peer.is_running() {
//!             let pull = (peer.current_frame() % (3 + i as i32) == 0) as u8;
//!             peer.advance(pull)?;
//!         }
//!     }
//!     assert!(clock.now() < Duration::from_secs(120), "stuck");
//! }
//! // Both peers confirmed the same history.
//! let [p0, p1] = &peers;
//! assert_eq!(p0.confirmed_checksums().checksum_at(300), p1.confirmed_checksums().checksum_at(300));
//! println!("rollbacks: {}", p0.stats().rollbacks);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Panic policy
//! Library code does not `unwrap`/`expect` on anything that comes from the network; it
//! decodes no bytes itself (the transports do, e.g. `peer::codec`, bounded and fuzzed).
//! ggrs itself may assert on internal invariants.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod bot;
pub mod botmatch;
pub mod clock;
pub mod desync;
pub mod fighter;
pub mod game;
pub mod netsim;
pub mod replay;
pub mod session;
pub mod spectate;
pub mod stats;
pub mod wire;

pub use game::{Game, StateHasher};
pub use session::{
    FrameOutcome, P2PRunner, RunnerConfig, RunnerError, SpectatorRunner, SyncTestRunner,
};
pub use stats::RollbackStats;
