//! The reference play server: the server side of the protocol over TCP and WebSocket, for
//! tests, examples and benchmarks (and reusable as a relay).
//!
//! Features: a configurable authenticate msgId (nothing else is accepted before it; the
//! session is closed otherwise), heartbeat echo, stages (a session joins every stage id it
//! sends to), request/reply with echoed seq, error codes in the header, pushes and stage
//! broadcasts, optional LZ4 compression of large replies, limits on packet size and on the
//! number of connections, and graceful shutdown.

pub mod handler;
#[cfg(feature = "prost")]
pub mod http;
mod listener;
#[cfg(feature = "prost")]
pub mod playhouse;
#[cfg(feature = "prost")]
pub mod relay;
pub mod session;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::codec::{
    CodecLimits, CompressionPolicy, DEFAULT_MAX_ORIGINAL_SIZE, DEFAULT_MAX_PACKET_LEN,
};
use crate::packet::Packet;
pub use handler::{
    reply_msg_id, Handler, Outcome, RequestContext, ERROR_STAGE_FULL, ERROR_UNHANDLED_MSG_ID,
};
pub use session::SessionHandle;

/// Default limit on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default limit on stages alive at once.
pub const DEFAULT_MAX_STAGES: usize = 4096;
/// Default limit on members of one stage.
pub const DEFAULT_MAX_STAGE_MEMBERS: usize = 1024;
/// Default bound on bytes queued for one session's socket; past it the session is closed.
pub const DEFAULT_MAX_QUEUED_BYTES_PER_SESSION: usize = crate::transport::DEFAULT_OUTBOX_MAX_BYTES;
/// Default WebSocket path.
pub const DEFAULT_SERVER_WS_PATH: &str = "/ws";

/// Reference server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The authenticate msgId; `None` accepts everything from the start.
    pub auth_msg_id: Option<String>,
    /// Largest accepted client packet `Len` ([`DEFAULT_MAX_PACKET_LEN`]).
    pub max_packet_len: usize,
    /// Maximum concurrent connections ([`DEFAULT_MAX_CONNECTIONS`]); extra ones are closed.
    pub max_connections: usize,
    /// Reply compression (`None` = never; default: raw LZ4 blocks over 512 bytes saving ≥ 10 %).
    pub compression: Option<CompressionPolicy>,
    /// WebSocket path ([`DEFAULT_SERVER_WS_PATH`]).
    pub ws_path: String,
    /// Echo heartbeats (true). Turning it off makes a "silent" server for idle tests.
    pub echo_heartbeats: bool,
    /// Stages alive at once ([`DEFAULT_MAX_STAGES`]); a request to a new stage beyond it is
    /// answered with [`ERROR_STAGE_FULL`].
    pub max_stages: usize,
    /// Members of one stage ([`DEFAULT_MAX_STAGE_MEMBERS`]); a request from a new member
    /// beyond it is answered with [`ERROR_STAGE_FULL`].
    pub max_stage_members: usize,
    /// Bytes queued for one session's socket ([`DEFAULT_MAX_QUEUED_BYTES_PER_SESSION`]); a
    /// client that stops reading is disconnected when its queue would grow past it.
    pub max_queued_bytes_per_session: usize,
    /// Close a session that sends nothing (not even a heartbeat) for this long (`None`:
    /// never, the default).
    pub idle_timeout: Option<std::time::Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            auth_msg_id: None,
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            compression: Some(CompressionPolicy::default()),
            ws_path: DEFAULT_SERVER_WS_PATH.to_owned(),
            echo_heartbeats: true,
            max_stages: DEFAULT_MAX_STAGES,
            max_stage_members: DEFAULT_MAX_STAGE_MEMBERS,
            max_queued_bytes_per_session: DEFAULT_MAX_QUEUED_BYTES_PER_SESSION,
            idle_timeout: None,
        }
    }
}

impl ServerConfig {
    pub(crate) fn limits(&self) -> CodecLimits {
        CodecLimits {
            max_packet_len: self.max_packet_len,
            max_original_size: DEFAULT_MAX_ORIGINAL_SIZE,
        }
    }
}

