//! Plays the reference fighter (rollback crate) over a peer [`MatchLink`]: the online match
//! of the `demo` and `bot` examples, the peer benchmark and `bench_report`. It lives in the
//! root package because `peer` knows no game; its end-to-end tests are the root package's
//! `tests/online_match*.rs` and `tests/turn_relay.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::spectate::{SpectatorFeed, SpectatorServeStats};
use peer::{MatchEvent, MatchLink, PeerId, TransportStats};
use rollback::bot::{Bot, ReactiveBot};
use rollback::clock::WallClock;
use rollback::fighter::{FighterGame, Winner};
use rollback::netsim::{Impaired, LinkConditions};
use rollback::replay::{EndReason, RecordSettings};
use rollback::session::{
    FrameOutcome, LinkState, LinkStatus, P2PRunner, RunnerConfig, RunnerOptions,
};

/// Seed of the fighter state; both peers must use the same one.
pub const GAME_SEED: u64 = 0x6e65_7470_6c61_7921;

/// At the end of a match, how long the spectators' queues may take to drain.
pub const SPECTATOR_FLUSH: Duration = Duration::from_secs(1);

/// How one side plays.
#[derive(Debug, Clone)]
pub struct PlayConfig {
    /// Frames to confirm (the checksum at this frame is compared).
    pub frames: u32,
    /// Real time (60 fps pacing) or as fast as the link allows.
    pub realtime: bool,
    /// Impairment of our outbound direction (the netsim decorator over the real socket).
    pub outbound: LinkConditions,
    /// Bot seed.
    pub bot_seed: u64,
    /// Runner settings.
    pub runner: RunnerConfig,
    /// Give up after this much wall time.
    pub deadline: Duration,
    /// Write this side's replay of the match here (cut at `frames`).
    pub record: Option<PathBuf>,
    /// Where to write our state at each frame ggrs reports as desynced (none: not written).
    pub desync_dir: Option<PathBuf>,
    /// Fault injection (tests, demos): close the peer connection once this frame is
    /// confirmed; with resuming on, the link is renegotiated and the match goes on.
    pub interrupt_at: Option<i32>,
    /// Stream the match to spectators who join it (`watch_match`; see
    /// [`crate::spectate::SpectatorFeed`]). On by default.
    pub spectators: bool,
}

impl PlayConfig {
    /// `frames` frames as fast as possible over an ideal link, reactive bot seed 1, default
    /// runner settings, a 120 s deadline.
    pub fn new(frames: u32) -> Self {
        Self {
            frames,
            realtime: false,
            outbound: LinkConditions::ideal(),
            bot_seed: 1,
            runner: RunnerConfig::default(),
            deadline: Duration::from_secs(120),
            record: None,
            desync_dir: None,
            interrupt_at: None,
            spectators: true,
        }
    }
}

/// Progress of a running match (for progress bars).
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Current (possibly predicted) frame.
    pub frame: i32,
    /// Last frame confirmed by both players.
    pub confirmed: i32,
    /// Rollbacks so far.
    pub rollbacks: u64,
    /// ggrs's ping to the opponent, in milliseconds (wall clock).
    pub ping_ms: u64,
}

/// How one side's match went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PlayOutcome {
    /// The replay file written (`PlayConfig::record`).
    pub replay: Option<PathBuf>,
    /// Whether the target frame was confirmed.
    pub completed: bool,
    /// Why the match ended early, if it did.
    pub ended_early: Option<String>,
    /// Frames simulated.
    pub frames_simulated: i32,
    /// Checksum at the target frame (hex).
    pub checksum: Option<String>,
    /// Desyncs ggrs detected by its checksum exchange.
    pub ggrs_desyncs: u64,
    /// Rollbacks.
    pub rollbacks: u64,
    /// Frames re-simulated.
    pub rolled_back_frames: u64,
    /// Mean rollback depth.
    pub mean_rollback_depth: f64,
    /// Deepest rollback.
    pub max_rollback_depth: u32,
    /// Stalled frames.
    pub stalls: u64,
    /// Mean `current - confirmed` frame, sampled every frame: how late the opponent's inputs
    /// arrive (input latency seen by this side, in frames).
    pub mean_confirm_lag: f64,
    /// Last ping ggrs measured.
    pub ping_ms: u64,
    /// Input delay in effect at the end, frames (picked at sync with `--input-delay auto`).
    pub input_delay: usize,
    /// Times the opponent's packets stopped for ≥ 1 s or the link was re-established.
    pub interruptions: u64,
    /// How long each interruption lasted, ms.
    pub resumed_after_ms: Vec<u64>,
    /// Match leader at the target frame (`p0`, `p1`, `draw`).
    pub winner: String,
    /// Wall time of the match.
    pub seconds: f64,
    /// Whether the signaling connection was lost during the match.
    pub signaling_lost: bool,
    /// Transport counters at the end.
    pub transport: TransportStats,
    /// Spectators streamed to (none joined: all zero).
    pub spectators: SpectatorServeStats,
}

fn winner_name(game: &FighterGame) -> String {
    match game.leader() {
        Winner::Player(0) => "p0".into(),
        Winner::Player(_) => "p1".into(),
        Winner::Draw => "draw".into(),
    }
}

