//! The netsim grid: headless bot matches (rollback crate's `botmatch` runner, virtual
//! time) over every cell of RTT × loss × jitter, several seeds per cell, summarised as
//! median and min–max spread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::ProgressBar;
use rollback::botmatch::{run_match, MatchConfig, MatchReport};
use rollback::netsim::LinkConditions;
use serde::Serialize;

/// Frames per second of the reference fighter (rollback's default).
pub(crate) const FPS: u32 = rollback::session::DEFAULT_FPS;

/// Round-trip times of the grid, ms.
pub(crate) const GRID_RTT_MS: [u64; 6] = [0, 50, 100, 150, 200, 300];
/// Loss levels of the grid, percent per packet and direction.
pub(crate) const GRID_LOSS_PCT: [u32; 5] = [0, 1, 5, 10, 20];
/// Jitter levels of the grid, ms (uniform ±).
pub(crate) const GRID_JITTER_MS: [u64; 2] = [0, 20];

/// One grid cell: the same conditions in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Cell {
    /// Round-trip time, ms (half of it on each direction).
    pub(crate) rtt_ms: u64,
    /// Loss per packet and direction, percent.
    pub(crate) loss_pct: u32,
    /// Jitter, ms.
    pub(crate) jitter_ms: u64,
}

impl Cell {
    /// One-way latency (RTT / 2).
    pub(crate) fn one_way(self) -> Duration {
        Duration::from_millis(self.rtt_ms) / 2
    }

    /// The link conditions of one direction.
    pub(crate) fn link(self) -> LinkConditions {
        LinkConditions {
            jitter: Duration::from_millis(self.jitter_ms),
            ..LinkConditions::with_latency_loss(self.one_way(), f64::from(self.loss_pct) / 100.0)
        }
    }

    /// Short label, e.g. `100ms/5%/j20`.
    pub(crate) fn label(self) -> String {
        format!("{}ms/{}%/j{}", self.rtt_ms, self.loss_pct, self.jitter_ms)
    }
}

/// Every cell of the grid, RTT-major.
pub(crate) fn all_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for jitter_ms in GRID_JITTER_MS {
        for loss_pct in GRID_LOSS_PCT {
            for rtt_ms in GRID_RTT_MS {
                cells.push(Cell {
                    rtt_ms,
                    loss_pct,
                    jitter_ms,
                });
            }
        }
    }
    cells
}

/// `max(0, ceil(one-way latency / frame) − input delay)` at the report's frame rate.
pub(crate) fn physical_limit(one_way: Duration, input_delay: usize) -> u32 {
    rollback::stats::physical_limit_depth(one_way, input_delay, FPS)
}

/// The figures of one match that the report aggregates (per peer where it says so).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct MatchFigures {
    /// Re-simulated frames per rollback, both peers pooled.
    pub(crate) mean_depth: f64,
    /// Re-simulated frames per advanced frame, per peer (the per-frame mean depth).
    pub(crate) depth_per_frame: f64,
    /// Deepest rollback of either peer.
    pub(crate) max_depth: u32,
    /// Rollbacks per second of game time, per peer.
    pub(crate) rollbacks_per_s: f64,
    /// Stalled frames, per peer.
    pub(crate) stalls: f64,
    /// Game seconds per wall second.
    pub(crate) realtime_factor: f64,
    /// Diverging confirmed frames (ours + ggrs's), plus one if the final checksums differ.
    pub(crate) desyncs: u64,
}

impl MatchFigures {
    /// Pools two peers' counters.
    pub(crate) fn from_peers(
        peers: [(u64, u64, u32, u64); 2],
        frames: u32,
        wall_seconds: f64,
        desyncs: u64,
    ) -> Self {
        let rollbacks = peers[0].0 + peers[1].0;
        let rolled_back = peers[0].1 + peers[1].1;
        let game_seconds = f64::from(frames) / f64::from(FPS);
        Self {
            mean_depth: if rollbacks == 0 {
                0.0
            } else {
                rolled_back as f64 / rollbacks as f64
            },
            depth_per_frame: rolled_back as f64 / 2.0 / f64::from(frames.max(1)),
            max_depth: peers[0].2.max(peers[1].2),
            rollbacks_per_s: rollbacks as f64 / 2.0 / game_seconds.max(1e-9),
            stalls: (peers[0].3 + peers[1].3) as f64 / 2.0,
            realtime_factor: game_seconds / wall_seconds.max(1e-9),
            desyncs,
        }
    }

