//! `demo`: the whole stack in one process, no set-up. An embedded signal server on
//! 127.0.0.1:0 with a generated secret; two bot peers join its lobby, one challenges the
//! other, they negotiate and open a WebRTC data channel over loopback, then play the
//! reference fighter (rollback crate) with the network simulator on top of the real socket.
//!
//! ```text
//! cargo run --release --example demo                      # 1800 frames in real time
//! cargo run --release --example demo -- --fast --json     # as fast as the link allows
//! cargo run --release --example demo -- --rtt-ms 150 --loss 0.05 --mode ordered
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use netplay::netmatch::{play, PlayConfig, PlayOutcome, Progress};
use peer::{AcceptRule, ChannelMode, MatchLink, MatchRule, Peer, PeerConfig};
use rollback::netsim::LinkConditions;
use rollback::session::InputDelay;
use signal::server::{ServerConfig, SignalServer};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "demo",
    about = "Two bots, one WebRTC match on loopback, one process"
)]
struct Args {
    /// Frames to play (60 per second).
    #[arg(long, default_value_t = 1800, env = "DEMO_FRAMES")]
    frames: u32,
    /// Play as fast as the link allows instead of 60 fps.
    #[arg(long)]
    fast: bool,
    /// Simulated round-trip time in ms (half added to each direction).
    #[arg(long, default_value_t = 80, env = "DEMO_RTT_MS")]
    rtt_ms: u64,
    /// Simulated loss probability per packet and direction (0..1).
    #[arg(long, default_value_t = 0.02, env = "DEMO_LOSS")]
    loss: f64,
    /// Simulated jitter in ms (uniform +/-).
    #[arg(long, default_value_t = 10, env = "DEMO_JITTER_MS")]
    jitter_ms: u64,
    /// Channel ordering: sequenced (default) or ordered.
    #[arg(long, default_value = "sequenced", env = "DEMO_MODE")]
    mode: ChannelMode,
    /// Input delay: `auto` (picked at sync from the measured RTT and jitter) or frames.
    #[arg(long, default_value = "auto", env = "DEMO_INPUT_DELAY")]
    input_delay: InputDelay,
    /// Print the report as one JSON object (no progress bar).
    #[arg(long)]
    json: bool,
    /// Record player 1's replay into PATH and player 2's next to it (`<stem>-p1.replay`),
    /// ready for `cargo run --example replay -- verify|diff`.
    #[arg(long, value_name = "PATH", env = "DEMO_RECORD")]
    record: Option<std::path::PathBuf>,
}

/// What the demo prints at the end.
#[derive(Debug, serde::Serialize)]
struct DemoReport {
    connected: bool,
    /// `p2p` or `relay` (how the game packets travelled).
    link: &'static str,
    time_to_connect_ms: f64,
    accept_to_started_ms: [f64; 2],
    frames: u32,
    desyncs: u64,
    checksums_match: bool,
    checksum: Option<String>,
    winner: String,
    channel_mode: &'static str,
    rtt_ms: u64,
    jitter_ms: u64,
    loss: f64,
    physical_limit_depth: u32,
    wall_seconds: f64,
    players: Vec<PlayOutcome>,
}

fn random_secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..4)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(i);
            format!("{:016x}", h.finish())
        })
        .collect()
}

