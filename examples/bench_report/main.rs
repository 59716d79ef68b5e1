//! `bench_report`: the rollback benchmark report.
//!
//! Plays headless bot matches on the network simulator over the grid RTT {0, 50, 100, 150,
//! 200, 300} ms × loss {0, 1, 5, 10, 20} % × jitter {0, 20} ms (several seeds per cell),
//! a sample of cells over the real WebRTC data channel (the demo path: embedded signal
//! server, two bot peers, netsim decorator on the peer socket) in both channel modes, and
//! zero-impairment baselines (ggrs's `UdpNonBlockingSocket` on loopback, our netsim socket,
//! our WebRTC socket). Writes `target/bench-report/report.md`, `report.json` and three PNG
//! plots. Everything stays on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example bench_report -- --quick   # reduced: about 1-2 minutes
//! cargo run --release --example bench_report              # full grid
//! cargo run --release --example bench_report -- --relay-table-only   # the relay fallback's cost
//! ```

use netplay::netmatch;

mod delay;
mod grid;
mod live;
mod markdown;
mod plots;
mod relay;
mod spectate;
mod spectate_webrtc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use peer::ChannelMode;
use rollback::botmatch::{run_match, MatchConfig};
use rollback::session::RunnerConfig;

use grid::{Cell, CellSummary, GridPlan, MatchFigures};
use live::{LiveResult, SignalFixture};
use markdown::RunInfo;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "bench_report",
    about = "Rollback benchmark report: netsim grid, WebRTC samples, baselines, plots"
)]
struct Args {
    /// Reduced run (fewer seeds and frames, two WebRTC sample cells): under 2 minutes.
    #[arg(long)]
    quick: bool,
    /// Seeds per grid cell (default 10, quick 5).
    #[arg(long, env = "BENCH_REPORT_SEEDS")]
    seeds: Option<u32>,
    /// Frames per grid match (default 7200, quick 3600).
    #[arg(long, env = "BENCH_REPORT_FRAMES")]
    frames: Option<u32>,
    /// Frames per WebRTC sample match, paced at 60 fps (default 1200, quick 600).
    #[arg(long, env = "BENCH_REPORT_LIVE_FRAMES")]
    live_frames: Option<u32>,
    /// Frames per baseline match (default 3600, quick 1800).
    #[arg(long, env = "BENCH_REPORT_BASELINE_FRAMES")]
    baseline_frames: Option<u32>,
    /// Input delay in frames.
    #[arg(long, default_value_t = 2, env = "BENCH_REPORT_INPUT_DELAY")]
    input_delay: usize,
    /// Worker threads for the grid (default: available cores).
    #[arg(long, env = "BENCH_REPORT_THREADS")]
    threads: Option<usize>,
    /// Skip everything on real sockets (WebRTC samples and the UDP/WebRTC baselines).
    #[arg(long)]
    no_live: bool,
    /// Play only the input-delay table (fixed 0–4 vs auto) and print it.
    #[arg(long)]
    delay_table_only: bool,
    /// Measure only the relay fallback (relay RTT vs TCP, relayed vs direct WebRTC match)
    /// and print its table.
    #[arg(long)]
    relay_table_only: bool,
    /// Play only the spectator table (8 spectators joining mid-match vs none) and print it.
    #[arg(long)]
    spectator_table_only: bool,
    /// Play only the real-WebRTC spectator table (8 spectators vs none over loopback
    /// WebRTC through an in-process signal server; `--spectator-rounds` pairs of matches).
    #[arg(long)]
    spectator_webrtc_only: bool,
    /// Pairs of matches (none, 8 spectators) of `--spectator-webrtc-only`.
    #[arg(long, default_value_t = 2)]
    spectator_rounds: u32,
    /// Frames per match of `--spectator-webrtc-only`.
    #[arg(long, default_value_t = 2_400)]
    spectator_frames: u32,
    /// `--spectator-webrtc-only` unpaced instead of 60 fps.
    #[arg(long)]
    spectator_unpaced: bool,
    /// Output directory.
    #[arg(long, default_value = "target/bench-report", env = "BENCH_REPORT_DIR")]
    out: PathBuf,
}

/// Everything the run decided from the flags.
struct Plan {
    grid: GridPlan,
    baseline_frames: u32,
    live_frames: u32,
    samples: Vec<Cell>,
}

