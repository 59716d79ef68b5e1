//! Plays the reference fighter (rollback crate) over a peer [`MatchLink`]: shared by the
//! peer tests, the `demo` and `bot` examples and the peer benchmark (included with
//! `#[path]`, since `peer` itself knows no game).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use peer::{MatchEvent, MatchLink, PeerId, TransportStats};
use rollback::bot::{Bot, ReactiveBot};
use rollback::fighter::{FighterGame, Winner};
use rollback::netsim::{Impaired, LinkConditions, WallClock};
use rollback::session::{FrameOutcome, P2PRunner, RunnerConfig};

/// Seed of the fighter state; both peers must use the same one.
pub(crate) const GAME_SEED: u64 = 0x6e65_7470_6c61_7921;

/// How one side plays.
#[derive(Debug, Clone)]
pub(crate) struct PlayConfig {
    /// Frames to confirm (the checksum at this frame is compared).
    pub(crate) frames: u32,
    /// Real time (60 fps pacing) or as fast as the link allows.
    pub(crate) realtime: bool,
    /// Impairment of our outbound direction (the netsim decorator over the real socket).
    pub(crate) outbound: LinkConditions,
    /// Bot seed.
    pub(crate) bot_seed: u64,
    /// Runner settings.
    pub(crate) runner: RunnerConfig,
    /// Give up after this much wall time.
    pub(crate) deadline: Duration,
}

impl PlayConfig {
    pub(crate) fn new(frames: u32) -> Self {
        Self {
            frames,
            realtime: false,
            outbound: LinkConditions::ideal(),
            bot_seed: 1,
            runner: RunnerConfig::default(),
            deadline: Duration::from_secs(120),
        }
    }
}

/// Progress of a running match (for progress bars).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    pub(crate) frame: i32,
    pub(crate) confirmed: i32,
    pub(crate) rollbacks: u64,
    pub(crate) ping_ms: u64,
}

/// How one side's match went.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PlayOutcome {
    /// Whether the target frame was confirmed.
    pub(crate) completed: bool,
    /// Why the match ended early, if it did.
    pub(crate) ended_early: Option<String>,
    /// Frames simulated.
    pub(crate) frames_simulated: i32,
    /// Checksum at the target frame (hex).
    pub(crate) checksum: Option<String>,
    /// Desyncs ggrs detected by its checksum exchange.
    pub(crate) ggrs_desyncs: u64,
    /// Rollbacks.
    pub(crate) rollbacks: u64,
    /// Frames re-simulated.
    pub(crate) rolled_back_frames: u64,
    /// Mean rollback depth.
    pub(crate) mean_rollback_depth: f64,
    /// Deepest rollback.
    pub(crate) max_rollback_depth: u32,
    /// Stalled frames.
    pub(crate) stalls: u64,
    /// Mean `current - confirmed` frame, sampled every frame: how late the opponent's inputs
    /// arrive (input latency seen by this side, in frames).
    pub(crate) mean_confirm_lag: f64,
    /// Last ping ggrs measured.
    pub(crate) ping_ms: u64,
    /// Match leader at the target frame (`p0`, `p1`, `draw`).
    pub(crate) winner: String,
    /// Wall time of the match.
    pub(crate) seconds: f64,
    /// Whether the signaling connection was lost during the match.
    pub(crate) signaling_lost: bool,
    /// Transport counters at the end.
    pub(crate) transport: TransportStats,
}

fn winner_name(game: &FighterGame) -> String {
    match game.leader() {
        Winner::Player(0) => "p0".into(),
        Winner::Player(_) => "p1".into(),
        Winner::Draw => "draw".into(),
    }
}

