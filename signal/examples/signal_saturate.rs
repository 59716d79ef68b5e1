//! Saturation sweep for the signaling server: pairs of clients relay ICE-candidate-sized
//! messages to each other at a fixed offered rate, against our server and (optionally)
//! `matchbox_server`, one fresh server process per (rate, server) step, both pinned to the
//! same CPU set with `taskset` (run this tool itself on the other CPUs). Reports delivered
//! msg/s and relay latency p50/p99 per offered rate for each server, and the server's CPU.
//!
//! The matchbox client speaks matchbox_server's JSON signaling: the server sends
//! `{"IdAssigned": id}` on connect and `{"NewPeer": id}` to the peers already in the room
//! (the URL path); a client sends `{"Signal": {"receiver": id, "data": ...}}` and the
//! receiver gets `{"Signal": {"sender": id, "data": ...}}`. Each pair has its own room.
//! Our client joins the lobby, runs request → accept → offer → answer → connected (so the
//! session is `Connected` and has no deadline), then relays `send_ice_candidate`.
//!
//! Both protocols carry the same candidate object; the sender's timestamp (µs since the
//! step's start, 13 fixed-width digits after `t=`) is patched into a prebuilt frame, and the
//! receiver finds it without parsing the JSON, so the load generator stays cheap. Senders
//! write `rate × tick` frames per tick and flush once; missed ticks are skipped (the offered
//! rate is an upper bound, the `sent` column is what the server accepted).
//!
//! ```text
//! cargo build --release -p signal --example signal_saturate
//! taskset -c 1 target/release/examples/signal_saturate --server-cpus 0 --pairs 200 \
//!     --rates 25,50,100,200 --secs 5 [--matchbox-bin /path/to/matchbox_server]
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signal::auth::mint_token;
use signal::protocol::{ClientMessage, IceRelay};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// With the `mimalloc` feature the server runs on mimalloc: more relay throughput, more
/// resident memory per connection (see BENCHMARKS.md, issue 13).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Error = Box<dyn std::error::Error>;

/// Options of the saturation sweep.
#[derive(Debug, clap::Parser)]
#[command(about = "Signaling relay saturation sweep (ours vs matchbox_server)")]
pub struct SaturateArgs {
    /// Client pairs relaying messages.
    #[arg(long, default_value_t = 200)]
    pub pairs: usize,
    /// Measured seconds per step.
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// HS256 secret for our server's tokens.
    #[arg(long, env = "SIGNAL_JWT_SECRET", default_value = "load-test-secret")]
    pub jwt_secret: String,
    /// Internal: run only our server on this address (the child process).
    #[arg(long, hide = true)]
    pub serve_only: Option<SocketAddr>,
    /// Offered rates to sweep, in messages per second per client (each pair has two
    /// senders, so the offered total is pairs × 2 × rate).
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,200")]
    pub rates: Vec<u32>,
    /// A `matchbox_server` binary to measure in the same run (built outside this repo).
    #[arg(long)]
    pub matchbox_bin: Option<PathBuf>,
    /// CPU list for the server processes (`taskset -c`); empty = no pinning.
    #[arg(long, default_value = "0")]
    pub server_cpus: String,
    /// Warm-up seconds per step before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    /// Sender tick: each client writes rate × tick messages per tick, then flushes once.
    #[arg(long, default_value_t = 20)]
    pub tick_ms: u64,
    /// Another build of this tool whose server is measured too, as "netplay baseline"
    /// (before/after comparisons in the same run).
    #[arg(long)]
    pub baseline_bin: Option<PathBuf>,
    /// Skip our server (measure only matchbox_server).
    #[arg(long)]
    pub skip_netplay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavor {
    Netplay,
    Baseline,
    Matchbox,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Netplay => "netplay signal",
            Flavor::Baseline => "netplay baseline",
            Flavor::Matchbox => "matchbox_server",
        }
    }
}

/// Digits of the patched timestamp.
const STAMP_DIGITS: usize = 13;
const STAMP_ZERO: &str = "t=0000000000000";

