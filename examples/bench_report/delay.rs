//! The input-delay table: fixed delays 0–4 against `auto` across the RTT grid (1 % loss,
//! jitter 0 and 20 ms), on the simulator in virtual time. For each setting: the delay in
//! effect, the mean rollback depth, re-simulated frames per frame, stalls, and the felt
//! input latency (the delay in ms: how long a press takes to show on the local screen;
//! the opponent's actions show after the one-way latency whatever the setting, corrected
//! by rollbacks).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;
use rollback::botmatch::{run_match, MatchConfig, MatchReport};
use rollback::session::InputDelay;
use serde::Serialize;

use crate::grid::{Cell, Spread, FPS, GRID_RTT_MS};

/// The settings compared.
pub(crate) const SETTINGS: [InputDelay; 6] = [
    InputDelay::Fixed(0),
    InputDelay::Fixed(1),
    InputDelay::Fixed(2),
    InputDelay::Fixed(3),
    InputDelay::Fixed(4),
    InputDelay::Auto,
];
/// Loss of the table's cells, percent.
const LOSS_PCT: u32 = 1;
/// Jitter levels of the table, ms.
const JITTER_MS: [u64; 2] = [0, 20];

/// How the table is played.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DelayPlan {
    /// Seeds per (cell, setting).
    pub(crate) seeds: u32,
    /// Frames per match.
    pub(crate) frames: u32,
    /// Worker threads.
    pub(crate) threads: usize,
}

/// One (cell, setting) over its seeds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DelayRow {
    /// The conditions.
    pub(crate) cell: Cell,
    /// `0`..`4` or `auto`.
    pub(crate) setting: String,
    /// Matches that finished.
    pub(crate) runs: usize,
    /// Errors of matches that did not finish.
    pub(crate) failures: Vec<String>,
    /// Delay in effect, frames, mean over peers and seeds.
    pub(crate) delay: f64,
    /// Mean rollback depth (re-simulated frames per rollback).
    pub(crate) mean_depth: Spread,
    /// Re-simulated frames per advanced frame.
    pub(crate) depth_per_frame: Spread,
    /// Stalled frames per peer.
    pub(crate) stalls: Spread,
    /// Felt input latency, ms (delay × frame).
    pub(crate) felt_ms: f64,
    /// Desyncs over the seeds.
    pub(crate) desyncs: u64,
}

/// The cells of the table, RTT-major within each jitter level.
pub(crate) fn cells() -> Vec<Cell> {
    JITTER_MS
        .iter()
        .flat_map(|&jitter_ms| {
            GRID_RTT_MS.iter().map(move |&rtt_ms| Cell {
                rtt_ms,
                loss_pct: LOSS_PCT,
                jitter_ms,
            })
        })
        .collect()
}

fn play(cell: Cell, setting: InputDelay, seed: u64, frames: u32) -> Result<MatchReport, String> {
    let mut config = MatchConfig {
        frames,
        link: cell.link(),
        seed,
        ..MatchConfig::default()
    };
    match setting {
        InputDelay::Auto => config.auto_input_delay = true,
        InputDelay::Fixed(d) => config.input_delay = d,
    }
    run_match(&config).map_err(|e| format!("{} {setting} seed {seed}: {e}", cell.label()))
}

fn summarise(cell: Cell, setting: InputDelay, outs: &[Result<MatchReport, String>]) -> DelayRow {
    let ok: Vec<&MatchReport> = outs.iter().filter_map(|o| o.as_ref().ok()).collect();
    let peers = || ok.iter().flat_map(|r| r.peers.iter());
    let n_peers = (ok.len() * 2).max(1) as f64;
    let delay = peers().map(|p| p.stats.input_delay as f64).sum::<f64>() / n_peers;
    DelayRow {
        cell,
        setting: setting.to_string(),
        runs: ok.len(),
        failures: outs.iter().filter_map(|o| o.clone().err()).collect(),
        delay,
        mean_depth: Spread::of(ok.iter().map(|r| r.mean_rollback_depth)),
        depth_per_frame: Spread::of(ok.iter().map(|r| {
            let rolled: u64 = r.peers.iter().map(|p| p.rolled_back_frames).sum();
            rolled as f64 / 2.0 / f64::from(r.frames.max(1))
        })),
        stalls: Spread::of(
            ok.iter()
                .map(|r| r.peers.iter().map(|p| p.stalls as f64).sum::<f64>() / 2.0),
        ),
        felt_ms: delay * 1000.0 / f64::from(FPS),
        desyncs: ok
            .iter()
            .map(|r| r.desyncs + r.ggrs_desyncs + u64::from(!r.checksums_match))
            .sum(),
    }
}

/// Plays every (cell, setting, seed) on `plan.threads` threads.
pub(crate) fn run_delay_table(plan: DelayPlan, bar: &ProgressBar) -> Vec<DelayRow> {
    let cells = cells();
    let seeds = plan.seeds.max(1) as usize;
    let groups: Vec<(Cell, InputDelay)> = cells
        .iter()
        .flat_map(|c| SETTINGS.iter().map(move |s| (*c, *s)))
        .collect();
    let jobs = groups.len() * seeds;
    bar.set_length(jobs as u64);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<MatchReport, String>>>> = Mutex::new(vec![None; jobs]);
    std::thread::scope(|s| {
        for _ in 0..plan.threads.clamp(1, jobs.max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(cell, setting)) = groups.get(k / seeds) else {
                    break;
                };
                let out = play(cell, setting, (k % seeds) as u64 + 1, plan.frames);
                bar.inc(1);
                let mut guard = results.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = guard.get_mut(k) {
                    *slot = Some(out);
                }
            });
        }
    });
    let results: Vec<Result<MatchReport, String>> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not run".to_owned())))
        .collect();
    groups
        .iter()
        .zip(results.chunks(seeds))
        .map(|((cell, setting), outs)| summarise(*cell, *setting, outs))
        .collect()
}

/// The table as markdown: one line per cell, one column group per setting.
pub(crate) fn render(rows: &[DelayRow], plan: DelayPlan) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Input delay: fixed 0–4 vs auto\n\n{} seeds × {} frames per cell and setting, loss {LOSS_PCT} %, netsim (virtual time). \
         Each entry: mean rollback depth / re-simulated frames per frame / stalls per peer / felt input latency (ms). \
         For auto, the delay picked is in brackets.\n",
        plan.seeds, plan.frames
    );
    let _ = write!(md, "| RTT ms | jitter ms |");
    for s in SETTINGS {
        let _ = write!(md, " {s} |");
    }
    let _ = write!(md, "\n|---|---|");
    for _ in SETTINGS {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    for chunk in rows.chunks(SETTINGS.len()) {
        let Some(first) = chunk.first() else { continue };
        let _ = write!(md, "| {} | {} |", first.cell.rtt_ms, first.cell.jitter_ms);
        for r in chunk {
            let picked = if r.setting == "auto" {
                format!(" [{:.1}]", r.delay)
            } else {
                String::new()
            };
            let failed = if r.failures.is_empty() && r.desyncs == 0 {
                String::new()
            } else {
                format!(" ({} failed, {} desyncs)", r.failures.len(), r.desyncs)
            };
            let _ = write!(
                md,
                " {:.2} / {:.2} / {:.0} / {:.0}{picked}{failed} |",
                r.mean_depth.median, r.depth_per_frame.median, r.stalls.median, r.felt_ms
            );
        }
        md.push('\n');
    }
    md
}
