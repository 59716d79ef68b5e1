//! `report.md`: the tables, the command and the machine.

use std::fmt::Write as _;

use crate::grid::{CellSummary, GridPlan, Spread, GRID_JITTER_MS};
use crate::live::LiveResult;

/// Where and how the report was produced.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RunInfo {
    /// The command line, as typed.
    pub(crate) command: String,
    /// Logical cores.
    pub(crate) cores: usize,
    /// CPU model from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// /proc/loadavg at the start.
    pub(crate) load_at_start: String,
    /// UTC date.
    pub(crate) date: String,
    /// Git commit of the checkout.
    pub(crate) commit: String,
    /// Seconds per phase: grid, baselines, WebRTC samples, total.
    pub(crate) seconds: [f64; 4],
}

fn spread(s: &Spread, digits: usize) -> String {
    if (s.max - s.min).abs() < 1e-9 {
        format!("{:.digits$}", s.median)
    } else {
        format!(
            "{:.digits$} [{:.digits$}–{:.digits$}]",
            s.median, s.min, s.max
        )
    }
}

fn header(out: &mut String, info: &RunInfo, plan: &GridPlan, cells: usize) {
    let _ = writeln!(out, "# netplay benchmark report\n");
    let _ = writeln!(out, "- command: `{}`", info.command);
    let _ = writeln!(
        out,
        "- machine: {} logical cores, CPU `{}`, load average at start `{}` (shared, noisy machine)",
        info.cores, info.cpu_model, info.load_at_start
    );
    let _ = writeln!(out, "- date: {} — commit `{}`", info.date, info.commit);
    let _ = writeln!(
        out,
        "- wall time: {:.0} s total (netsim grid {:.0} s, baselines {:.0} s, WebRTC samples {:.0} s)",
        info.seconds[3], info.seconds[0], info.seconds[1], info.seconds[2]
    );
    let _ = writeln!(
        out,
        "- netsim grid: {cells} cells × {} seeds (seeds 1..={}), {} frames per match ({:.0} s of game), bots `ai` vs `random`, input delay {}, prediction window {}, {} worker threads, virtual time (rollback crate `botmatch::run_match`)",
        plan.seeds,
        plan.seeds,
        plan.frames,
        f64::from(plan.frames) / 60.0,
        plan.input_delay,
        rollback::session::DEFAULT_MAX_PREDICTION,
        plan.threads
    );
    let _ = writeln!(
        out,
        "- physical limit = max(0, ceil(one-way latency / 16.67 ms) − input delay), one-way latency = RTT / 2; loss and jitter apply to each direction\n"
    );
    let _ = writeln!(
        out,
        "Figures are the median over seeds, with [min–max] when they differ. Depths are re-simulated frames per rollback (both peers pooled); rollbacks/s and stalls are per peer (stalls = `advance` calls that could not advance: prediction window full); realtime factor = game seconds / wall seconds of one match; desyncs = diverging confirmed frames + ggrs desync events + final checksum mismatches, summed over seeds.\n"
    );
}

fn live_table(out: &mut String, rows: &[LiveResult], with_cell: bool) {
    let _ = writeln!(
        out,
        "| {}socket / channel | paced | frames | wall s | realtime × | mean depth | max depth | limit | rollbacks/s | stalls/peer | desyncs | lost pkts | accept→started ms | note |",
        if with_cell { "cell (RTT/loss/jitter) | " } else { "" }
    );
    let _ = writeln!(
        out,
        "|{}---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        if with_cell { "---|" } else { "" }
    );
    for r in rows {
        let f = &r.figures;
        let cell = r.cell.map_or_else(|| "-".to_owned(), |c| c.label());
        let accept = r
            .accept_to_started_ms
            .map_or_else(|| "-".to_owned(), |a| format!("{:.0} / {:.0}", a[0], a[1]));
        let note = match (&r.error, r.checksums_match) {
            (Some(e), _) => e.replace('|', "/"),
            (None, false) => "checksums differ".to_owned(),
            (None, true) => "checksums match".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {} |",
            if with_cell { format!("{cell} | ") } else { String::new() },
            r.label,
            if r.realtime { "60 fps" } else { "unpaced" },
            r.frames,
            r.wall_seconds,
            f.realtime_factor,
            f.mean_depth,
            f.max_depth,
            if r.cell.is_some() { r.limit.to_string() } else { "0".to_owned() },
            f.rollbacks_per_s,
            f.stalls,
            f.desyncs,
            r.packets_lost.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            accept,
            note
        );
    }
    let _ = writeln!(out);
}