/// Counters of a running server.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    bytes_received: AtomicU64,
    packets_received: AtomicU64,
    protocol_errors: AtomicU64,
    auth_violations: AtomicU64,
    connections_accepted: AtomicU64,
    connections_rejected: AtomicU64,
}

impl Counters {
    pub(crate) fn add_bytes(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn packet(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn protocol_error(&self) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn auth_violation(&self) {
        self.auth_violations.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the server counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Bytes read from all clients.
    pub bytes_received: u64,
    /// Client packets decoded (heartbeats included).
    pub packets_received: u64,
    /// Sessions closed for malformed packets.
    pub protocol_errors: u64,
    /// Sessions closed for sending before authenticating.
    pub auth_violations: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused by the connection limit.
    pub connections_rejected: u64,
    /// Sessions open now.
    pub active_sessions: usize,
}

/// Called with a session's id when it ends.
pub(crate) type SessionHook = Arc<dyn Fn(u64) + Send + Sync>;

pub(crate) struct ServerShared {
    pub(crate) config: ServerConfig,
    /// msgIds besides `config.auth_msg_id` that authenticate a session (the relay join).
    pub(crate) extra_auth: Vec<String>,
    on_session_closed: Vec<SessionHook>,
    pub(crate) handlers: HashMap<String, Handler>,
    pub(crate) fallback: Option<Handler>,
    pub(crate) stats: Counters,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    next_session: AtomicU64,
    active: AtomicUsize,
    sessions: Mutex<BTreeMap<u64, SessionHandle>>,
    stages: Mutex<BTreeMap<i64, BTreeSet<u64>>>,
}

impl std::fmt::Debug for ServerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerShared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServerShared {
    /// Reserves a connection slot; false when the limit is reached.
    pub(crate) fn try_admit(&self) -> bool {
        let admitted = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.config.max_connections).then_some(n + 1)
            })
            .is_ok();
        let counter = if admitted {
            &self.stats.connections_accepted
        } else {
            &self.stats.connections_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
        admitted
    }

    /// Gives back a slot reserved by `try_admit` for a connection that never became a session.
    pub(crate) fn release(&self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn register(&self, out: Arc<crate::transport::Outbox>) -> SessionHandle {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        let authenticated = self.config.auth_msg_id.is_none();
        let session = SessionHandle::new(id, out, authenticated, self.config.compression);
        lock(&self.sessions).insert(id, session.clone());
        session
    }

    /// Whether `msg_id` authenticates a session.
    pub(crate) fn is_auth_msg(&self, msg_id: &str) -> bool {
        self.config.auth_msg_id.as_deref() == Some(msg_id)
            || self.extra_auth.iter().any(|m| m == msg_id)
    }

    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.sessions).remove(&id);
        for hook in &self.on_session_closed {
            hook(id);
        }
        let mut stages = lock(&self.stages);
        stages.retain(|_, members| {
            members.remove(&id);
            !members.is_empty()
        });
        drop(stages);
        self.release();
    }

    /// Adds `session` to the stage (creating it); false when a limit refuses it.
    pub(crate) fn join_stage(&self, stage_id: i64, session: u64) -> bool {
        let mut stages = lock(&self.stages);
        if !stages.contains_key(&stage_id) && stages.len() >= self.config.max_stages {
            return false;
        }
        let members = stages.entry(stage_id).or_default();
        if members.contains(&session) {
            return true;
        }
        if members.len() >= self.config.max_stage_members {
            return false;
        }
        members.insert(session)
    }
}

/// A cheap, cloneable handle to a running server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<ServerShared>,
}

impl ServerHandle {
    /// Pushes `packet` (seq 0, stage `stage_id`) to every member of the stage; returns how
    /// many sessions it was queued for.
    pub fn broadcast(&self, stage_id: i64, packet: &Packet) -> usize {
        let members: Vec<u64> = lock(&self.shared.stages)
            .get(&stage_id)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        let sessions: Vec<SessionHandle> = {
            let all = lock(&self.shared.sessions);
            members
                .iter()
                .filter_map(|id| all.get(id).cloned())
                .collect()
        };
        sessions.iter().filter(|s| s.push(stage_id, packet)).count()
    }

