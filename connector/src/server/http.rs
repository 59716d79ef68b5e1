//! A minimal HTTP/1.1 front for the reference server's HTTP port: small JSON routes (one
//! request per connection, `Connection: close`) and the WebSocket upgrade at the configured
//! path, which becomes an ordinary play session. Heads and bodies are bounded before they
//! are read; anything malformed gets a 400 and the connection is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::{session, ServerHandle};
use crate::transport::{ws_config, WsTransport};

/// Largest accepted request head (request line and headers).
pub const MAX_HEAD_LEN: usize = 16 * 1024;
/// Largest accepted request body.
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Time allowed to receive a request (or a WebSocket handshake).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers parsed at most.
const MAX_HEADERS: usize = 32;

/// One HTTP request as the routes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The body (at most [`MAX_BODY_LEN`] bytes).
    pub body: Vec<u8>,
}

/// The answer of a route: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// JSON text.
    pub body: String,
}

impl HttpResponse {
    /// A response with `status` and a JSON `body`.
    pub fn json(status: u16, body: String) -> Self {
        Self { status, body }
    }
}

/// The routes of the HTTP port.
pub type HttpRoutes = Arc<dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync>;

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A byte stream the HTTP front serves (plain TCP or TLS).
pub(crate) trait HttpStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> HttpStream for S {}

async fn respond<S: HttpStream>(stream: &mut S, r: &HttpResponse) {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(r.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// What the head of a request asks for.
enum Head {
    /// A WebSocket upgrade with this `Sec-WebSocket-Key`.
    Upgrade { path: String, key: String },
    /// A plain request; `head_len` bytes of the buffer are the head.
    Plain {
        method: String,
        path: String,
        content_length: usize,
        head_len: usize,
    },
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(400),
    };
    let method = req.method.unwrap_or_default().to_owned();
    let full = req.path.unwrap_or("/");
    let path = full.split('?').next().unwrap_or("/").to_owned();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let upgrade = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let key = header("sec-websocket-key").ok_or(400u16)?.to_owned();
        return Ok(Some(Head::Upgrade { path, key }));
    }
    let content_length = match header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| 400u16)?,
        None => 0,
    };
    if content_length > MAX_BODY_LEN {
        return Err(413);
    }
    Ok(Some(Head::Plain {
        method,
        path,
        content_length,
        head_len,
    }))
}

/// Reads until the head is complete (bounded); returns it and every byte read so far.
async fn read_head<S: HttpStream>(stream: &mut S) -> Result<(Head, Vec<u8>), u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(head) = parse_head(&buf)? {
            return Ok((head, buf));
        }
        if buf.len() > MAX_HEAD_LEN {
            return Err(413);
        }
    }
}

pub(crate) async fn serve_connection<S: HttpStream>(
    server: ServerHandle,
    mut stream: S,
    routes: HttpRoutes,
) {
    let read = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await;
    let (head, mut buf) = match read {
        Ok(Ok(x)) => x,
        Ok(Err(status)) => {
            respond(&mut stream, &HttpResponse::json(status, "{}".into())).await;
            return server.shared.release();
        }
        Err(_) => return server.shared.release(),
    };
    match head {
        Head::Upgrade { path, key } if path == server.shared.config.ws_path => {
            let accept = derive_accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if stream.write_all(response.as_bytes()).await.is_err() {
                return server.shared.release();
            }
            // a client may pipeline its first frames right after the head
            let head_end = buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(buf.len(), |p| p + 4);
            let leftover = buf.split_off(head_end.min(buf.len()));
            let config = Some(ws_config(server.shared.config.max_packet_len));
            let ws =
                WebSocketStream::from_partially_read(stream, leftover, Role::Server, config).await;
            session::serve(server, WsTransport::new(ws)).await;
        }
        Head::Upgrade { .. } => {
            respond(&mut stream, &HttpResponse::json(404, "{}".into())).await;
            server.shared.release();
        }
        Head::Plain {
            method,
            path,
            content_length,
            head_len,
        } => {
            let mut body = buf.split_off(head_len.min(buf.len()));
            let mut chunk = [0u8; 4096];
            let complete = tokio::time::timeout(READ_TIMEOUT, async {
                while body.len() < content_length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
                true
            })
            .await;
            let response = if complete == Ok(true) {
                body.truncate(content_length);
                routes(&HttpRequest { method, path, body })
            } else {
                HttpResponse::json(400, "{}".into())
            };
            respond(&mut stream, &response).await;
            server.shared.release();
        }
    }
}

pub(crate) async fn accept_http(server: ServerHandle, listener: TcpListener, routes: HttpRoutes) {
    while let Some(stream) = super::listener::accept(&server, &listener).await {
        let _ = stream.set_nodelay(true);
        let s = server.clone();
        let r = routes.clone();
        server.shared.tasks.spawn(serve_connection(s, stream, r));
    }
}

/// TLS settings of the HTTPS port.
#[derive(Clone)]
pub struct TlsConfig(pub(crate) Arc<tokio_rustls::rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(..)")
    }
}

/// Why the TLS settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No certificate in the PEM, or it does not parse.
    #[error("certificate PEM: {0}")]
    Cert(String),
    /// No private key in the PEM, or it does not parse.
    #[error("private key PEM: {0}")]
    Key(String),
    /// rustls refused the pair.
    #[error("tls: {0}")]
    Rustls(String),
}

impl TlsConfig {
    /// From a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let certs = rustls_pemfile::certs(&mut &cert_pem[..])
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Cert(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Cert("no certificate".into()));
        }
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .map_err(|e| TlsError::Key(e.to_string()))?
            .ok_or_else(|| TlsError::Key("no private key".into()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(Self(Arc::new(config)))
    }
}

pub(crate) async fn accept_https(
    server: ServerHandle,
    listener: TcpListener,
    routes: HttpRoutes,
    tls: TlsConfig,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.0);
    while let Some(stream) = super::listener::accept(&server, &listener).await {
        let _ = stream.set_nodelay(true);
        let (s, r, acceptor) = (server.clone(), routes.clone(), acceptor.clone());
        server.shared.tasks.spawn(async move {
            match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => serve_connection(s, tls_stream, r).await,
                _ => {
                    tracing::info!("tls handshake failed");
                    s.shared.release();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_and_bounded() {
        assert!(matches!(
            parse_head(b"GET /api/health HTTP/1.1\r\nHost: x\r\n"),
            Ok(None)
        ));
        let Ok(Some(Head::Plain {
            method,
            path,
            content_length,
            ..
        })) = parse_head(b"POST /api/stages?x=1 HTTP/1.1\r\nContent-Length: 12\r\n\r\n")
        else {
            panic!("plain head");
        };
        assert_eq!(
            (method.as_str(), path.as_str(), content_length),
            ("POST", "/api/stages", 12)
        );
        let Ok(Some(Head::Upgrade { path, key })) = parse_head(
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\n\r\n",
        ) else {
            panic!("upgrade head");
        };
        assert_eq!((path.as_str(), key.as_str()), ("/ws", "abc"));
        assert!(matches!(
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(413)
        ));
        assert!(matches!(parse_head(b"\x00\x01 nonsense\r\n\r\n"), Err(400)));
    }
}