async fn connect_bots(
    url: &str,
    secret: &str,
    mode: ChannelMode,
) -> Result<[MatchLink; 2], String> {
    let token = |sub: &str| {
        signal::auth::mint_token(secret.as_bytes(), sub, Some(sub), Duration::from_secs(3600))
            .map_err(|e| e.to_string())
    };
    let config = |name: &str| {
        let mut c = PeerConfig::loopback(name);
        c.channel = c.channel.with_mode(mode);
        c
    };
    let p0 = Peer::connect(url, &token("p0")?, config("Player 1"))
        .await
        .map_err(|e| e.to_string())?;
    let p1 = Peer::connect(url, &token("p1")?, config("Player 2"))
        .await
        .map_err(|e| e.to_string())?;
    let (a, b) = tokio::join!(
        p0.start_match(MatchRule::Challenge("p1".into())),
        p1.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    Ok([a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?])
}

fn progress_bar(args: &Args) -> ProgressBar {
    if args.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::from(args.frames));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} frame {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

async fn run(args: Args) -> Result<DemoReport, String> {
    let started = Instant::now();
    let secret = random_secret();
    let config = ServerConfig::new(secret.clone().into_bytes())
        .with_listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = SignalServer::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let connect_started = Instant::now();
    let links = connect_bots(&server.url(), &secret, args.mode).await;
    let time_to_connect = connect_started.elapsed();
    let [mut l0, mut l1] = match links {
        Ok(links) => links,
        Err(error) => {
            server.shutdown().await;
            return Err(format!("connecting the bots failed: {error}"));
        }
    };
    let accept_to_started_ms = [&l0, &l1].map(|l| l.info().connect_time.as_secs_f64() * 1e3);
    let link_kind = l0.info().link;
    let one_way = Duration::from_millis(args.rtt_ms / 2);
    let mut play_config = PlayConfig::new(args.frames);
    play_config.realtime = !args.fast;
    play_config.outbound = LinkConditions {
        jitter: Duration::from_millis(args.jitter_ms),
        ..LinkConditions::with_latency_loss(one_way, args.loss)
    };
    args.input_delay.configure(&mut play_config.runner);
    play_config.deadline = Duration::from_secs(u64::from(args.frames) / 10 + 60);
    let mut config1 = play_config.clone();
    config1.bot_seed = 2;
    if let Some(path) = &args.record {
        play_config.record = Some(path.clone());
        config1.record = Some(second_replay_path(path));
        // a desync's states and replays go next to the recordings
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        play_config.desync_dir = Some(dir.clone());
        config1.desync_dir = Some(dir);
    }
    let bar = progress_bar(&args);
    if !args.json {
        bar.println(format!(
            "connected over WebRTC in {:.0} ms (accept -> match_started {:.0} ms); playing {} frames, RTT {} ms, loss {:.1} %, jitter {} ms, {} channel",
            time_to_connect.as_secs_f64() * 1e3,
            accept_to_started_ms[0],
            args.frames,
            args.rtt_ms,
            args.loss * 100.0,
            args.jitter_ms,
            args.mode.as_str(),
        ));
    }
    let bar0 = bar.clone();
    let frames = i32::try_from(args.frames).unwrap_or(i32::MAX);
    let p0 = tokio::spawn(async move {
        let outcome = play(&mut l0, 0, &play_config, |p: Progress| {
            bar0.set_position(u64::try_from(p.confirmed.clamp(0, frames)).unwrap_or(0));
            bar0.set_message(format!("rollbacks {} ping {} ms", p.rollbacks, p.ping_ms));
        })
        .await;
        l0.finish().await;
        outcome
    });
    let p1 = tokio::spawn(async move {
        let outcome = play(&mut l1, 1, &config1, |_| {}).await;
        l1.finish().await;
        outcome
    });
    let (o0, o1) = tokio::join!(p0, p1);
    bar.finish_and_clear();
    server.shutdown().await;
    let o0 = o0.map_err(|e| e.to_string())??;
    let o1 = o1.map_err(|e| e.to_string())??;
    let checksums_match =
        o0.completed && o1.completed && o0.checksum.is_some() && o0.checksum == o1.checksum;
    Ok(DemoReport {
        connected: true,
        link: link_kind.name(),
        time_to_connect_ms: time_to_connect.as_secs_f64() * 1e3,
        accept_to_started_ms,
        frames: args.frames,
        desyncs: o0.ggrs_desyncs + o1.ggrs_desyncs + u64::from(!checksums_match),
        checksums_match,
        checksum: o0.checksum.clone(),
        winner: o0.winner.clone(),
        channel_mode: args.mode.as_str(),
        rtt_ms: args.rtt_ms,
        jitter_ms: args.jitter_ms,
        loss: args.loss,
        physical_limit_depth: rollback::stats::physical_limit_depth(one_way, o0.input_delay, 60),
        wall_seconds: started.elapsed().as_secs_f64(),
        players: vec![o0, o1],
    })
}

fn print_report(r: &DemoReport) {
    println!("== netplay demo: two bots over WebRTC on loopback ==");
    println!(
        "time to connect        {:.0} ms (accept -> match_started {:.0} / {:.0} ms)",
        r.time_to_connect_ms, r.accept_to_started_ms[0], r.accept_to_started_ms[1]
    );
    println!(
        "link                   RTT {} ms, jitter {} ms, loss {:.1} % ({} channel)",
        r.rtt_ms,
        r.jitter_ms,
        r.loss * 100.0,
        r.channel_mode
    );
    println!("frames                 {}", r.frames);
    for (i, p) in r.players.iter().enumerate() {
        println!(
            "player {}               input delay {}, rollbacks {} (mean depth {:.2}, max {}, physical limit {}), stalls {}, ping {} ms, lost packets {}",
            i + 1, p.input_delay, p.rollbacks, p.mean_rollback_depth, p.max_rollback_depth, r.physical_limit_depth, p.stalls, p.ping_ms, p.transport.packets_lost
        );
    }
    println!("desyncs                {}", r.desyncs);
    println!(
        "checksums match        {} ({})",
        r.checksums_match,
        r.checksum.as_deref().unwrap_or("-")
    );
    println!("winner                 {}", r.winner);
    println!("wall time              {:.1} s", r.wall_seconds);
    if let [Some(a), Some(b)] = [&r.players[0].replay, &r.players[1].replay] {
        println!("replays                {} / {}", a.display(), b.display());
        println!(
            "                       {}",
            rollback::replay::diff_command(a, b)
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.loss) {
        eprintln!("demo: --loss must be within 0..1");
        return ExitCode::from(2);
    }
    netplay::init_example_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = args.json;
    let result = runtime.block_on(run(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                print_report(&report);
            }
            if report.checksums_match && report.desyncs == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"connected": false, "error": error})
                );
            } else {
                eprintln!("demo: {error}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `dir/name.replay` -> `dir/name-p1.replay`: where player 2's replay goes.
fn second_replay_path(path: &std::path::Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-p1.{ext}"))
}
