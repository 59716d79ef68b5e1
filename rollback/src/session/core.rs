//! Request handling and bookkeeping shared by all runners.

use std::collections::VecDeque;
use std::time::Instant;

use ggrs::{Frame, GgrsRequest, InputStatus};
use serde::Serialize;

use super::RunnerError;
use crate::game::Game;
use crate::stats::RollbackStats;

/// A ggrs-reported (or our own) checksum mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesyncEvent {
    /// The frame whose checksums differ.
    pub frame: Frame,
    /// Our checksum.
    pub local_checksum: u128,
    /// The remote's checksum.
    pub remote_checksum: u128,
}

/// Checksums of confirmed frames, contiguous from `first_frame` (older ones are dropped
/// beyond the configured limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmedLog {
    first_frame: Frame,
    checksums: VecDeque<u128>,
    limit: usize,
}

impl ConfirmedLog {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            first_frame: 0,
            checksums: VecDeque::new(),
            limit: limit.max(1),
        }
    }

    /// The next frame to be logged.
    pub fn next_frame(&self) -> Frame {
        self.first_frame + self.checksums.len() as Frame
    }

    /// Last logged frame and its checksum.
    pub fn last(&self) -> Option<(Frame, u128)> {
        self.checksums.back().map(|c| (self.next_frame() - 1, *c))
    }

    /// Checksum of the state at the start of `frame`, if logged.
    pub fn checksum_at(&self, frame: Frame) -> Option<u128> {
        let idx = usize::try_from(frame - self.first_frame).ok()?;
        self.checksums.get(idx).copied()
    }

    /// Number of logged frames.
    pub fn len(&self) -> usize {
        self.checksums.len()
    }

    /// Whether nothing is logged yet.
    pub fn is_empty(&self) -> bool {
        self.checksums.is_empty()
    }

    /// `(frame, checksum)` pairs in frame order.
    pub fn iter(&self) -> impl Iterator<Item = (Frame, u128)> + '_ {
        let first = self.first_frame;
        self.checksums
            .iter()
            .enumerate()
            .map(move |(i, c)| (first + i as Frame, *c))
    }

    /// Drops the checksums of frames after `frame`.
    pub(crate) fn truncate_after(&mut self, frame: Frame) {
        let keep = usize::try_from(frame + 1 - self.first_frame).unwrap_or(0);
        self.checksums.truncate(keep);
    }

    fn push(&mut self, checksum: u128) {
        self.checksums.push_back(checksum);
        if self.checksums.len() > self.limit {
            self.checksums.pop_front();
            self.first_frame += 1;
        }
    }
}

/// What one batch of requests did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchResult {
    /// First-time frames simulated.
    pub new_frames: u32,
    /// Frames re-simulated after a load.
    pub rollback_depth: u32,
}

/// Game, stats, snapshot ring and confirmed log of one runner.
pub(crate) struct SessionCore<G: Game> {
    pub game: G,
    /// Frame the current `game` state is at (number of steps from the start).
    pub frame: Frame,
    /// Highest frame ever reached.
    pub max_frame: Frame,
    /// Game frame of the ggrs session's frame 0 (non-zero after a restart from a
    /// confirmed frame): ggrs's frame numbers plus this are game frames.
    pub offset: Frame,
    pub stats: RollbackStats,
    pub log: ConfirmedLog,
    ring: Vec<Option<(Frame, u128, G)>>,
    /// Time one call in `sample_every` (0 = never).
    sample_every: u32,
    calls: u64,
    /// Whether the current call is timed.
    timing: bool,
    /// Raw ns spent in the game during the current timed call.
    call_inside_ns: u64,
    log_steps: bool,
    /// Replay recording (see `record.rs`); `None` when off.
    pub(crate) recording: Option<super::record::Recording<G::Input>>,
    /// Confirmed-input feed for mid-match spectators (see `feed.rs`); `None` when off.
    pub(crate) feed: Option<super::feed::ConfirmedFeed<G::Input>>,
}

impl<G: Game> SessionCore<G> {
    pub fn new(game: G, ring: usize, log_limit: usize, sample_every: u32) -> Self {
        Self {
            game,
            frame: 0,
            max_frame: 0,
            offset: 0,
            stats: RollbackStats::new(),
            log: ConfirmedLog::new(log_limit),
            ring: vec![None; ring.max(2)],
            sample_every,
            calls: 0,
            timing: false,
            call_inside_ns: 0,
            log_steps: false,
            recording: None,
            feed: None,
        }
    }

    /// Starts one runner call; returns the start time if this call is sampled for timing.
    pub fn begin_call(&mut self) -> Option<Instant> {
        self.calls += 1;
        self.timing =
            self.sample_every > 0 && self.calls.is_multiple_of(u64::from(self.sample_every));
        self.call_inside_ns = 0;
        self.timing.then(Instant::now)
    }

    /// Ends a call started with [`begin_call`](Self::begin_call): the time not spent in
    /// the game is engine time (scaled by the sampling rate, like the game times).
    pub fn end_call(&mut self, started: Option<Instant>) {
        if let Some(t) = started {
            let total = t.elapsed().as_nanos() as u64;
            let engine = total.saturating_sub(self.call_inside_ns);
            self.stats.engine_ns += engine * u64::from(self.sample_every);
        }
        self.timing = false;
    }

