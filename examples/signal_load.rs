//! Load generator for the signaling server: holds an idle population of authenticated
//! WebSocket connections, runs whole negotiations (request → accept → offer → answer →
//! ICE → connected → end) on pairs of clients, and reports connections held,
//! negotiations per second, relay latency p50/p99 and the server's CPU and RSS.
//!
//! By default it is self-contained: it re-executes itself as a server child process on
//! 127.0.0.1:0 (so each process stays under the file-descriptor limit) and reads the
//! child's CPU and RSS from `/proc/<pid>`. `--in-process` embeds the server instead (reads
//! `/proc/self`); `--url` targets a running server (then `--jwt-secret` must match it).
//!
//! With `--lobby-updates delta|snapshot` the idle population joins lobbies (spread over
//! `--lobbies K`) in that update mode, and the tool reports the lobby traffic every idle
//! client received (bytes and messages of `lobby_update` / `lobby_delta`) until it settles,
//! and the server RSS per connection with the lobbies populated. `--lobby-compression
//! deflate` connects the idle population with `?lobby_compression=deflate`: bytes are then
//! counted on the wire (compressed binary frames) and the frames are inflated to count the
//! messages; add `--count-only` to count the compressed frames without inflating them (only
//! one connection in `--inflate-sample` inflates, to estimate the kinds and the inflated
//! size), which keeps the load generator from being the bottleneck at 10,000 players.
//!
//! ```text
//! ulimit -n 65536; cargo run --release --example signal_load -- --idle 10000 --pairs 100 --secs 20
//! cargo run --release --example signal_load -- --idle 2000 --pairs 20 --secs 10 --lobby-updates delta
//! cargo run --release --example signal_load -- --idle 0 --pairs 20 --secs 10 --nodes 3 --placement cross
//! cargo run --release --example signal_load -- --idle 10000 --pairs 0 --secs 1 \
//!     --lobby-updates delta --lobby-compression deflate --count-only
//! ```
//!
//! With `--nodes N` it runs N cluster nodes in this process over Redis (a `redis-server` it
//! starts on a free port, or `--redis URL`), places each pair's players on the same node or
//! on different ones (`--placement`), and also reports Redis commands per client message
//! (from `INFO commandstats`: all commands of the measured window, split into log appends,
//! log reads and heartbeats).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use signal::auth::mint_token;
use signal::protocol::*;
use signal::{ServerConfig, SignalClient, SignalServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(about = "Signaling server load generator")]
struct Args {
    /// Idle authenticated connections to hold.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Client pairs running negotiations back to back.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Seconds of negotiation load.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Concurrent handshakes while connecting the idle population.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Target a running server instead of starting one (ws://host:port/ws/signal).
    #[arg(long)]
    url: Option<String>,
    /// HS256 secret for minting tokens (must match the server's with --url).
    #[arg(long, env = "SIGNAL_JWT_SECRET", default_value = "load-test-secret")]
    jwt_secret: String,
    /// Embed the server in this process instead of a child process.
    #[arg(long)]
    in_process: bool,
    /// Idle clients (and pairs) join lobbies with this update mode; absent: nobody joins a
    /// lobby except the pairs (snapshot mode, as before).
    #[arg(long, value_enum)]
    lobby_updates: Option<UpdatesArg>,
    /// Number of lobbies the idle population is spread over (`lobby0` .. `lobbyK-1`).
    #[arg(long, default_value_t = 1)]
    lobbies: usize,
    /// Idle clients ask for compressed lobby messages (`?lobby_compression=deflate`).
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    lobby_compression: CompressionArg,
    /// Run a cluster of N in-process `signal` nodes over Redis (0: one plain node, as
    /// before). Idle clients connect to the first node; pairs are placed by --placement.
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    /// Redis for --nodes (default: a redis-server started on a free loopback port).
    #[arg(long)]
    redis: Option<String>,
    /// With --nodes: both players of a pair on the same node, or on different nodes.
    #[arg(long, value_enum, default_value = "cross")]
    placement: Placement,
    /// Count compressed lobby frames without inflating them (wire bytes and messages), and
    /// inflate only every `--inflate-sample`-th idle connection's frames to estimate the
    /// message kinds and the inflated size: what makes 10,000-player runs measurable on a
    /// small machine (inflating every message costs the load generator more CPU than the
    /// server spends).
    #[arg(long)]
    count_only: bool,
    /// With --count-only: inflate the lobby frames of one idle connection in this many.
    #[arg(long, default_value_t = 100)]
    inflate_sample: usize,
    /// Internal: run only the server and print its URL (used for the child process).
    #[arg(long, hide = true)]
    serve_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompressionArg {
    None,
    Deflate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Placement {
    Same,
    Cross,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum UpdatesArg {
    Delta,
    Snapshot,
}

impl From<UpdatesArg> for LobbyUpdates {
    fn from(u: UpdatesArg) -> Self {
        match u {
            UpdatesArg::Delta => LobbyUpdates::Delta,
            UpdatesArg::Snapshot => LobbyUpdates::Snapshot,
        }
    }
}

/// Lobby traffic received by the idle population.
#[derive(Default)]
struct LobbyTraffic {
    bytes: AtomicU64,
    updates: AtomicU64,
    deltas: AtomicU64,
    /// Inflated size of the lobby messages that came compressed.
    inflated: AtomicU64,
    /// Compressed lobby messages (binary frames flagged FIN), counted without inflating.
    binary_messages: AtomicU64,
    /// Count-only mode: sampled connections, and what their inflated messages were.
    sampled_connections: AtomicU64,
    sampled_binary_messages: AtomicU64,
    sampled_binary_updates: AtomicU64,
    sampled_inflated: AtomicU64,
}

impl LobbyTraffic {
    /// Counts a text frame.
    fn count(&self, text: &str) {
        if self.classify(text) {
            self.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
        }
    }

    /// Counts a binary frame (wire bytes) and, when it completes a message, the message.
    /// Without an inflater (count-only mode) only the frame's size and flag are read.
    fn count_binary(
        &self,
        frame: &[u8],
        inflater: Option<&mut signal::lobby_deflate::LobbyInflater>,
    ) {
        self.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
        if frame.first() == Some(&signal::lobby_deflate::FLAG_FIN) {
            self.binary_messages.fetch_add(1, Ordering::Relaxed);
        }
        let Some(inflater) = inflater else {
            return;
        };
        match inflater.push(frame) {
            Ok(Some(text)) => {
                if self.sampling() {
                    self.sampled_binary_messages.fetch_add(1, Ordering::Relaxed);
                    if text.starts_with(r#"{"type":"lobby_update""#) {
                        self.sampled_binary_updates.fetch_add(1, Ordering::Relaxed);
                    }
                    self.sampled_inflated
                        .fetch_add(text.len() as u64, Ordering::Relaxed);
                } else {
                    self.classify(&text);
                    self.inflated
                        .fetch_add(text.len() as u64, Ordering::Relaxed);
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("bad compressed lobby frame: {e}"),
        }
    }

    /// Count-only mode (some connections inflate as a sample).
    fn sampling(&self) -> bool {
        self.sampled_connections.load(Ordering::Relaxed) > 0
    }

    fn classify(&self, text: &str) -> bool {
        if text.starts_with(r#"{"type":"lobby_update""#) {
            self.updates.fetch_add(1, Ordering::Relaxed);
        } else if text.starts_with(r#"{"type":"lobby_delta""#) {
            self.deltas.fetch_add(1, Ordering::Relaxed);
        } else {
            return false;
        }
        true
    }
}

/// Which lobby (and mode) idle client `i` joins.
#[derive(Clone, Copy)]
struct LobbyPlan {
    updates: Option<UpdatesArg>,
    lobbies: usize,
    compression: CompressionArg,
    /// `Some(n)`: count-only mode, inflating one idle connection in `n`.
    inflate_sample: Option<usize>,
}

impl LobbyPlan {
    /// Whether idle connection `i` inflates its compressed lobby frames.
    fn inflates(&self, i: u64) -> bool {
        self.inflate_sample
            .is_none_or(|n| n > 0 && i % n as u64 == 0)
    }

    fn join_for(&self, id: &str, i: usize) -> Option<ClientMessage> {
        let updates = self.updates?;
        let lobby = format!("lobby{}", i % self.lobbies.max(1));
        Some(ClientMessage::JoinLobby(
            JoinLobby::new(id, id)
                .in_lobby(lobby)
                .with_updates(updates.into()),
        ))
    }
}

/// Server config for load: the per-connection rate limit is raised because one load
/// client sends far more than a human player (about 10 messages per negotiation).
fn load_server_config(secret: &str) -> ServerConfig {
    let mut cfg = ServerConfig::new(secret.as_bytes().to_vec())
        .with_listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    cfg.rate_per_sec = 100_000;
    cfg.rate_burst = 100_000;
    cfg
}

#[derive(Default)]
struct Totals {
    negotiations: AtomicU64,
    failures: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve_only {
        return rt.block_on(serve_only(&args.jwt_secret));
    }
    rt.block_on(run(args))
}

async fn serve_only(secret: &str) -> Result<(), Box<dyn std::error::Error>> {
    let server = SignalServer::start(load_server_config(secret)).await?;
    println!("{}", server.url());
    // Run until the parent closes our stdin (or kills us).
    let mut buf = [0u8; 1];
    let _ = tokio::io::stdin().read(&mut buf).await;
    server.shutdown().await;
    Ok(())
}

/// Where the server runs, for URL and /proc readings.
enum Target {
    Child(Child),
    Embedded(signal::RunningServer),
    Cluster(Cluster),
    Remote,
}

/// In-process cluster nodes and the redis-server started for them (if any).
struct Cluster {
    nodes: Vec<signal::RunningServer>,
    redis_url: String,
    redis: Option<Child>,
}

impl Cluster {
    async fn start(args: &Args) -> Result<Self, Box<dyn std::error::Error>> {
        let (redis_url, redis) = match &args.redis {
            Some(url) => (url.clone(), None),
            None => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .spawn()?;
                let t = Instant::now();
                while tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_err()
                {
                    if t.elapsed() > Duration::from_secs(10) {
                        return Err("redis-server did not start".into());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (format!("redis://127.0.0.1:{port}"), Some(child))
            }
        };
        let mut nodes = Vec::new();
        for i in 0..args.nodes {
            let mut cfg = load_server_config(&args.jwt_secret);
            cfg.cluster = Some(signal::cluster::ClusterConfig::new(
                redis_url.clone(),
                format!("load-{i}"),
            ));
            nodes.push(SignalServer::start(cfg).await?);
        }
        Ok(Self {
            nodes,
            redis_url,
            redis,
        })
    }

    /// Commands Redis has processed so far, per command (`INFO commandstats`; the
    /// commands a Lua script runs are counted too, under their own names).
    async fn redis_commands(&self) -> Option<BTreeMap<String, u64>> {
        let addr = self.redis_url.strip_prefix("redis://")?.split('/').next()?;
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"INFO commandstats\r\n").await.ok()?;
        // Reply: `$<len>\r\n<body>\r\n`.
        let mut buf = vec![0u8; 64 * 1024];
        let mut text = String::new();
        let mut want = None;
        loop {
            let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if want.is_none() {
                if let Some((len, _)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
                    want = Some(len.len() + 3 + len.parse::<usize>().ok()? + 2);
                }
            }
            if want.is_some_and(|w| text.len() >= w) {
                break;
            }
        }
        let mut calls = BTreeMap::new();
        for line in text.lines() {
            let Some((name, rest)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let n = rest
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            calls.insert(name.to_owned(), n);
        }
        Some(calls)
    }

    /// The node URLs of pair `i`'s two players.
    fn pair_urls(&self, i: usize, placement: Placement) -> (String, String) {
        let n = self.nodes.len().max(1);
        let a = i % n;
        let b = match placement {
            Placement::Same => a,
            Placement::Cross => (i + 1) % n,
        };
        (self.nodes[a].url(), self.nodes[b].url())
    }

    async fn stop(mut self) {
        for n in self.nodes.drain(..) {
            n.shutdown().await;
        }
        if let Some(mut c) = self.redis.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Target {
    fn pid(&self) -> Option<String> {
        match self {
            Target::Child(c) => Some(c.id().to_string()),
            Target::Embedded(_) | Target::Cluster(_) => Some("self".into()),
            Target::Remote => None,
        }
    }
}

fn proc_rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

async fn start_target(args: &Args) -> Result<(Target, String), Box<dyn std::error::Error>> {
    if let Some(url) = &args.url {
        return Ok((Target::Remote, url.clone()));
    }
    if args.nodes > 0 {
        let cluster = Cluster::start(args).await?;
        let url = cluster.nodes[0].url();
        return Ok((Target::Cluster(cluster), url));
    }
    if args.in_process {
        let server = SignalServer::start(load_server_config(&args.jwt_secret)).await?;
        let url = server.url();
        return Ok((Target::Embedded(server), url));
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve-only", "--jwt-secret", &args.jwt_secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line.trim().to_owned();
    if !url.starts_with("ws") {
        return Err(format!("server child did not start: {line:?}").into());
    }
    Ok((Target::Child(child), url))
}

async fn metrics_connections(url: &str) -> Option<f64> {
    let addr = url.strip_prefix("ws://")?.split('/').next()?.to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).await.ok()?;
    body.lines()
        .find(|l| l.starts_with("signal_connections "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn connect_idle(
    url: &str,
    secret: &str,
    n: usize,
    concurrency: usize,
    plan: LobbyPlan,
    traffic: Arc<LobbyTraffic>,
) -> usize {
    let held = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (url, secret, held, next, traffic) = (
            url.to_owned(),
            secret.to_owned(),
            held.clone(),
            next.clone(),
            traffic.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 {
                    return;
                }
                let Ok(token) = mint_token(
                    secret.as_bytes(),
                    &format!("idle{i}"),
                    None,
                    Duration::from_secs(3600),
                ) else {
                    return;
                };
                let config = WebSocketConfig::default()
                    .read_buffer_size(4096)
                    .write_buffer_size(0);
                let request = match plan.compression {
                    CompressionArg::None => format!("{url}?token={token}"),
                    CompressionArg::Deflate => {
                        format!("{url}?lobby_compression=deflate&token={token}")
                    }
                };
                match tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                    .await
                {
                    Ok((mut ws, _)) => {
                        held.fetch_add(1, Ordering::Relaxed);
                        let id = format!("idle{i}");
                        if let Some(join) = plan.join_for(&id, i as usize) {
                            let Ok(text) = serde_json::to_string(&join) else {
                                return;
                            };
                            let _ = ws.send(Message::text(text)).await;
                        }
                        // Keep reading so pings are answered; hold until the process exits.
                        let traffic = traffic.clone();
                        let inflates = plan.inflates(i);
                        if inflates && plan.inflate_sample.is_some() {
                            traffic.sampled_connections.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::spawn(async move {
                            let mut inflater =
                                inflates.then(signal::lobby_deflate::LobbyInflater::default);
                            while let Some(Ok(frame)) = ws.next().await {
                                match frame {
                                    Message::Text(text) => traffic.count(text.as_str()),
                                    Message::Binary(data) => {
                                        traffic.count_binary(&data, inflater.as_mut())
                                    }
                                    _ => {}
                                }
                            }
                        });
                    }
                    Err(e) => eprintln!("idle connect {i} failed: {e}"),
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    held.load(Ordering::Relaxed) as usize
}

fn stamp(base: Instant) -> u64 {
    base.elapsed().as_micros() as u64
}

async fn next_of<F>(c: &mut SignalClient, mut pred: F) -> Option<ServerMessage>
where
    F: FnMut(&ServerMessage) -> bool,
{
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let m = c.recv().await?;
            if pred(&m) {
                return Some(m);
            }
        }
    })
    .await
    .ok()
    .flatten()
}

fn latency_of(text: &str, base: Instant) -> Option<u64> {
    let sent: u64 = text.rsplit("t=").next()?.parse().ok()?;
    Some(stamp(base).saturating_sub(sent))
}

/// One whole negotiation; returns relay latencies (µs) or None on failure.
async fn negotiation(
    a: &mut SignalClient,
    b: &mut SignalClient,
    base: Instant,
) -> Option<Vec<u64>> {
    let (ia, ib) = (a.player_id().to_owned(), b.player_id().to_owned());
    let (sa, sb) = (a.sender(), b.sender());
    let mut lat = Vec::with_capacity(4);
    sa.send(ClientMessage::RequestMatch(RequestMatch {
        requester_id: ia.clone(),
        target_id: ib.clone(),
    }))
    .ok()?;
    let ServerMessage::MatchRequestReceived(r) =
        next_of(b, |m| matches!(m, ServerMessage::MatchRequestReceived(_))).await?
    else {
        return None;
    };
    let sid = r.session_id;
    sb.send(ClientMessage::AcceptMatch(AcceptMatch {
        accepter_id: ib.clone(),
        requester_id: ia.clone(),
        session_id: Some(sid.clone()),
    }))
    .ok()?;
    next_of(a, |m| matches!(m, ServerMessage::MatchRequestAccepted(_))).await?;
    let relay = |from: &str, to: &str| SdpRelay {
        sender_id: from.into(),
        receiver_id: to.into(),
        sdp: format!("v=0 t={}", stamp(base)),
        session_id: sid.clone(),
    };
    sa.send(ClientMessage::SendSdpOffer(relay(&ia, &ib))).ok()?;
    let ServerMessage::SdpOfferReceived(o) =
        next_of(b, |m| matches!(m, ServerMessage::SdpOfferReceived(_))).await?
    else {
        return None;
    };
    lat.push(latency_of(&o.sdp, base)?);
    sb.send(ClientMessage::SendSdpAnswer(relay(&ib, &ia)))
        .ok()?;
    let ServerMessage::SdpAnswerReceived(ans) =
        next_of(a, |m| matches!(m, ServerMessage::SdpAnswerReceived(_))).await?
    else {
        return None;
    };
    lat.push(latency_of(&ans.sdp, base)?);
    for (s, from, to) in [(&sa, &ia, &ib), (&sb, &ib, &ia)] {
        let candidate = serde_json::json!({"candidate": format!("candidate:1 1 udp 1 127.0.0.1 9 typ host t={}", stamp(base)), "sdpMid": "0"});
        s.send(ClientMessage::SendIceCandidate(IceRelay {
            sender_id: from.clone(),
            receiver_id: to.clone(),
            candidate,
            session_id: sid.clone(),
        }))
        .ok()?;
    }
    for c in [&mut *a, &mut *b] {
        let ServerMessage::IceCandidateReceived(ice) =
            next_of(c, |m| matches!(m, ServerMessage::IceCandidateReceived(_))).await?
        else {
            return None;
        };
        lat.push(latency_of(ice.candidate["candidate"].as_str()?, base)?);
    }
    for (s, id) in [(&sa, &ia), (&sb, &ib)] {
        s.send(ClientMessage::ReportConnection(ReportConnection {
            player_id: id.clone(),
            session_id: sid.clone(),
            state: ConnectionState::Connected,
        }))
        .ok()?;
    }
    next_of(a, |m| matches!(m, ServerMessage::MatchStarted(_))).await?;
    next_of(b, |m| matches!(m, ServerMessage::MatchStarted(_))).await?;
    sa.send(ClientMessage::EndMatch(EndMatch {
        player_id: ia,
        session_id: sid,
    }))
    .ok()?;
    next_of(b, |m| matches!(m, ServerMessage::MatchEnded(_))).await?;
    Some(lat)
}

async fn run_pair(
    (url, url_b): (String, String),
    secret: String,
    plan: LobbyPlan,
    i: usize,
    stop: Arc<AtomicBool>,
    totals: Arc<Totals>,
    base: Instant,
) {
    let token = |p: &str| mint_token(secret.as_bytes(), p, None, Duration::from_secs(3600));
    let (Ok(ta), Ok(tb)) = (token(&format!("pa{i}")), token(&format!("pb{i}"))) else {
        return;
    };
    let (Ok(mut a), Ok(mut b)) = (
        SignalClient::connect(&url, &ta).await,
        SignalClient::connect(&url_b, &tb).await,
    ) else {
        totals.failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    for c in [&a, &b] {
        let id = c.player_id().to_owned();
        let join = plan
            .join_for(&id, 0)
            .unwrap_or_else(|| ClientMessage::JoinLobby(JoinLobby::new(id.clone(), id)));
        let _ = c.sender().send(join);
    }
    // Both must be listed before requesting (b's lobby view is kept by its client).
    let pa = format!("pa{i}");
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while b.lobby().player(&pa).is_none() {
            if b.recv().await.is_none() {
                return;
            }
        }
    })
    .await;
    while !stop.load(Ordering::Relaxed) {
        match negotiation(&mut a, &mut b, base).await {
            Some(lat) => {
                totals.negotiations.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut all) = totals.latencies_us.lock() {
                    all.extend(lat);
                }
            }
            None => {
                totals.failures.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    a.close().await;
    b.close().await;
}

fn print_lobby_traffic(label: &str, traffic: &LobbyTraffic) {
    let bytes = traffic.bytes.load(Ordering::Relaxed);
    println!(
        "{label}: {bytes} bytes ({:.1} MB) in {} lobby_update + {} lobby_delta",
        bytes as f64 / 1e6,
        traffic.updates.load(Ordering::Relaxed),
        traffic.deltas.load(Ordering::Relaxed),
    );
    let binary = traffic.binary_messages.load(Ordering::Relaxed);
    if binary > 0 {
        println!("{label}: {binary} of these messages came compressed (binary)");
    }
    let sampled = traffic.sampled_connections.load(Ordering::Relaxed);
    if sampled > 0 {
        let (m, u, b) = (
            traffic.sampled_binary_messages.load(Ordering::Relaxed),
            traffic.sampled_binary_updates.load(Ordering::Relaxed),
            traffic.sampled_inflated.load(Ordering::Relaxed),
        );
        println!(
            "{label}: sample of {sampled} inflating connections: {m} compressed messages \
             ({u} lobby_update, {} lobby_delta), inflating to {b} bytes ({:.1} KB per connection)",
            m.saturating_sub(u),
            b as f64 / 1e3 / sampled as f64
        );
    }
    let inflated = traffic.inflated.load(Ordering::Relaxed);
    if inflated > 0 {
        println!(
            "{label}: compressed messages inflate to {inflated} bytes ({:.1} MB)",
            inflated as f64 / 1e6
        );
    }
}

/// Waits until the idle clients' lobby traffic has been quiet for 2 s (at most 600 s: a
/// 10,000-player lobby takes minutes to settle on a small machine), then prints it.
async fn settle_lobby_traffic(traffic: &LobbyTraffic, start: Instant) {
    let mut last = traffic.bytes.load(Ordering::Relaxed);
    let mut quiet = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while quiet.elapsed() < Duration::from_secs(2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = traffic.bytes.load(Ordering::Relaxed);
        if now != last {
            last = now;
            quiet = Instant::now();
        }
    }
    println!(
        "lobby settled {:.1} s after the first connect",
        start.elapsed().as_secs_f64() - 2.0
    );
    print_lobby_traffic("lobby traffic to idle clients while joining", traffic);
}

/// Redis commands of the measured window, in total and by kind, per client message.
/// Each negotiation is 9 client messages (request, accept, offer, answer, 2 ICE, 2 reports,
/// end), 4 of them relays (SDP and ICE); every one of them is one log entry.
fn print_redis_commands(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    msgs: u64,
    args: &Args,
) {
    let delta = |name: &str| {
        after
            .get(name)
            .copied()
            .unwrap_or(0)
            .saturating_sub(before.get(name).copied().unwrap_or(0))
    };
    let total: u64 = after.keys().map(|k| delta(k)).sum::<u64>() - delta("info");
    let per = |n: u64| n as f64 / msgs.max(1) as f64;
    println!(
        "redis commands: {total} = {:.2} per client message ({} nodes, placement {:?})",
        per(total),
        args.nodes,
        args.placement
    );
    let (xadd, xread) = (delta("xadd"), delta("xread"));
    // The heartbeat script (evalsha/eval) and the commands it runs inside.
    let background = total.saturating_sub(xadd + xread);
    println!(
        "  of which XADD {xadd} ({:.2}/msg, log appends incl. ticks and node_down), \
         XREAD {xread} ({:.2}/msg), heartbeats and trims {background} ({:.2}/msg)",
        per(xadd),
        per(xread),
        per(background)
    );
    let detail: Vec<String> = after
        .keys()
        .filter(|k| *k != "info" && delta(k) > 0)
        .map(|k| format!("{k}={}", delta(k)))
        .collect();
    println!("  by command: {}", detail.join(" "));
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Warns when this process (and an in-process server) would run out of file descriptors.
fn check_fd_limit(clients: usize, target: &Target) {
    // An in-process server holds the other end of every connection.
    let per_conn = match target {
        Target::Embedded(_) | Target::Cluster(_) => 2,
        Target::Child(_) | Target::Remote => 1,
    };
    let needed = (clients * per_conn + 256) as u64;
    match open_files_limit() {
        Some(limit) if limit < needed => eprintln!(
            "warning: ulimit -n is {limit}, this run needs about {needed} file descriptors \
             (raise it with `ulimit -n {needed}`; the server child process has its own)"
        ),
        Some(limit) => println!("ulimit -n {limit} (about {needed} needed here)"),
        None => {}
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (target, url) = start_target(&args).await?;
    let pid = target.pid();
    let rss = |label: &str| {
        if let Some(kib) = pid.as_deref().and_then(proc_rss_kib) {
            println!("server RSS {label}: {:.1} MiB", kib as f64 / 1024.0);
        }
        pid.as_deref().and_then(proc_rss_kib)
    };
    println!("server: {url}");
    let rss0 = rss("at start");

    let t = Instant::now();
    let plan = LobbyPlan {
        updates: args.lobby_updates,
        lobbies: args.lobbies,
        compression: args.lobby_compression,
        inflate_sample: args.count_only.then_some(args.inflate_sample),
    };
    check_fd_limit(args.idle + 2 * args.pairs, &target);
    let traffic = Arc::new(LobbyTraffic::default());
    let idle = connect_idle(
        &url,
        &args.jwt_secret,
        args.idle,
        args.connect_concurrency,
        plan,
        traffic.clone(),
    )
    .await;
    println!(
        "idle connections opened: {idle}/{} in {:.1} s",
        args.idle,
        t.elapsed().as_secs_f64()
    );
    if plan.updates.is_some() {
        settle_lobby_traffic(&traffic, t).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let (Some(a), Some(b)) = (rss0, rss("with idle population")) {
        if idle > 0 {
            println!(
                "server RSS per idle connection: {:.1} KiB",
                (b.saturating_sub(a)) as f64 / idle as f64
            );
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals::default());
    let base = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.pairs {
        let urls = match &target {
            Target::Cluster(c) => c.pair_urls(i, args.placement),
            _ => (url.clone(), url.clone()),
        };
        tasks.push(tokio::spawn(run_pair(
            urls,
            args.jwt_secret.clone(),
            plan,
            i,
            stop.clone(),
            totals.clone(),
            base,
        )));
    }
    // Let pairs connect and join before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n0 = totals.negotiations.load(Ordering::Relaxed);
    let redis0 = match &target {
        Target::Cluster(c) => c.redis_commands().await,
        _ => None,
    };
    let cpu0 = pid.as_deref().and_then(proc_cpu_ticks);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let n1 = totals.negotiations.load(Ordering::Relaxed);
    let redis1 = match &target {
        Target::Cluster(c) => c.redis_commands().await,
        _ => None,
    };
    let cpu1 = pid.as_deref().and_then(proc_cpu_ticks);
    let held = metrics_connections(&url).await;
    let rss_load = rss("under negotiation load");
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    let mut lat = totals
        .latencies_us
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    println!("--- results ---");
    if let Some(h) = held {
        println!("connections held (server gauge, idle + pairs): {h}");
    }
    println!(
        "negotiations: {} in {wall:.1} s = {:.0}/s (failures: {})",
        n1 - n0,
        (n1 - n0) as f64 / wall,
        totals.failures.load(Ordering::Relaxed)
    );
    println!(
        "relay latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} relays",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len()
    );
    if let (Some(r0), Some(r1)) = (redis0, redis1) {
        print_redis_commands(&r0, &r1, (n1 - n0) * 9, &args);
    }
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        println!(
            "server CPU during load: {:.0}% of one core (USER_HZ=100)",
            (c1 - c0) as f64 / wall
        );
    }
    if let Some(r) = rss_load {
        println!("server RSS under load: {:.1} MiB", r as f64 / 1024.0);
    }
    if plan.updates.is_some() {
        print_lobby_traffic("lobby traffic to idle clients, whole run", &traffic);
    }
    match target {
        Target::Child(mut child) => {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        Target::Embedded(server) => server.shutdown().await,
        Target::Cluster(cluster) => cluster.stop().await,
        Target::Remote => {}
    }
    Ok(())
}
