//! [`P2PRunner`]: a two-player ggrs P2P session over any socket.

use std::fmt::Debug;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ggrs::{
    Frame, GgrsError, GgrsEvent, NonBlockingSocket, P2PSession, PlayerType, SessionBuilder,
    SessionState,
};

use super::core::{ConfirmedLog, DesyncEvent, SessionCore};
use super::link::{EndReason, LinkStatus, LinkWatch};
use super::tap::{tap, Tap};
use super::{FrameOutcome, GgrsConfig, RunnerConfig, RunnerError};
use crate::clock::{SharedClock, WallClock};
use crate::desync;
use crate::game::Game;
use crate::stats::{NetworkFigures, RollbackStats};
use crate::wire::MessageKind;

mod feed;
mod resume;

/// Optional settings of a [`P2PRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions<A> {
    /// Clock for retransmission timing (default: the wall clock). Use the simulator's
    /// virtual clock in simulations.
    pub clock: Option<SharedClock>,
    /// Spectators to stream confirmed inputs to.
    pub spectators: Vec<A>,
    /// The transport's view of the link (see [`LinkStatus`]); `None` for transports that
    /// only carry packets (UDP, the simulator): silence alone is watched then.
    pub link_status: Option<LinkStatus>,
}

impl<A> Default for RunnerOptions<A> {
    fn default() -> Self {
        Self {
            clock: None,
            spectators: Vec::new(),
            link_status: None,
        }
    }
}

/// Drives a two-player [`Game`] over a ggrs P2P session.
///
/// Loop: [`poll`](Self::poll) often (at least once a frame), then, once
/// [`is_running`](Self::is_running), call [`advance`](Self::advance) with the local input
/// every [`frame_interval`](Self::frame_interval).
pub struct P2PRunner<G: Game, A>
where
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    session: P2PSession<GgrsConfig<G, A>>,
    tap: Tap<A>,
    core: SessionCore<G>,
    config: RunnerConfig,
    local_player: usize,
    remote_player: usize,
    clock: SharedClock,
    delay_applied: bool,
    stall_since: Option<Duration>,
    last_retransmit: Duration,
    last_sync_progress: Duration,
    watch: LinkWatch,
    link_status: Option<LinkStatus>,
    ended: Option<EndReason>,
    desyncs: Vec<DesyncEvent>,
    desyncs_taken: usize,
}

/// A type-erased ggrs socket.
pub type BoxedSocket<A> = Box<dyn NonBlockingSocket<A>>;