fn cell(rtt_ms: u64, loss_pct: u32, jitter_ms: u64) -> Cell {
    Cell {
        rtt_ms,
        loss_pct,
        jitter_ms,
    }
}

impl Plan {
    fn from_args(a: &Args) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pick =
            |v: Option<u32>, full: u32, quick: u32| v.unwrap_or(if a.quick { quick } else { full });
        let plan = Self {
            grid: GridPlan {
                seeds: pick(a.seeds, 10, 5),
                frames: pick(a.frames, 7200, 3600),
                input_delay: a.input_delay,
                threads: a.threads.unwrap_or(cores).max(1),
            },
            baseline_frames: pick(a.baseline_frames, 3600, 1800),
            live_frames: pick(a.live_frames, 1200, 600),
            samples: if a.quick {
                vec![cell(100, 5, 0), cell(200, 10, 20)]
            } else {
                vec![
                    cell(50, 1, 0),
                    cell(100, 5, 0),
                    cell(150, 5, 20),
                    cell(200, 10, 0),
                    cell(300, 20, 20),
                ]
            },
        };
        let frames_ok = |f: u32| (60..=1_000_000).contains(&f);
        if !(1..=100).contains(&plan.grid.seeds) {
            return Err("--seeds must be within 1..=100".into());
        }
        if ![plan.grid.frames, plan.baseline_frames, plan.live_frames]
            .into_iter()
            .all(frames_ok)
        {
            return Err("frame counts must be within 60..=1000000".into());
        }
        if plan.grid.input_delay > rollback::session::MAX_INPUT_DELAY {
            return Err("--input-delay must be within 0..=16".into());
        }
        Ok(plan)
    }

    fn runner(&self) -> RunnerConfig {
        RunnerConfig {
            input_delay: self.grid.input_delay,
            ..RunnerConfig::default()
        }
    }
}