    /// Members of a stage, in id order.
    pub fn stage_members(&self, stage_id: i64) -> Vec<u64> {
        lock(&self.shared.stages)
            .get(&stage_id)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The open session with this id.
    pub fn session(&self, id: u64) -> Option<SessionHandle> {
        lock(&self.shared.sessions).get(&id).cloned()
    }

    /// Closes every open session (the clients see the server close the connection).
    pub fn close_all_sessions(&self) {
        lock(&self.shared.sessions)
            .values()
            .for_each(SessionHandle::close);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.stats;
        ServerStats {
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            packets_received: c.packets_received.load(Ordering::Relaxed),
            protocol_errors: c.protocol_errors.load(Ordering::Relaxed),
            auth_violations: c.auth_violations.load(Ordering::Relaxed),
            connections_accepted: c.connections_accepted.load(Ordering::Relaxed),
            connections_rejected: c.connections_rejected.load(Ordering::Relaxed),
            active_sessions: lock(&self.shared.sessions).len(),
        }
    }
}

/// Builds a [`PlayServer`]: configuration, handlers and listening addresses.
pub struct PlayServerBuilder {
    config: ServerConfig,
    handlers: HashMap<String, Handler>,
    fallback: Option<Handler>,
    tcp: Option<SocketAddr>,
    ws: Option<SocketAddr>,
    #[cfg(feature = "prost")]
    http: Option<(SocketAddr, http::HttpRoutes)>,
    #[cfg(feature = "prost")]
    https: Option<(SocketAddr, http::HttpRoutes, http::TlsConfig)>,
    #[cfg(feature = "prost")]
    relay: Option<Arc<relay::RelayState>>,
    extra_auth: Vec<String>,
    on_session_closed: Vec<SessionHook>,
}

impl std::fmt::Debug for PlayServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayServerBuilder")
            .field("config", &self.config)
            .field("tcp", &self.tcp)
            .field("ws", &self.ws)
            .finish_non_exhaustive()
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding a listener failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("tls: {0}")]
    Tls(String),
}