fn candidate() -> Value {
    json!({
        "candidate": format!("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host {STAMP_ZERO}"),
        "sdpMid": "0",
        "sdpMLineIndex": 0
    })
}

/// A prebuilt frame and where its timestamp digits start.
#[derive(Clone)]
struct Template {
    text: String,
    at: usize,
}

impl Template {
    fn new(text: String) -> Result<Self, Error> {
        let at = text.find(STAMP_ZERO).ok_or("no stamp in template")? + 2;
        Ok(Self { text, at })
    }

    fn stamped(&self, us: u64) -> String {
        let mut s = self.text.clone();
        let digits = format!("{:0width$}", us, width = STAMP_DIGITS);
        s.replace_range(self.at..self.at + STAMP_DIGITS, &digits);
        s
    }
}

fn stamp_of(text: &str) -> Option<u64> {
    let i = text.find("t=")? + 2;
    text.get(i..i + STAMP_DIGITS)?.parse().ok()
}

#[derive(Default)]
struct StepStats {
    sent: AtomicU64,
    delivered: AtomicU64,
    closed: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

struct Step {
    measuring: AtomicBool,
    stop: AtomicBool,
    stats: StepStats,
    base: Instant,
}

struct Server {
    child: Child,
    url_base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn pinned(cpus: &str, program: &std::ffi::OsStr) -> Command {
    // setsid: the server gets its own session, hence its own scheduler autogroup, instead
    // of sharing this process's CPU share (matters on a shared machine).
    let mut c = Command::new("setsid");
    if !cpus.is_empty() {
        c.arg("taskset").arg("-c").arg(cpus);
    }
    c.arg(program);
    c
}

async fn start_server(flavor: Flavor, args: &SaturateArgs, secret: &str) -> Result<Server, Error> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let own = std::env::current_exe()?;
    let child = match flavor {
        Flavor::Netplay | Flavor::Baseline => pinned(
            &args.server_cpus,
            match flavor {
                Flavor::Baseline => args.baseline_bin.as_ref().ok_or("no --baseline-bin")?,
                _ => &own,
            }
            .as_os_str(),
        )
        .args(["--jwt-secret", secret, "--serve-only"])
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?,
        Flavor::Matchbox => {
            let bin = args.matchbox_bin.as_ref().ok_or("no --matchbox-bin")?;
            pinned(&args.server_cpus, bin.as_os_str())
                .arg(addr.to_string())
                .env("RUST_LOG", "error")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()?
        }
    };
    let server = Server {
        child,
        url_base: format!("ws://{addr}"),
    };
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{} did not listen on {addr}", flavor.name()).into())
}

async fn connect(url: &str) -> Result<Ws, Error> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> Result<String, Error> {
    let wait = Duration::from_secs(15);
    loop {
        match tokio::time::timeout(wait, ws.next()).await? {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}").into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("connection ended".into()),
        }
    }
}

/// Reads our server's messages until one of type `kind` arrives; returns its payload.
async fn next_of_type(ws: &mut Ws, kind: &str) -> Result<Value, Error> {
    loop {
        let v: Value = serde_json::from_str(&next_text(ws).await?)?;
        if v["type"] == kind {
            return Ok(v["payload"].clone());
        }
        if v["type"] == "error" {
            return Err(format!("server error waiting for {kind}: {v}").into());
        }
    }
}

async fn send_json(ws: &mut Ws, v: Value) -> Result<(), Error> {
    ws.send(Message::text(v.to_string())).await?;
    Ok(())
}

