//! [`ReplayRecorder`]: collects confirmed frames while a runner plays.

use super::format::{
    DescribedState, EndReason, Replay, ReplayEnd, ReplayHeader, DEFAULT_CHECKSUM_INTERVAL,
    MAX_FRAMES,
};
use crate::game::Game;

/// What a recording says about the match beyond what the runner knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Checksum interval K (≥ 1): frames 0, K, 2K, ... keep their checksum.
    pub checksum_interval: u32,
    /// The match seed (informational).
    pub seed: u64,
    /// Player names by handle.
    pub player_names: Vec<String>,
    /// Match id.
    pub match_id: String,
}

impl Default for RecordSettings {
    fn default() -> Self {
        Self {
            checksum_interval: DEFAULT_CHECKSUM_INTERVAL,
            seed: 0,
            player_names: Vec::new(),
            match_id: String::new(),
        }
    }
}

/// Records confirmed frames: the inputs that led into each frame and every K-th checksum.
///
/// Runners feed it (see `start_recording` on [`crate::P2PRunner`],
/// [`crate::SpectatorRunner`] and [`crate::SyncTestRunner`]); it can also be fed by hand:
///
/// ```
/// use ggrs::InputStatus;
/// use rollback::fighter::{FighterGame, FighterInput};
/// use rollback::replay::{self, EndReason, RecordSettings, ReplayRecorder};
/// use rollback::Game;
///
/// let mut game = FighterGame::new(7);
/// let mut rec = ReplayRecorder::for_game(&game, 2, 2, 60, RecordSettings::default());
/// rec.record_frame(0, game.checksum(), &[]);
/// for f in 0..600u32 {
///     let inputs = [FighterInput::new(FighterInput::RIGHT), FighterInput::default()];
///     game.step(&inputs.map(|i| (i, InputStatus::Confirmed)));
///     rec.record_frame(f + 1, game.checksum(), &inputs);
/// }
/// let bytes = replay::encode(&rec.finish(EndReason::Completed))?;
/// let replay = replay::decode_for::<FighterGame>(&bytes)?;
/// let report = replay::verify::<FighterGame>(&replay)?;
/// assert!(report.ok() && report.final_checksum == game.checksum());
/// # Ok::<(), replay::ReplayError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplayRecorder<I> {
    header: ReplayHeader,
    inputs: Vec<I>,
    checksums: Vec<(u32, u128)>,
    described: Vec<DescribedState>,
    /// The next frame whose checksum is expected.
    next_frame: u32,
    last_checksum: u128,
}

impl<I: Copy + Default> ReplayRecorder<I> {
    /// A recorder with a complete header.
    pub fn new(mut header: ReplayHeader) -> Self {
        header.checksum_interval = header.checksum_interval.max(1);
        header.players = header.players.max(1);
        Self {
            header,
            inputs: Vec::new(),
            checksums: Vec::new(),
            described: Vec::new(),
            next_frame: 0,
            last_checksum: 0,
        }
    }

    /// A recorder for a match of `initial` (the state at frame 0) with `players`
    /// players, `input_delay` and `fps`.
    pub fn for_game<G: Game<Input = I>>(
        initial: &G,
        players: usize,
        input_delay: usize,
        fps: u32,
        settings: RecordSettings,
    ) -> Self {
        Self::new(ReplayHeader {
            game_id: G::game_id(),
            game_version: G::version_hash(),
            players: u8::try_from(players).unwrap_or(u8::MAX),
            input_delay: u32::try_from(input_delay).unwrap_or(u32::MAX),
            fps,
            seed: settings.seed,
            initial_state: initial.initial_bytes(),
            player_names: settings.player_names,
            match_id: settings.match_id,
            checksum_interval: settings.checksum_interval,
            recorded_by: None,
        })
    }

    /// Sets which player recorded the match.
    pub fn set_recorded_by(&mut self, player: Option<u8>) {
        self.header.recorded_by = player;
    }

    /// The header.
    pub fn header(&self) -> &ReplayHeader {
        &self.header
    }

    /// Records the confirmed state at `frame`: its checksum and `inputs_into` (the inputs
    /// of frame `frame - 1`, one per player; ignored for frame 0). Frames must come in
    /// order from 0; anything else (or past [`MAX_FRAMES`]) is ignored.
    pub fn record_frame(&mut self, frame: u32, checksum: u128, inputs_into: &[I]) {
        if frame != self.next_frame || frame > MAX_FRAMES {
            return;
        }
        if frame > 0 {
            let players = usize::from(self.header.players);
            for p in 0..players {
                self.inputs
                    .push(inputs_into.get(p).copied().unwrap_or_default());
            }
        }
        if frame.is_multiple_of(self.header.checksum_interval) {
            match self.checksums.last() {
                Some((last, _)) if *last >= frame => {
                    // a noted state already put a checksum at or after this frame
                    if let Err(i) = self.checksums.binary_search_by_key(&frame, |(f, _)| *f) {
                        self.checksums.insert(i, (frame, checksum));
                    }
                }
                _ => self.checksums.push((frame, checksum)),
            }
        }
        self.last_checksum = checksum;
        self.next_frame = frame + 1;
    }

    /// Adds the described state at `frame` (and its checksum, even off the interval),
    /// e.g. where a desync was detected.
    pub fn note_state<G: Game<Input = I>>(&mut self, frame: u32, state: &G) {
        if self.described.iter().any(|d| d.frame == frame) {
            return;
        }
        self.described.push(DescribedState {
            frame,
            fields: state.describe(),
        });
        self.described.sort_by_key(|d| d.frame);
        if let Err(i) = self.checksums.binary_search_by_key(&frame, |(f, _)| *f) {
            self.checksums.insert(i, (frame, state.checksum()));
        }
    }

    /// Frames recorded so far (inputs of frames `0..frames`).
    pub fn frames(&self) -> u32 {
        self.next_frame.saturating_sub(1)
    }

    /// The replay so far, without ending the recording.
    pub fn snapshot(&self, reason: EndReason) -> Replay<I> {
        self.clone().finish(reason)
    }

    /// Ends the recording.
    pub fn finish(self, reason: EndReason) -> Replay<I> {
        let frames = self.frames();
        let mut checksums = self.checksums;
        // checksums noted beyond the last recorded frame cannot be verified
        checksums.retain(|(f, _)| *f <= frames);
        let mut described = self.described;
        described.retain(|d| d.frame <= frames);
        Replay {
            header: self.header,
            inputs: self.inputs,
            checksums,
            described,
            end: ReplayEnd {
                frames,
                final_checksum: self.last_checksum,
                reason,
            },
            damage: Vec::new(),
        }
    }
}
