//! `signal`: run the signaling server or mint a development token.
//!
//! ```text
//! signal serve --listen 127.0.0.1:8080 --jwt-secret <S>
//! signal token --jwt-secret <S> --sub alice [--name Alice] [--ttl 3600]
//! ```

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use signal::auth::{mint_token, JwtKey};
use signal::protocol::IceServer;
use signal::server::{TlsConfig, TurnConfig, DEFAULT_LISTEN};
use signal::{ServerConfig, SignalServer};

/// With the `mimalloc` feature the server runs on mimalloc: more relay throughput, more
/// resident memory per connection (see BENCHMARKS.md, issue 13).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for usage errors (bad flag, missing secret).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "signal", version, about = "netplay WebSocket signaling server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the signaling server.
    Serve(Box<ServeArgs>),
    /// Print an HS256 JWT for development.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JwtAlg {
    #[value(name = "HS256")]
    Hs256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "EdDSA")]
    EdDsa,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Listen address (port 0 picks a free port).
    #[arg(long, env = "SIGNAL_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// HS256 shared secret (required unless --jwt-alg RS256/EdDSA).
    #[arg(long, env = "SIGNAL_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// PEM public key file for RS256 / EdDSA.
    #[arg(long, env = "SIGNAL_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// The only JWT algorithm accepted.
    #[arg(long, env = "SIGNAL_JWT_ALG", value_enum, default_value = "HS256")]
    jwt_alg: JwtAlg,
    /// PEM certificate chain: serve wss:// (needs --tls-key).
    #[arg(long, env = "SIGNAL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SIGNAL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// STUN/TURN URL given to clients as is (repeatable). None by default.
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
    /// TURN URL with per-player REST credentials (repeatable; needs --turn-secret).
    #[arg(long = "turn-url", requires = "turn_secret")]
    turn_urls: Vec<String>,
    /// Shared secret with the TURN server (coturn `static-auth-secret`).
    #[arg(long, env = "SIGNAL_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// Lifetime of TURN credentials in seconds.
    #[arg(long, default_value_t = 3600)]
    turn_ttl: u64,
    /// Seconds between server pings.
    #[arg(long, default_value_t = signal::server::DEFAULT_PING_INTERVAL.as_secs())]
    ping_interval: u64,
    /// Seconds of silence before a connection is closed.
    #[arg(long, default_value_t = signal::server::DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Seconds before an unanswered match request expires.
    #[arg(long, default_value_t = signal::hub::DEFAULT_REQUEST_TIMEOUT.as_secs())]
    request_timeout: u64,
    /// Seconds allowed for the WebRTC negotiation.
    #[arg(long, default_value_t = signal::hub::DEFAULT_NEGOTIATION_TIMEOUT.as_secs())]
    negotiation_timeout: u64,
    /// Players per lobby; one more `join_lobby` is refused with 409 "lobby full".
    #[arg(long, env = "SIGNAL_MAX_LOBBY_SIZE", default_value_t = signal::hub::DEFAULT_MAX_LOBBY_SIZE)]
    max_lobby_size: usize,
    /// Relay fallback: the play server's relay (`tcp://HOST:PORT` or `ws://HOST:PORT/ws`;
    /// repeatable, the first is the default). Needs --relay-secret.
    #[arg(
        long = "relay-url",
        env = "SIGNAL_RELAY_URL",
        value_delimiter = ',',
        requires = "relay_secret"
    )]
    relay_urls: Vec<String>,
    /// Secret shared with the play server (`connector_server --relay-secret`) that signs
    /// relay tickets.
    #[arg(
        long,
        env = "SIGNAL_RELAY_SECRET",
        hide_env_values = true,
        requires = "relay_urls"
    )]
    relay_secret: Option<String>,
    /// Seconds an interrupted match may take to resume before it ends with
    /// `match_ended peer_disconnected`; 0 turns resuming off.
    #[arg(long, env = "SIGNAL_RESUME_TIMEOUT", default_value_t = signal::hub::DEFAULT_RESUME_TIMEOUT.as_secs())]
    resume_timeout: u64,
    /// Run as one node of a cluster sharing this Redis (`redis://HOST:PORT`). Without it,
    /// the server is a single process with its state in memory.
    #[arg(long, env = "SIGNAL_REDIS")]
    redis: Option<String>,
    /// This node's name in the cluster (default: `node-<pid>`; only with --redis).
    #[arg(long, env = "SIGNAL_NODE_ID", requires = "redis")]
    node_id: Option<String>,
    /// Trim the cluster log once it holds more than this many stream entries (only what
    /// every live node has applied is removed; 0: never trim; only with --redis).
    #[arg(long, env = "SIGNAL_CLUSTER_LOG_TRIM", requires = "redis",
          default_value_t = signal::cluster::DEFAULT_LOG_TRIM_LEN)]
    cluster_log_trim: u64,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// HS256 shared secret.
    #[arg(long, env = "SIGNAL_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// Player id (1-64 of [A-Za-z0-9_.-]).
    #[arg(long)]
    sub: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // One line: clap's message without the usage block.
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("{line}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli.command {
        Command::Token(args) => token(args),
        Command::Serve(args) => serve(*args),
    }
}