fn bar(multi: &MultiProgress, len: u64, what: &str) -> ProgressBar {
    let b = multi.add(ProgressBar::new(len));
    let template =
        format!("{{spinner}} {what:<16} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {{msg}}");
    b.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// The netsim socket on the virtual clock at zero impairment, with the grid's runner.
fn netsim_virtual_baseline(frames: u32, input_delay: usize) -> LiveResult {
    let label = "netsim socket (virtual time)".to_owned();
    let config = MatchConfig {
        frames,
        input_delay,
        ..MatchConfig::default()
    };
    let (figures, checksums_match, wall, error) = match run_match(&config) {
        Ok(r) => {
            let p = |i: usize| {
                let s = &r.peers[i];
                (
                    s.rollbacks,
                    s.rolled_back_frames,
                    s.max_rollback_depth,
                    s.stalls,
                )
            };
            let desyncs = r.desyncs + r.ggrs_desyncs + u64::from(!r.checksums_match);
            let f = MatchFigures::from_peers([p(0), p(1)], r.frames, r.wall_seconds, desyncs);
            (f, r.checksums_match, r.wall_seconds, None)
        }
        Err(e) => (MatchFigures::default(), false, 0.0, Some(e.to_string())),
    };
    LiveResult {
        label,
        mode: None,
        cell: None,
        realtime: false,
        frames,
        limit: 0,
        figures,
        wall_seconds: wall,
        accept_to_started_ms: None,
        packets_lost: None,
        checksums_match,
        error,
    }
}

/// Baselines and WebRTC sample cells on the wall clock.
async fn run_live(
    plan: &Plan,
    multi: &MultiProgress,
    no_live: bool,
) -> (Vec<LiveResult>, Vec<LiveResult>, [f64; 2]) {
    let runner = plan.runner();
    let started = Instant::now();
    let live_jobs = if no_live { 2 } else { 5 };
    let b = bar(multi, live_jobs, "baselines");
    let mut baselines = Vec::new();
    b.set_message("netsim (virtual time)");
    let (frames, delay) = (plan.baseline_frames, plan.grid.input_delay);
    let virt = tokio::task::spawn_blocking(move || netsim_virtual_baseline(frames, delay)).await;
    baselines
        .push(virt.unwrap_or_else(|e| live_error("netsim socket (virtual time)", e.to_string())));
    b.inc(1);
    b.set_message("netsim (wall clock)");
    baselines.push(live::netsim_wall_baseline(frames, &runner).await);
    b.inc(1);
    let mut samples = Vec::new();
    if no_live {
        b.finish();
        return (baselines, samples, [started.elapsed().as_secs_f64(), 0.0]);
    }
    b.set_message("ggrs UDP");
    baselines.push(live::udp_baseline(frames, &runner).await);
    b.inc(1);
    let mut fixture = match SignalFixture::start().await {
        Ok(f) => Some(f),
        Err(e) => {
            baselines.push(live_error("webrtc", format!("signal server: {e}")));
            None
        }
    };
    if let Some(fx) = fixture.as_mut() {
        for mode in [ChannelMode::Sequenced, ChannelMode::Ordered] {
            b.set_message(format!("webrtc {}", mode.as_str()));
            baselines.push(fx.webrtc_match(mode, None, frames, false, &runner).await);
            b.inc(1);
        }
    }
    b.finish();
    let baseline_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let s = bar(multi, (plan.samples.len() * 2) as u64, "webrtc samples");
    if let Some(fx) = fixture.as_mut() {
        for c in &plan.samples {
            for mode in [ChannelMode::Ordered, ChannelMode::Sequenced] {
                s.set_message(format!("{} {}", c.label(), mode.as_str()));
                samples.push(
                    fx.webrtc_match(mode, Some(*c), plan.live_frames, true, &runner)
                        .await,
                );
                s.inc(1);
            }
        }
    }
    s.finish();
    if let Some(fx) = fixture {
        fx.shutdown().await;
    }
    (
        baselines,
        samples,
        [baseline_seconds, started.elapsed().as_secs_f64()],
    )
}

fn live_error(label: &str, error: String) -> LiveResult {
    LiveResult {
        label: label.to_owned(),
        mode: None,
        cell: None,
        realtime: false,
        frames: 0,
        limit: 0,
        figures: MatchFigures::default(),
        wall_seconds: 0.0,
        accept_to_started_ms: None,
        packets_lost: None,
        checksums_match: false,
        error: Some(error),
    }
}

fn shell(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run_info(seconds: [f64; 4], load_at_start: String) -> RunInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = if args.is_empty() {
        "cargo run --release --example bench_report".to_owned()
    } else {
        format!(
            "cargo run --release --example bench_report -- {}",
            args.join(" ")
        )
    };
    RunInfo {
        command,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        load_at_start,
        date: shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into()),
        commit: shell("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        seconds,
    }
}

/// What the run measured, for the report files.
struct Outputs<'a> {
    cells: &'a [CellSummary],
    baselines: &'a [LiveResult],
    samples: &'a [LiveResult],
    delay_md: &'a str,
    delay_rows: &'a [delay::DelayRow],
}

