//! `botmatch`: fighter bot matches between two rollback peers on the simulated network,
//! in virtual time (as fast as the CPU allows).
//!
//! ```text
//! cargo run --release --example botmatch -- --matches 100 --latency-ms 75 --loss 0.1
//! cargo run --release --example botmatch -- --frames 3600 --latency-ms 50 --json
//! cargo run --release --example botmatch -- --matches 50 --record replays/
//! cargo run --release --example botmatch -- --matches 500 --record-desyncs desyncs/
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rollback::botmatch::{run_match, BotKind, MatchConfig, MatchReport};
use rollback::netsim::LinkConditions;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "botmatch",
    about = "Rollback bot matches on a simulated network"
)]
struct Args {
    /// Frames per match (60 per second of game time).
    #[arg(long, default_value_t = 3600, env = "BOTMATCH_FRAMES")]
    frames: u32,
    /// One-way latency in ms (RTT = 2x).
    #[arg(long, default_value_t = 0.0, env = "BOTMATCH_LATENCY_MS")]
    latency_ms: f64,
    /// Jitter in ms (uniform +/-).
    #[arg(long, default_value_t = 0.0, env = "BOTMATCH_JITTER_MS")]
    jitter_ms: f64,
    /// Loss probability 0..1.
    #[arg(long, default_value_t = 0.0, env = "BOTMATCH_LOSS")]
    loss: f64,
    /// Duplication probability 0..1.
    #[arg(long, default_value_t = 0.0, env = "BOTMATCH_DUPLICATE")]
    duplicate: f64,
    /// Reordering probability 0..1.
    #[arg(long, default_value_t = 0.0, env = "BOTMATCH_REORDER")]
    reorder: f64,
    /// Input delay in frames.
    #[arg(long, default_value_t = 2, env = "BOTMATCH_INPUT_DELAY")]
    input_delay: usize,
    /// Prediction window in frames.
    #[arg(long, default_value_t = 8, env = "BOTMATCH_MAX_PREDICTION")]
    max_prediction: usize,
    /// Seed of the first match (match k uses seed + k).
    #[arg(long, default_value_t = 1, env = "BOTMATCH_SEED")]
    seed: u64,
    /// The two bots: ai, random or scripted, comma separated.
    #[arg(long, default_value = "ai,random", env = "BOTMATCH_BOTS")]
    bots: String,
    /// Number of matches (seeds seed..seed+K), run in parallel threads.
    #[arg(long, default_value_t = 1, env = "BOTMATCH_MATCHES")]
    matches: u32,
    /// Print one JSON object per match instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for desync diff files.
    #[arg(long, env = "BOTMATCH_DIFF_DIR")]
    diff_dir: Option<std::path::PathBuf>,
    /// Write one replay per match into DIR (created if missing), named
    /// `seed-<seed>.replay`; a desynced match also gets `seed-<seed>-p1.replay`.
    #[arg(long, value_name = "DIR", env = "BOTMATCH_RECORD")]
    record: Option<PathBuf>,
    /// Keep replays only of the matches that desynced, both peers'
    /// (`seed-<seed>-p0.replay`, `seed-<seed>-p1.replay`), in DIR.
    #[arg(long, value_name = "DIR", env = "BOTMATCH_RECORD_DESYNCS")]
    record_desyncs: Option<PathBuf>,
    /// Checksum interval of the replays in frames (1 = every frame, for forensics).
    #[arg(long, default_value_t = rollback::replay::DEFAULT_CHECKSUM_INTERVAL, env = "BOTMATCH_RECORD_INTERVAL")]
    record_interval: u32,
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v / 1000.0)
}

