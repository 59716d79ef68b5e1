//! Watching a replay: [`Playback`] (state per frame, seek through snapshots taken while
//! loading, per-checksum match flags) and [`PlaybackControl`] (pause, single step, speed),
//! both without any windowing code so the window only draws.

use std::time::Duration;

use ggrs::InputStatus;

use super::codec::ReplayError;
use super::format::Replay;
use super::verify::{initial_state, run_frames};
use crate::game::Game;

/// Default distance between the snapshots taken while loading: 5 s at 60 fps.
pub const DEFAULT_SNAPSHOT_EVERY: u32 = 300;

/// A replay loaded for watching: simulated once on load (taking a snapshot every
/// `snapshot_every` frames and checking every recorded checksum), then stepped and seeked.
///
/// ```
/// # use rollback::fighter::{FighterGame, FighterInput};
/// # use rollback::replay::{EndReason, Playback, RecordSettings, ReplayRecorder};
/// # use rollback::Game;
/// # use ggrs::InputStatus;
/// # let mut g = FighterGame::new(1);
/// # let mut rec = ReplayRecorder::for_game(&g, 2, 2, 60, RecordSettings::default());
/// # rec.record_frame(0, g.checksum(), &[]);
/// # for f in 0..1200u32 {
/// #     let i = [FighterInput::new((f / 7 % 5) as u8), FighterInput::default()];
/// #     g.step(&i.map(|i| (i, InputStatus::Confirmed)));
/// #     rec.record_frame(f + 1, g.checksum(), &i);
/// # }
/// # let replay = rec.finish(EndReason::Completed);
/// let mut playback = Playback::<FighterGame>::load(replay)?;
/// assert_eq!(playback.mismatches(), 0);
/// playback.seek(900); // from the snapshot at 900, no re-simulation from 0
/// assert_eq!((playback.frame(), playback.state().frame), (900, 900));
/// playback.step();
/// assert_eq!(playback.checked_at_or_before(901), Some((900, true)));
/// # Ok::<(), rollback::replay::ReplayError>(())
/// ```
pub struct Playback<G: Game> {
    replay: Replay<G::Input>,
    snapshots: Vec<G>,
    snapshot_every: u32,
    /// `(frame, matched)` for every recorded checksum reached while loading.
    checks: Vec<(u32, bool)>,
    state: G,
    frame: u32,
    buf: Vec<(G::Input, InputStatus)>,
}

impl<G: Game> Playback<G> {
    /// Loads with [`DEFAULT_SNAPSHOT_EVERY`].
    pub fn load(replay: Replay<G::Input>) -> Result<Self, ReplayError> {
        Self::with_snapshot_every(replay, DEFAULT_SNAPSHOT_EVERY)
    }

    /// Loads, taking a snapshot every `every` frames (≥ 1).
    pub fn with_snapshot_every(replay: Replay<G::Input>, every: u32) -> Result<Self, ReplayError> {
        let every = every.max(1);
        let initial = initial_state::<G>(&replay)?;
        let frames = replay.frames().min(replay.end.frames);
        let mut checks = Vec::new();
        let mut snapshots = vec![initial.clone()];
        let mut game = initial.clone();
        let mut pending = replay.all_checksums().into_iter().peekable();
        let mut buf = Vec::with_capacity(replay.players());
        for f in 0..=frames {
            if f > 0 && f % every == 0 {
                snapshots.push(game.clone());
            }
            while let Some(&(cf, sum)) = pending.peek() {
                if cf > f {
                    break;
                }
                if cf == f {
                    checks.push((f, game.checksum() == sum));
                }
                pending.next();
            }
            if f < frames && run_frames(&mut game, &replay, f, f + 1, &mut buf) != f + 1 {
                break;
            }
        }
        Ok(Self {
            replay,
            snapshots,
            snapshot_every: every,
            checks,
            state: initial,
            frame: 0,
            buf,
        })
    }

    /// The replay.
    pub fn replay(&self) -> &Replay<G::Input> {
        &self.replay
    }

    /// The current frame.
    pub fn frame(&self) -> u32 {
        self.frame
    }

    /// The last frame (the state after the last input).
    pub fn frames(&self) -> u32 {
        self.replay.frames().min(self.replay.end.frames)
    }

    /// The state at the current frame.
    pub fn state(&self) -> &G {
        &self.state
    }

    /// Frames per second of the recording.
    pub fn fps(&self) -> u32 {
        self.replay.header.fps.max(1)
    }