fn token(args: TokenArgs) -> ExitCode {
    let ttl = Duration::from_secs(args.ttl);
    match mint_token(
        args.jwt_secret.as_bytes(),
        &args.sub,
        args.name.as_deref(),
        ttl,
    ) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(e),
    }
}

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

fn build_config(args: ServeArgs) -> Result<ServerConfig, String> {
    let jwt = match args.jwt_alg {
        JwtAlg::Hs256 => match args.jwt_secret {
            Some(secret) if !secret.is_empty() => JwtKey::Hs256(secret.into_bytes()),
            _ => return Err("missing --jwt-secret (or SIGNAL_JWT_SECRET)".into()),
        },
        JwtAlg::Rs256 | JwtAlg::EdDsa => {
            let Some(path) = &args.jwt_public_key else {
                return Err("--jwt-alg RS256/EdDSA needs --jwt-public-key".into());
            };
            let pem = read_file(path, "public key")?;
            if args.jwt_alg == JwtAlg::Rs256 {
                JwtKey::Rs256Pem(pem)
            } else {
                JwtKey::EdDsaPem(pem)
            }
        }
    };
    let mut config = ServerConfig::new(Vec::new()).with_listen(args.listen);
    config.jwt = jwt;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsConfig {
            cert_pem: read_file(cert, "certificate")?,
            key_pem: read_file(key, "key")?,
        });
    }
    config.ice_servers = args
        .ice_servers
        .into_iter()
        .map(|url| IceServer {
            urls: vec![url],
            username: None,
            credential: None,
        })
        .collect();
    if let Some(secret) = args.turn_secret.filter(|_| !args.turn_urls.is_empty()) {
        config.turn = Some(TurnConfig {
            urls: args.turn_urls,
            secret: secret.into_bytes(),
            ttl: Duration::from_secs(args.turn_ttl),
        });
    }
    config.ping_interval = Duration::from_secs(args.ping_interval);
    config.idle_timeout = Duration::from_secs(args.idle_timeout);
    config.hub.request_timeout = Duration::from_secs(args.request_timeout);
    config.hub.negotiation_timeout = Duration::from_secs(args.negotiation_timeout);
    config.hub.max_lobby_size = args.max_lobby_size;
    if let Some(secret) = args.relay_secret {
        let relay = signal::hub::RelayConfig::new(args.relay_urls, secret.into_bytes())
            .map_err(|e| e.to_string())?;
        config.hub.relay = Some(relay);
    }
    config.hub.resume_timeout = Duration::from_secs(args.resume_timeout);
    if let Some(url) = args.redis {
        let node_id = args
            .node_id
            .unwrap_or_else(|| format!("node-{}", std::process::id()));
        let mut cluster = signal::cluster::ClusterConfig::new(url, node_id);
        cluster.log_trim_len = args.cluster_log_trim;
        config.cluster = Some(cluster);
    }
    config.validate()?;
    Ok(config)
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = match build_config(args) {
        Ok(config) => config,
        Err(e) => return usage_error(e),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match SignalServer::start(config).await {
            Ok(server) => server,
            Err(e @ signal::server::ServerError::Cluster(_)) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("signal listening on {}", server.url());
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
