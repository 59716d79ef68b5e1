//! # peer: native WebRTC for netplay
//!
//! Turns "an authenticated player in a lobby" into "an open data channel to an opponent" and
//! hands out a [`ggrs::NonBlockingSocket`] over it. It knows no game.
//!
//! - [`ice`]: ICE servers from `welcome` (with TURN REST credentials), loopback-only and
//!   relay-only modes, tuned timers.
//! - [`negotiate`]: [`Peer`]: connect to the signal server, join the lobby, start a match.
//! - [`machine`]: the sans-IO [`MatchMachine`]: challenge/accept, offer/answer, trickle ICE,
//!   `match_started`, the running match and its end (inputs and `now` in, actions and the
//!   next deadline out).
//! - [`driver`]: the one task per match that owns the signaling connection and the peer
//!   connection and executes the machine's actions (the crate's only `select!`).
//! - [`channel`]: the unreliable game channel ([`ChannelMode::Ordered`] or
//!   [`ChannelMode::Sequenced`]) and the [`GgrsSocket`].
//! - [`codec`]: the size-limited packet codec ([`codec::decode_packet`] is fuzzed).
//! - [`link`]: the running match: the [`MatchLink`] handle, events, stats.
//! - [`relay_link`]: when peer-to-peer cannot connect, the game packets go through a
//!   play-server relay stage (`relay_assigned`), behind the same socket ([`RelayPolicy`]).
//! - [`spectate`]: spectators joining a running match: the host's [`SpectatorSender`]s
//!   ([`MatchLink::try_spectator_event`]) and the watcher's [`Watch`] ([`Peer::watch`]).
//! - [`lobby`]: staying in the lobby and picking the opponent by hand (a lobby screen):
//!   [`Peer::challenge`], [`Peer::accept`], [`Peer::decline`].
//! - [`loopback`]: two peers in one process over real WebRTC with an in-memory hub instead
//!   of a signal server, optionally through the impairing UDP [`relay`] (measurements,
//!   transport tests).
//!
//! ## Panics
//! Nothing received from the network (signaling JSON, SDP, candidates, game packets) can
//! panic: failures are [`PeerError`]s, [`MatchEvent`]s, or counted drops.
//!
//! ## The driving loop
//! Connect, find an opponent, take the socket, then once a frame: watch the link's events,
//! let ggrs send and receive through the socket; finally `finish`. This runs as written,
//! with an embedded signal server on 127.0.0.1:0:
//! ```
//! use std::time::Duration;
//! use ggrs::NonBlockingSocket;
//! use peer::{AcceptRule, MatchEvent, MatchRule, Peer, PeerConfig};
//! use signal::server::{ServerConfig, SignalServer};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a development secret".to_vec();
//! let config = ServerConfig::new(secret.clone()).with_listen("127.0.0.1:0".parse()?);
//! let server = SignalServer::start(config).await?;
//! let token = |sub: &str| signal::auth::mint_token(&secret, sub, None, Duration::from_secs(60));
//!
//! // Two players join the lobby (loopback-only ICE: nothing leaves the machine).
//! let alice = Peer::connect(&server.url(), &token("alice")?, PeerConfig::loopback("Alice")).await?;
//! let bob = Peer::connect(&server.url(), &token("bob")?, PeerConfig::loopback("Bob")).await?;
//!
//! // Alice challenges Bob and creates the offer; Bob accepts anyone and answers.
//! let (a, b) = tokio::join!(
//!     alice.start_match(MatchRule::Challenge("bob".into())),
//!     bob.start_match(MatchRule::Accept(AcceptRule::Any)),
//! );
//! let (mut alice, mut bob) = (a?, b?);
//! println!("connected in {:?}", alice.info().connect_time);
//!
//! // The sockets go into ggrs sessions; a hand-made packet stands in for ggrs here.
//! let (mut sa, mut sb) = (alice.take_socket().unwrap(), bob.take_socket().unwrap());
//! let ping = peer::codec::decode_packet(&[0x4E, 0x50, 1, 0, 0, 0, 0, 7, 7])?.message;
//! let mut received = 0;
//! for _frame in 0..600 {
//!     if let Some(MatchEvent::Closed(_) | MatchEvent::Failed(_)) = alice.try_event() {
//!         break; // the opponent is gone: end the game
//!     }
//!     sa.send_to(&ping, &alice.opponent_addr());
//!     received += sb.receive_all_messages().len();
//!     if received > 0 {
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_millis(16)).await;
//! }
//! assert!(received > 0);
//! println!("{:?}", alice.stats().await);
//!
//! // `end_match` to the server, close the peer connections.
//! alice.finish().await;
//! bob.finish().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod channel;
pub mod codec;
pub mod driver;
pub mod error;
pub mod ice;
pub mod link;
pub mod lobby;
pub mod loopback;
pub mod machine;
pub mod negotiate;
pub mod relay;
pub mod relay_link;
pub mod spectate;
mod transport;

pub use channel::{ChannelConfig, ChannelMode, GgrsSocket, LinkCounters, PeerId};
pub use error::PeerError;
pub use ice::{IceConfig, IceMode};
pub use link::{CloseReason, MatchEvent, MatchInfo, MatchLink, Opponent, Role, TransportStats};
pub use machine::{AcceptRule, MatchMachine, MatchRule, RelayPolicy};
pub use negotiate::{Peer, PeerConfig};
pub use signal::protocol::LinkKind;
pub use spectate::{SpectatorEvent, SpectatorSender, Watch, WatchOptions, WatchRead};