/// Writes report.md, report.json and the plots; returns the plot errors.
fn write_outputs(
    out: &std::path::Path,
    info: &RunInfo,
    plan: &Plan,
    o: &Outputs<'_>,
) -> Result<Vec<String>, String> {
    let (cells, baselines, samples) = (o.cells, o.baselines, o.samples);
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let md = markdown::render(info, &plan.grid, cells, baselines, samples);
    let md = format!("{md}\n{}", o.delay_md);
    std::fs::write(out.join("report.md"), md).map_err(|e| e.to_string())?;
    let json = serde_json::json!({
        "run": info,
        "grid": cells,
        "baselines": baselines,
        "webrtc_samples": samples,
        "input_delay_table": o.delay_rows,
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    let plotted = [
        plots::depth_vs_rtt(
            &out.join("rollback_depth_vs_rtt.png"),
            cells,
            plan.grid.input_delay,
        ),
        plots::rollbacks_vs_loss(&out.join("rollbacks_per_second_vs_loss.png"), cells),
        plots::channel_modes(&out.join("channel_modes.png"), samples, cells),
    ];
    for r in plotted {
        if let Err(e) = r {
            errors.push(e);
        }
    }
    Ok(errors)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match Plan::from_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench_report: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.relay_table_only {
        return relay_table(&args);
    }
    if args.spectator_webrtc_only {
        let result = tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(spectate_webrtc::run_spectator_webrtc_table(
                    args.spectator_rounds.max(1),
                    args.spectator_frames.max(600),
                    !args.spectator_unpaced,
                ))
            });
        return match result {
            Ok(md) => {
                println!("{md}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.spectator_table_only {
        let (seeds, frames) = (plan.grid.seeds.min(5), plan.grid.frames.min(3600));
        return match spectate::run_spectator_table(seeds, frames) {
            Ok(md) => {
                println!("{md}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let started = Instant::now();
    let multi = MultiProgress::new();
    let delay_plan = delay::DelayPlan {
        seeds: plan.grid.seeds.min(3),
        frames: plan.grid.frames.min(3600),
        threads: plan.grid.threads,
    };
    let delay_bar = bar(&multi, 0, "input delay");
    let delay_rows = delay::run_delay_table(delay_plan, &delay_bar);
    delay_bar.finish();
    let delay_md = delay::render(&delay_rows, delay_plan);
    if args.delay_table_only {
        let _ = multi.clear();
        println!("{delay_md}");
        let bad = delay_rows
            .iter()
            .any(|r| !r.failures.is_empty() || r.desyncs > 0);
        return if bad {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let cells = grid::all_cells();
    let grid_bar = bar(&multi, 0, "netsim grid");
    let summaries = grid::run_grid(&cells, plan.grid, &grid_bar);
    grid_bar.finish();
    let grid_seconds = started.elapsed().as_secs_f64();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_report: tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (baselines, samples, live_seconds) =
        runtime.block_on(run_live(&plan, &multi, args.no_live));
    runtime.shutdown_timeout(Duration::from_secs(2));
    let seconds = [
        grid_seconds,
        live_seconds[0],
        live_seconds[1],
        started.elapsed().as_secs_f64(),
    ];
    let info = run_info(seconds, load_at_start);
    let outputs = Outputs {
        cells: &summaries,
        baselines: &baselines,
        samples: &samples,
        delay_md: &delay_md,
        delay_rows: &delay_rows,
    };
    let plot_errors = match write_outputs(&args.out, &info, &plan, &outputs) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench_report: writing the report failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = multi.clear();
    summarise(
        &args.out,
        &summaries,
        &baselines,
        &samples,
        &info,
        &plot_errors,
    )
}

/// `--relay-table-only`: the relay fallback's table on stdout.
fn relay_table(args: &Args) -> ExitCode {
    let plan = relay::RelayPlan {
        pings: if args.quick { 500 } else { 2000 },
        frames: args
            .live_frames
            .unwrap_or(if args.quick { 600 } else { 1800 }),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_report: tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(relay::run(plan));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(md) => {
            println!("{md}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn summarise(
    out: &std::path::Path,
    cells: &[CellSummary],
    baselines: &[LiveResult],
    samples: &[LiveResult],
    info: &RunInfo,
    plot_errors: &[String],
) -> ExitCode {
    let grid_desyncs: u64 = cells.iter().map(|c| c.desyncs).sum();
    let grid_failures: usize = cells.iter().map(|c| c.failures.len()).sum();
    let live_bad = baselines
        .iter()
        .chain(samples)
        .filter(|r| !r.checksums_match || r.figures.desyncs > 0)
        .count();
    let (met, met_per_frame, of) = markdown::depth_target(cells);
    println!("report: {}", out.join("report.md").display());
    println!("grid: {} cells, {grid_desyncs} desyncs, {grid_failures} failed matches; depth target (loss <= 5 %) met in {met}/{of} cells per rollback, {met_per_frame}/{of} per frame", cells.len());
    for r in baselines.iter().chain(samples) {
        println!(
            "{:<30} {:>14} realtime x{:>8.1} mean depth {:.2} max {} stalls/peer {:.0} desyncs {}{}",
            r.label,
            r.cell.map_or_else(|| "baseline".to_owned(), |c| c.label()),
            r.figures.realtime_factor,
            r.figures.mean_depth,
            r.figures.max_depth,
            r.figures.stalls,
            r.figures.desyncs,
            r.error.as_deref().map_or_else(String::new, |e| format!(" ({e})"))
        );
    }
    for e in plot_errors {
        eprintln!("bench_report: plot failed: {e}");
    }
    println!("wall time {:.0} s", info.seconds[3]);
    if plot_errors.is_empty() && grid_desyncs == 0 && grid_failures == 0 && live_bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