    fn add_time(&mut self, t: Option<Instant>, snapshot: bool) {
        if let Some(t) = t {
            let ns = t.elapsed().as_nanos() as u64;
            self.call_inside_ns += ns;
            let scaled = ns * u64::from(self.sample_every);
            if snapshot {
                self.stats.snapshot_ns += scaled;
            } else {
                self.stats.game_ns += scaled;
            }
        }
    }

    /// Logs the checksum after every first-time step (for spectators, which only simulate
    /// confirmed frames and never save).
    pub fn enable_step_logging(&mut self) {
        self.log_steps = true;
        if self.log.is_empty() && self.frame == 0 {
            self.log_confirmed(self.game.checksum());
        }
    }

    fn slot(&self, frame: Frame) -> usize {
        (frame.rem_euclid(self.ring.len() as Frame)) as usize
    }

    /// The saved state of `frame`, if still in the ring.
    pub fn state_at(&self, frame: Frame) -> Option<&G> {
        match self.ring.get(self.slot(frame))? {
            Some((f, _, g)) if *f == frame => Some(g),
            _ => None,
        }
    }

    /// Serves ggrs requests in order.
    pub fn handle<C>(&mut self, requests: Vec<GgrsRequest<C>>) -> Result<BatchResult, RunnerError>
    where
        C: ggrs::Config<State = G, Input = G::Input>,
    {
        let mut out = BatchResult::default();
        for req in requests {
            match req {
                GgrsRequest::SaveGameState { cell, frame } => {
                    let t = self.timing.then(Instant::now);
                    let checksum = self.game.checksum();
                    cell.save(frame, Some(self.game.clone()), Some(checksum));
                    let frame = frame + self.offset;
                    let slot = self.slot(frame);
                    if let Some(s) = self.ring.get_mut(slot) {
                        *s = Some((frame, checksum, self.game.clone()));
                    }
                    self.stats.saves += 1;
                    self.add_time(t, true);
                }
                GgrsRequest::LoadGameState { cell, frame } => {
                    let t = self.timing.then(Instant::now);
                    self.game = cell.load().ok_or(RunnerError::MissingSnapshot(frame))?;
                    let frame = frame + self.offset;
                    let depth = u32::try_from(self.frame - frame).unwrap_or(0);
                    self.stats.record_rollback(depth);
                    out.rollback_depth += depth;
                    self.frame = frame;
                    self.add_time(t, true);
                }
                GgrsRequest::AdvanceFrame { inputs } => {
                    if let Some(rec) = &mut self.recording {
                        rec.store_inputs(self.frame, &inputs);
                    }
                    if let Some(feed) = &mut self.feed {
                        feed.store_inputs(self.frame, &inputs);
                    }
                    let t = self.timing.then(Instant::now);
                    self.game.step(&inputs);
                    self.add_time(t, false);
                    self.frame += 1;
                    if self.frame > self.max_frame {
                        self.max_frame = self.frame;
                        out.new_frames += 1;
                        self.stats.frames += 1;
                        if inputs.iter().any(|(_, s)| *s == InputStatus::Predicted) {
                            self.stats.predicted_frames += 1;
                        }
                        if self.log_steps && self.log.next_frame() == self.frame {
                            self.log_confirmed(self.game.checksum());
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Restarts from the saved state of game frame `frame`: the state, the frame counters
    /// and the ggrs frame offset; confirmed checksums after `frame` are dropped (they are
    /// re-confirmed by the new session). `None` if the state is no longer saved.
    pub fn restart_at(&mut self, frame: Frame) -> Option<()> {
        let state = self.state_at(frame)?.clone();
        self.game = state;
        self.frame = frame;
        self.max_frame = frame;
        self.offset = frame;
        self.log.truncate_after(frame);
        Some(())
    }

    /// Logs checksums of saved frames up to `confirmed` (inclusive, and below the current
    /// frame), in order; stops at the first frame not in the ring.
    pub fn confirm_upto(&mut self, confirmed: Frame) {
        let upto = confirmed.min(self.frame - 1);
        while self.log.next_frame() <= upto {
            let f = self.log.next_frame();
            let Some(Some((sf, ck, _))) = self.ring.get(self.slot(f)) else {
                break;
            };
            if *sf != f {
                break;
            }
            let ck = *ck;
            self.log_confirmed(ck);
        }
    }

    /// Appends the checksum of the next confirmed frame to the log (and the recording).
    fn log_confirmed(&mut self, checksum: u128) {
        if let Some(rec) = &mut self.recording {
            rec.confirm(self.log.next_frame(), checksum);
        }
        if let Some(feed) = &mut self.feed {
            feed.confirm(self.log.next_frame(), checksum);
        }
        self.log.push(checksum);
    }

    /// Length of the state ring.
    pub(crate) fn ring_len(&self) -> usize {
        self.ring.len()
    }
}
