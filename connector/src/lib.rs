//! PlayHouse-protocol client and reference play server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod client;
pub mod codec;
pub mod error;
pub mod packet;
pub mod server;
pub mod tracker;
pub mod transport;

pub use client::config::ConnectorConfig;
pub use client::Connector;
pub use error::{ConnectorError, ConnectorErrorCode};
pub use packet::Packet;
