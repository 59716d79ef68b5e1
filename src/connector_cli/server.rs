//! `connector_server`: the reference play server with echo handlers (any `XRequest` gets an
//! `XReply` with the same payload), over TCP and WebSocket.

use std::net::SocketAddr;

use clap::Parser;

use connector::server::{PlayServer, ServerConfig, ServerError, DEFAULT_MAX_CONNECTIONS};

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
}

/// Starts the server described by `args`.
pub async fn start(args: &ServerArgs) -> Result<PlayServer, ServerError> {
    let mut config = ServerConfig {
        auth_msg_id: args.auth_msg.clone(),
        max_connections: args.max_connections,
        ws_path: args.ws_path.clone(),
        ..ServerConfig::default()
    };
    if args.no_compression {
        config.compression = None;
    }
    PlayServer::builder(config)
        .echo()
        .tcp(args.tcp)
        .websocket(args.ws)
        .start()
        .await
}

/// The line printed once listening: `play server listening tcp://ADDR ws://ADDR/ws`.
pub fn listening_line(server: &PlayServer) -> String {
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    format!(
        "play server listening tcp://{} ws://{}{}",
        show(server.tcp_addr()),
        show(server.ws_addr()),
        server.ws_path()
    )
}