/// Writes our state at every newly reported desynced frame into `dir` (if given).
fn write_desync_states<A>(
    runner: &mut P2PRunner<FighterGame, A>,
    player: usize,
    dir: Option<&std::path::Path>,
) where
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
{
    for event in runner.take_desync_events() {
        let Some(dir) = dir else { continue };
        let path = dir.join(format!("desync-p{player}-frame{}.txt", event.frame));
        match runner.write_state(&path, event.frame) {
            Ok(true) => tracing::error!(path = %path.display(), "desync: state written"),
            Ok(false) => tracing::warn!(frame = event.frame, "desync: state no longer saved"),
            Err(e) => tracing::warn!(%e, "desync: could not write the state"),
        }
        // when recording, the replay up to that frame goes next to the state, and the
        // runner logs the one `replay diff` command to run on both peers' files
        if let Err(e) = runner.write_desync_replay(dir, event.frame) {
            tracing::warn!(%e, "desync: could not write the replay");
        }
    }
}

/// Plays one match over `link` as `player` (0 = offerer, 1 = answerer). Never panics on
/// network trouble: an early end is reported in the outcome.
pub async fn play(
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
    // The link's view (interrupted, resumed, closed) feeds the runner's watch.
    let link_status = LinkStatus::new();
    let options = RunnerOptions {
        link_status: Some(link_status.clone()),
        ..RunnerOptions::default()
    };
    let mut runner = P2PRunner::with_options(
        config.runner.clone(),
        game,
        impaired,
        player,
        opponent,
        options,
    )
    .map_err(|e| e.to_string())?;
    let mut interrupt_at = config.interrupt_at;
    let mut feed = config.spectators.then(|| {
        runner.start_confirmed_feed();
        SpectatorFeed::default()
    });
    if config.record.is_some() {
        runner
            .start_recording(RecordSettings {
                seed: GAME_SEED,
                player_names: vec!["p0".into(), "p1".into()],
                ..RecordSettings::default()
            })
            .map_err(|e| e.to_string())?;
    }
    let mut bot = ReactiveBot::new(config.bot_seed);
    let target = i32::try_from(config.frames).map_err(|e| e.to_string())?;
    let margin = i32::try_from(config.runner.max_prediction).unwrap_or(8) + 2;
    let started = Instant::now();
    let mut link_closed: Option<String> = None;
    let mut signaling_lost = false;
    let (mut lag_sum, mut lag_samples) = (0i64, 0i64);
    let mut next_frame_at = tokio::time::Instant::now();
    let mut round = runner.game().round;
    loop {
        while let Some(event) = link.try_event() {
            match event {
                MatchEvent::SignalingLost => signaling_lost = true,
                MatchEvent::Interrupted => link_status.set(LinkState::Resuming),
                MatchEvent::Resumed { .. } => link_status.set(LinkState::Up),
                other => {
                    link_status.set(LinkState::Closed);
                    link_closed = Some(format!("{other:?}"));
                }
            }
        }
        if interrupt_at.is_some_and(|frame| runner.confirmed_frame() >= frame) {
            interrupt_at = None;
            link.interrupt_transport().await;
        }
        let confirmed = runner.confirmed_frame();
        if confirmed >= target + margin || (confirmed >= target && link_closed.is_some()) {
            break;
        }
        if let Some(reason) = runner.end_reason() {
            link_closed.get_or_insert_with(|| reason.to_string());
            break;
        }
        if link_closed.is_some() {
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
                FrameOutcome::Ended(reason) => link_closed = Some(reason.to_string()),
            }
            write_desync_states(&mut runner, player, config.desync_dir.as_deref());
            if runner.game().round != round {
                // between rounds: the input delay may follow the latest RTT (`auto` only)
                round = runner.game().round;
                runner.retune_input_delay().map_err(|e| e.to_string())?;
            }
            let stats = runner.stats();
            on_progress(Progress {
                frame: runner.current_frame(),
                confirmed: runner.confirmed_frame(),
                rollbacks: stats.rollbacks,
                ping_ms: stats.network.ping_ms,
            });
        }
        if let Some(feed) = feed.as_mut() {
            feed.serve(link, &mut runner, target);
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
    let spectators = match feed.as_mut() {
        Some(feed) => {
            feed.serve(link, &mut runner, target);
            feed.finish(SPECTATOR_FLUSH).await;
            feed.stats()
        }
        None => SpectatorServeStats::default(),
    };
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
    let replay = match &config.record {
        Some(path) => Some(save_replay(&mut runner, path, target, completed)?),
        None => None,
    };
    Ok(PlayOutcome {
        replay,
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
        input_delay: stats.input_delay,
        interruptions: stats.interruptions,
        resumed_after_ms: stats.resumed_after_ms.clone(),
        winner,
        seconds: started.elapsed().as_secs_f64(),
        signaling_lost,
        transport: link.stats().await,
        spectators,
    })
}

/// Ends the runner's recording, cuts it at `target` (when reached) and writes it.
fn save_replay<G: rollback::Game, A>(
    runner: &mut P2PRunner<G, A>,
    path: &std::path::Path,
    target: i32,
    completed: bool,
) -> Result<PathBuf, String>
where
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
{
    let reason = if completed {
        EndReason::Completed
    } else if runner.is_disconnected() {
        EndReason::Disconnected
    } else {
        EndReason::Aborted
    };
    let final_checksum = runner.confirmed_checksums().checksum_at(target);
    let replay = runner
        .take_replay(reason)
        .ok_or("recording was not started")?;
    let replay = match (completed, final_checksum) {
        (true, Some(c)) => replay.truncated(target as u32, c),
        _ => replay,
    };
    rollback::replay::write_file(path, &replay)
        .map_err(|e| format!("writing the replay {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}
