//! Accept loops for TCP and WebSocket clients: bounded connection count, back-off on accept
//! errors, every task tracked for graceful shutdown.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::{session, ServerHandle};
use crate::transport::{ws_config, TcpTransport, WsTransport};

/// Time allowed for a WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn accept(server: &ServerHandle, listener: &TcpListener) -> Option<TcpStream> {
    loop {
        tokio::select! {
            _ = server.shared.shutdown.cancelled() => return None,
            res = listener.accept() => match res {
                Ok((stream, _)) => {
                    if server.shared.try_admit() {
                        return Some(stream);
                    }
                    tracing::warn!("connection limit reached, refusing a client");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

pub(crate) async fn accept_tcp(server: ServerHandle, listener: TcpListener) {
    while let Some(stream) = accept(&server, &listener).await {
        let s = server.clone();
        server
            .shared
            .tasks
            .spawn(session::serve(s, TcpTransport::new(stream)));
    }
}

pub(crate) async fn accept_ws(server: ServerHandle, listener: TcpListener) {
    while let Some(stream) = accept(&server, &listener).await {
        let s = server.clone();
        server.shared.tasks.spawn(async move {
            let _ = stream.set_nodelay(true);
            let path = s.shared.config.ws_path.clone();
            #[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
            let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                if req.uri().path() == path {
                    Ok(resp)
                } else {
                    let mut err = ErrorResponse::new(Some("not found".into()));
                    *err.status_mut() = StatusCode::NOT_FOUND;
                    Err(err)
                }
            };
            let config = Some(ws_config(s.shared.config.max_packet_len));
            let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, check, config);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(ws)) => session::serve(s, WsTransport::new(ws)).await,
                _ => {
                    tracing::info!("websocket handshake failed");
                    s.shared.release();
                }
            }
        });
    }
}
