//! Server configuration with documented defaults.

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::{JwtKey, DEFAULT_JWT_LEEWAY_SECS};
use crate::hub::{HubConfig, DEFAULT_LOBBY_DELTA_BACKLOG};
use crate::protocol::IceServer;

/// Default listen address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The server pings every connection this often.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// A connection that sent nothing (not even a pong) for this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Text messages larger than this get `error 413` and are dropped.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// Frames larger than this many times the message limit are a protocol error (the
/// WebSocket layer closes the connection with 1009 before buffering more).
pub const FRAME_LIMIT_FACTOR: usize = 4;
/// Sustained message rate per connection (messages per second).
pub const DEFAULT_RATE_PER_SEC: u32 = 50;
/// Burst allowance per connection (messages).
pub const DEFAULT_RATE_BURST: u32 = 100;
/// Abuse score (dropped messages, decaying at the rate) above which the socket is closed.
pub const DEFAULT_RATE_ABUSE_THRESHOLD: u32 = 100;
/// Capacity of each connection's outbound queue; a client that lets it fill is a slow
/// consumer and is disconnected with close code 1008.
pub const DEFAULT_OUTBOUND_QUEUE: usize = 256;
/// Maximum simultaneous WebSocket connections; more get HTTP 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 50_000;
/// WebSocket read buffer per connection (small: idle connections must be cheap).
pub const DEFAULT_WS_READ_BUFFER: usize = 4 * 1024;
/// WebSocket write buffer target per connection: frames queued together are written with
/// one syscall at the flush (or earlier, once this many bytes are buffered). The buffer
/// grows only while frames wait, so idle connections do not pay for it; a connection that
/// received a burst keeps about this much capacity.
pub const DEFAULT_WS_WRITE_BUFFER: usize = 16 * 1024;
/// Upper bound of unflushed bytes per connection in the WebSocket layer.
pub const DEFAULT_WS_MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// How long a closing connection may take to flush its close frame.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Capacity of the channel from connections to the hub task.
pub const DEFAULT_HUB_QUEUE: usize = 8192;
/// Default lifetime of minted TURN credentials.
pub const DEFAULT_TURN_TTL: Duration = Duration::from_secs(3600);
/// TLS handshakes taking longer than this are dropped.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// PEM certificate chain and private key for `wss://`.
#[derive(Clone)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_pem: Vec<u8>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(..)")
    }
}

/// TURN servers with per-player REST-API credentials (coturn `use-auth-secret`).
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:host:port` URLs.
    pub urls: Vec<String>,
    /// Shared secret with the TURN server.
    pub secret: Vec<u8>,
    /// Lifetime of minted credentials.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Everything the server needs. Build with [`ServerConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address ([`DEFAULT_LISTEN`]; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Pinned JWT algorithm and key (HS256 secret by default).
    pub jwt: JwtKey,
    /// Clock-skew leeway for `exp`/`nbf` in seconds ([`DEFAULT_JWT_LEEWAY_SECS`]).
    pub jwt_leeway_secs: u64,
    /// Serve `wss://` when set.
    pub tls: Option<TlsConfig>,
    /// STUN/TURN servers sent in `welcome` as they are (none by default).
    pub ice_servers: Vec<IceServer>,
    /// TURN servers with credentials minted per player (none by default).
    pub turn: Option<TurnConfig>,
    /// Hub timeouts and lobby debounce.
    pub hub: HubConfig,
    /// [`DEFAULT_PING_INTERVAL`].
    pub ping_interval: Duration,
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub max_message_size: usize,
    /// [`DEFAULT_RATE_PER_SEC`].
    pub rate_per_sec: u32,
    /// [`DEFAULT_RATE_BURST`].
    pub rate_burst: u32,
    /// [`DEFAULT_RATE_ABUSE_THRESHOLD`].
    pub rate_abuse_threshold: u32,
    /// [`DEFAULT_OUTBOUND_QUEUE`].
    pub outbound_queue: usize,
    /// Lobby deltas queued per connection before a full `lobby_update` replaces them
    /// ([`DEFAULT_LOBBY_DELTA_BACKLOG`]).
    pub lobby_delta_backlog: usize,
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// [`DEFAULT_WS_READ_BUFFER`].
    pub ws_read_buffer: usize,
    /// [`DEFAULT_WS_WRITE_BUFFER`].
    pub ws_write_buffer: usize,
    /// [`DEFAULT_WS_MAX_WRITE_BUFFER`].
    pub ws_max_write_buffer: usize,
    /// [`DEFAULT_CLOSE_TIMEOUT`].
    pub close_timeout: Duration,
    /// Run as one node of a Redis cluster (none: the embedded single-node hub).
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

impl ServerConfig {
    /// Defaults with an HS256 shared secret, listening on [`DEFAULT_LISTEN`].
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jwt: JwtKey::Hs256(jwt_secret.into()),
            jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
            tls: None,
            ice_servers: Vec::new(),
            turn: None,
            hub: HubConfig::default(),
            ping_interval: DEFAULT_PING_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            rate_burst: DEFAULT_RATE_BURST,
            rate_abuse_threshold: DEFAULT_RATE_ABUSE_THRESHOLD,
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            lobby_delta_backlog: DEFAULT_LOBBY_DELTA_BACKLOG,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            ws_read_buffer: DEFAULT_WS_READ_BUFFER,
            ws_write_buffer: DEFAULT_WS_WRITE_BUFFER,
            ws_max_write_buffer: DEFAULT_WS_MAX_WRITE_BUFFER,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            cluster: None,
        }
    }

    /// The same configuration listening on `addr`.
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Checks the values once, before anything binds.
    pub fn validate(&self) -> Result<(), String> {
        if self.outbound_queue == 0 {
            return Err("outbound_queue must be at least 1".into());
        }
        if self.lobby_delta_backlog == 0 {
            return Err("lobby_delta_backlog must be at least 1".into());
        }
        if self.hub.max_lobby_size == 0 {
            return Err("max_lobby_size must be at least 1".into());
        }
        if self.max_message_size == 0 {
            return Err("max_message_size must be at least 1".into());
        }
        if self.ping_interval.is_zero() || self.idle_timeout.is_zero() {
            return Err("ping_interval and idle_timeout must be positive".into());
        }
        if self.rate_per_sec == 0 || self.rate_burst == 0 {
            return Err("rate limits must be positive".into());
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        if let Some(turn) = &self.turn {
            if turn.urls.is_empty() || turn.secret.is_empty() {
                return Err("turn needs at least one url and a secret".into());
            }
        }
        Ok(())
    }
}
