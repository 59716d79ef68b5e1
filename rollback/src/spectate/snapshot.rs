//! [`StateSnapshot`]: a bounded, versioned, checksummed encoding of one game state.
//!
//! Layout (integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `NPSS` |
//! | 1 | format version ([`SNAPSHOT_VERSION`]) |
//! | 8 | hash of [`Game::game_id`] |
//! | 8 | [`Game::version_hash`] |
//! | 4 | frame |
//! | 16 | the state's [`Game::checksum`] |
//! | 4 | length `n` of the state bytes (at most [`MAX_STATE_BYTES`]) |
//! | n | [`Game::state_bytes`] |
//! | 4 | CRC-32 of everything before it |
//!
//! [`StateSnapshot::decode`] checks the length field against [`MAX_STATE_BYTES`] and the
//! input's length before it allocates, then the CRC; [`StateSnapshot::restore`] checks
//! the game, its version, and that the decoded state hashes to the announced checksum.

use ggrs::Frame;

use super::SpectateError;
use crate::game::{Game, StateHasher};

/// Magic bytes of a snapshot.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"NPSS";
/// Current snapshot format version.
pub const SNAPSHOT_VERSION: u8 = 1;
/// Largest state a snapshot carries (64 KiB).
pub const MAX_STATE_BYTES: usize = 64 * 1024;
/// Bytes of a snapshot around its state bytes.
pub const SNAPSHOT_OVERHEAD: usize = 4 + 1 + 8 + 8 + 4 + 16 + 4 + 4;

/// One game state at a confirmed frame, as sent to a spectator joining mid-match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    /// Hash of the game's id.
    pub game_hash: u64,
    /// The game's version hash.
    pub version_hash: u64,
    /// The frame the state is at.
    pub frame: u32,
    /// The state's checksum.
    pub checksum: u128,
    /// The state's canonical bytes.
    pub state: Vec<u8>,
}

/// Hash of a game id (FNV-1a 128, truncated).
fn game_hash(id: &str) -> u64 {
    let mut h = StateHasher::new();
    h.write_bytes(id.as_bytes());
    h.finish() as u64
}

impl StateSnapshot {
    /// The snapshot of `game` at `frame`.
    pub fn of<G: Game>(frame: Frame, game: &G) -> Result<Self, SpectateError> {
        let state = game.state_bytes().ok_or(SpectateError::Unsupported)?;
        if state.len() > MAX_STATE_BYTES {
            return Err(SpectateError::TooLarge(state.len()));
        }
        Ok(Self {
            game_hash: game_hash(&G::game_id()),
            version_hash: G::version_hash(),
            frame: u32::try_from(frame).map_err(|_| SpectateError::BadFrame(frame))?,
            checksum: game.checksum(),
            state,
        })
    }

    /// The encoded bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SNAPSHOT_OVERHEAD + self.state.len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&self.game_hash.to_le_bytes());
        out.extend_from_slice(&self.version_hash.to_le_bytes());
        out.extend_from_slice(&self.frame.to_le_bytes());
        out.extend_from_slice(&self.checksum.to_le_bytes());
        out.extend_from_slice(&(self.state.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.state);
        let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// Decodes untrusted bytes (never panics; sizes are checked before allocating).
    pub fn decode(bytes: &[u8]) -> Result<Self, SpectateError> {
        let bad = |what: &str| SpectateError::Malformed(format!("snapshot: {what}"));
        let head = bytes
            .get(..SNAPSHOT_OVERHEAD - 4)
            .ok_or_else(|| bad("truncated header"))?;
        let (magic, rest) = head.split_at(4);
        if magic != SNAPSHOT_MAGIC {
            return Err(bad("bad magic"));
        }
        let (&version, rest) = rest.split_first().ok_or_else(|| bad("no version"))?;
        if version != SNAPSHOT_VERSION {
            return Err(SpectateError::Version(version));
        }
        let mut r = rest;
        let mut take = |n: usize| -> Result<&[u8], SpectateError> {
            let (a, b) = r
                .split_at_checked(n)
                .ok_or_else(|| bad("truncated header"))?;
            r = b;
            Ok(a)
        };
        let u64_of = |b: &[u8]| b.try_into().map(u64::from_le_bytes);
        let game_hash = u64_of(take(8)?).map_err(|_| bad("header"))?;
        let version_hash = u64_of(take(8)?).map_err(|_| bad("header"))?;
        let frame = take(4)?
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| bad("header"))?;
        let checksum = take(16)?
            .try_into()
            .map(u128::from_le_bytes)
            .map_err(|_| bad("header"))?;
        let len = take(4)?
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| bad("header"))? as usize;
        if len > MAX_STATE_BYTES {
            return Err(SpectateError::TooLarge(len));
        }
        if bytes.len() != SNAPSHOT_OVERHEAD + len {
            return Err(bad("length does not match"));
        }
        let body_end = SNAPSHOT_OVERHEAD - 4 + len;
        let (body, crc) = bytes.split_at(body_end);
        let crc = crc
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| bad("no crc"))?;
        if crc32fast::hash(body) != crc {
            return Err(bad("crc mismatch"));
        }
        let state = body
            .get(SNAPSHOT_OVERHEAD - 4..)
            .unwrap_or_default()
            .to_vec();
        Ok(Self {
            game_hash,
            version_hash,
            frame,
            checksum,
            state,
        })
    }

    /// Rebuilds the state: the game and its version must match, the state bytes must
    /// decode, and the decoded state must hash to [`checksum`](Self::checksum).
    pub fn restore<G: Game>(&self) -> Result<G, SpectateError> {
        if self.game_hash != game_hash(&G::game_id()) {
            return Err(SpectateError::OtherGame);
        }
        if self.version_hash != G::version_hash() {
            return Err(SpectateError::OtherVersion);
        }
        let game = G::from_state_bytes(&self.state).ok_or(SpectateError::BadState)?;
        let actual = game.checksum();
        if actual != self.checksum {
            return Err(SpectateError::Checksum {
                frame: self.frame,
                expected: self.checksum,
                actual,
            });
        }
        Ok(game)
    }
}

/// Decodes a snapshot and restores a [`crate::fighter::FighterGame`] from it: the whole
/// untrusted path of a spectator's first message, exposed for the fuzz target.
pub fn decode_fighter_snapshot(bytes: &[u8]) -> Result<(), SpectateError> {
    let snap = StateSnapshot::decode(bytes)?;
    let mut game: crate::fighter::FighterGame = snap.restore()?;
    // a state that decoded must also step safely
    let input = [(
        crate::fighter::FighterInput::new(0x7f),
        ggrs::InputStatus::Confirmed,
    ); 2];
    for _ in 0..4 {
        game.step(&input);
    }
    Ok(())
}
