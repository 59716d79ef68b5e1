//! # connector: a PlayHouse-protocol client and reference play server
//!
//! A Rust client library for game servers that speak the PlayHouse wire protocol over TCP
//! or WebSocket (the Rust shape of PlayHouse's C# `Connector`), plus a small reference
//! server that speaks the server side for tests, examples and benchmarks.
//!
//! Layers (sans-IO cores, thin async drivers):
//! - [`codec`]: pure encode/decode over byte buffers in both directions; tells "need more
//!   bytes" from "invalid"; every size checked before allocating; LZ4 (K4os pickle framing
//!   and raw blocks) bounded by the configured maxima.
//! - [`tracker`]: 16-bit request sequence numbers (wrapping, skipping 0), deadlines, late
//!   replies dropped. [`client::liveness`]: heartbeat and idle-timeout schedule.
//! - [`connection`]: one client connection as a sans-IO state machine (tracker, liveness,
//!   auth gate, read buffer): bytes and `now` in; frames, events and the next deadline out.
//! - [`transport`]: TCP and WebSocket behind one trait.
//! - [`Connector`]: the public API, one driver task around a [`connection::Connection`];
//!   callbacks are queued and run in [`Connector::main_thread_action`]. Every queue is
//!   bounded (see [`connection`] and [`client`]). [`server`]: the reference play server.
//!
//! ## The game loop (Unity `Update()` style)
//! No async code on the game side: the connector runs its I/O on its own thread, and every
//! event and callback runs inside `main_thread_action()`, called once per frame.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use connector::server::{PlayServer, ServerConfig};
//! use connector::{Connector, ConnectorConfig, Packet};
//!
//! // A reference server on 127.0.0.1:0 (echo handlers, auth msgId required).
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let server = rt.block_on(async {
//!     let config = ServerConfig { auth_msg_id: Some("AuthenticateRequest".into()), ..Default::default() };
//!     PlayServer::builder(config).echo().tcp("127.0.0.1:0".parse().unwrap()).start().await.unwrap()
//! });
//! let port = server.tcp_addr().unwrap().port();
//!
//! // The game side.
//! let connector = Connector::new(ConnectorConfig::new("127.0.0.1", port)).unwrap();
//! connector.set_authenticate_message_id("AuthenticateRequest");
//! let log = Arc::new(Mutex::new(Vec::<String>::new()));
//! let (c, l) = (connector.clone(), log.clone());
//! connector.on_connect(move |ok| {
//!     if !ok { return; }
//!     let (c2, l2) = (c.clone(), l.clone());
//!     c.authenticate(Packet::new("AuthenticateRequest", b"token".to_vec()), move |_reply| {
//!         c2.request_to_stage(7, Packet::new("MoveRequest", vec![1, 2]), move |reply| {
//!             l2.lock().unwrap().push(format!("{} on stage {}", reply.msg_id(), 7));
//!         });
//!     });
//! });
//! connector.on_receive(|stage_id, packet| println!("push {} on stage {stage_id}", packet.msg_id()));
//! connector.on_error(|stage_id, code, request| eprintln!("{} failed: {code} (stage {stage_id})", request.msg_id()));
//! connector.on_disconnect(|| println!("disconnected"));
//! connector.connect(false);
//!
//! for _frame in 0..1000 {
//!     connector.main_thread_action(); // runs queued callbacks on this thread
//!     if !log.lock().unwrap().is_empty() { break; }
//!     std::thread::sleep(std::time::Duration::from_millis(16));
//! }
//! assert_eq!(log.lock().unwrap()[0], "MoveReply on stage 7");
//! assert!(connector.is_authenticated());
//! connector.disconnect();
//! rt.block_on(server.shutdown());
//! ```
//!
//! ## The async style
//! The `*_async` methods complete without `main_thread_action()`; failures are a typed
//! [`ConnectorError`] carrying the stage id, the error code and the request's msgId.
//!
//! ```
//! use connector::server::{PlayServer, ServerConfig};
//! use connector::{error, Connector, ConnectorConfig, Packet};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let config = ServerConfig { auth_msg_id: Some("AuthenticateRequest".into()), ..Default::default() };
//! let server = PlayServer::builder(config)
//!     .echo()
//!     .websocket("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await
//!     .unwrap();
//! let addr = server.ws_addr().unwrap();
//!
//! let connector = Connector::new(ConnectorConfig {
//!     use_websocket: true,
//!     ..ConnectorConfig::new("127.0.0.1", addr.port())
//! })
//! .unwrap();
//! connector.set_authenticate_message_id("AuthenticateRequest");
//! assert!(connector.connect_async(false).await);
//!
//! // The auth gate is enforced locally: nothing is written before authenticating.
//! let err = connector.request_async(Packet::empty("EchoRequest")).await.unwrap_err();
//! assert_eq!(err.error_code, error::UNAUTHENTICATED);
//!
//! connector.authenticate_async(Packet::new("AuthenticateRequest", b"me".to_vec())).await.unwrap();
//! let reply = connector.request_to_stage_async(12345, Packet::new("AttackRequest", vec![9])).await.unwrap();
//! assert_eq!((reply.msg_id(), &reply.payload()[..]), ("AttackReply", &[9u8][..]));
//! connector.disconnect();
//! server.shutdown().await;
//! # }
//! ```
//!
//! ## Panics and errors
//! Nothing in this crate panics on input from the network: malformed packets are a typed
//! [`codec::DecodeError`] that closes the connection; library code does not `unwrap`.
//! Callbacks you register run inside `main_thread_action()`; a panic there is yours.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod codec;
pub mod connection;
pub mod error;
pub mod packet;
#[cfg(feature = "prost")]
pub mod relay;
pub mod server;
pub mod tracker;
pub mod transport;

pub use client::config::ConnectorConfig;
pub use client::Connector;
pub use error::{ConnectorError, ConnectorErrorCode};
pub use packet::Packet;