impl<G, A> P2PRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// A runner for `local_player` (0 or 1) playing against `remote_addr`, starting from
    /// `game`, with the wall clock.
    pub fn new(
        config: RunnerConfig,
        game: G,
        socket: impl NonBlockingSocket<A> + 'static,
        local_player: usize,
        remote_addr: A,
    ) -> Result<Self, RunnerError> {
        Self::with_options(
            config,
            game,
            socket,
            local_player,
            remote_addr,
            RunnerOptions::default(),
        )
    }

    /// Like [`new`](Self::new) with [`RunnerOptions`].
    pub fn with_options(
        config: RunnerConfig,
        game: G,
        socket: impl NonBlockingSocket<A> + 'static,
        local_player: usize,
        remote_addr: A,
        options: RunnerOptions<A>,
    ) -> Result<Self, RunnerError> {
        config.validate()?;
        if local_player > 1 {
            return Err(RunnerError::InvalidConfig(format!(
                "local_player must be 0 or 1, got {local_player}"
            )));
        }
        let remote_player = 1 - local_player;
        let clock = options.clock.unwrap_or_else(|| WallClock::new().shared());
        let built = build_session::<G, A>(
            &config,
            Box::new(socket),
            local_player,
            remote_addr,
            options.spectators,
            clock.clone(),
        )?;
        let (session, tap, delay_trick) = built;
        let builder_delay = if delay_trick { 0 } else { config.input_delay };
        let now = clock.now();
        let watch = LinkWatch::new(now, config.resume_timeout);
        let mut core = SessionCore::new(
            game,
            config.state_ring,
            config.checksum_log,
            config.time_sample_every,
        );
        core.stats.input_delay = builder_delay;
        Ok(Self {
            session,
            tap,
            core,
            config,
            local_player,
            remote_player,
            clock,
            delay_applied: !delay_trick,
            stall_since: None,
            last_retransmit: now,
            last_sync_progress: now,
            watch,
            link_status: options.link_status,
            ended: None,
            desyncs: Vec::new(),
            desyncs_taken: 0,
        })
    }

    /// Receives and sends packets and handles ggrs events. Call at least once a frame,
    /// also while synchronizing.
    pub fn poll(&mut self) {
        if self.ended.is_some() {
            return;
        }
        self.session.poll_remote_clients();
        self.drain_events();
        self.watch_link();
        if self.session.current_state() == SessionState::Synchronizing {
            let now = self.clock.now();
            let interval = self.config.retransmit_interval;
            if !interval.is_zero()
                && now.saturating_sub(self.last_sync_progress) >= interval
                && now.saturating_sub(self.last_retransmit) >= interval
            {
                self.core.stats.retransmits += self.tap.retransmit(MessageKind::SyncRequest);
                self.last_retransmit = now;
            }
        }
    }

    /// Whether the handshake is done and frames can be advanced.
    pub fn is_running(&self) -> bool {
        self.session.current_state() == SessionState::Running
    }

    /// Advances one frame with the local input: polls the network (ggrs's `advance_frame`
    /// does), adds the input, serves every Save / Load / Advance request, handles events,
    /// updates statistics and the confirmed log. While running, a separate [`poll`](Self::poll)
    /// right before `advance` is therefore optional.
    pub fn advance(&mut self, local_input: G::Input) -> Result<FrameOutcome, RunnerError> {
        if let Some(reason) = self.ended {
            return Ok(FrameOutcome::Ended(reason));
        }
        if !self.is_running() {
            return Ok(FrameOutcome::Synchronizing);
        }
        let started = self.core.begin_call();
        let result = self.advance_inner(local_input);
        self.core.end_call(started);
        result
    }

    fn advance_inner(&mut self, local_input: G::Input) -> Result<FrameOutcome, RunnerError> {
        // frame 0 gets the default input; then the real delay is switched on (module docs)
        let input = if self.session.current_frame() == 0 && !self.delay_applied {
            G::Input::default()
        } else {
            if !self.delay_applied {
                let delay = self.pick_input_delay();
                self.session.set_input_delay(self.local_player, delay)?;
                self.core.stats.input_delay = delay;
                self.delay_applied = true;
                self.refresh_network_stats();
            }
            local_input
        };
        self.session.add_local_input(self.local_player, input)?;
        let batch = match self.session.advance_frame() {
            Ok(requests) => self.core.handle(requests)?,
            Err(GgrsError::PredictionThreshold) => Default::default(),
            Err(GgrsError::NotSynchronized) => return Ok(FrameOutcome::Synchronizing),
            Err(e) => return Err(e.into()),
        };
        self.drain_events();
        self.watch_link();
        self.core
            .confirm_upto(self.game_frame(self.session.confirmed_frame()));
        if self.core.max_frame % 60 == 0 {
            self.refresh_network_stats();
        }
        if let Some(reason) = self.ended {
            return Ok(FrameOutcome::Ended(reason));
        }
        if batch.new_frames > 0 {
            self.stall_since = None;
            if self.session.frames_ahead() > 0 {
                self.core.stats.slowed_frames += 1;
            }
            Ok(FrameOutcome::Advanced {
                frame: self.core.frame,
                rollback_depth: batch.rollback_depth,
            })
        } else {
            self.on_stall();
            Ok(FrameOutcome::Stalled {
                rollback_depth: batch.rollback_depth,
            })
        }
    }

    fn on_stall(&mut self) {
        self.core.stats.stalls += 1;
        let now = self.clock.now();
        let since = *self.stall_since.get_or_insert(now);
        let interval = self.config.retransmit_interval;
        if !interval.is_zero()
            && now.saturating_sub(since) >= interval
            && now.saturating_sub(self.last_retransmit) >= interval
        {
            self.core.stats.retransmits += self.tap.retransmit(MessageKind::Input);
            self.last_retransmit = now;
        }
    }

    fn refresh_network_stats(&mut self) {
        if let Some((rtt, jitter, _)) = self.tap.rtt() {
            let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            self.core.stats.rtt_us = us(rtt);
            self.core.stats.rtt_jitter_us = us(jitter);
        }
        if let Ok(n) = self.session.network_stats(self.remote_player) {
            self.core.stats.network = NetworkFigures {
                ping_ms: u64::try_from(n.ping).unwrap_or(u64::MAX),
                send_queue_len: n.send_queue_len,
                local_frames_behind: n.local_frames_behind,
                remote_frames_behind: n.remote_frames_behind,
            };
        }
    }

    fn drain_events(&mut self) {
        let events: Vec<_> = self.session.events().collect();
        for event in events {
            let counts = &mut self.core.stats.events;
            match event {
                GgrsEvent::Synchronizing { .. } => {
                    counts.synchronizing += 1;
                    self.last_sync_progress = self.clock.now();
                }
                GgrsEvent::Synchronized { .. } => counts.synchronized += 1,
                GgrsEvent::NetworkInterrupted { .. } => counts.network_interrupted += 1,
                GgrsEvent::NetworkResumed { .. } => counts.network_resumed += 1,
                GgrsEvent::Disconnected { addr } => {
                    counts.disconnected += 1;
                    tracing::warn!(?addr, "ggrs declared the remote disconnected");
                    self.ended.get_or_insert(EndReason::Disconnected);
                }
                GgrsEvent::WaitRecommendation { .. } => counts.wait_recommendations += 1,
                GgrsEvent::DesyncDetected {
                    frame,
                    local_checksum,
                    remote_checksum,
                    ..
                } => {
                    counts.desyncs_detected += 1;
                    self.on_desync(self.game_frame(frame), local_checksum, remote_checksum);
                }
            }
        }
    }

    fn on_desync(&mut self, frame: Frame, local_checksum: u128, remote_checksum: u128) {
        tracing::error!(
            frame,
            local_checksum,
            remote_checksum,
            "desync detected by ggrs"
        );
        self.desyncs.push(DesyncEvent {
            frame,
            local_checksum,
            remote_checksum,
        });
    }

    /// Time until the next frame should run: `1/fps`, 10 % longer while ggrs reports us
    /// ahead of the remote (time sync).
    pub fn frame_interval(&self) -> Duration {
        let base = self.config.frame_duration();
        if self.session.frames_ahead() > 0 {
            base + base / 10
        } else {
            base
        }
    }

    /// Frames ggrs estimates we are ahead of the remote (averaged).
    pub fn frames_ahead(&self) -> i32 {
        self.session.frames_ahead()
    }

    /// Statistics so far.
    pub fn stats(&self) -> &RollbackStats {
        &self.core.stats
    }

    /// Checksums of confirmed frames.
    pub fn confirmed_checksums(&self) -> &ConfirmedLog {
        &self.core.log
    }

    /// The last frame whose inputs are confirmed for all players.
    pub fn confirmed_frame(&self) -> Frame {
        self.game_frame(self.session.confirmed_frame())
    }

    /// The current (possibly predicted) game state.
    pub fn game(&self) -> &G {
        &self.core.game
    }

    /// The frame the current state is at.
    pub fn current_frame(&self) -> Frame {
        self.core.frame
    }

    /// A recently saved state (at the start of `frame`), for desync diffs.
    pub fn state_at(&self, frame: Frame) -> Option<&G> {
        self.core.state_at(frame)
    }

    /// Desyncs reported by ggrs so far (all of them, including those already taken).
    pub fn desync_events(&self) -> &[DesyncEvent] {
        &self.desyncs
    }

    /// Desyncs reported by ggrs since the last call: the caller decides what to do with
    /// them, e.g. write the local state of each frame with [`write_state`](Self::write_state)
    /// while it is still in the ring (the runner itself never touches the file system).
    pub fn take_desync_events(&mut self) -> Vec<DesyncEvent> {
        let new = self
            .desyncs
            .get(self.desyncs_taken..)
            .unwrap_or_default()
            .to_vec();
        self.desyncs_taken = self.desyncs.len();
        new
    }

    /// Whether the match ended early (see [`end_reason`](Self::end_reason)).
    pub fn is_disconnected(&self) -> bool {
        self.ended.is_some()
    }

    /// Why the match ended early, if it did: the resume timeout passed, the transport
    /// closed the link, or (with resuming off) ggrs's disconnect timeout.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.ended
    }

    /// Whether the opponent is silent (≥ 1 s) or the link is being re-established.
    pub fn is_interrupted(&self) -> bool {
        self.watch.is_interrupted()
    }

    /// The local player handle.
    pub fn local_player(&self) -> usize {
        self.local_player
    }

    /// Packets sent and received (including retransmissions).
    pub fn packet_counters(&self) -> (u64, u64) {
        self.tap.counters()
    }

    /// Writes the saved local state of `frame` to `path` (readable field list).
    pub fn write_state(&self, path: &Path, frame: Frame) -> Result<bool, RunnerError> {
        match self.core.state_at(frame) {
            Some(state) => {
                desync::write_state(path, frame, state)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// A started ggrs session, the runner's half of its socket tap, and whether the start-delay
/// trick is used (no spectators).
type Built<G, A> = (P2PSession<GgrsConfig<G, A>>, Tap<A>, bool);

/// Builds and starts the ggrs session of a runner.
fn build_session<G, A>(
    config: &RunnerConfig,
    socket: BoxedSocket<A>,
    local_player: usize,
    remote_addr: A,
    spectators: Vec<A>,
    clock: SharedClock,
) -> Result<Built<G, A>, RunnerError>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    // the start-delay trick (module docs) cannot be used with spectators: ggrs sends
    // confirmed inputs to spectators before registering the frame's local input, and
    // the fill frames are not in the local queue yet at that point
    let delay_trick = spectators.is_empty();
    let builder_delay = if delay_trick { 0 } else { config.input_delay };
    let mut builder = SessionBuilder::<GgrsConfig<G, A>>::new()
        .with_num_players(2)?
        .with_max_prediction_window(config.max_prediction)
        .with_input_delay(builder_delay)
        .with_fps(config.fps as usize)?
        .with_desync_detection_mode(config.desync_detection())
        .with_disconnect_timeout(config.ggrs_disconnect_timeout())
        .with_disconnect_notify_delay(config.disconnect_notify)
        .add_player(PlayerType::Local, local_player)?
        .add_player(PlayerType::Remote(remote_addr.clone()), 1 - local_player)?;
    for (i, addr) in spectators.into_iter().enumerate() {
        builder = builder.add_player(PlayerType::Spectator(addr), 2 + i)?;
    }
    let (tapped, tap) = tap(socket, clock, remote_addr);
    let session = builder.start_p2p_session(tapped)?;
    Ok((session, tap, delay_trick))
}

/// Replay recording (see `record.rs`).
impl<G, A> P2PRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// Starts recording confirmed frames into a [`crate::replay::ReplayRecorder`]. Call
    /// before the first [`advance`](Self::advance).
    pub fn start_recording(
        &mut self,
        settings: crate::replay::RecordSettings,
    ) -> Result<(), RunnerError> {
        self.core.start_recording(
            2,
            self.config.input_delay,
            self.config.fps,
            u8::try_from(self.local_player).ok(),
            settings,
        )
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

    /// Adds the described state of a recent confirmed `frame` (and its checksum) to the
    /// recording, e.g. where a desync was found.
    pub fn note_recorded_state(&mut self, frame: Frame) {
        self.core.note_recorded_state(frame);
    }

    /// When recording: writes the replay up to now, with the described state and checksum
    /// of the desynced `frame`, as `dir/desync-p<player>-frame<frame>.replay` (next to the
    /// state file a caller writes for a desync event), and logs the one `replay diff`
    /// command to run on both peers' files. `Ok(None)` when not recording.
    pub fn write_desync_replay(
        &mut self,
        dir: &Path,
        frame: Frame,
    ) -> Result<Option<PathBuf>, crate::replay::ReadError> {
        self.core.note_recorded_state(frame);
        let Some(replay) = self.core.replay_snapshot(crate::replay::EndReason::Desync {
            frame: u32::try_from(frame).unwrap_or(0),
        }) else {
            return Ok(None);
        };
        let name = |p: usize| format!("desync-p{p}-frame{frame}.replay");
        let path = dir.join(name(self.local_player));
        crate::replay::write_file(&path, &replay)?;
        let theirs = dir.join(name(self.remote_player));
        tracing::error!(
            frame,
            replay = %path.display(),
            "desync: to find the first diverging frame and field, run: {}",
            crate::replay::diff_command(&path, &theirs)
        );
        Ok(Some(path))
    }
}