    /// Steps one frame; `false` at the end.
    pub fn step(&mut self) -> bool {
        if self.frame >= self.frames() {
            return false;
        }
        let next = self.frame + 1;
        if run_frames(
            &mut self.state,
            &self.replay,
            self.frame,
            next,
            &mut self.buf,
        ) != next
        {
            return false;
        }
        self.frame = next;
        true
    }

    /// Jumps to `frame` (clamped to the replay): restores the nearest snapshot at or
    /// before it and simulates at most `snapshot_every - 1` frames.
    pub fn seek(&mut self, frame: u32) {
        let frame = frame.min(self.frames());
        if frame < self.frame || frame - self.frame >= self.snapshot_every {
            let idx = (frame / self.snapshot_every) as usize;
            let idx = idx.min(self.snapshots.len().saturating_sub(1));
            if let Some(s) = self.snapshots.get(idx) {
                self.state = s.clone();
                self.frame = idx as u32 * self.snapshot_every;
            }
        }
        while self.frame < frame && self.step() {}
    }

    /// Seeks by `seconds` (negative = back).
    pub fn seek_by_secs(&mut self, seconds: i32) {
        let delta = i64::from(seconds) * i64::from(self.fps());
        let target = (i64::from(self.frame) + delta).clamp(0, i64::from(self.frames()));
        self.seek(target as u32);
    }

    /// Whether the recorded checksum at `frame` matched on load (`None` if there is none).
    pub fn checksum_matched(&self, frame: u32) -> Option<bool> {
        self.checks
            .binary_search_by_key(&frame, |(f, _)| *f)
            .ok()
            .and_then(|i| self.checks.get(i))
            .map(|(_, ok)| *ok)
    }

    /// The last recorded checksum at or before `frame`, and whether it matched.
    pub fn checked_at_or_before(&self, frame: u32) -> Option<(u32, bool)> {
        let i = self.checks.partition_point(|(f, _)| *f <= frame);
        i.checked_sub(1).and_then(|i| self.checks.get(i)).copied()
    }

    /// Recorded checksums that did not match.
    pub fn mismatches(&self) -> usize {
        self.checks.iter().filter(|(_, ok)| !ok).count()
    }

    /// Recorded checksums checked while loading.
    pub fn checks(&self) -> &[(u32, bool)] {
        &self.checks
    }
}

/// Playback speeds, slowest first.
pub const SPEEDS: [(u32, u32); 5] = [(1, 4), (1, 2), (1, 1), (2, 1), (4, 1)];
/// Index of 1x in [`SPEEDS`].
pub const NORMAL_SPEED: usize = 2;

/// Pause, single step and speed (0.25x to 4x) of a playback, on any clock: feed elapsed
/// time to [`PlaybackControl::frames_due`] and step that many frames.
#[derive(Debug, Clone)]
pub struct PlaybackControl {
    speed: usize,
    paused: bool,
    step_requested: bool,
    /// Scaled time not yet turned into frames, ns.
    carry_ns: u128,
    frame_ns: u128,
}

impl PlaybackControl {
    /// A control for `fps`, playing at 1x.
    pub fn new(fps: u32) -> Self {
        Self {
            speed: NORMAL_SPEED,
            paused: false,
            step_requested: false,
            carry_ns: 0,
            frame_ns: 1_000_000_000 / u128::from(fps.max(1)),
        }
    }

    /// Toggles pause.
    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        self.carry_ns = 0;
    }

    /// Whether paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// While paused: advance exactly one frame at the next [`frames_due`](Self::frames_due).
    pub fn request_step(&mut self) {
        self.paused = true;
        self.step_requested = true;
    }

    /// One speed step faster (up to 4x).
    pub fn faster(&mut self) {
        self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
    }

    /// One speed step slower (down to 0.25x).
    pub fn slower(&mut self) {
        self.speed = self.speed.saturating_sub(1);
    }

    /// The speed as a factor.
    pub fn speed(&self) -> f32 {
        let (n, d) = SPEEDS.get(self.speed).copied().unwrap_or((1, 1));
        n as f32 / d as f32
    }

    /// Frames to simulate for `elapsed` wall time.
    pub fn frames_due(&mut self, elapsed: Duration) -> u32 {
        if self.paused {
            return u32::from(std::mem::take(&mut self.step_requested));
        }
        let (n, d) = SPEEDS.get(self.speed).copied().unwrap_or((1, 1));
        self.carry_ns += elapsed.as_nanos() * u128::from(n) / u128::from(d);
        let frames = self.carry_ns / self.frame_ns;
        self.carry_ns %= self.frame_ns;
        // never more than a quarter second of catch-up at once
        u32::try_from(frames).unwrap_or(u32::MAX).min(60)
    }
}
