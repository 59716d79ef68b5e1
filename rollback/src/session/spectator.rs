//! [`SpectatorRunner`]: follows a host's confirmed inputs.

use std::fmt::Debug;
use std::hash::Hash;

use ggrs::{
    Frame, GgrsError, GgrsEvent, NonBlockingSocket, SessionBuilder, SessionState, SpectatorSession,
};

use super::core::{ConfirmedLog, SessionCore};
use super::{GgrsConfig, RunnerConfig, RunnerError};
use crate::game::Game;
use crate::stats::RollbackStats;

/// A spectator: receives the host's confirmed inputs and simulates them (no rollback;
/// ggrs catches up faster when the spectator falls behind).
pub struct SpectatorRunner<G: Game, A>
where
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    session: SpectatorSession<GgrsConfig<G, A>>,
    core: SessionCore<G>,
    disconnected: bool,
}

impl<G, A> SpectatorRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// A spectator of the 2-player session hosted at `host`.
    pub fn new(
        config: RunnerConfig,
        game: G,
        socket: impl NonBlockingSocket<A> + 'static,
        host: A,
    ) -> Result<Self, RunnerError> {
        config.validate()?;
        let session = SessionBuilder::<GgrsConfig<G, A>>::new()
            .with_num_players(2)?
            .with_fps(config.fps as usize)?
            .with_disconnect_timeout(config.disconnect_timeout)
            .with_disconnect_notify_delay(config.disconnect_notify)
            .start_spectator_session(host, socket);
        let mut core = SessionCore::new(
            game,
            config.state_ring,
            config.checksum_log,
            config.time_sample_every,
        );
        core.enable_step_logging();
        Ok(Self {
            session,
            core,
            disconnected: false,
        })
    }

    /// Receives and sends packets, handles events.
    pub fn poll(&mut self) {
        self.session.poll_remote_clients();
        self.drain_events();
    }

    /// Whether synchronized with the host.
    pub fn is_running(&self) -> bool {
        self.session.current_state() == SessionState::Running
    }

    /// Simulates the frames the host has confirmed (one, or more when catching up);
    /// returns how many were simulated (0 while waiting for input).
    pub fn advance(&mut self) -> Result<u32, RunnerError> {
        let started = self.core.begin_call();
        let requests = match self.session.advance_frame() {
            Ok(r) => r,
            Err(GgrsError::PredictionThreshold) | Err(GgrsError::NotSynchronized) => {
                self.core.end_call(started);
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        };
        let batch = self.core.handle(requests);
        self.core.end_call(started);
        let batch = batch?;
        self.drain_events();
        if batch.new_frames == 0 {
            self.core.stats.stalls += 1;
        }
        Ok(batch.new_frames)
    }

    fn drain_events(&mut self) {
        let events: Vec<_> = self.session.events().collect();
        let counts = &mut self.core.stats.events;
        for e in events {
            match e {
                GgrsEvent::Synchronizing { .. } => counts.synchronizing += 1,
                GgrsEvent::Synchronized { .. } => counts.synchronized += 1,
                GgrsEvent::NetworkInterrupted { .. } => counts.network_interrupted += 1,
                GgrsEvent::NetworkResumed { .. } => counts.network_resumed += 1,
                GgrsEvent::Disconnected { .. } => {
                    counts.disconnected += 1;
                    self.disconnected = true;
                }
                GgrsEvent::WaitRecommendation { .. } => counts.wait_recommendations += 1,
                GgrsEvent::DesyncDetected { .. } => counts.desyncs_detected += 1,
            }
        }
    }

    /// Frames the spectator is behind the host.
    pub fn frames_behind_host(&self) -> usize {
        self.session.frames_behind_host()
    }

    /// The current game state.
    pub fn game(&self) -> &G {
        &self.core.game
    }

    /// The frame the current state is at.
    pub fn current_frame(&self) -> Frame {
        self.core.frame
    }

    /// Statistics so far.
    pub fn stats(&self) -> &RollbackStats {
        &self.core.stats
    }

    /// Checksums of every simulated frame (a spectator only simulates confirmed inputs),
    /// comparable with the players' confirmed logs.
    pub fn confirmed_checksums(&self) -> &ConfirmedLog {
        &self.core.log
    }

    /// Whether the host disconnected.
    pub fn is_disconnected(&self) -> bool {
        self.disconnected
    }
}

/// Replay recording (see `record.rs`).
impl<G, A> SpectatorRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// Starts recording the frames the spectator simulates (all confirmed). Call before
    /// the first [`advance`](Self::advance). `input_delay` and `fps` are the players'
    /// session settings, written into the header.
    pub fn start_recording(
        &mut self,
        input_delay: usize,
        fps: u32,
        settings: crate::replay::RecordSettings,
    ) -> Result<(), RunnerError> {
        self.core
            .start_recording(2, input_delay, fps, None, settings)
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
