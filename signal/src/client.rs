//! Async signaling client: a cheap [`SignalSender`] handle plus a driver task that owns the
//! WebSocket.
//!
//! [`SignalClient::connect`] performs the authenticated handshake and waits (bounded) for
//! `welcome`. Incoming messages are read with [`SignalClient::recv`]; outgoing ones go
//! through [`SignalSender::send`], which never blocks and can be called from callbacks.
//! The driver also applies every `lobby_update` and `lobby_delta` to a [`LobbyView`] (read
//! with [`SignalClient::lobby`]) before handing the message on, so a client in delta mode
//! (`join_lobby {.., "updates": "delta"}`) always has the whole lobby at hand.
//!
//! Compressed lobby messages: connect to a URL with `?lobby_compression=deflate` (see
//! [`crate::lobby_deflate::url_with_deflate`]) and the server sends large lobby messages as
//! chunked DEFLATE binary frames; the driver inflates them (bounded by
//! [`crate::lobby_deflate::DEFAULT_MAX_INFLATED`]) before they reach the view and
//! [`SignalClient::recv`], so nothing else changes for the caller.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::lobby_deflate::LobbyInflater;
use crate::lobby_view::LobbyView;
use crate::protocol::{ClientMessage, ServerMessage, Welcome};

/// How long [`SignalClient::connect`] waits for the handshake plus `welcome`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of the outgoing queue behind [`SignalSender`]; `send` fails when it is full.
pub const DEFAULT_SEND_QUEUE: usize = 1024;
/// Capacity of the incoming queue read by [`SignalClient::recv`].
pub const DEFAULT_RECV_QUEUE: usize = 1024;
/// How long [`SignalClient::close`] waits for the server's close reply.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Client-side failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL could not be turned into a WebSocket request.
    #[error("invalid url or token: {0}")]
    InvalidRequest(String),
    /// The WebSocket handshake failed (for example HTTP 401: bad token).
    #[error("handshake failed: {0}")]
    Handshake(#[from] tungstenite::Error),
    /// No `welcome` within the connect timeout.
    #[error("timed out waiting for welcome")]
    Timeout,
    /// The server closed the connection or sent something other than `welcome` first.
    #[error("unexpected first message: {0}")]
    UnexpectedFirstMessage(String),
    /// The connection is closed; nothing can be sent.
    #[error("connection closed")]
    Closed,
    /// The outgoing queue is full (the server is not keeping up).
    #[error("send queue full")]
    QueueFull,
}

impl ClientError {
    /// The HTTP status of a refused handshake (e.g. 401), if that is what happened.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Handshake(tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
            _ => None,
        }
    }
}

/// How the server closed the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// WebSocket close code (1000 normal, 1001 going away, 1008 policy, ...).
    pub code: u16,
    /// Close reason text.
    pub reason: String,
}

/// Cloneable, thread-safe handle that queues messages for the server.
#[derive(Debug, Clone)]
pub struct SignalSender {
    tx: mpsc::Sender<ClientMessage>,
}

impl SignalSender {
    /// Queues `msg`; fails if the connection is closed or the queue is full.
    pub fn send(&self, msg: ClientMessage) -> Result<(), ClientError> {
        self.tx.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ClientError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
        })
    }
}

