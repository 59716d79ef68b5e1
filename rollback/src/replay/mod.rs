//! `replay`: record every match, verify it, find the first diverging frame.
//!
//! * [`format`]: the in-memory [`Replay`] (header, confirmed inputs, checksums every K
//!   frames, end of match); [`codec`]: its versioned byte format (`docs/spec/replay.md`),
//!   deflate-compressed chunks with a CRC-32 each, bounded and panic-free decoding.
//! * [`ReplayRecorder`]: fed by the runners with confirmed frames
//!   (`start_recording` / `take_replay` on [`crate::P2PRunner`], [`crate::SpectatorRunner`],
//!   [`crate::SyncTestRunner`]).
//! * [`verify()`]: re-simulates headless and compares every recorded checksum; [`diff()`]:
//!   the first frame where two peers' replays disagree, and the field-level diff there.
//! * [`Playback`] + [`PlaybackControl`]: what a window needs to watch a replay.
//!
//! A game supports replays by overriding [`crate::Game::game_id`],
//! [`crate::Game::version_hash`], [`crate::Game::initial_bytes`] and
//! [`crate::Game::from_initial_bytes`]. See [`ReplayRecorder`] for the whole cycle.

pub mod codec;
mod entropy;
pub mod format;
mod playback;
mod recorder;
mod verify;

pub use codec::{
    check_game, decode, decode_for, decode_header, encode, encode_with_chunk, size_breakdown,
    ReplayError, SizeBreakdown,
};
pub use format::{
    ChunkDamage, DescribedState, EndReason, Replay, ReplayEnd, ReplayHeader,
    DEFAULT_CHECKSUM_INTERVAL, FORENSIC_CHECKSUM_INTERVAL,
};
pub use playback::{Playback, PlaybackControl, DEFAULT_SNAPSHOT_EVERY, SPEEDS};
pub use recorder::{RecordSettings, ReplayRecorder};
pub use verify::{
    diff, diff_fields, initial_state, simulate_to, verify, ChecksumDivergence, ChecksumMismatch,
    InputDivergence, ReplayDiff, StateSource, VerifyReport,
};

/// Reads and decodes a replay file of game `G` (checks id and version hash).
pub fn read_file<G: crate::Game>(path: &std::path::Path) -> Result<Replay<G::Input>, ReadError> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReplayError::TooLarge {
            what: "file",
            size: meta.len(),
            limit: MAX_FILE_BYTES,
        }
        .into());
    }
    let bytes = std::fs::read(path)?;
    Ok(decode_for::<G>(&bytes)?)
}

/// Encodes `replay` and writes it to `path` (creating parent directories).
pub fn write_file<I: Copy + serde::Serialize>(
    path: &std::path::Path,
    replay: &Replay<I>,
) -> Result<(), ReadError> {
    let bytes = encode(replay)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Largest replay file [`read_file`] accepts.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reading or writing a replay file failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read or written.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Its content is not a usable replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// The one command that diffs two peers' replays of a match.
pub fn diff_command(a: &std::path::Path, b: &std::path::Path) -> String {
    format!(
        "cargo run --release --example replay -- diff {} {}",
        a.display(),
        b.display()
    )
}