impl PlayServerBuilder {
    /// A builder with `config` and no handlers or listeners.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            handlers: HashMap::new(),
            fallback: None,
            tcp: None,
            ws: None,
            #[cfg(feature = "prost")]
            http: None,
            #[cfg(feature = "prost")]
            https: None,
            #[cfg(feature = "prost")]
            relay: None,
            extra_auth: Vec::new(),
            on_session_closed: Vec::new(),
        }
    }

    /// Listens for HTTP clients on `addr`: `routes` answer plain requests, and a WebSocket
    /// upgrade at the configured path becomes a play session (as PlayHouse serves `/ws` on
    /// its HTTP port).
    #[cfg(feature = "prost")]
    pub fn http(mut self, addr: SocketAddr, routes: http::HttpRoutes) -> Self {
        self.http = Some((addr, routes));
        self
    }

    /// Like [`http`](Self::http) over TLS: HTTPS routes and `wss` at the WebSocket path.
    #[cfg(feature = "prost")]
    pub fn https(
        mut self,
        addr: SocketAddr,
        routes: http::HttpRoutes,
        tls: http::TlsConfig,
    ) -> Self {
        self.https = Some((addr, routes, tls));
        self
    }

    /// Registers the handler for `msg_id`.
    pub fn handler(
        mut self,
        msg_id: impl Into<String>,
        f: impl Fn(&RequestContext, Packet) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.handlers.insert(msg_id.into(), Arc::new(f));
        self
    }

    /// Registers the handler for every msgId without its own handler.
    pub fn fallback(
        mut self,
        f: impl Fn(&RequestContext, Packet) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Arc::new(f));
        self
    }

    /// Echo handlers: any request `XRequest` gets `XReply` with the same payload.
    pub fn echo(self) -> Self {
        self.fallback(|ctx, packet| {
            Outcome::Reply(Packet::new(ctx.reply_msg_id(), packet.payload().clone()))
        })
    }

    /// Listens for TCP clients on `addr` (port 0 picks a free port).
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.tcp = Some(addr);
        self
    }

    /// Listens for WebSocket clients on `addr` (path from the config).
    pub fn websocket(mut self, addr: SocketAddr) -> Self {
        self.ws = Some(addr);
        self
    }

    /// Binds the listeners and starts serving.
    pub async fn start(self) -> Result<PlayServer, ServerError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        let tcp = match self.tcp {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let ws = match self.ws {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        #[cfg(feature = "prost")]
        let http = match self.http {
            Some((a, routes)) => Some((bind(a).await?, routes)),
            None => None,
        };
        #[cfg(feature = "prost")]
        let https = match self.https {
            Some((a, routes, tls)) => Some((bind(a).await?, routes, tls)),
            None => None,
        };
        let shared = Arc::new(ServerShared {
            config: self.config,
            extra_auth: self.extra_auth,
            on_session_closed: self.on_session_closed,
            handlers: self.handlers,
            fallback: self.fallback,
            stats: Counters::default(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_session: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            sessions: Mutex::new(BTreeMap::new()),
            stages: Mutex::new(BTreeMap::new()),
        });
        let handle = ServerHandle { shared };
        let tcp_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let ws_addr = ws.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(l) = tcp {
            handle
                .shared
                .tasks
                .spawn(listener::accept_tcp(handle.clone(), l));
        }
        if let Some(l) = ws {
            handle
                .shared
                .tasks
                .spawn(listener::accept_ws(handle.clone(), l));
        }
        #[cfg(feature = "prost")]
        let http_addr = http.as_ref().and_then(|(l, _)| l.local_addr().ok());
        #[cfg(not(feature = "prost"))]
        let http_addr = None;
        #[cfg(feature = "prost")]
        if let Some((l, routes)) = http {
            handle
                .shared
                .tasks
                .spawn(http::accept_http(handle.clone(), l, routes));
        }
        #[cfg(feature = "prost")]
        let https_addr = https.as_ref().and_then(|(l, _, _)| l.local_addr().ok());
        #[cfg(not(feature = "prost"))]
        let https_addr = None;
        #[cfg(feature = "prost")]
        if let Some((l, routes, tls)) = https {
            handle
                .shared
                .tasks
                .spawn(http::accept_https(handle.clone(), l, routes, tls));
        }
        Ok(PlayServer {
            handle,
            tcp_addr,
            ws_addr,
            http_addr,
            https_addr,
            #[cfg(feature = "prost")]
            relay: self.relay,
        })
    }
}

/// A running reference server. Dropping it does not stop it; call
/// [`shutdown`](Self::shutdown).
#[derive(Debug)]
pub struct PlayServer {
    handle: ServerHandle,
    tcp_addr: Option<SocketAddr>,
    ws_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    #[cfg(feature = "prost")]
    relay: Option<Arc<relay::RelayState>>,
}

impl PlayServer {
    /// The relay stage state, when the relay is enabled.
    #[cfg(feature = "prost")]
    pub fn relay(&self) -> Option<&Arc<relay::RelayState>> {
        self.relay.as_ref()
    }

    /// A builder.
    pub fn builder(config: ServerConfig) -> PlayServerBuilder {
        PlayServerBuilder::new(config)
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The bound WebSocket address.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// The bound HTTP address (which also serves WebSocket at the WebSocket path).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound HTTPS address (which also serves `wss` at the WebSocket path).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The WebSocket URL path.
    pub fn ws_path(&self) -> &str {
        &self.handle.shared.config.ws_path
    }

    /// A handle for broadcasts, sessions and statistics.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops accepting, closes every session (flushing queued replies) and waits for all
    /// tasks to finish.
    pub async fn shutdown(self) {
        let shared = &self.handle.shared;
        shared.shutdown.cancel();
        shared.tasks.close();
        shared.tasks.wait().await;
    }
}