fn validate(a: &Args) -> Result<MatchConfig, String> {
    let prob = |name: &str, p: f64| {
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(format!("--{name} must be within 0..1, got {p}"))
        }
    };
    let nonneg_ms = |name: &str, v: f64| {
        if v.is_finite() && (0.0..=10_000.0).contains(&v) {
            Ok(ms(v))
        } else {
            Err(format!("--{name} must be within 0..10000 ms, got {v}"))
        }
    };
    if a.frames == 0 || a.frames > 10_000_000 {
        return Err(format!(
            "--frames must be within 1..10000000, got {}",
            a.frames
        ));
    }
    if a.matches == 0 || a.matches > 100_000 {
        return Err(format!(
            "--matches must be within 1..100000, got {}",
            a.matches
        ));
    }
    if a.input_delay > 16 {
        return Err(format!(
            "--input-delay must be within 0..16, got {}",
            a.input_delay
        ));
    }
    if a.max_prediction == 0 || a.max_prediction > 64 {
        return Err(format!(
            "--max-prediction must be within 1..64, got {}",
            a.max_prediction
        ));
    }
    let bots: Vec<BotKind> = a
        .bots
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let bots: [BotKind; 2] = match bots.as_slice() {
        [one] => [*one, *one],
        [x, y] => [*x, *y],
        _ => return Err(format!("--bots takes one or two bots, got '{}'", a.bots)),
    };
    let link = LinkConditions {
        latency: nonneg_ms("latency-ms", a.latency_ms)?,
        jitter: nonneg_ms("jitter-ms", a.jitter_ms)?,
        loss: prob("loss", a.loss)?,
        duplicate: prob("duplicate", a.duplicate)?,
        reorder: prob("reorder", a.reorder)?,
        ..LinkConditions::ideal()
    };
    if a.record_interval == 0 {
        return Err("--record-interval must be at least 1".to_owned());
    }
    let recording = a.record.is_some() || a.record_desyncs.is_some();
    Ok(MatchConfig {
        record_interval: recording.then_some(a.record_interval),
        frames: a.frames,
        link,
        input_delay: a.input_delay,
        max_prediction: a.max_prediction,
        seed: a.seed,
        bots,
        diff_dir: a.diff_dir.clone(),
        ..MatchConfig::default()
    })
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments");
            eprintln!("botmatch: {first}");
            return ExitCode::from(2);
        }
    };
    let base = match validate(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("botmatch: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    for dir in [&args.record, &args.record_desyncs].into_iter().flatten() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("botmatch: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let started = Instant::now();
    let reports = run_all(&args, &base);
    let wall = started.elapsed();
    let mut failed = false;
    if !args.json {
        print_table(&reports, wall);
    }
    for r in &reports {
        match r {
            Ok(rep) => failed |= rep.desyncs > 0 || !rep.checksums_match,
            Err(_) => failed = true,
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

type Outcome = Result<MatchReport, String>;

fn run_all(args: &Args, base: &MatchConfig) -> Vec<Outcome> {
    let n = args.matches as usize;
    let next = AtomicUsize::new(0);
    let done_frames = AtomicU64::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; n]);
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(n as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} matches {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(n);
    let stdout = Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= n {
                    break;
                }
                let cfg = MatchConfig {
                    seed: base.seed.wrapping_add(k as u64),
                    ..base.clone()
                };
                let out = run_match(&cfg)
                    .map_err(|e| e.to_string())
                    .and_then(|r| save_replays(args, r));
                if args.json {
                    let line = match &out {
                        Ok(r) => serde_json::to_string(r).unwrap_or_default(),
                        Err(e) => serde_json::json!({ "seed": cfg.seed, "error": e }).to_string(),
                    };
                    let mut o = stdout.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = writeln!(o, "{line}");
                }
                done_frames.fetch_add(u64::from(cfg.frames), Ordering::Relaxed);
                bar.inc(1);
                bar.set_message(format!("{} frames", done_frames.load(Ordering::Relaxed)));
                if let Some(slot) = results.lock().unwrap_or_else(|e| e.into_inner()).get_mut(k) {
                    *slot = Some(out);
                }
            });
        }
    });
    bar.finish_and_clear();
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not run".to_owned())))
        .collect()
}

