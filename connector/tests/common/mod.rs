//! Shared helpers of the integration tests: a reference server on 127.0.0.1:0 and clients
//! configured for TCP or WebSocket.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use connector::server::{Outcome, PlayServer, PlayServerBuilder, ServerConfig};
use connector::{Connector, ConnectorConfig, Packet};

/// Authenticate msgId used by the tests.
pub const AUTH: &str = "AuthenticateRequest";
/// Generous bound for anything that must happen.
pub const MUST_HAPPEN: Duration = Duration::from_secs(20);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Starts a server with both listeners, echo fallback, and the extra handlers from `build`.
pub async fn start_server(
    config: ServerConfig,
    build: impl FnOnce(PlayServerBuilder) -> PlayServerBuilder,
) -> PlayServer {
    let builder = PlayServer::builder(config)
        .echo()
        .tcp(loopback())
        .websocket(loopback());
    build(builder).start().await.expect("server starts")
}

/// A server with a `Hang` handler that never answers.
pub async fn echo_server(auth: Option<&str>) -> PlayServer {
    let config = ServerConfig {
        auth_msg_id: auth.map(str::to_owned),
        ..ServerConfig::default()
    };
    start_server(config, |b| {
        b.handler("HangRequest", |_, _| Outcome::NoReply)
    })
    .await
}

/// Client settings for `server` over TCP (`ws` false) or WebSocket.
pub fn client_config(server: &PlayServer, ws: bool) -> ConnectorConfig {
    let addr = if ws {
        server.ws_addr()
    } else {
        server.tcp_addr()
    }
    .expect("listener");
    ConnectorConfig {
        use_websocket: ws,
        ws_path: server.ws_path().to_owned(),
        ..ConnectorConfig::new(addr.ip().to_string(), addr.port())
    }
}

/// A connected client with default settings.
pub async fn connect(server: &PlayServer, ws: bool) -> Connector {
    let c = Connector::new(client_config(server, ws)).expect("connector");
    assert!(c.connect_async(false).await, "connects");
    c
}

/// Calls `main_thread_action` until `done` holds; false after [`MUST_HAPPEN`].
pub async fn pump_until(c: &Connector, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + MUST_HAPPEN;
    loop {
        c.main_thread_action();
        if done() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls `done` until it holds; false after [`MUST_HAPPEN`].
pub async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + MUST_HAPPEN;
    while !done() {
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// An echo request.
pub fn echo(payload: &[u8]) -> Packet {
    Packet::new("EchoRequest", payload.to_vec())
}

/// Runs an async test body once over TCP and once over WebSocket.
#[macro_export]
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(false).await;
                }
            )*
        }
        mod ws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(true).await;
                }
            )*
        }
    };
}
