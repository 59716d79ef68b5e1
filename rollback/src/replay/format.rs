//! The in-memory replay: header, confirmed inputs, checksums, end of match.
//! The byte layout is in `docs/spec/replay.md` and [`super::codec`].

use serde::{Deserialize, Serialize};

/// The file's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"NPREPLAY";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Default checksum interval: one recorded checksum every 60 frames (one second).
pub const DEFAULT_CHECKSUM_INTERVAL: u32 = 60;
/// Checksum interval for forensic recordings: every frame.
pub const FORENSIC_CHECKSUM_INTERVAL: u32 = 1;
/// Default frames per input chunk (15 s at 60 fps): the unit of integrity checking (and
/// of compression: each chunk's model starts afresh so chunks decode independently).
pub const DEFAULT_CHUNK_FRAMES: u32 = 900;
/// Largest accepted frames per chunk.
pub const MAX_CHUNK_FRAMES: u32 = 65_536;
/// Largest accepted player count.
pub const MAX_PLAYERS: usize = 16;
/// Largest accepted replay length in frames (24 hours at 60 fps).
pub const MAX_FRAMES: u32 = 24 * 60 * 60 * 60;
/// Largest accepted header section, bytes.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// Largest accepted chunk payload (stored or decompressed), bytes.
pub const MAX_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Largest accepted number of chunks.
pub const MAX_CHUNKS: usize = 1 << 16;
/// Largest accepted encoded size of one input, bytes.
pub const MAX_INPUT_BYTES: usize = 256;

/// Who recorded the match and under which settings (the header section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayHeader {
    /// [`crate::Game::game_id`] of the recorded game.
    pub game_id: String,
    /// [`crate::Game::version_hash`] of the build that recorded it.
    pub game_version: u64,
    /// Number of players (inputs per frame).
    pub players: u8,
    /// Input delay of the session, frames.
    pub input_delay: u32,
    /// Simulation rate.
    pub fps: u32,
    /// The match seed (informational; the game's own seed is in `initial_state`).
    pub seed: u64,
    /// [`crate::Game::initial_bytes`] of the state at frame 0.
    pub initial_state: Vec<u8>,
    /// Player names, by handle (may be empty).
    pub player_names: Vec<String>,
    /// Match id (e.g. the signaling session id), may be empty.
    pub match_id: String,
    /// Recorded checksum interval K (frames 0, K, 2K, ... carry a checksum).
    pub checksum_interval: u32,
    /// The recording peer's player handle, if a player recorded it.
    pub recorded_by: Option<u8>,
}

/// How the recorded match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Played to its planned end.
    Completed,
    /// The remote disconnected.
    Disconnected,
    /// A desync was detected at `frame`; the replay stops there or soon after.
    Desync {
        /// The frame whose checksums differed.
        frame: u32,
    },
    /// The recording stopped for another reason (program closed, error).
    Aborted,
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Disconnected => f.write_str("disconnected"),
            Self::Desync { frame } => write!(f, "desync at frame {frame}"),
            Self::Aborted => f.write_str("aborted"),
        }
    }
}

/// The end section: length, final checksum, how the match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayEnd {
    /// Frames recorded (inputs of frames `0..frames`).
    pub frames: u32,
    /// Checksum of the state at frame `frames` (after the last input).
    pub final_checksum: u128,
    /// How the match ended.
    pub reason: EndReason,
}

/// A state recorded field by field ([`crate::Game::describe`]) at a notable frame, e.g.
/// where a live match detected a desync, so a later diff can show the live values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedState {
    /// The frame (state at the start of it).
    pub frame: u32,
    /// `(field, value)` pairs.
    pub fields: Vec<(String, String)>,
}

/// A chunk whose integrity check failed while decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkDamage {
    /// First frame of the chunk.
    pub first_frame: u32,
    /// Frames in the chunk.
    pub frames: u32,
    /// Whether its content could still be read (then its inputs are used and
    /// re-simulation locates the damage); otherwise the replay stops before it.
    pub readable: bool,
}

/// A decoded (or recorded) replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay<I> {
    /// Header section.
    pub header: ReplayHeader,
    /// Confirmed inputs, frame-major: frame `f`, player `p` is `inputs[f * players + p]`.
    pub inputs: Vec<I>,
    /// `(frame, checksum of the state at the start of frame)`, ascending frames.
    pub checksums: Vec<(u32, u128)>,
    /// Described states (ascending frames).
    pub described: Vec<DescribedState>,
    /// End section.
    pub end: ReplayEnd,
    /// Chunks that failed their integrity check on decoding (empty when recorded).
    pub damage: Vec<ChunkDamage>,
}

impl<I: Copy> Replay<I> {
    /// Players per frame (at least 1).
    pub fn players(&self) -> usize {
        usize::from(self.header.players).max(1)
    }

    /// Frames whose inputs are present.
    pub fn frames(&self) -> u32 {
        (self.inputs.len() / self.players()) as u32
    }

    /// The inputs of `frame` (one per player), if present.
    pub fn inputs_at(&self, frame: u32) -> Option<&[I]> {
        let p = self.players();
        let start = (frame as usize).checked_mul(p)?;
        self.inputs.get(start..start.checked_add(p)?)
    }

    /// The recorded checksum of the state at `frame`, if any (the final checksum counts).
    pub fn checksum_at(&self, frame: u32) -> Option<u128> {
        if let Ok(i) = self.checksums.binary_search_by_key(&frame, |(f, _)| *f) {
            return self.checksums.get(i).map(|(_, c)| *c);
        }
        (frame == self.end.frames).then_some(self.end.final_checksum)
    }

    /// The recorded described state at `frame`, if any.
    pub fn described_at(&self, frame: u32) -> Option<&DescribedState> {
        self.described.iter().find(|d| d.frame == frame)
    }

    /// Every recorded checksum including the final one, ascending, without duplicates.
    pub fn all_checksums(&self) -> Vec<(u32, u128)> {
        let mut out = self.checksums.clone();
        if out.last().map(|(f, _)| *f) != Some(self.end.frames) {
            out.push((self.end.frames, self.end.final_checksum));
        }
        out
    }

    /// This replay cut to its first `frames` frames, with `final_checksum` as the checksum
    /// of the state at `frames` (a no-op if it is not longer). Peers confirm a few frames
    /// past a match's planned end; cutting both at the end makes their replays comparable.
    pub fn truncated(mut self, frames: u32, final_checksum: u128) -> Self {
        if self.frames() <= frames {
            return self;
        }
        let players = self.players();
        self.inputs.truncate(frames as usize * players);
        self.checksums.retain(|(f, _)| *f <= frames);
        self.described.retain(|d| d.frame <= frames);
        self.end.frames = frames;
        self.end.final_checksum = final_checksum;
        self
    }

    /// Length of play, seconds.
    pub fn duration_secs(&self) -> f64 {
        f64::from(self.end.frames) / f64::from(self.header.fps.max(1))
    }
}
