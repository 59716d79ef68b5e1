//! The netcode overlay (F3): what the rollback session and the transport are doing, drawn
//! in a corner while the game runs.

use std::collections::VecDeque;

use super::render::{palette, Align, Rgba, Shape, WINDOW_WIDTH};

/// Frames of rollback depth kept for the histogram: 10 s at 60 fps.
pub const HISTORY_FRAMES: usize = 600;
/// Histogram buckets: depth 0, 1, ..., `HISTOGRAM_BUCKETS - 2`, and "deeper".
pub const HISTOGRAM_BUCKETS: usize = 10;
/// Ping samples kept for the jitter.
const PING_SAMPLES: usize = 32;

/// Rolling figures the app records once per simulated frame / second.
#[derive(Debug, Clone, Default)]
pub struct OverlayStats {
    depths: VecDeque<u32>,
    pings: VecDeque<u64>,
    last_depth: u32,
}

impl OverlayStats {
    /// Records the rollback depth of one advance call (0 = no rollback).
    pub fn record_depth(&mut self, depth: u32) {
        if self.depths.len() == HISTORY_FRAMES {
            self.depths.pop_front();
        }
        self.depths.push_back(depth);
        self.last_depth = depth;
    }

    /// Records a ping sample (ms).
    pub fn record_ping(&mut self, ping_ms: u64) {
        if self.pings.len() == PING_SAMPLES {
            self.pings.pop_front();
        }
        self.pings.push_back(ping_ms);
    }

    /// Depth of the last recorded frame.
    pub fn last_depth(&self) -> u32 {
        self.last_depth
    }

    /// Counts of rollback depths over the last [`HISTORY_FRAMES`] frames.
    pub fn histogram(&self) -> [u32; HISTOGRAM_BUCKETS] {
        let mut h = [0u32; HISTOGRAM_BUCKETS];
        for &d in &self.depths {
            let i = (d as usize).min(HISTOGRAM_BUCKETS - 1);
            if let Some(slot) = h.get_mut(i) {
                *slot = slot.saturating_add(1);
            }
        }
        h
    }

    /// Jitter: mean absolute difference of consecutive ping samples, in ms.
    pub fn jitter_ms(&self) -> Option<f64> {
        if self.pings.len() < 2 {
            return None;
        }
        let diffs: u64 = self
            .pings
            .iter()
            .zip(self.pings.iter().skip(1))
            .map(|(a, b)| a.abs_diff(*b))
            .sum();
        Some(diffs as f64 / (self.pings.len() - 1) as f64)
    }
}

/// Everything the overlay shows, gathered by the app each drawn frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverlayView {
    /// First line (mode).
    pub title: String,
    /// ggrs's ping, ms.
    pub ping_ms: Option<u64>,
    /// Jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Frames ahead of the remote (ggrs's average; negative = behind).
    pub frames_ahead: i32,
    /// Input delay, frames.
    pub input_delay: usize,
    /// Rollback depth of the last frame.
    pub rollback_depth: u32,
    /// Rollback depth histogram over the last 10 s.
    pub histogram: [u32; HISTOGRAM_BUCKETS],
    /// Rollbacks so far.
    pub rollbacks: u64,
    /// Stalled frames so far.
    pub stalls: u64,
    /// Received packets lost, per mille.
    pub loss_per_mille: Option<u64>,
    /// Selected ICE candidate type (host / srflx / prflx / relay).
    pub candidate: Option<String>,
    /// Desyncs detected; shown in red once non-zero.
    pub desyncs: u64,
    /// Current frame and last confirmed frame.
    pub frame: i32,
    /// Last frame confirmed by both players.
    pub confirmed: i32,
}

