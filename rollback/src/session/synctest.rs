//! [`SyncTestRunner`]: ggrs's SyncTest over a [`Game`].

use ggrs::{Frame, GgrsError, SessionBuilder, SyncTestSession};

use super::core::{ConfirmedLog, SessionCore};
use super::{GgrsConfig, RunnerConfig, RunnerError};
use crate::game::Game;
use crate::stats::RollbackStats;

/// Runs a game under ggrs's SyncTest: every frame, ggrs rolls back `check_distance` frames,
/// re-simulates them and compares checksums with the first simulation. A mismatch means the
/// game is not deterministic ([`RunnerError::SyncTestMismatch`]). Every frame is a rollback
/// here, so the rollback counters measure the test itself.
pub struct SyncTestRunner<G: Game> {
    session: SyncTestSession<GgrsConfig<G, usize>>,
    core: SessionCore<G>,
    players: usize,
    input_delay: usize,
    fps: u32,
}

impl<G: Game> SyncTestRunner<G> {
    /// A SyncTest for `players` players with `config.check_distance` and
    /// `config.max_prediction` (`check_distance < max_prediction`).
    pub fn new(config: RunnerConfig, game: G, players: usize) -> Result<Self, RunnerError> {
        config.validate()?;
        let session = SessionBuilder::<GgrsConfig<G, usize>>::new()
            .with_num_players(players)?
            .with_max_prediction_window(config.max_prediction)
            .with_check_distance(config.check_distance)
            .with_input_delay(config.input_delay)
            .start_synctest_session()?;
        Ok(Self {
            session,
            core: SessionCore::new(
                game,
                config.state_ring,
                config.checksum_log,
                config.time_sample_every,
            ),
            players,
            input_delay: config.input_delay,
            fps: config.fps,
        })
    }

    /// Advances one frame with one input per player.
    pub fn advance(&mut self, inputs: &[G::Input]) -> Result<Frame, RunnerError> {
        let started = self.core.begin_call();
        for handle in 0..self.players {
            let input = inputs.get(handle).copied().unwrap_or_default();
            self.session.add_local_input(handle, input)?;
        }
        let requests = match self.session.advance_frame() {
            Ok(r) => r,
            Err(GgrsError::MismatchedChecksum {
                current_frame,
                mismatched_frames,
            }) => {
                self.core.end_call(started);
                return Err(RunnerError::SyncTestMismatch {
                    frame: current_frame,
                    mismatched: mismatched_frames,
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.core.handle(requests)?;
        let confirmed = self.core.frame - self.session.check_distance() as Frame - 1;
        self.core.confirm_upto(confirmed);
        self.core.end_call(started);
        Ok(self.core.frame)
    }

    /// The current game state.
    pub fn game(&self) -> &G {
        &self.core.game
    }

    /// Statistics so far.
    pub fn stats(&self) -> &RollbackStats {
        &self.core.stats
    }

    /// Checksums of frames older than the check distance.
    pub fn confirmed_checksums(&self) -> &ConfirmedLog {
        &self.core.log
    }
}

/// Replay recording (see `record.rs`).
impl<G: Game> SyncTestRunner<G> {
    /// Starts recording confirmed frames (older than the check distance). Call before the
    /// first [`advance`](Self::advance).
    pub fn start_recording(
        &mut self,
        settings: crate::replay::RecordSettings,
    ) -> Result<(), RunnerError> {
        let (players, delay, fps) = (self.players, self.input_delay, self.fps);
        self.core
            .start_recording(players, delay, fps, None, settings)
    }

    /// The recorder, if recording.
    pub fn recorder(&self) -> Option<&crate::replay::ReplayRecorder<G::Input>> {
        self.core.recorder()
    }

    /// Ends the recording and returns the replay (`None` if not recording).
    pub fn take_replay(
        &mut self,
        reason: crate::replay::EndReason,
    ) -> Option<crate::replay::Replay<G::Input>> {
        self.core.take_replay(reason)
    }
}