fn print_table(reports: &[Outcome], wall: Duration) {
    println!(
        "{:>6} {:>6} {:>7} {:>6} {:>9} {:>9} {:>7} {:>6} {:>7} {:>8} {:>6}",
        "seed",
        "frames",
        "desyncs",
        "match",
        "rollbacks",
        "mean_dep",
        "max_dep",
        "limit",
        "stalls",
        "rt_x",
        "winner"
    );
    let mut ok = Vec::new();
    for r in reports {
        match r {
            Ok(m) => {
                let rollbacks = m.peers[0].rollbacks + m.peers[1].rollbacks;
                let max_dep = m.peers[0]
                    .max_rollback_depth
                    .max(m.peers[1].max_rollback_depth);
                let stalls = m.peers[0].stalls + m.peers[1].stalls;
                println!(
                    "{:>6} {:>6} {:>7} {:>6} {:>9} {:>9.2} {:>7} {:>6} {:>7} {:>8.0} {:>6}",
                    m.seed,
                    m.frames,
                    m.desyncs,
                    m.checksums_match,
                    rollbacks,
                    m.mean_rollback_depth,
                    max_dep,
                    m.physical_limit_depth,
                    stalls,
                    m.realtime_factor,
                    m.winner
                );
                ok.push(m);
            }
            Err(e) => println!("error: {e}"),
        }
    }
    if ok.is_empty() {
        return;
    }
    let n = ok.len() as f64;
    let desyncs: u64 = ok.iter().map(|m| m.desyncs).sum();
    let all_match = ok.iter().all(|m| m.checksums_match);
    let mean_depth = ok.iter().map(|m| m.mean_rollback_depth).sum::<f64>() / n;
    let virt: f64 = ok.iter().map(|m| m.virtual_seconds).sum();
    let rb: u64 = ok
        .iter()
        .map(|m| m.peers[0].rollbacks + m.peers[1].rollbacks)
        .sum();
    let rbf: u64 = ok
        .iter()
        .map(|m| m.peers[0].rolled_back_frames + m.peers[1].rolled_back_frames)
        .sum();
    let retx: u64 = ok
        .iter()
        .map(|m| m.peers[0].stats.retransmits + m.peers[1].stats.retransmits)
        .sum();
    let wins = |p: &str| ok.iter().filter(|m| m.winner == p).count();
    println!();
    println!(
        "matches            {} ok, {} failed",
        ok.len(),
        reports.len() - ok.len()
    );
    println!("desyncs            {desyncs} (all checksums match: {all_match})");
    println!("rollbacks          {rb} ({rbf} frames re-simulated), mean depth {mean_depth:.2}, physical limit {}", ok[0].physical_limit_depth);
    println!("retransmits        {retx}");
    println!(
        "winners            p0 {} / p1 {} / draw {}",
        wins("p0"),
        wins("p1"),
        wins("draw")
    );
    println!(
        "time               {virt:.1} s simulated in {:.2} s wall ({:.0}x real time overall)",
        wall.as_secs_f64(),
        virt / wall.as_secs_f64().max(1e-9)
    );
}

/// Writes the match's replays as `--record` / `--record-desyncs` ask, and notes the paths
/// in the report.
fn save_replays(args: &Args, mut report: MatchReport) -> Result<MatchReport, String> {
    let desynced = report.desyncs > 0 || !report.checksums_match;
    let seed = report.seed;
    let write = |dir: &Path, name: String, peer: usize| -> Result<Option<PathBuf>, String> {
        let Some(replay) = report.replays.get(peer).and_then(Option::as_ref) else {
            return Ok(None);
        };
        let path = dir.join(name);
        rollback::replay::write_file(&path, replay)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(Some(path))
    };
    let (mut p0, mut p1) = (None, None);
    if let Some(dir) = &args.record {
        p0 = write(dir, format!("seed-{seed}.replay"), 0)?;
        if desynced {
            p1 = write(dir, format!("seed-{seed}-p1.replay"), 1)?;
        }
    }
    if let (Some(dir), true) = (&args.record_desyncs, desynced) {
        p0 = write(dir, format!("seed-{seed}-p0.replay"), 0)?;
        p1 = write(dir, format!("seed-{seed}-p1.replay"), 1)?;
    }
    if let (Some(a), Some(b)) = (&p0, &p1) {
        eprintln!(
            "botmatch: seed {seed} desynced; find the frame and field with: {}",
            rollback::replay::diff_command(a, b)
        );
    }
    report.replay = p0;
    report.replay_p1 = p1;
    Ok(report)
}
