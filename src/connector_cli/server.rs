//! `connector_server`: the reference play server with echo handlers (any `XRequest` gets an
//! `XReply` with the same payload), over TCP and WebSocket; or, with `--playhouse-test`,
//! PlayHouse's connector test server (HTTP API and WebSocket on `--http`, plus `--tcp`).

use std::net::SocketAddr;

use clap::Parser;

use connector::server::http::TlsConfig;
use connector::server::relay::RelayConfig;
use connector::server::{
    playhouse, PlayServer, PlayServerBuilder, ServerConfig, ServerError, DEFAULT_MAX_CONNECTIONS,
};

/// Command-line flags of `connector_server`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "connector_server",
    about = "PlayHouse-protocol reference play server (echo handlers)"
)]
pub struct ServerArgs {
    /// TCP listen address.
    #[arg(long, env = "CONNECTOR_SERVER_TCP", default_value = "127.0.0.1:0")]
    pub tcp: SocketAddr,
    /// WebSocket listen address.
    #[arg(long, env = "CONNECTOR_SERVER_WS", default_value = "127.0.0.1:0")]
    pub ws: SocketAddr,
    /// WebSocket URL path.
    #[arg(long, env = "CONNECTOR_SERVER_WS_PATH", default_value = "/ws")]
    pub ws_path: String,
    /// Authenticate msgId: nothing else is accepted before it.
    #[arg(long, env = "CONNECTOR_SERVER_AUTH_MSG")]
    pub auth_msg: Option<String>,
    /// Maximum concurrent connections.
    #[arg(long, env = "CONNECTOR_SERVER_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Never compress replies.
    #[arg(long)]
    pub no_compression: bool,
    /// Behave like PlayHouse's connector test server (see the README): HTTP API and
    /// WebSocket (`/ws`) on `--http`, the play protocol on `--tcp`; `--ws` is not used.
    #[arg(long, env = "CONNECTOR_SERVER_PLAYHOUSE_TEST")]
    pub playhouse_test: bool,
    /// HTTP listen address of the PlayHouse test mode.
    #[arg(long, env = "CONNECTOR_SERVER_HTTP", default_value = "127.0.0.1:0")]
    pub http: SocketAddr,
    /// HTTPS listen address of the PlayHouse test mode (HTTPS API and `wss` at `/ws`); needs
    /// `--tls-cert` and `--tls-key`.
    #[arg(long, env = "CONNECTOR_SERVER_HTTPS", requires_all = ["tls_cert", "tls_key"])]
    pub https: Option<SocketAddr>,
    /// PEM certificate chain for `--https`.
    #[arg(long, env = "CONNECTOR_SERVER_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for `--https`.
    #[arg(long, env = "CONNECTOR_SERVER_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Enables the relay stage with this HS256 ticket secret (shared with the signaling
    /// server): `RelayJoinRequest` with a ticket, then `RelayPacket`s go to the other member.
    #[arg(long, env = "CONNECTOR_SERVER_RELAY_SECRET", hide_env_values = true)]
    pub relay_secret: Option<String>,
    /// Server id reported by `/api/health` in the PlayHouse test mode.
    #[arg(long, env = "CONNECTOR_SERVER_ID", default_value = playhouse::DEFAULT_SERVER_ID)]
    pub server_id: String,
}

/// Starts the server described by `args`.
pub async fn start(args: &ServerArgs) -> Result<PlayServer, ServerError> {
    if args.playhouse_test {
        let config = ServerConfig {
            max_connections: args.max_connections,
            ..playhouse::server_config()
        };
        let https = match (args.https, &args.tls_cert, &args.tls_key) {
            (Some(addr), Some(cert), Some(key)) => {
                let read = |p: &std::path::Path| {
                    std::fs::read(p).map_err(|e| ServerError::Tls(format!("{}: {e}", p.display())))
                };
                let tls = TlsConfig::from_pem(&read(cert)?, &read(key)?)
                    .map_err(|e| ServerError::Tls(e.to_string()))?;
                Some((addr, tls))
            }
            _ => None,
        };
        let builder = playhouse::builder(config, args.http, https, args.server_id.clone());
        return with_relay(builder, args).tcp(args.tcp).start().await;
    }
    let mut config = ServerConfig {
        auth_msg_id: args.auth_msg.clone(),
        max_connections: args.max_connections,
        ws_path: args.ws_path.clone(),
        ..ServerConfig::default()
    };
    if args.no_compression {
        config.compression = None;
    }
    with_relay(PlayServer::builder(config).echo(), args)
        .tcp(args.tcp)
        .websocket(args.ws)
        .start()
        .await
}

fn with_relay(builder: PlayServerBuilder, args: &ServerArgs) -> PlayServerBuilder {
    match &args.relay_secret {
        Some(secret) => builder.relay(RelayConfig::new(secret.as_bytes())),
        None => builder,
    }
}

/// The line printed once listening: `play server listening tcp://ADDR ws://ADDR/ws`, or in
/// the PlayHouse test mode `playhouse test server listening http://ADDR tcp://ADDR
/// ws://ADDR/ws` (real ports when given port 0).
pub fn listening_line(server: &PlayServer) -> String {
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    if let Some(http) = server.http_addr() {
        let tls = server.https_addr().map_or_else(String::new, |a| {
            format!(" https://{a} wss://{a}{}", server.ws_path())
        });
        return format!(
            "playhouse test server listening http://{http} tcp://{} ws://{http}{}{tls}",
            show(server.tcp_addr()),
            server.ws_path()
        );
    }
    format!(
        "play server listening tcp://{} ws://{}{}",
        show(server.tcp_addr()),
        show(server.ws_addr()),
        server.ws_path()
    )
}
