//! PNG plots of the report (plotters, bitmap backend).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::full_palette::{BROWN, GREEN_700, ORANGE, PURPLE};

use crate::grid::{
    physical_limit, CellSummary, Spread, GRID_JITTER_MS, GRID_LOSS_PCT, GRID_RTT_MS,
};
use crate::live::LiveResult;

type Panel<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const SERIES_COLORS: [RGBColor; 6] = [BLUE, GREEN_700, ORANGE, RED, PURPLE, BROWN];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn color(i: usize) -> RGBColor {
    SERIES_COLORS[i % SERIES_COLORS.len()]
}

/// The min–max range over seeds as a vertical bar with caps `cap` wide (data units).
fn range_bar(x: f64, s: &Spread, cap: f64, c: RGBColor) -> PathElement<(f64, f64)> {
    let points = vec![
        (x - cap, s.min),
        (x + cap, s.min),
        (x, s.min),
        (x, s.max),
        (x - cap, s.max),
        (x + cap, s.max),
    ];
    PathElement::new(points, c.stroke_width(1))
}

fn find(cells: &[CellSummary], rtt: u64, loss: u32, jitter: u64) -> Option<&CellSummary> {
    cells
        .iter()
        .find(|c| c.cell.rtt_ms == rtt && c.cell.loss_pct == loss && c.cell.jitter_ms == jitter)
}

/// Mean rollback depth against RTT, one curve per loss level (median, min–max bars), with
/// the physical-limit staircase; one panel per jitter level.
pub(crate) fn depth_vs_rtt(path: &Path, cells: &[CellSummary], delay: usize) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1400, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((1, GRID_JITTER_MS.len()));
    let rtt_max = GRID_RTT_MS.iter().copied().max().unwrap_or(300) as f64;
    let limit_at = |rtt: f64| {
        f64::from(physical_limit(
            std::time::Duration::from_secs_f64(rtt / 2e3),
            delay,
        ))
    };
    let data_max = cells.iter().map(|c| c.mean_depth.max).fold(0.0, f64::max);
    let y_max = (data_max.max(limit_at(rtt_max)) + 1.0).ceil();
    for (panel, jitter) in panels.iter().zip(GRID_JITTER_MS) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("Mean rollback depth vs RTT (jitter {jitter} ms)"),
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(-5f64..rtt_max + 5.0, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("round-trip time (ms)")
            .y_desc("mean rollback depth (frames)")
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        let staircase: Vec<(f64, f64)> = (0..=rtt_max as u32)
            .map(|r| (f64::from(r), limit_at(f64::from(r))))
            .collect();
        chart
            .draw_series(LineSeries::new(staircase, BLACK.stroke_width(2)))
            .map_err(err)?
            .label("physical limit")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        for (i, loss) in GRID_LOSS_PCT.iter().enumerate() {
            let pts: Vec<&CellSummary> = GRID_RTT_MS
                .iter()
                .filter_map(|&r| find(cells, r, *loss, jitter))
                .filter(|c| c.runs > 0)
                .collect();
            let style = color(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    pts.iter()
                        .map(|c| (c.cell.rtt_ms as f64, c.mean_depth.median)),
                    style,
                ))
                .map_err(err)?
                .label(format!("loss {loss} %"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(
                    pts.iter()
                        .map(|c| range_bar(c.cell.rtt_ms as f64, &c.mean_depth, 3.0, color(i))),
                )
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|c| {
                    Circle::new(
                        (c.cell.rtt_ms as f64, c.mean_depth.median),
                        4,
                        color(i).filled(),
                    )
                }))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    root.present().map_err(err)
}

fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(err)
}

