//! WebSocket signaling for netplay: players authenticate with a JWT, meet in a lobby,
//! agree on a match and exchange WebRTC SDP and ICE candidates through the server until the
//! peer-to-peer connection is up. The server never sees WebRTC: SDP and candidates are
//! opaque values it routes between the two members of a match session.
//!
//! Layers (see `docs/spec/signaling.md` in the repository for the wire contract):
//! - [`protocol`]: serde types of every message (`{"type": ..., "payload": {...}}`).
//! - [`hub`]: the sans-IO lobby and match-session state machine. Input: a connection, a
//!   message and `now`; output: messages to send and the next deadline.
//! - [`server`]: the tokio/axum driver: JWT at the handshake, per-connection bounded
//!   queues, coalesced lobby snapshots, rate and size limits, pings, metrics, TLS.
//! - [`cluster`]: cluster mode (`--redis`): the hub replicated on every node through one
//!   Redis stream, node heartbeats and failure, the Redis driver.
//! - [`client`]: the async [`SignalClient`] used by the `peer` crate, which keeps a
//!   [`LobbyView`] of its lobby from full updates and deltas.
//! - [`auth`]: JWT verification/minting and TURN REST credentials.
//!
//! # Driving loop
//!
//! Start a server on an ephemeral loopback port, connect two clients and watch the lobby:
//!
//! ```
//! use std::time::Duration;
//! use signal::auth::mint_token;
//! use signal::protocol::{ClientMessage, JoinLobby, ServerMessage};
//! use signal::{ServerConfig, SignalClient, SignalServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"dev-secret".to_vec();
//! let config = ServerConfig::new(secret.clone()).with_listen("127.0.0.1:0".parse()?);
//! let server = SignalServer::start(config).await?;
//!
//! let hour = Duration::from_secs(3600);
//! let mut alice = SignalClient::connect(&server.url(), &mint_token(&secret, "alice", None, hour)?).await?;
//! let mut bob = SignalClient::connect(&server.url(), &mint_token(&secret, "bob", None, hour)?).await?;
//! for (client, name) in [(&alice, "Alice"), (&bob, "Bob")] {
//!     client
//!         .sender()
//!         .send(ClientMessage::JoinLobby(JoinLobby::new(client.player_id(), name)))?;
//! }
//! // Lobby snapshots are debounced and coalesced: wait for one that lists both players.
//! loop {
//!     match alice.recv().await {
//!         Some(ServerMessage::LobbyUpdate(lobby)) if lobby.players.len() == 2 => break,
//!         Some(_) => continue,
//!         None => panic!("server closed the connection"),
//!     }
//! }
//! alice.close().await;
//! bob.close().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The same loop, sans-IO: feed [`hub::Hub`] inputs with a timestamp, drain
//! [`hub::Hub::poll_output`], sleep until [`hub::Hub::poll_timeout`], call
//! [`hub::Hub::handle_timeout`]. The server's hub task does exactly that.
//!
//! # Panic policy
//!
//! Nothing a client sends may panic the server: library code does not `unwrap`, `expect`
//! or index on network input (enforced by clippy lints below). Bad frames are answered
//! with an `error` (400/403/404/409/413/429) and change no state; a client that floods or
//! stops reading is disconnected with close code 1008. The fuzz target
//! `fuzz/fuzz_targets/signal_message.rs` drives [`fuzzing::feed`] to keep it that way.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod client;
pub mod cluster;
pub mod fuzzing;
pub mod hub;
pub mod lobby_deflate;
pub mod lobby_view;
pub mod protocol;
pub mod ratelimit;
pub mod reconnect;
pub mod server;

pub use client::{ClientError, SignalClient, SignalSender};
pub use lobby_view::{LobbyView, LobbyViewError};
pub use server::{RunningServer, ServerConfig, SignalServer};

/// Installs rustls' ring provider as the process default (idempotent).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
