//! [`RollbackStats`]: what a runner measured during a session.

use std::time::Duration;

use serde::Serialize;

/// Network figures as reported by ggrs for one remote (wall-clock based, see
/// [`crate::netsim`] for what that means on a virtual clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetworkFigures {
    /// Round-trip time measured by ggrs's quality reports, ms (wall clock).
    pub ping_ms: u64,
    /// Inputs sent but not yet acknowledged.
    pub send_queue_len: usize,
    /// How many frames ggrs thinks we are behind the remote.
    pub local_frames_behind: i32,
    /// How many frames ggrs thinks the remote is behind us.
    pub remote_frames_behind: i32,
}

/// Counters of ggrs events seen by a runner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// `Synchronizing` progress events.
    pub synchronizing: u64,
    /// `Synchronized` events.
    pub synchronized: u64,
    /// `NetworkInterrupted` events.
    pub network_interrupted: u64,
    /// `NetworkResumed` events.
    pub network_resumed: u64,
    /// `Disconnected` events.
    pub disconnected: u64,
    /// `WaitRecommendation` events.
    pub wait_recommendations: u64,
    /// `DesyncDetected` events (ggrs's own periodic checksum comparison).
    pub desyncs_detected: u64,
}

/// Rollback statistics of one runner.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RollbackStats {
    /// Frames advanced for the first time (not counting re-simulation).
    pub frames: u64,
    /// Rollbacks (load requests).
    pub rollbacks: u64,
    /// Frames re-simulated because of rollbacks.
    pub rolled_back_frames: u64,
    /// `depth_histogram[d]` = number of rollbacks of depth `d` frames (last bucket: ≥ len-1).
    pub depth_histogram: Vec<u64>,
    /// Deepest rollback seen.
    pub max_rollback_depth: u32,
    /// First-time frames advanced with at least one predicted remote input.
    pub predicted_frames: u64,
    /// `advance` calls that could not advance (prediction window full, lockstep wait).
    pub stalls: u64,
    /// Frames where the runner was asked to run slower because it was ahead (time sync).
    pub slowed_frames: u64,
    /// Input / sync packets re-sent by the runner during stalls (see [`crate::session`]).
    pub retransmits: u64,
    /// Save requests served.
    pub saves: u64,
    /// Time inside `Game::step`, ns.
    pub game_ns: u64,
    /// Time in snapshots: save (clone + checksum) and load, ns.
    pub snapshot_ns: u64,
    /// Time inside ggrs and the runner itself, ns (total `advance` time minus the above).
    pub engine_ns: u64,
    /// Input delay in effect at the end, frames (picked at sync with `auto`).
    pub input_delay: usize,
    /// Mean round-trip time to the opponent measured on the runner's clock, µs (ggrs's
    /// probes; includes both peers' polling delay).
    pub rtt_us: u64,
    /// Jitter of that round-trip time (mean absolute deviation), µs.
    pub rtt_jitter_us: u64,
    /// Times the opponent went silent for ≥ 1 s or the transport reported "resuming"
    /// (see [`crate::session::LinkStatus`]).
    pub interruptions: u64,
    /// How long each interruption that ended lasted, ms (the first
    /// [`MAX_RESUMES_KEPT`] are kept).
    pub resumed_after_ms: Vec<u64>,
    /// ggrs sessions restarted from a confirmed frame.
    pub restarts: u64,
    /// ggrs events seen.
    pub events: EventCounts,
    /// Last network figures from ggrs (for the first remote).
    pub network: NetworkFigures,
}

/// Most entries kept in [`RollbackStats::resumed_after_ms`].
pub const MAX_RESUMES_KEPT: usize = 64;

/// Default number of histogram buckets (depths 0..=15, the last one collects deeper ones).
pub const DEFAULT_HISTOGRAM_BUCKETS: usize = 16;

impl RollbackStats {
    /// Empty statistics with [`DEFAULT_HISTOGRAM_BUCKETS`] buckets.
    pub fn new() -> Self {
        Self {
            depth_histogram: vec![0; DEFAULT_HISTOGRAM_BUCKETS],
            ..Self::default()
        }
    }

    /// Records one rollback of `depth` frames.
    pub fn record_rollback(&mut self, depth: u32) {
        self.rollbacks += 1;
        self.rolled_back_frames += u64::from(depth);
        self.max_rollback_depth = self.max_rollback_depth.max(depth);
        if self.depth_histogram.is_empty() {
            self.depth_histogram = vec![0; DEFAULT_HISTOGRAM_BUCKETS];
        }
        let last = self.depth_histogram.len() - 1;
        let idx = (depth as usize).min(last);
        if let Some(b) = self.depth_histogram.get_mut(idx) {
            *b += 1;
        }
    }

    /// Records the start of an interruption.
    pub fn record_interruption(&mut self) {
        self.interruptions = self.interruptions.saturating_add(1);
    }

    /// Records the end of an interruption that lasted `ms` milliseconds.
    pub fn record_resume(&mut self, ms: u64) {
        if self.resumed_after_ms.len() < MAX_RESUMES_KEPT {
            self.resumed_after_ms.push(ms);
        }
    }

    /// Mean depth over all rollbacks (0 when there were none).
    pub fn mean_rollback_depth(&self) -> f64 {
        if self.rollbacks == 0 {
            0.0
        } else {
            self.rolled_back_frames as f64 / self.rollbacks as f64
        }
    }

    /// Rolled-back frames per advanced frame: the mean rollback depth *per frame*, which is
    /// what the physical limit (one-way latency in frames minus input delay) bounds.
    pub fn rolled_back_per_frame(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.rolled_back_frames as f64 / self.frames as f64
        }
    }

    /// Fraction of time spent inside the game (step + snapshots) vs the whole `advance`.
    pub fn game_time_share(&self) -> f64 {
        let total = self.game_ns + self.snapshot_ns + self.engine_ns;
        if total == 0 {
            0.0
        } else {
            (self.game_ns + self.snapshot_ns) as f64 / total as f64
        }
    }
}

/// Deepest rollback that latency alone forces: `max(0, ceil(latency / frame) − delay)`,
/// with the exact frame length (1/fps s) in integer arithmetic, so 100 ms at 60 fps is
/// exactly 6 frames.
pub fn physical_limit_depth(one_way_latency: Duration, input_delay: usize, fps: u32) -> u32 {
    let frames = (one_way_latency.as_nanos() * u128::from(fps.max(1))).div_ceil(1_000_000_000);
    u32::try_from(frames.saturating_sub(input_delay as u128)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_and_means() {
        let mut s = RollbackStats::new();
        s.record_rollback(2);
        s.record_rollback(4);
        s.record_rollback(100);
        assert_eq!(s.rollbacks, 3);
        assert_eq!(s.max_rollback_depth, 100);
        assert_eq!(s.depth_histogram[2], 1);
        assert_eq!(s.depth_histogram[DEFAULT_HISTOGRAM_BUCKETS - 1], 1);
        assert!((s.mean_rollback_depth() - 106.0 / 3.0).abs() < 1e-9);
    }
}
