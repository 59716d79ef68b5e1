//! [`SpectatorFollower`]: the watcher side of a mid-match spectator (sans-IO).
//!
//! Feed it every message from the host ([`SpectatorFollower::handle`]) and call
//! [`SpectatorFollower::tick`] once a frame. The first message is the snapshot: its state
//! is restored and checked against its checksum. Steps are queued (bounded); each tick
//! simulates them up to [`FollowerConfig::delay_frames`] behind the newest one received,
//! at most [`FollowerConfig::max_steps_per_tick`] at a time: far behind (just joined) it
//! catches up faster than real time, then it follows at the fixed delay. Every step's
//! checksum is compared with the host's. Once the end arrived the delay no longer
//! applies and the follower runs to the players' final frame.

use std::collections::VecDeque;

use ggrs::{Frame, InputStatus};
use serde::Serialize;

use super::wire::SpectatorMessage;
use super::SpectateError;
use crate::game::Game;
use crate::session::ConfirmedStep;

/// Default delay behind the newest confirmed step, in frames (100 ms at 60 fps).
pub const DEFAULT_FOLLOW_DELAY: u32 = 6;
/// Default most steps simulated per tick while catching up (16× real time).
pub const DEFAULT_CATCH_UP_STEPS: u32 = 16;
/// Default bound of the queue of received steps not simulated yet.
pub const DEFAULT_MAX_PENDING: usize = 4096;