fn grid_table(out: &mut String, cells: &[CellSummary], jitter: u64) {
    let _ = writeln!(out, "### Jitter {jitter} ms\n");
    let _ = writeln!(
        out,
        "| RTT ms | loss % | limit | mean depth | depth/frame | max depth | rollbacks/s | stalls/peer | realtime × | desyncs | runs | mean ≤ limit + 0.5 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in cells.iter().filter(|c| c.cell.jitter_ms == jitter) {
        let ok = c.mean_depth.median <= f64::from(c.limit) + 0.5;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}{} | {} |",
            c.cell.rtt_ms,
            c.cell.loss_pct,
            c.limit,
            spread(&c.mean_depth, 2),
            spread(&c.depth_per_frame, 2),
            spread(&c.max_depth, 0),
            spread(&c.rollbacks_per_s, 1),
            spread(&c.stalls, 0),
            spread(&c.realtime_factor, 0),
            c.desyncs,
            c.runs,
            if c.failures.is_empty() {
                String::new()
            } else {
                format!(" ({} failed)", c.failures.len())
            },
            if ok { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(out);
}

/// The target "mean rollback depth ≤ physical limit + 0.5 at loss ≤ 5 %", read per rollback
/// and per frame: (met per rollback, met per frame, cells).
pub(crate) fn depth_target(cells: &[CellSummary]) -> (usize, usize, usize) {
    let relevant: Vec<&CellSummary> = cells
        .iter()
        .filter(|c| c.cell.loss_pct <= 5 && c.runs > 0)
        .collect();
    let bound = |c: &CellSummary| f64::from(c.limit) + 0.5;
    let per_rollback = relevant
        .iter()
        .filter(|c| c.mean_depth.median <= bound(c))
        .count();
    let per_frame = relevant
        .iter()
        .filter(|c| c.depth_per_frame.median <= bound(c))
        .count();
    (per_rollback, per_frame, relevant.len())
}

/// The whole report.
pub(crate) fn render(
    info: &RunInfo,
    plan: &GridPlan,
    cells: &[CellSummary],
    baselines: &[LiveResult],
    samples: &[LiveResult],
) -> String {
    let mut out = String::new();
    header(&mut out, info, plan, cells.len());
    let _ = writeln!(out, "## Baselines: the same game at zero impairment\n");
    let _ = writeln!(
        out,
        "Real sockets run on the wall clock, unpaced (as fast as the runner and the link allow), one tokio task per peer with the demo's loop (poll, advance; sleep 1 ms when stalled). The netsim row with the virtual clock is the grid's runner (bots ai vs random); the wall-clock rows use two reactive bots. The realtime factor is the figure to compare here: unpaced peers race each other up to the prediction window, so their rollback depths and stalls measure that race, not the link (the paced sample cells below and the grid measure depth). ggrs's `UdpNonBlockingSocket` binds 0.0.0.0:<port> (its only constructor); all its traffic goes to 127.0.0.1.\n"
    );
    live_table(&mut out, baselines, false);
    let _ = writeln!(
        out,
        "## WebRTC sample cells (demo path, netsim decorator on the peer socket)\n"
    );
    let _ = writeln!(
        out,
        "Embedded signal server on 127.0.0.1, two bot peers with loopback-only ICE, challenge/accept, negotiated data channel; each side impairs its outbound direction with the cell's conditions (rollback `Impaired` on the wall clock). Paced at 60 fps like a real game, so the realtime factor is ~1 by construction; the netsim median of the same cell is in the grid tables and in `channel_modes.png`.\n"
    );
    live_table(&mut out, samples, true);
    let (met, met_per_frame, of) = depth_target(cells);
    let _ = writeln!(out, "## Netsim grid\n");
    let _ = writeln!(
        out,
        "Target \"mean rollback depth ≤ physical limit + 0.5 at loss ≤ 5 %\": met in {met} of {of} cells with the depth per rollback (`mean depth`), in {met_per_frame} of {of} with the depth per frame (`depth/frame` = re-simulated frames per advanced frame). The last column checks the per-rollback reading.\n"
    );
    for jitter in GRID_JITTER_MS {
        grid_table(&mut out, cells, jitter);
    }
    let failures: Vec<&String> = cells.iter().flat_map(|c| c.failures.iter()).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "### Failed matches\n");
        for f in failures {
            let _ = writeln!(out, "- {f}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Plots\n");
    for (file, what) in [
        (
            "rollback_depth_vs_rtt.png",
            "mean rollback depth against RTT, one curve per loss level, physical limit",
        ),
        (
            "rollbacks_per_second_vs_loss.png",
            "rollbacks per second against loss, one curve per RTT",
        ),
        (
            "channel_modes.png",
            "channel-mode comparison on the WebRTC sample cells",
        ),
    ] {
        let _ = writeln!(out, "![{what}]({file})\n");
    }
    out
}
