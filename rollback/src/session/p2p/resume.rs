//! Riding out a cut and restarting from a confirmed frame; the input delay that tunes
//! itself. (Methods of [`P2PRunner`] kept apart from the frame loop.)

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use ggrs::{Frame, NonBlockingSocket};

use super::{build_session, P2PRunner};
use crate::game::Game;
use crate::session::link::{LinkState, LinkStatus, LinkWatch, WatchEvent};
use crate::session::{auto_input_delay, RunnerError, MAX_INPUT_DELAY};

impl<G, A> P2PRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// The delay to use now: measured (auto) or the configured one.
    pub(super) fn pick_input_delay(&self) -> usize {
        match (self.config.auto_input_delay, self.tap.rtt()) {
            (true, Some((rtt, jitter, _))) => auto_input_delay(rtt, jitter, self.config.fps),
            _ => self.config.input_delay,
        }
    }

    /// With `auto_input_delay`, picks the delay again from the latest RTT samples and
    /// applies it (call between rounds: a lower delay drops the local inputs of the frames
    /// it skips, a higher one repeats the last input). Returns the delay in effect.
    pub fn retune_input_delay(&mut self) -> Result<usize, RunnerError> {
        if self.config.auto_input_delay && self.delay_applied && self.is_running() {
            let delay = self.pick_input_delay();
            if delay != self.core.stats.input_delay {
                self.set_input_delay(delay)?;
                tracing::info!(delay, frame = self.core.frame, "input delay re-tuned");
            }
        }
        Ok(self.core.stats.input_delay)
    }

    /// Sets the local input delay now, e.g. between rounds with a rule of your own. Both
    /// peers stay in sync whatever each one picks (each delays only its own inputs). A
    /// lower delay drops the local inputs of the frames it skips; a higher one repeats the
    /// last input. Before the handshake is done, it only replaces the configured delay.
    pub fn set_input_delay(&mut self, delay: usize) -> Result<(), RunnerError> {
        if delay > MAX_INPUT_DELAY {
            return Err(RunnerError::InvalidConfig(format!(
                "input_delay must be <= {MAX_INPUT_DELAY}, got {delay}"
            )));
        }
        if !self.delay_applied {
            self.config.input_delay = delay;
            self.config.auto_input_delay = false;
            return Ok(());
        }
        self.session.set_input_delay(self.local_player, delay)?;
        self.core.stats.input_delay = delay;
        Ok(())
    }

    /// The input delay in effect, frames.
    pub fn input_delay(&self) -> usize {
        self.core.stats.input_delay
    }

    /// Round-trip time to the opponent and its jitter, measured on the runner's clock from
    /// ggrs's probes (`None` before the first sample).
    pub fn measured_rtt(&self) -> Option<(Duration, Duration)> {
        self.tap.rtt().map(|(rtt, jitter, _)| (rtt, jitter))
    }

    /// Feeds the link watch: packets received, the transport's state, our clock.
    pub(super) fn watch_link(&mut self) {
        if self.ended.is_some() || !self.is_running() {
            return;
        }
        let state = self
            .link_status
            .as_ref()
            .map_or(LinkState::Up, LinkStatus::get);
        let received = self.tap.received_from_remote();
        match self.watch.observe(self.clock.now(), received, state) {
            WatchEvent::None => {}
            WatchEvent::Interrupted => {
                tracing::warn!(frame = self.core.frame, "link interrupted: riding it out");
                self.core.stats.record_interruption();
            }
            WatchEvent::Resumed(after) => {
                let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
                tracing::info!(ms, frame = self.core.frame, "link resumed");
                self.core.stats.record_resume(ms);
            }
            WatchEvent::End(reason) => {
                tracing::warn!(%reason, frame = self.core.frame, "match ended");
                self.ended = Some(reason);
            }
        }
    }

    /// The latest game frame this runner can restart from: its last confirmed frame whose
    /// state is still saved (`None` before the first confirmed frame). Two peers whose
    /// ggrs session cannot continue exchange their resume points (e.g. through the
    /// signaling server) and both call [`restart_from`](Self::restart_from) with the
    /// smaller one.
    pub fn resume_point(&self) -> Option<Frame> {
        let (frame, _) = self.core.log.last()?;
        self.core.state_at(frame).map(|_| frame)
    }

    /// Starts a new ggrs session over `socket` from the confirmed state of game `frame`
    /// (no state transfer: both peers hold it, the game is deterministic). Game frames go
    /// on from `frame` (ggrs counts from 0 again, the runner adds the offset); confirmed
    /// checksums after `frame` are dropped and confirmed again. Spectators are not carried
    /// over. The new session synchronizes first, like a new match.
    pub fn restart_from(
        &mut self,
        frame: Frame,
        socket: impl NonBlockingSocket<A> + 'static,
        remote_addr: A,
    ) -> Result<(), RunnerError> {
        if self.resume_point().is_none_or(|p| frame > p) || self.core.state_at(frame).is_none() {
            return Err(RunnerError::CannotRestart(frame));
        }
        let (session, tap, trick) = build_session::<G, A>(
            &self.config,
            Box::new(socket),
            self.local_player,
            remote_addr,
            Vec::new(),
            self.clock.clone(),
        )?;
        self.core
            .restart_at(frame)
            .ok_or(RunnerError::CannotRestart(frame))?;
        self.session = session;
        self.tap = tap;
        self.delay_applied = !trick;
        let now = self.clock.now();
        self.stall_since = None;
        self.last_retransmit = now;
        self.last_sync_progress = now;
        self.watch = LinkWatch::new(now, self.config.resume_timeout);
        self.ended = None;
        self.core.stats.restarts = self.core.stats.restarts.saturating_add(1);
        tracing::info!(frame, "ggrs session restarted from a confirmed frame");
        Ok(())
    }

    /// ggrs's frame `frame` as a game frame.
    pub(super) fn game_frame(&self, frame: Frame) -> Frame {
        frame + self.core.offset
    }
}