/// A connected, authenticated signaling client.
#[derive(Debug)]
pub struct SignalClient {
    welcome: Welcome,
    sender: SignalSender,
    inbound: mpsc::Receiver<ServerMessage>,
    close_tx: Option<oneshot::Sender<()>>,
    close_info: Arc<OnceLock<CloseInfo>>,
    lobby: Arc<Mutex<LobbyView>>,
    driver: JoinHandle<()>,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl SignalClient {
    /// Connects to `ws://` or `wss://` (web PKI roots) and waits for `welcome`.
    pub async fn connect(url: &str, token: &str) -> Result<SignalClient, ClientError> {
        Self::connect_inner(url, token, None).await
    }

    /// Like [`SignalClient::connect`] but trusts the given rustls client configuration
    /// (e.g. a test CA) for `wss://`.
    pub async fn connect_with_tls(
        url: &str,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<SignalClient, ClientError> {
        Self::connect_inner(url, token, Some(Connector::Rustls(tls))).await
    }

    async fn connect_inner(
        url: &str,
        token: &str,
        connector: Option<Connector>,
    ) -> Result<SignalClient, ClientError> {
        crate::install_crypto_provider();
        let mut request = url
            .into_client_request()
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        request.headers_mut().insert("authorization", bearer);
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(1 << 20));
        let handshake = async {
            let (mut socket, _resp) = tokio_tungstenite::connect_async_tls_with_config(
                request,
                Some(config),
                true,
                connector,
            )
            .await?;
            let welcome = read_welcome(&mut socket).await?;
            Ok::<_, ClientError>((socket, welcome))
        };
        let (socket, welcome) = tokio::time::timeout(DEFAULT_CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| ClientError::Timeout)??;
        let (out_tx, out_rx) = mpsc::channel(DEFAULT_SEND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(DEFAULT_RECV_QUEUE);
        let (close_tx, close_rx) = oneshot::channel();
        let close_info = Arc::new(OnceLock::new());
        let lobby = Arc::new(Mutex::new(LobbyView::default()));
        let inbound = Inbound {
            tx: in_tx,
            lobby: lobby.clone(),
        };
        let driver = tokio::spawn(drive(socket, out_rx, inbound, close_rx, close_info.clone()));
        Ok(SignalClient {
            welcome,
            sender: SignalSender { tx: out_tx },
            inbound: in_rx,
            close_tx: Some(close_tx),
            close_info,
            lobby,
            driver,
        })
    }

    /// The `welcome` the server sent (identity and ICE servers).
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The authenticated player id.
    pub fn player_id(&self) -> &str {
        &self.welcome.player_id
    }

    /// A cloneable handle for sending.
    pub fn sender(&self) -> SignalSender {
        self.sender.clone()
    }

    /// Next message from the server; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        self.inbound.recv().await
    }

    /// The lobby as of the last lobby message the driver received (it may be ahead of what
    /// [`SignalClient::recv`] has returned so far).
    pub fn lobby(&self) -> LobbyView {
        self.lobby.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// How the server closed the connection, once it has.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.get()
    }

    /// Sends what is still queued, then a close frame; waits briefly for the server's reply
    /// and stops the driver.
    pub async fn close(mut self) {
        if let Some(tx) = self.close_tx.take() {
            let _ = tx.send(());
        }
        self.inbound.close();
        if tokio::time::timeout(CLOSE_TIMEOUT * 2, &mut self.driver)
            .await
            .is_err()
        {
            self.driver.abort();
        }
    }
}

impl Drop for SignalClient {
    fn drop(&mut self) {
        if let Some(tx) = self.close_tx.take() {
            let _ = tx.send(());
        }
    }
}

async fn read_welcome(socket: &mut Socket) -> Result<Welcome, ClientError> {
    loop {
        let Some(frame) = socket.next().await else {
            return Err(ClientError::Closed);
        };
        match frame? {
            Message::Text(text) => {
                return match serde_json::from_str::<ServerMessage>(text.as_str()) {
                    Ok(ServerMessage::Welcome(w)) => Ok(w),
                    _ => Err(ClientError::UnexpectedFirstMessage(
                        text.as_str().chars().take(200).collect(),
                    )),
                };
            }
            Message::Close(frame) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(ClientError::UnexpectedFirstMessage(format!(
                    "close: {reason}"
                )));
            }
            _ => continue,
        }
    }
}

/// Where the driver delivers server messages.
struct Inbound {
    tx: mpsc::Sender<ServerMessage>,
    lobby: Arc<Mutex<LobbyView>>,
}

impl Inbound {
    /// Applies lobby messages to the view, then queues the message; false once the
    /// client is gone.
    async fn deliver(&self, msg: ServerMessage) -> bool {
        if matches!(
            msg,
            ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_)
        ) {
            if let Ok(mut view) = self.lobby.lock() {
                if let Err(e) = view.apply(&msg) {
                    tracing::warn!(error = %e, "lobby message does not fit the lobby view");
                }
            }
        }
        self.tx.send(msg).await.is_ok()
    }
}

async fn drive(
    mut socket: Socket,
    mut out_rx: mpsc::Receiver<ClientMessage>,
    inbound: Inbound,
    mut close_rx: oneshot::Receiver<()>,
    close_info: Arc<OnceLock<CloseInfo>>,
) {
    let mut inflater = LobbyInflater::default();
    loop {
        tokio::select! {
            _ = &mut close_rx => break,
            out = out_rx.recv() => {
                let Some(msg) = out else { break };
                let Ok(text) = serde_json::to_string(&msg) else { continue };
                if socket.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ServerMessage>(text.as_str()) {
                        Ok(msg) => {
                            if !inbound.deliver(msg).await {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unparseable server message"),
                    }
                }
                Some(Ok(Message::Binary(data))) => match inflater.push(&data) {
                    Ok(Some(text)) => match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(msg) => {
                            if !inbound.deliver(msg).await {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unparseable compressed server message"),
                    },
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "bad compressed lobby frame"),
                },
                Some(Ok(Message::Close(frame))) => {
                    if let Some(f) = frame {
                        let _ = close_info.set(CloseInfo { code: u16::from(f.code), reason: f.reason.to_string() });
                    }
                    // Let tungstenite echo the close, then stop.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
    // What was queued before the close goes out first (an `end_match`, a withdrawal), also
    // when the loop stopped because `close` already closed the inbound queue and a frame
    // came in: the queue is bounded, so this is too.
    while let Ok(msg) = out_rx.try_recv() {
        let Ok(text) = serde_json::to_string(&msg) else {
            continue;
        };
        if socket.send(Message::text(text)).await.is_err() {
            return;
        }
    }
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let _ = socket.close(Some(frame)).await;
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}
