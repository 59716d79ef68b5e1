//! Connector configuration (the seed's `ConnectorConfig`) with documented defaults.

use crate::codec::{CodecLimits, DEFAULT_MAX_ORIGINAL_SIZE, DEFAULT_MAX_PACKET_LEN};

/// Default server host: loopback, so a default config never leaves the machine.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default WebSocket URL path.
pub const DEFAULT_WS_PATH: &str = "/ws";
/// Default idle timeout: close when nothing was received for 30 s (0 disables).
pub const DEFAULT_CONNECTION_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Default heartbeat interval: 10 s (0 disables).
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 10_000;
/// Default request timeout: 30 s (0 disables).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Default limit on establishing the connection: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Settings of a [`Connector`](crate::Connector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Server host name or address ([`DEFAULT_HOST`]).
    pub host: String,
    /// Server port (0 until set).
    pub port: u16,
    /// Use WebSocket instead of TCP (false).
    pub use_websocket: bool,
    /// WebSocket URL path ([`DEFAULT_WS_PATH`]).
    pub ws_path: String,
    /// Close the connection when nothing arrives for this long, in ms
    /// ([`DEFAULT_CONNECTION_IDLE_TIMEOUT_MS`]; 0 disables).
    pub connection_idle_timeout_ms: u64,
    /// Send a heartbeat this often, in ms ([`DEFAULT_HEARTBEAT_INTERVAL_MS`]; 0 disables).
    pub heartbeat_interval_ms: u64,
    /// Fail a request with 60202 after this long, in ms ([`DEFAULT_REQUEST_TIMEOUT_MS`];
    /// 0 disables).
    pub request_timeout_ms: u64,
    /// Give up connecting after this long, in ms ([`DEFAULT_CONNECT_TIMEOUT_MS`]).
    pub connect_timeout_ms: u64,
    /// Largest accepted packet `Len` ([`DEFAULT_MAX_PACKET_LEN`]).
    pub max_packet_len: usize,
    /// Largest accepted decompressed payload ([`DEFAULT_MAX_ORIGINAL_SIZE`]).
    pub max_original_size: usize,
    /// Log each request's round-trip time at `info` level (false).
    pub enable_logging_response_time: bool,
    /// Log every packet sent and received at `debug` level (false).
    pub turn_on_trace: bool,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: 0,
            use_websocket: false,
            ws_path: DEFAULT_WS_PATH.to_owned(),
            connection_idle_timeout_ms: DEFAULT_CONNECTION_IDLE_TIMEOUT_MS,
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            max_original_size: DEFAULT_MAX_ORIGINAL_SIZE,
            enable_logging_response_time: false,
            turn_on_trace: false,
        }
    }
}

impl ConnectorConfig {
    /// Default settings for `host:port` over TCP.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            ..Self::default()
        }
    }

    /// The codec limits derived from this config.
    pub fn limits(&self) -> CodecLimits {
        CodecLimits {
            max_packet_len: self.max_packet_len,
            max_original_size: self.max_original_size,
        }
    }
}
