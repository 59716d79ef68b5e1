//! The WebSocket signaling server: a thin tokio/axum driver around the sans-IO [`Hub`].
//!
//! Tasks: one accept/HTTP server (axum), one hub task owning the [`Hub`], and one task per
//! WebSocket connection. Connections send parsed messages to the hub over a bounded
//! channel; the hub answers through each connection's bounded outbound queue (a full queue
//! disconnects that client with 1008) and a one-slot coalescing mailbox for lobby
//! snapshots, which are serialized once and shared.

mod config;
mod connection;
mod fast_relay;
mod http;
pub(crate) mod hub_driver;
mod metrics;
mod route;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthError, TokenVerifier};
use crate::hub::Hub;
pub use config::*;
pub use http::WS_PATH;
pub use hub_driver::{CLOSE_GOING_AWAY, CLOSE_POLICY};
pub use metrics::Metrics;

/// Server start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The JWT key could not be loaded.
    #[error("jwt key: {0}")]
    Key(#[from] AuthError),
    /// The TLS certificate or key could not be loaded.
    #[error("tls: {0}")]
    Tls(String),
    /// Cluster mode: Redis is unreachable or the URL is wrong.
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    /// Binding the listen address failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// State shared by the HTTP handlers and connection tasks.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) verifier: TokenVerifier,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hub_tx: mpsc::Sender<hub_driver::HubCommand>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) next_conn: AtomicU64,
    pub(crate) active: AtomicUsize,
}

/// Entry point: `SignalServer::start(config)`.
#[derive(Debug)]
pub struct SignalServer;

impl SignalServer {
    /// Validates the configuration, binds the listener and starts serving.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let verifier = TokenVerifier::new(&config.jwt, config.jwt_leeway_secs)?;
        let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let cluster = match &config.cluster {
            Some(c) => Some(crate::cluster::connect(c).await?),
            None => None,
        };
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = tcp.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let (hub_tx, hub_rx) = mpsc::channel(DEFAULT_HUB_QUEUE);
        let hub_task = match cluster {
            Some(link) => tokio::spawn(crate::cluster::run_node(
                link,
                config.hub.clone(),
                hub_rx,
                metrics.clone(),
                shutdown.clone(),
            )),
            None => tokio::spawn(hub_driver::run_hub(
                Hub::new(config.hub.clone()),
                hub_rx,
                metrics.clone(),
                shutdown.clone(),
            )),
        };
        let tracker = TaskTracker::new();
        let secure = acceptor.is_some();
        let shared = Arc::new(Shared {
            config,
            verifier,
            metrics: metrics.clone(),
            hub_tx,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            next_conn: AtomicU64::new(1),
            active: AtomicUsize::new(0),
        });
        let app = http::router(shared);
        let stop = shutdown.clone().cancelled_owned();
        let serve_task = match acceptor {
            Some(acceptor) => {
                let listener = tls::TlsListener::spawn(
                    tcp,
                    acceptor,
                    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
                    shutdown.clone(),
                )
                .map_err(|source| ServerError::Bind {
                    addr: local_addr,
                    source,
                })?;
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await;
                })
            }
            None => {
                let listener = tcp.tap_io(|stream| {
                    let _ = stream.set_nodelay(true);
                });
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await;
                })
            }
        };
        tracing::info!(%local_addr, secure, "signal server listening");
        Ok(RunningServer {
            local_addr,
            secure,
            shutdown,
            tracker,
            serve_task: Some(serve_task),
            hub_task: Some(hub_task),
            metrics,
        })
    }
}

/// Handle on a running server.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    secure: bool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    serve_task: Option<JoinHandle<()>>,
    hub_task: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl Drop for RunningServer {
    /// Dropping the handle stops the server (without waiting); prefer
    /// [`RunningServer::shutdown`], which also waits for the tasks.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How long [`RunningServer::shutdown`] waits for tasks to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl RunningServer {
    /// The bound address (the real port when listening on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR/ws/signal` (or `wss://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{WS_PATH}", self.local_addr)
    }

    /// `http://ADDR` (or `https://`), for `/healthz` and `/metrics`.
    pub fn http_base(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A token that shuts the server down when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Closes every connection (1001), stops accepting and waits (bounded) for all tasks.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.tracker.close();
        let serve_task = self.serve_task.take();
        let hub_task = self.hub_task.take();
        let tracker = self.tracker.clone();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async move {
            if let Some(task) = serve_task {
                let _ = task.await;
            }
            tracker.wait().await;
            if let Some(task) = hub_task {
                let _ = task.await;
            }
        })
        .await;
    }
}