    fn from_report(r: &MatchReport) -> Self {
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
        Self::from_peers([p(0), p(1)], r.frames, r.wall_seconds, desyncs)
    }
}

/// Median and range over seeds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Spread {
    /// Median.
    pub(crate) median: f64,
    /// Smallest value.
    pub(crate) min: f64,
    /// Largest value.
    pub(crate) max: f64,
}

impl Spread {
    /// Median and range of `values` (zeros when empty).
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// One cell's results over its seeds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CellSummary {
    /// The conditions.
    pub(crate) cell: Cell,
    /// Physical limit of the cell.
    pub(crate) limit: u32,
    /// Matches that finished.
    pub(crate) runs: usize,
    /// Errors of matches that did not finish.
    pub(crate) failures: Vec<String>,
    /// Mean rollback depth.
    pub(crate) mean_depth: Spread,
    /// Re-simulated frames per frame.
    pub(crate) depth_per_frame: Spread,
    /// Max rollback depth.
    pub(crate) max_depth: Spread,
    /// Rollbacks per second, per peer.
    pub(crate) rollbacks_per_s: Spread,
    /// Stalls per peer.
    pub(crate) stalls: Spread,
    /// Realtime factor.
    pub(crate) realtime_factor: Spread,
    /// Desyncs summed over the seeds.
    pub(crate) desyncs: u64,
}

impl CellSummary {
    fn new(cell: Cell, input_delay: usize, outcomes: &[Result<MatchFigures, String>]) -> Self {
        let ok: Vec<MatchFigures> = outcomes.iter().filter_map(|o| o.clone().ok()).collect();
        let spread = |f: fn(&MatchFigures) -> f64| Spread::of(ok.iter().map(f));
        Self {
            cell,
            limit: physical_limit(cell.one_way(), input_delay),
            runs: ok.len(),
            failures: outcomes.iter().filter_map(|o| o.clone().err()).collect(),
            mean_depth: spread(|m| m.mean_depth),
            depth_per_frame: spread(|m| m.depth_per_frame),
            max_depth: spread(|m| f64::from(m.max_depth)),
            rollbacks_per_s: spread(|m| m.rollbacks_per_s),
            stalls: spread(|m| m.stalls),
            realtime_factor: spread(|m| m.realtime_factor),
            desyncs: ok.iter().map(|m| m.desyncs).sum(),
        }
    }
}

/// How the grid is played.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridPlan {
    /// Seeds per cell (seeds 1..=n).
    pub(crate) seeds: u32,
    /// Frames per match.
    pub(crate) frames: u32,
    /// Input delay.
    pub(crate) input_delay: usize,
    /// Worker threads.
    pub(crate) threads: usize,
}

/// Plays every (cell, seed) on `plan.threads` threads and summarises each cell.
pub(crate) fn run_grid(cells: &[Cell], plan: GridPlan, bar: &ProgressBar) -> Vec<CellSummary> {
    let seeds = plan.seeds.max(1) as usize;
    let jobs = cells.len() * seeds;
    bar.set_length(jobs as u64);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<MatchFigures, String>>>> = Mutex::new(vec![None; jobs]);
    std::thread::scope(|s| {
        for _ in 0..plan.threads.clamp(1, jobs.max(1)) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(cell) = cells.get(k / seeds) else {
                    break;
                };
                let config = MatchConfig {
                    frames: plan.frames,
                    link: cell.link(),
                    input_delay: plan.input_delay,
                    seed: (k % seeds) as u64 + 1,
                    ..MatchConfig::default()
                };
                let out = run_match(&config)
                    .map(|r| MatchFigures::from_report(&r))
                    .map_err(|e| format!("{} seed {}: {e}", cell.label(), config.seed));
                bar.inc(1);
                bar.set_message(cell.label());
                let mut guard = results.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(slot) = guard.get_mut(k) {
                    *slot = Some(out);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let results: Vec<Result<MatchFigures, String>> = results
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not run".to_owned())))
        .collect();
    cells
        .iter()
        .zip(results.chunks(seeds))
        .map(|(cell, outs)| CellSummary::new(*cell, plan.input_delay, outs))
        .collect()
}