/// Connects one pair to our server and brings its session to `Connected`; returns both
/// sockets and the frame templates each side sends.
async fn netplay_pair(base: &str, secret: &str, i: usize) -> Result<[(Ws, Template); 2], Error> {
    let (ia, ib) = (format!("sa{i}"), format!("sb{i}"));
    let token = |p: &str| mint_token(secret.as_bytes(), p, None, Duration::from_secs(3600));
    let mut a = connect(&format!(
        "{base}{}?token={}",
        signal::server::WS_PATH,
        token(&ia)?
    ))
    .await?;
    let mut b = connect(&format!(
        "{base}{}?token={}",
        signal::server::WS_PATH,
        token(&ib)?
    ))
    .await?;
    next_of_type(&mut a, "welcome").await?;
    next_of_type(&mut b, "welcome").await?;
    for (ws, id) in [(&mut a, &ia), (&mut b, &ib)] {
        let join = json!({"type": "join_lobby", "payload": {"playerId": id, "playerName": id}});
        send_json(ws, join).await?;
    }
    // Retry the request until b is listed (the lobby updates are debounced).
    let sid = loop {
        let req = json!({"type": "request_match", "payload": {"requesterId": ia, "targetId": ib}});
        send_json(&mut a, req).await?;
        let v: Value = loop {
            let v: Value = serde_json::from_str(&next_text(&mut a).await?)?;
            if v["type"] == "match_request_sent" || v["type"] == "error" {
                break v;
            }
        };
        if v["type"] == "match_request_sent" {
            break v["payload"]["sessionId"]
                .as_str()
                .ok_or("no session id")?
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    next_of_type(&mut b, "match_request_received").await?;
    let accept = json!({"type": "accept_match", "payload": {"accepterId": ib, "requesterId": ia, "sessionId": sid}});
    send_json(&mut b, accept).await?;
    next_of_type(&mut a, "match_request_accepted").await?;
    let sdp = |kind: &str, from: &str, to: &str| json!({"type": kind, "payload": {"senderId": from, "receiverId": to, "sdp": "v=0", "sessionId": sid}});
    send_json(&mut a, sdp("send_sdp_offer", &ia, &ib)).await?;
    next_of_type(&mut b, "sdp_offer_received").await?;
    send_json(&mut b, sdp("send_sdp_answer", &ib, &ia)).await?;
    next_of_type(&mut a, "sdp_answer_received").await?;
    for (ws, id) in [(&mut a, &ia), (&mut b, &ib)] {
        let report = json!({"type": "report_connection", "payload": {"playerId": id, "sessionId": sid, "state": "connected"}});
        send_json(ws, report).await?;
    }
    next_of_type(&mut a, "match_started").await?;
    next_of_type(&mut b, "match_started").await?;
    // Serialized by our own types, so the frame looks like our client's: "type" first.
    let ice = |from: &str, to: &str| -> Result<Template, Error> {
        let msg = ClientMessage::SendIceCandidate(IceRelay {
            sender_id: from.to_owned(),
            receiver_id: to.to_owned(),
            candidate: candidate(),
            session_id: sid.clone(),
        });
        Template::new(serde_json::to_string(&msg)?)
    };
    let (ta, tb) = (ice(&ia, &ib)?, ice(&ib, &ia)?);
    Ok([(a, ta), (b, tb)])
}

fn matchbox_id(text: &str, key: &str) -> Result<String, Error> {
    let v: Value = serde_json::from_str(text)?;
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("expected {key}, got {text}").into())
}

/// Connects one pair to matchbox_server in its own room.
async fn matchbox_pair(base: &str, i: usize) -> Result<[(Ws, Template); 2], Error> {
    let url = format!("{base}/pair{i}");
    let mut a = connect(&url).await?;
    let id_a = matchbox_id(&next_text(&mut a).await?, "IdAssigned")?;
    let mut b = connect(&url).await?;
    let id_b = matchbox_id(&next_text(&mut b).await?, "IdAssigned")?;
    let new_peer = matchbox_id(&next_text(&mut a).await?, "NewPeer")?;
    if new_peer != id_b {
        return Err(format!("NewPeer {new_peer} is not b {id_b}").into());
    }
    let signal = |to: &str| -> Result<Template, Error> {
        Template::new(json!({"Signal": {"receiver": to, "data": candidate()}}).to_string())
    };
    let (ta, tb) = (signal(&id_b)?, signal(&id_a)?);
    Ok([(a, ta), (b, tb)])
}

fn spawn_client(
    ws: Ws,
    template: Template,
    rate: u32,
    tick: Duration,
    step: Arc<Step>,
) -> [JoinHandle<()>; 2] {
    let (mut sink, mut stream) = ws.split();
    let reader_step = step.clone();
    let reader = tokio::spawn(async move {
        let step = reader_step;
        let mut local: Vec<u32> = Vec::new();
        while let Some(msg) = stream.next().await {
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(_)) | Err(_) => {
                    if !step.stop.load(Ordering::Relaxed) {
                        step.stats.closed.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Ok(_) => continue,
            };
            let Some(sent) = stamp_of(text.as_str()) else {
                continue;
            };
            if step.measuring.load(Ordering::Relaxed) {
                let now = step.base.elapsed().as_micros() as u64;
                step.stats.delivered.fetch_add(1, Ordering::Relaxed);
                local.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                if local.len() >= 1024 {
                    if let Ok(mut all) = step.stats.latencies_us.lock() {
                        all.append(&mut local);
                    }
                }
            } else if !local.is_empty() {
                if let Ok(mut all) = step.stats.latencies_us.lock() {
                    all.append(&mut local);
                }
            }
        }
        if let Ok(mut all) = step.stats.latencies_us.lock() {
            all.append(&mut local);
        };
    });
    let writer = tokio::spawn(async move {
        // Messages per tick as a fraction, so low rates still send evenly.
        let per_tick = f64::from(rate) * tick.as_secs_f64();
        let mut owed = 0.0;
        // Spread the clients' phases over one tick.
        let phase = Duration::from_micros(rand::random::<u64>() % tick.as_micros().max(1) as u64);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + phase, tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !step.stop.load(Ordering::Relaxed) {
            ticker.tick().await;
            owed += per_tick;
            let n = owed as u64;
            owed -= n as f64;
            for _ in 0..n {
                let us = step.base.elapsed().as_micros() as u64;
                if sink
                    .feed(Message::text(template.stamped(us)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if n > 0 {
                if sink.flush().await.is_err() {
                    return;
                }
                if step.measuring.load(Ordering::Relaxed) {
                    step.stats.sent.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
        let _ = sink.close().await;
    });
    [reader, writer]
}

/// utime + stime of a process in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Our server as the child process: the per-connection rate limit is raised because a load
/// client sends far more than a player; everything else is the default configuration.
async fn serve_only(secret: &str, listen: SocketAddr) -> Result<(), Error> {
    use tokio::io::AsyncReadExt;
    let mut cfg = signal::ServerConfig::new(secret.as_bytes().to_vec()).with_listen(listen);
    cfg.rate_per_sec = 1_000_000;
    cfg.rate_burst = 1_000_000;
    let server = signal::SignalServer::start(cfg).await?;
    // Run until the parent closes our stdin (or kills us).
    let mut buf = [0u8; 1];
    let _ = tokio::io::stdin().read(&mut buf).await;
    server.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = <SaturateArgs as clap::Parser>::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(listen) = args.serve_only {
        return rt.block_on(serve_only(&args.jwt_secret, listen));
    }
    rt.block_on(run(&args))
}

struct StepResult {
    offered: f64,
    sent: f64,
    delivered: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_pct: f64,
    closed: u64,
}

async fn run_step(
    flavor: Flavor,
    args: &SaturateArgs,
    pairs: usize,
    rate: u32,
    secs: u64,
    secret: &str,
) -> Result<StepResult, Error> {
    let server = start_server(flavor, args, secret).await?;
    let mut sockets = Vec::with_capacity(pairs * 2);
    // Set up pairs a few at a time (the handshakes are not what is measured).
    let mut set_up = Vec::new();
    for chunk in (0..pairs).collect::<Vec<_>>().chunks(64) {
        let jobs: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (base, secret) = (server.url_base.clone(), secret.to_owned());
                tokio::spawn(async move {
                    match flavor {
                        Flavor::Netplay | Flavor::Baseline => netplay_pair(&base, &secret, i).await,
                        Flavor::Matchbox => matchbox_pair(&base, i).await,
                    }
                    .map_err(|e| e.to_string())
                })
            })
            .collect();
        for job in jobs {
            set_up.push(job.await?);
        }
    }
    for pair in set_up {
        sockets.extend(pair?);
    }
    let step = Arc::new(Step {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        stats: StepStats::default(),
        base: Instant::now(),
    });
    let tick = Duration::from_millis(args.tick_ms.max(1));
    let tasks: Vec<JoinHandle<()>> = sockets
        .into_iter()
        .flat_map(|(ws, t)| spawn_client(ws, t, rate, tick, step.clone()))
        .collect();
    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;
    let pid = server.child.id();
    let cpu0 = proc_cpu_ticks(pid);
    step.measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    step.measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = proc_cpu_ticks(pid);
    step.stop.store(true, Ordering::Relaxed);
    // Let readers flush their local latency buffers, then tear everything down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut lat = step
        .stats
        .latencies_us
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let idx = ((lat.len() - 1) as f64 * p).round() as usize;
        f64::from(lat[idx.min(lat.len() - 1)]) / 1000.0
    };
    Ok(StepResult {
        offered: (pairs * 2) as f64 * f64::from(rate),
        sent: step.stats.sent.load(Ordering::Relaxed) as f64 / wall,
        delivered: step.stats.delivered.load(Ordering::Relaxed) as f64 / wall,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        cpu_pct: match (cpu0, cpu1) {
            (Some(a), Some(b)) => (b - a) as f64 / wall,
            _ => f64::NAN,
        },
        closed: step.stats.closed.load(Ordering::Relaxed),
    })
}

/// Runs the sweep: for each offered rate, each server in turn, and prints a table.
async fn run(args: &SaturateArgs) -> Result<(), Error> {
    let (pairs, secs, secret) = (args.pairs, args.secs, args.jwt_secret.as_str());
    let mut flavors = Vec::new();
    if !args.skip_netplay {
        flavors.push(Flavor::Netplay);
    }
    if args.baseline_bin.is_some() {
        flavors.push(Flavor::Baseline);
    }
    if args.matchbox_bin.is_some() {
        flavors.push(Flavor::Matchbox);
    }
    println!(
        "saturation sweep: {pairs} pairs, rates {:?} msg/s per client, {secs} s per step, server CPUs {:?}",
        args.rates, args.server_cpus
    );
    println!("| server | offered msg/s | sent msg/s | delivered msg/s | p50 ms | p99 ms | server CPU % | closed |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows: Vec<(f64, Flavor, f64)> = Vec::new();
    for &rate in &args.rates {
        for &flavor in &flavors {
            match run_step(flavor, args, pairs, rate, secs, secret).await {
                Ok(r) => {
                    println!(
                        "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {} |",
                        flavor.name(),
                        r.offered,
                        r.sent,
                        r.delivered,
                        r.p50_ms,
                        r.p99_ms,
                        r.cpu_pct,
                        r.closed
                    );
                    rows.push((r.offered, flavor, r.delivered));
                }
                Err(e) => println!("| {} | rate {rate}: step failed: {e} |", flavor.name()),
            }
        }
    }
    let best = |f: Flavor| {
        rows.iter()
            .filter(|r| r.1 == f)
            .map(|r| r.2)
            .fold(0.0_f64, f64::max)
    };
    let peaks: Vec<String> = flavors
        .iter()
        .map(|&f| format!("{} {:.0}", f.name(), best(f)))
        .collect();
    println!("peak delivered msg/s: {}", peaks.join(", "));
    if flavors.contains(&Flavor::Matchbox) {
        for f in [Flavor::Netplay, Flavor::Baseline] {
            if flavors.contains(&f) {
                println!(
                    "peak ratio {} / matchbox_server: {:.2}",
                    f.name(),
                    best(f) / best(Flavor::Matchbox)
                );
            }
        }
    }
    Ok(())
}
