//! The spectator table: the players' rollback figures with 8 spectators (7 joining
//! mid-match and reading, 1 that never reads and is cut) against none, same seeds, on the
//! simulator in virtual time; plus the host's CPU time spent on its spectators.

use std::fmt::Write as _;
use std::time::Duration;

use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::botmatch::{PairConfig, VIRTUAL_DISCONNECT_TIMEOUT};
use rollback::fighter::FighterGame;
use rollback::netsim::LinkConditions;
use rollback::session::RunnerConfig;
use rollback::spectate::sim::{run_watched, SpectatorPlan, WatchedConfig, WatchedOutcome};

/// RTT (ms) and loss (%) of the compared cells.
const CELLS: [(u64, f64); 3] = [(50, 1.0), (100, 5.0), (200, 10.0)];

/// Players' figures of one run, summed over both players.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    frames: u64,
    rollbacks: u64,
    resimulated: u64,
    stalls: u64,
    max_depth: u32,
    players_ns: u128,
    host_spectator_ns: u128,
    spectators_ok: usize,
    cut: u64,
    checksums_equal: bool,
}

fn figures(out: &WatchedOutcome, readers: usize) -> Figures {
    let mut f = Figures {
        players_ns: out.players_time.as_nanos(),
        host_spectator_ns: out.host_spectator_time.as_nanos(),
        cut: out.host.cut_slow,
        checksums_equal: out.final_checksums[0].is_some()
            && out.final_checksums[0] == out.final_checksums[1],
        ..Figures::default()
    };
    for s in &out.stats {
        f.frames += s.frames;
        f.rollbacks += s.rollbacks;
        f.resimulated += s.rolled_back_frames;
        f.stalls += s.stalls;
        f.max_depth = f.max_depth.max(s.max_rollback_depth);
    }
    f.spectators_ok = out
        .spectators
        .iter()
        .take(readers)
        .filter(|s| s.finished && s.checksum == out.final_checksums[0])
        .count();
    f
}

fn play(
    rtt_ms: u64,
    loss_pct: f64,
    seed: u64,
    frames: u32,
    spectators: bool,
) -> Result<Figures, String> {
    let pair = PairConfig {
        frames,
        link: LinkConditions::with_latency_loss(
            Duration::from_millis(rtt_ms / 2),
            loss_pct / 100.0,
        ),
        reverse_link: None,
        runner: RunnerConfig {
            disconnect_timeout: VIRTUAL_DISCONNECT_TIMEOUT,
            ..RunnerConfig::default()
        },
        seed,
        diff_dir: None,
        record_interval: None,
        cut: None,
    };
    let mut plans: Vec<SpectatorPlan> = Vec::new();
    if spectators {
        let step = (frames as i32 / 10).max(1);
        plans.extend((0..7).map(|i| SpectatorPlan {
            join_at: step * (i + 1),
            reads_after: Some(Duration::from_millis(50 * i as u64)),
        }));
        plans.push(SpectatorPlan {
            join_at: step,
            reads_after: None,
        });
    }
    let readers = plans.len().saturating_sub(1);
    let mut bots: [Box<dyn Bot>; 2] = [
        Box::new(ReactiveBot::new(seed)),
        Box::new(RandomBot::new(seed ^ 1)),
    ];
    let out = run_watched(
        &WatchedConfig::new(pair, plans),
        FighterGame::new(seed),
        |i, g| bots[i].next_input(g, i),
    )
    .map_err(|e| e.to_string())?;
    Ok(figures(&out, readers))
}

fn add(a: &mut Figures, b: Figures) {
    a.frames += b.frames;
    a.rollbacks += b.rollbacks;
    a.resimulated += b.resimulated;
    a.stalls += b.stalls;
    a.max_depth = a.max_depth.max(b.max_depth);
    a.players_ns += b.players_ns;
    a.host_spectator_ns += b.host_spectator_ns;
    a.spectators_ok += b.spectators_ok;
    a.cut += b.cut;
}

/// Plays the table and renders it as markdown; `Err` if any match failed or a reader
/// spectator missed the players' final checksum.
pub(crate) fn run_spectator_table(seeds: u32, frames: u32) -> Result<String, String> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Spectator table: {seeds} seeds x {frames} frames per cell, both players summed; \
         `8 spect.` = 7 readers joining at 10..70 % of the match + 1 that never reads.\n"
    );
    let _ = writeln!(
        md,
        "| RTT / loss | spectators | re-sim. frames / frame | rollbacks / 1k frames | stalls / 1k frames | max depth | players' CPU µs / frame | host's spectator CPU µs / frame | readers at final checksum | cut |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    let mut bad = Vec::new();
    for (rtt, loss) in CELLS {
        let mut totals = [Figures::default(); 2];
        for seed in 0..u64::from(seeds) {
            for (k, with) in [false, true].into_iter().enumerate() {
                match play(rtt, loss, 1000 + seed, frames, with) {
                    Ok(f) => {
                        if !f.checksums_equal {
                            bad.push(format!("{rtt} ms seed {seed}: players disagree"));
                        }
                        if with && f.spectators_ok != 7 {
                            bad.push(format!(
                                "{rtt} ms seed {seed}: {} of 7 readers",
                                f.spectators_ok
                            ));
                        }
                        add(&mut totals[k], f);
                    }
                    Err(e) => bad.push(format!("{rtt} ms seed {seed}: {e}")),
                }
            }
        }
        for (k, t) in totals.iter().enumerate() {
            let per_frame = |x: f64| x / (t.frames.max(1) as f64);
            let _ = writeln!(
                md,
                "| {rtt} ms / {loss} % | {} | {:.3} | {:.1} | {:.1} | {} | {:.1} | {:.2} | {} | {} |",
                if k == 0 { "none" } else { "8 spect." },
                per_frame(t.resimulated as f64),
                per_frame(t.rollbacks as f64) * 1000.0,
                per_frame(t.stalls as f64) * 1000.0,
                t.max_depth,
                per_frame(t.players_ns as f64) / 1000.0,
                per_frame(t.host_spectator_ns as f64) / 1000.0,
                if k == 0 { "-".to_owned() } else { format!("{}/{}", t.spectators_ok, 7 * seeds) },
                t.cut,
            );
        }
    }
    if bad.is_empty() {
        Ok(md)
    } else {
        Err(format!("{md}\nfailures: {bad:?}"))
    }
}