/// Rollbacks per second (per peer) against loss, one curve per RTT; one panel per jitter.
pub(crate) fn rollbacks_vs_loss(path: &Path, cells: &[CellSummary]) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1400, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((1, GRID_JITTER_MS.len()));
    let loss_max = f64::from(GRID_LOSS_PCT.iter().copied().max().unwrap_or(20));
    let y_max = (cells
        .iter()
        .map(|c| c.rollbacks_per_s.max)
        .fold(0.0, f64::max)
        * 1.6)
        .max(1.0);
    for (panel, jitter) in panels.iter().zip(GRID_JITTER_MS) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("Rollbacks per second vs loss (jitter {jitter} ms)"),
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..loss_max + 0.5, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("packet loss per direction (%)")
            .y_desc("rollbacks per second (per peer)")
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        for (i, rtt) in GRID_RTT_MS.iter().enumerate() {
            let pts: Vec<&CellSummary> = GRID_LOSS_PCT
                .iter()
                .filter_map(|&l| find(cells, *rtt, l, jitter))
                .filter(|c| c.runs > 0)
                .collect();
            let style = color(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    pts.iter()
                        .map(|c| (f64::from(c.cell.loss_pct), c.rollbacks_per_s.median)),
                    style,
                ))
                .map_err(err)?
                .label(format!("RTT {rtt} ms"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(pts.iter().map(|c| {
                    range_bar(
                        f64::from(c.cell.loss_pct),
                        &c.rollbacks_per_s,
                        0.2,
                        color(i),
                    )
                }))
                .map_err(err)?;
            chart
                .draw_series(pts.iter().map(|c| {
                    Circle::new(
                        (f64::from(c.cell.loss_pct), c.rollbacks_per_s.median),
                        4,
                        color(i).filled(),
                    )
                }))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    root.present().map_err(err)
}

/// One group of the channel-mode plot: a sample cell, its limit and three bars.
struct ModeGroup {
    label: String,
    limit: f64,
    /// (netsim median, ordered, sequenced); `None` when that match failed.
    values: [Option<f64>; 3],
}

fn mode_groups(
    samples: &[LiveResult],
    cells: &[CellSummary],
    metric: fn(&LiveResult) -> f64,
    grid_metric: fn(&CellSummary) -> f64,
) -> Vec<ModeGroup> {
    let mut groups: Vec<ModeGroup> = Vec::new();
    for s in samples {
        let Some(cell) = s.cell else { continue };
        let idx = match groups.iter().position(|g| g.label == cell.label()) {
            Some(i) => i,
            None => {
                let netsim = find(cells, cell.rtt_ms, cell.loss_pct, cell.jitter_ms)
                    .filter(|c| c.runs > 0)
                    .map(grid_metric);
                groups.push(ModeGroup {
                    label: cell.label(),
                    limit: f64::from(s.limit),
                    values: [netsim, None, None],
                });
                groups.len() - 1
            }
        };
        let slot = if s.mode == Some("ordered") { 1 } else { 2 };
        if s.error.is_none() || s.checksums_match {
            if let Some(g) = groups.get_mut(idx) {
                g.values[slot] = Some(metric(s));
            }
        }
    }
    groups
}

fn mode_panel(
    panel: &Panel<'_>,
    title: &str,
    y_desc: &str,
    groups: &[ModeGroup],
    with_limit: bool,
) -> Result<(), String> {
    let n = groups.len().max(1) as f64;
    let top = groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied().chain([g.limit]))
        .fold(0.0, f64::max);
    let y_max = (top * 1.5).max(1.0);
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    let mut chart = ChartBuilder::on(panel)
        .caption(title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_style(("sans-serif", 16))
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            let centre = (x - x.floor() - 0.5).abs() < 0.01;
            match labels.get(i) {
                Some(l) if centre => l.clone(),
                _ => String::new(),
            }
        })
        .x_desc("sample cell (RTT / loss / jitter)")
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    let names = [
        "netsim (virtual time, median)",
        "WebRTC ordered",
        "WebRTC sequenced",
    ];
    let colors = [RGBColor(150, 150, 150), ORANGE, BLUE];
    for (k, name) in names.iter().enumerate() {
        let c = colors[k];
        let bars = groups.iter().enumerate().filter_map(|(i, g)| {
            let v = g.values[k]?;
            let x0 = i as f64 + 0.12 + 0.25 * k as f64;
            Some(Rectangle::new([(x0, 0.0), (x0 + 0.22, v)], c.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
    }
    if with_limit {
        let lines = groups.iter().enumerate().map(|(i, g)| {
            PathElement::new(
                vec![(i as f64 + 0.05, g.limit), (i as f64 + 0.95, g.limit)],
                BLACK.stroke_width(3),
            )
        });
        chart
            .draw_series(lines)
            .map_err(err)?
            .label("physical limit")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// The channel-mode comparison: mean and max rollback depth per sample cell for the
/// netsim grid, WebRTC ordered and WebRTC sequenced, with the physical limit.
pub(crate) fn channel_modes(
    path: &Path,
    samples: &[LiveResult],
    cells: &[CellSummary],
) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1400, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((1, 2));
    let mean = mode_groups(
        samples,
        cells,
        |s| s.figures.mean_depth,
        |c| c.mean_depth.median,
    );
    let max = mode_groups(
        samples,
        cells,
        |s| f64::from(s.figures.max_depth),
        |c| c.max_depth.median,
    );
    if let Some(p) = panels.first() {
        mode_panel(
            p,
            "Mean rollback depth by channel mode",
            "mean rollback depth (frames)",
            &mean,
            true,
        )?;
    }
    if let Some(p) = panels.get(1) {
        mode_panel(
            p,
            "Max rollback depth by channel mode",
            "max rollback depth (frames)",
            &max,
            true,
        )?;
    }
    root.present().map_err(err)
}
