//! # peer: native WebRTC for netplay
//!
//! Turns "an authenticated player in a lobby" into "an open data channel to an opponent" and
//! hands out a [`ggrs::NonBlockingSocket`] over it. It knows no game.
//!
//! - [`ice`]: ICE servers from `welcome` (with TURN REST credentials), loopback-only and
//!   relay-only modes, tuned timers.
//! - [`negotiate`]: the signaling flow: lobby, challenge/accept, offer/answer, trickle ICE.
//! - [`channel`]: the unreliable game channel ([`ChannelMode::Ordered`] or
//!   [`ChannelMode::Sequenced`]) and the [`GgrsSocket`].
//! - [`codec`]: the size-limited packet codec ([`codec::decode_packet`] is fuzzed).
//! - [`link`]: the running match: [`MatchLink`] handle plus driver task, events, stats.
//! - [`loopback`]: two peers in one process over real WebRTC without signaling, optionally
//!   through the impairing UDP [`relay`] (measurements, transport tests).
//!
//! ## Panics
//! Nothing received from the network (signaling JSON, SDP, candidates, game packets) can
//! panic: failures are [`PeerError`]s, [`MatchEvent`]s, or counted drops.
//!
//! ## The driving loop
//! ```no_run
//! PLACEHOLDER
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod channel;
pub mod codec;
pub mod error;
pub mod ice;
pub mod link;
pub mod loopback;
pub mod negotiate;
pub mod relay;
mod transport;

pub use channel::{ChannelConfig, ChannelMode, GgrsSocket, LinkCounters, PeerId};
pub use error::PeerError;
pub use ice::{IceConfig, IceMode};
pub use link::{CloseReason, MatchEvent, MatchInfo, MatchLink, Opponent, Role, TransportStats};
pub use negotiate::{AcceptRule, MatchRule, Peer, PeerConfig};
