//! The serializable reports of a fighter bot match.

use std::path::PathBuf;

use serde::Serialize;

use super::{BotKind, DesyncInfo};
use crate::fighter::FighterInput;
use crate::netsim::LinkStats;
use crate::replay::Replay;
use crate::stats::RollbackStats;

/// One peer's figures in a [`MatchReport`].
#[derive(Debug, Clone, Serialize)]
pub struct PeerReport {
    /// Player handle.
    pub player: usize,
    /// Bot kind.
    pub bot: BotKind,
    /// Rollbacks.
    pub rollbacks: u64,
    /// Frames re-simulated.
    pub rolled_back_frames: u64,
    /// Mean depth per rollback.
    pub mean_rollback_depth: f64,
    /// Deepest rollback.
    pub max_rollback_depth: u32,
    /// Stalled `advance` calls.
    pub stalls: u64,
    /// Checksum of the confirmed final frame (hex).
    pub final_checksum: String,
    /// Full statistics.
    pub stats: RollbackStats,
}

/// Measured link figures (from the virtual clock).
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    /// Packets sent.
    pub sent: u64,
    /// Measured loss rate.
    pub loss_rate: f64,
    /// Mean one-way delay, ms.
    pub mean_delay_ms: f64,
    /// Delay standard deviation, ms.
    pub delay_std_ms: f64,
    /// Reordered deliveries.
    pub reordered: u64,
    /// Duplicated packets.
    pub duplicated: u64,
}

impl From<&LinkStats> for LinkReport {
    fn from(s: &LinkStats) -> Self {
        Self {
            sent: s.sent,
            loss_rate: s.loss_rate(),
            mean_delay_ms: s.mean_delay_ms(),
            delay_std_ms: s.delay_std_ms(),
            reordered: s.reordered,
            duplicated: s.duplicated,
        }
    }
}

/// Result of one fighter bot match (what `botmatch --json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct MatchReport {
    /// Seed.
    pub seed: u64,
    /// Frames played and compared.
    pub frames: u32,
    /// Confirmed frames whose checksums differ between the peers.
    pub desyncs: u64,
    /// Desyncs reported by ggrs's own periodic check.
    pub ggrs_desyncs: u64,
    /// Whether all compared checksums and the final checksums match.
    pub checksums_match: bool,
    /// The first diverging frame, if any.
    pub first_desync: Option<DesyncInfo>,
    /// `max(0, ceil(one-way latency / 16.67 ms) − input delay)`.
    pub physical_limit_depth: u32,
    /// Configured one-way latency, ms.
    pub latency_ms: f64,
    /// Configured jitter, ms.
    pub jitter_ms: f64,
    /// Configured loss probability.
    pub loss: f64,
    /// Input delay in effect (peer 0's; picked at sync with `auto`).
    pub input_delay: usize,
    /// Prediction window.
    pub max_prediction: usize,
    /// Virtual (simulated) seconds.
    pub virtual_seconds: f64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// `virtual_seconds / wall_seconds`.
    pub realtime_factor: f64,
    /// `p0`, `p1` or `draw` (leader if the match is not decided).
    pub winner: String,
    /// Rounds won.
    pub wins: [u8; 2],
    /// Mean rollback depth averaged over both peers.
    pub mean_rollback_depth: f64,
    /// Measured links (p0→p1, p1→p0).
    pub links: [LinkReport; 2],
    /// Per-peer figures.
    pub peers: [PeerReport; 2],
    /// Each peer's replay when [`super::MatchConfig::record_interval`] is set (not
    /// serialized; write them with [`crate::replay::write_file`]).
    #[serde(skip)]
    pub replays: [Option<Replay<FighterInput>>; 2],
    /// The replay file written for this match (peer 0's), filled in by whoever writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<PathBuf>,
    /// Peer 1's replay file, written when the match desynced (for `replay diff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_p1: Option<PathBuf>,
}
