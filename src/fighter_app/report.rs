//! The `--json` report: one object in the `bot` example's format (the same keys, plus the
//! mode, an error and frame times).

use peer::{MatchInfo, Role, TransportStats};
use rollback::fighter::{FighterGame, Winner};
use rollback::stats::RollbackStats;
use rollback::Game;
use serde::Serialize;

use crate::netmatch::PlayOutcome;

/// `p0`, `p1` or `draw`: the match winner, or the leader (rounds, then health).
pub fn winner_name(game: &FighterGame) -> String {
    match game.leader() {
        Winner::Player(0) => "p0".into(),
        Winner::Player(_) => "p1".into(),
        Winner::Draw => "draw".into(),
    }
}

/// Frame-time percentiles, microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrameTimes {
    /// Drawn frames measured.
    pub frames: usize,
    /// Simulation (including rollbacks) plus building and issuing the draw calls: median.
    pub sim_draw_p50: u32,
    /// ... 99th percentile.
    pub sim_draw_p99: u32,
    /// ... worst.
    pub sim_draw_max: u32,
    /// Whole loop including presenting the frame (`next_frame`): median.
    pub frame_p50: u32,
    /// ... 99th percentile.
    pub frame_p99: u32,
}

/// The `p`-th percentile (0..=100, nearest rank) of `samples`.
pub fn percentile(samples: &[u32], p: u32) -> u32 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * p.min(100) as usize).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl FrameTimes {
    /// Percentiles of the samples (`None` if there are none).
    pub fn from_samples(sim_draw: &[u32], frame: &[u32]) -> Option<FrameTimes> {
        if sim_draw.is_empty() {
            return None;
        }
        Some(FrameTimes {
            frames: sim_draw.len(),
            sim_draw_p50: percentile(sim_draw, 50),
            sim_draw_p99: percentile(sim_draw, 99),
            sim_draw_max: sim_draw.iter().copied().max().unwrap_or(0),
            frame_p50: percentile(frame, 50),
            frame_p99: percentile(frame, 99),
        })
    }
}

/// What `fighter --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct FighterReport {
    /// `vs-bot`, `local`, `bots` or `online`.
    pub mode: String,
    /// Online: whether a match was connected (always false locally).
    pub connected: bool,
    /// Online: our player id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_id: Option<String>,
    /// Online: the opponent's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opponent_id: Option<String>,
    /// Online: the opponent's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opponent_name: Option<String>,
    /// Online: offerer (player 0) or answerer (player 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Online: time from acceptance to an open channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_connect_ms: Option<f64>,
    /// Frames asked for (`--frames`), else frames played.
    pub frames: u32,
    /// Desyncs detected.
    pub desyncs: u64,
    /// Whether the run reached its end (`--frames` confirmed; locally: the frames played).
    pub completed: bool,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// The match (the `bot` example's fields; `checksum` is the state's checksum at the
    /// last frame, online at the target frame confirmed by both players).
    #[serde(flatten)]
    pub outcome: PlayOutcome,
    /// Frame times of this run.
    pub frame_time_us: Option<FrameTimes>,
    /// Lobby screen runs: matches played and returns to the lobby (the match fields above
    /// are the last match's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lobby: Option<LobbyReport>,
}

/// What the lobby screen did (`fighter --server URL --token T` without a rule).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct LobbyReport {
    /// Matches started from the lobby screen.
    pub matches: u32,
    /// Times the screen came back to the lobby after a match or a failed attempt.
    pub returns: u32,
    /// Whether the program ended in the lobby's player list.
    pub in_lobby: bool,
}

impl FighterReport {
    /// A local run ending in `game`.
    pub fn local(
        mode: &str,
        game: &FighterGame,
        stats: Option<&RollbackStats>,
        completed: bool,
        seconds: f64,
        target: Option<u32>,
    ) -> Self {
        let stats = stats.cloned().unwrap_or_default();
        FighterReport {
            mode: mode.to_owned(),
            connected: false,
            player_id: None,
            opponent_id: None,
            opponent_name: None,
            role: None,
            time_to_connect_ms: None,
            frames: target.unwrap_or(game.frame),
            desyncs: 0,
            completed,
            error: None,
            outcome: PlayOutcome {
                replay: None,
                completed,
                ended_early: None,
                frames_simulated: game.frame as i32,
                checksum: Some(format!("{:032x}", game.checksum())),
                ggrs_desyncs: 0,
                rollbacks: stats.rollbacks,
                rolled_back_frames: stats.rolled_back_frames,
                mean_rollback_depth: stats.mean_rollback_depth(),
                max_rollback_depth: stats.max_rollback_depth,
                stalls: 0,
                mean_confirm_lag: 0.0,
                ping_ms: 0,
                input_delay: 0,
                interruptions: 0,
                resumed_after_ms: Vec::new(),
                winner: winner_name(game),
                seconds,
                signaling_lost: false,
                transport: TransportStats::default(),
                spectators: Default::default(),
            },
            frame_time_us: None,
            lobby: None,
        }
    }

    /// An online match.
    pub fn online(
        player_id: Option<String>,
        info: &MatchInfo,
        frames: u32,
        outcome: PlayOutcome,
    ) -> Self {
        FighterReport {
            mode: "online".to_owned(),
            connected: true,
            player_id: player_id.or_else(|| Some(info.player_id.clone())),
            opponent_id: Some(info.opponent.id.clone()),
            opponent_name: Some(info.opponent.name.clone()),
            role: Some(info.role),
            time_to_connect_ms: Some(info.connect_time.as_secs_f64() * 1e3),
            frames,
            desyncs: outcome.ggrs_desyncs,
            completed: outcome.completed,
            error: None,
            outcome,
            frame_time_us: None,
            lobby: None,
        }
    }

    /// An online run that never got a match.
    pub fn not_started(mode: &str, target: Option<u32>, seconds: f64) -> Self {
        let mut report = Self::local(
            mode,
            &FighterGame::new(super::GAME_SEED),
            None,
            false,
            seconds,
            target,
        );
        report.outcome.checksum = None;
        report.outcome.ended_early = Some("no match".into());
        report
    }

    /// One human line.
    pub fn summary(&self) -> String {
        format!(
            "fighter {}: {} {} frames, desyncs {}, checksum {}, winner {}",
            self.mode,
            if self.completed {
                "finished"
            } else {
                "stopped after"
            },
            self.outcome.frames_simulated,
            self.desyncs,
            self.outcome.checksum.as_deref().unwrap_or("-"),
            self.outcome.winner
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&s, 50), 50);
        assert_eq!(percentile(&s, 99), 99);
        assert_eq!(percentile(&s, 100), 100);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 99), 0);
    }

    #[test]
    fn local_report_has_the_bot_example_keys() {
        let game = FighterGame::new(1);
        let r = FighterReport::local("bots", &game, None, true, 1.0, Some(10));
        let v = serde_json::to_value(&r).unwrap_or_default();
        for key in [
            "frames",
            "connected",
            "desyncs",
            "checksum",
            "rollbacks",
            "winner",
            "completed",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(
            v["checksum"].as_str(),
            Some(format!("{:032x}", game.checksum()).as_str())
        );
    }
}