/// Plays one match over `link` as `player` (0 = offerer, 1 = answerer). Never panics on
/// network trouble: an early end is reported in the outcome.
pub(crate) async fn play(
    link: &mut MatchLink,
    player: usize,
    config: &PlayConfig,
    mut on_progress: impl FnMut(Progress),
) -> Result<PlayOutcome, String> {
    let socket = link.take_socket().ok_or("socket already taken")?;
    let opponent: PeerId = link.opponent_addr();
    let clock = WallClock::new().shared();
    let impaired = Impaired::new(
        socket,
        config.outbound,
        LinkConditions::ideal(),
        clock,
        config.bot_seed ^ 0xa5a5,
    )
    .map_err(|e| e.to_string())?;
    let game = FighterGame::new(GAME_SEED);
    let mut runner = P2PRunner::new(config.runner.clone(), game, impaired, player, opponent)
        .map_err(|e| e.to_string())?;
    let mut bot = ReactiveBot::new(config.bot_seed);
    let target = i32::try_from(config.frames).map_err(|e| e.to_string())?;
    let margin = i32::try_from(config.runner.max_prediction).unwrap_or(8) + 2;
    let started = Instant::now();
    let mut link_closed: Option<String> = None;
    let mut signaling_lost = false;
    let (mut lag_sum, mut lag_samples) = (0i64, 0i64);
    let mut next_frame_at = tokio::time::Instant::now();
    loop {
        while let Some(event) = link.try_event() {
            match event {
                MatchEvent::SignalingLost => signaling_lost = true,
                other => link_closed = Some(format!("{other:?}")),
            }
        }
        let confirmed = runner.confirmed_frame();
        if confirmed >= target + margin || (confirmed >= target && link_closed.is_some()) {
            break;
        }
        if link_closed.is_some() || runner.is_disconnected() {
            break;
        }
        if started.elapsed() > config.deadline {
            link_closed = Some("deadline".into());
            break;
        }
        runner.poll();
        let mut stalled = !runner.is_running();
        if runner.is_running() {
            let input = bot.next_input(runner.game(), player);
            match runner.advance(input).map_err(|e| e.to_string())? {
                FrameOutcome::Advanced { .. } => {
                    lag_sum += i64::from(runner.current_frame() - runner.confirmed_frame());
                    lag_samples += 1;
                }
                FrameOutcome::Stalled { .. } | FrameOutcome::Synchronizing => stalled = true,
                FrameOutcome::Disconnected => {
                    link_closed = Some("ggrs: opponent disconnected".into());
                }
            }
            let stats = runner.stats();
            on_progress(Progress {
                frame: runner.current_frame(),
                confirmed: runner.confirmed_frame(),
                rollbacks: stats.rollbacks,
                ping_ms: stats.network.ping_ms,
            });
        }
        if config.realtime {
            next_frame_at += runner.frame_interval();
            let now = tokio::time::Instant::now();
            if next_frame_at < now {
                next_frame_at = now;
            }
            tokio::time::sleep_until(next_frame_at).await;
        } else if stalled {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    let completed = runner.confirmed_frame() >= target;
    let checksum = runner
        .confirmed_checksums()
        .checksum_at(target)
        .map(|c| format!("{c:032x}"));
    let winner = runner
        .state_at(target)
        .map(winner_name)
        .unwrap_or_else(|| winner_name(runner.game()));
    let stats = runner.stats().clone();
    Ok(PlayOutcome {
        completed,
        ended_early: if completed { None } else { link_closed },
        frames_simulated: runner.current_frame(),
        checksum,
        ggrs_desyncs: stats.events.desyncs_detected,
        rollbacks: stats.rollbacks,
        rolled_back_frames: stats.rolled_back_frames,
        mean_rollback_depth: stats.mean_rollback_depth(),
        max_rollback_depth: stats.max_rollback_depth,
        stalls: stats.stalls,
        mean_confirm_lag: if lag_samples > 0 {
            lag_sum as f64 / lag_samples as f64
        } else {
            0.0
        },
        ping_ms: stats.network.ping_ms,
        winner,
        seconds: started.elapsed().as_secs_f64(),
        signaling_lost,
        transport: link.stats().await,
    })
}