/// Settings of a [`SpectatorFollower`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerConfig {
    /// Frames kept behind the newest received step ([`DEFAULT_FOLLOW_DELAY`]).
    pub delay_frames: u32,
    /// Most steps per tick ([`DEFAULT_CATCH_UP_STEPS`]).
    pub max_steps_per_tick: u32,
    /// Most received steps waiting ([`DEFAULT_MAX_PENDING`]).
    pub max_pending: usize,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        Self {
            delay_frames: DEFAULT_FOLLOW_DELAY,
            max_steps_per_tick: DEFAULT_CATCH_UP_STEPS,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Figures of one spectator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FollowerStats {
    /// The frame of the snapshot it started from.
    pub joined_at: Frame,
    /// Frames simulated.
    pub frames: u64,
    /// Ticks that simulated more than one frame (catching up).
    pub catch_up_ticks: u64,
    /// Ticks from the snapshot until it first was within the delay.
    pub ticks_to_catch_up: u64,
    /// Most frames it was behind the newest received step.
    pub max_behind: u64,
    /// Messages received.
    pub messages: u64,
    /// Steps received that were already simulated (duplicates, ignored).
    pub duplicates: u64,
}

/// A spectator following a host's stream (see the module docs).
#[derive(Debug)]
pub struct SpectatorFollower<G: Game> {
    config: FollowerConfig,
    game: Option<G>,
    frame: Frame,
    pending: VecDeque<ConfirmedStep<G::Input>>,
    end: Option<(Frame, u128)>,
    caught_up: bool,
    ticks: u64,
    stats: FollowerStats,
}

impl<G: Game> SpectatorFollower<G> {
    /// A follower waiting for its snapshot.
    pub fn new(config: FollowerConfig) -> Self {
        Self {
            config,
            game: None,
            frame: 0,
            pending: VecDeque::new(),
            end: None,
            caught_up: false,
            ticks: 0,
            stats: FollowerStats::default(),
        }
    }

    /// Handles one message from the host. An error is final: the stream cannot be
    /// followed (bad or foreign snapshot, checksum mismatch, gap, overflow).
    pub fn handle(&mut self, bytes: &[u8]) -> Result<(), SpectateError> {
        self.stats.messages = self.stats.messages.saturating_add(1);
        match SpectatorMessage::<G::Input>::decode(bytes)? {
            SpectatorMessage::Snapshot(snap) => {
                if self.game.is_some() {
                    return Err(SpectateError::Malformed("second snapshot".into()));
                }
                let game = snap.restore::<G>()?;
                self.frame = Frame::try_from(snap.frame)
                    .map_err(|_| SpectateError::Malformed("snapshot frame".into()))?;
                self.stats.joined_at = self.frame;
                self.game = Some(game);
            }
            SpectatorMessage::Step(step) => {
                if self.game.is_none() {
                    return Err(SpectateError::Malformed("step before the snapshot".into()));
                }
                let expected = self.pending.back().map_or(self.frame, |s| s.frame + 1);
                if step.frame < expected {
                    self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                    return Ok(());
                }
                if step.frame > expected {
                    return Err(SpectateError::Gap {
                        expected,
                        got: step.frame,
                    });
                }
                if self.pending.len() >= self.config.max_pending {
                    return Err(SpectateError::Overflow(self.config.max_pending));
                }
                self.pending.push_back(step);
            }
            SpectatorMessage::End { frame, checksum } => {
                let frame = Frame::try_from(frame)
                    .map_err(|_| SpectateError::Malformed("end frame".into()))?;
                if self.game.is_some() && frame < self.frame {
                    return Err(SpectateError::Malformed("end before the snapshot".into()));
                }
                self.end = Some((frame, checksum));
            }
        }
        Ok(())
    }

    /// Simulates the steps due this tick (see the module docs); returns how many.
    pub fn tick(&mut self) -> Result<u32, SpectateError> {
        let Some(game) = self.game.as_mut() else {
            return Ok(0);
        };
        self.ticks += 1;
        let newest = self.pending.back().map_or(self.frame, |s| s.frame + 1);
        let behind = u64::try_from(newest - self.frame).unwrap_or(0);
        self.stats.max_behind = self.stats.max_behind.max(behind);
        let target = match self.end {
            Some((end, _)) => end.min(newest),
            None => newest - self.config.delay_frames as Frame,
        };
        let mut steps = 0;
        while self.frame < target && steps < self.config.max_steps_per_tick {
            let Some(step) = self.pending.pop_front() else {
                break;
            };
            let inputs: Vec<_> = step
                .inputs
                .iter()
                .map(|i| (*i, InputStatus::Confirmed))
                .collect();
            game.step(&inputs);
            self.frame += 1;
            steps += 1;
            let actual = game.checksum();
            if actual != step.checksum {
                return Err(SpectateError::Desync {
                    frame: self.frame,
                    expected: step.checksum,
                    actual,
                });
            }
        }
        self.stats.frames += u64::from(steps);
        if steps > 1 {
            self.stats.catch_up_ticks += 1;
        }
        if !self.caught_up && self.frame >= target {
            self.caught_up = true;
            self.stats.ticks_to_catch_up = self.ticks;
        }
        if let Some((end, checksum)) = self.end {
            if self.frame == end && game.checksum() != checksum {
                return Err(SpectateError::Desync {
                    frame: end,
                    expected: checksum,
                    actual: game.checksum(),
                });
            }
        }
        Ok(steps)
    }

    /// Whether the snapshot arrived.
    pub fn has_joined(&self) -> bool {
        self.game.is_some()
    }

    /// Whether it reached the players' final frame (its checksum matched).
    pub fn is_finished(&self) -> bool {
        matches!(self.end, Some((end, _)) if self.game.is_some() && self.frame == end)
    }

    /// The frame the state is at.
    pub fn current_frame(&self) -> Frame {
        self.frame
    }

    /// The current state (`None` before the snapshot).
    pub fn game(&self) -> Option<&G> {
        self.game.as_ref()
    }

    /// Checksum of the current state.
    pub fn checksum(&self) -> Option<u128> {
        self.game.as_ref().map(Game::checksum)
    }

    /// The players' final frame and checksum, once the end arrived.
    pub fn end(&self) -> Option<(Frame, u128)> {
        self.end
    }

    /// Figures so far.
    pub fn stats(&self) -> &FollowerStats {
        &self.stats
    }
}