/// Appends the overlay's shapes (top right, under the HUD).
pub fn shapes(out: &mut Vec<Shape>, v: &OverlayView) {
    let (w, x) = (250.0, WINDOW_WIDTH as f32 - 262.0);
    let y = 96.0;
    let line_h = 18.0;
    let opt = |o: Option<u64>, unit: &str| o.map_or("-".to_owned(), |v| format!("{v} {unit}"));
    let mut lines: Vec<(String, Rgba)> = vec![
        (v.title.clone(), palette::BANNER),
        (
            format!(
                "ping {}   jitter {}",
                opt(v.ping_ms, "ms"),
                v.jitter_ms.map_or("-".to_owned(), |j| format!("{j:.1} ms"))
            ),
            palette::TEXT,
        ),
        (
            if v.frames_ahead >= 0 {
                format!("frames ahead {}", v.frames_ahead)
            } else {
                format!("frames behind {}", -v.frames_ahead)
            },
            palette::TEXT,
        ),
        (format!("input delay {} f", v.input_delay), palette::TEXT),
        (
            format!(
                "frame {}  confirmed {}",
                v.frame.max(0),
                v.confirmed.max(-1)
            ),
            palette::TEXT_DIM,
        ),
        (
            format!("rollback {}  (total {})", v.rollback_depth, v.rollbacks),
            palette::TEXT,
        ),
        (format!("stalls {}", v.stalls), palette::TEXT),
        (
            format!(
                "loss {}",
                v.loss_per_mille
                    .map_or("-".to_owned(), |l| format!("{}.{} %", l / 10, l % 10))
            ),
            palette::TEXT,
        ),
        (
            format!("ice {}", v.candidate.as_deref().unwrap_or("-")),
            palette::TEXT,
        ),
        (
            format!("desyncs {}", v.desyncs),
            if v.desyncs > 0 {
                palette::ALARM
            } else {
                palette::GOOD
            },
        ),
    ];
    let hist_h = 48.0;
    let h = 12.0 + line_h * lines.len() as f32 + hist_h + 30.0;
    out.push(Shape::Rect {
        x,
        y,
        w,
        h,
        color: palette::PANEL,
    });
    if v.desyncs > 0 {
        out.push(Shape::Outline {
            x,
            y,
            w,
            h,
            thickness: 3.0,
            color: palette::ALARM,
        });
    }
    for (i, (text, color)) in lines.drain(..).enumerate() {
        out.push(Shape::Text {
            x: x + 10.0,
            y: y + 20.0 + line_h * i as f32,
            size: 17.0,
            align: Align::Left,
            color,
            text,
        });
    }
    // rollback depth histogram of the last 10 s: one bar per depth, log-ish height
    let base_y = y + h - 22.0;
    let bar_w = (w - 20.0) / HISTOGRAM_BUCKETS as f32;
    let max = v.histogram.iter().copied().max().unwrap_or(0).max(1) as f32;
    for (i, &count) in v.histogram.iter().enumerate() {
        let bx = x + 10.0 + bar_w * i as f32;
        let bh = if count == 0 {
            1.0
        } else {
            (hist_h * (1.0 + count as f32).ln() / (1.0 + max).ln()).max(2.0)
        };
        let color = if i == 0 {
            palette::GOOD
        } else if i < 4 {
            palette::HEALTH_LOW
        } else {
            Rgba::rgb(255, 120, 60)
        };
        out.push(Shape::Rect {
            x: bx + 1.0,
            y: base_y - bh,
            w: bar_w - 2.0,
            h: bh,
            color,
        });
        let label = if i == HISTOGRAM_BUCKETS - 1 {
            format!("{}+", i)
        } else {
            i.to_string()
        };
        out.push(Shape::Text {
            x: bx + bar_w / 2.0,
            y: base_y + 15.0,
            size: 13.0,
            align: Align::Center,
            color: palette::TEXT_DIM,
            text: label,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_keeps_ten_seconds_and_buckets_deep_rollbacks() {
        let mut s = OverlayStats::default();
        for _ in 0..HISTORY_FRAMES {
            s.record_depth(0);
        }
        for d in [1, 3, 9, 20] {
            s.record_depth(d);
        }
        let h = s.histogram();
        assert_eq!(h.iter().sum::<u32>() as usize, HISTORY_FRAMES);
        assert_eq!(h[0] as usize, HISTORY_FRAMES - 4);
        assert_eq!((h[1], h[3], h[9]), (1, 1, 2));
        assert_eq!(s.last_depth(), 20);
    }

    #[test]
    fn jitter_is_mean_absolute_ping_change() {
        let mut s = OverlayStats::default();
        assert_eq!(s.jitter_ms(), None);
        for p in [10, 14, 10, 14] {
            s.record_ping(p);
        }
        assert_eq!(s.jitter_ms(), Some(4.0));
    }

    #[test]
    fn desyncs_turn_the_overlay_red() {
        let mut out = Vec::new();
        shapes(&mut out, &OverlayView::default());
        assert!(!out.iter().any(|s| s.color() == palette::ALARM));
        let mut out = Vec::new();
        let v = OverlayView {
            desyncs: 1,
            ..Default::default()
        };
        shapes(&mut out, &v);
        assert!(out
            .iter()
            .any(|s| matches!(s, Shape::Text { text, color, .. }
            if text == "desyncs 1" && *color == palette::ALARM)));
    }
}
