//! The [`Game`] trait: what a game must provide to be driven by the rollback runners.
//!
//! A game is its own snapshot: the state is `Clone` (keep it small and heap-free so a clone
//! is a memcpy), stepping is deterministic, and [`Game::checksum`] hashes *canonical bytes*
//! written field by field through [`StateHasher`], never the memory layout.

use std::fmt::Debug;

use ggrs::InputStatus;
use serde::{de::DeserializeOwned, Serialize};

/// FNV-1a 128-bit offset basis.
const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
/// FNV-1a 128-bit prime.
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// A stable, platform-independent hasher (FNV-1a, 128 bit) over explicit field bytes.
///
/// Integers are written little-endian, so the same state gives the same checksum on every
/// machine and every build, unlike `std::hash::Hash` with `DefaultHasher` (randomly keyed)
/// or hashing a struct's raw memory (padding, layout).
#[derive(Debug, Clone, Copy)]
pub struct StateHasher {
    state: u128,
}

impl Default for StateHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StateHasher {
    /// A hasher at the FNV offset basis.
    pub fn new() -> Self {
        Self {
            state: FNV128_OFFSET,
        }
    }

    /// Feeds raw bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state ^= u128::from(b);
            self.state = self.state.wrapping_mul(FNV128_PRIME);
        }
    }

    /// Feeds a `u8`.
    pub fn write_u8(&mut self, v: u8) {
        self.write_bytes(&[v]);
    }

    /// Feeds a `bool` as one byte.
    pub fn write_bool(&mut self, v: bool) {
        self.write_u8(u8::from(v));
    }

    /// Feeds a `u16` (little-endian).
    pub fn write_u16(&mut self, v: u16) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// Feeds a `u32` (little-endian).
    pub fn write_u32(&mut self, v: u32) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// Feeds an `i32` (little-endian).
    pub fn write_i32(&mut self, v: i32) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// Feeds a `u64` (little-endian).
    pub fn write_u64(&mut self, v: u64) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// Feeds an `i64` (little-endian).
    pub fn write_i64(&mut self, v: i64) {
        self.write_bytes(&v.to_le_bytes());
    }

    /// The 128-bit digest.
    pub fn finish(&self) -> u128 {
        self.state
    }
}

/// A deterministic game that the rollback runners can save, load, step and checksum.
///
/// Rules (see the crate docs): integers / fixed point only, no `HashMap` iteration, no wall
/// clock, randomness only from a seeded PRNG stored inside the state. The state itself is
/// the snapshot (`Clone`), so keep it flat (arrays, not `Vec`s) for cheap saves.
pub trait Game: Clone + Send + Sync + 'static {
    /// One player's input for one frame: compact, `Copy`, sent over the network by ggrs.
    /// `Default` is "no buttons" and is used for disconnected players and the first frames.
    type Input: Copy
        + Clone
        + PartialEq
        + Default
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// Advances the state by exactly one frame. `inputs[i]` is player `i`'s input; its
    /// [`InputStatus`] says whether it is confirmed, predicted or a disconnected dummy
    /// (the simulation must not depend on the status, or peers will desync).
    fn step(&mut self, inputs: &[(Self::Input, InputStatus)]);

    /// Writes every field that defines the state, in a fixed order, into `hasher`.
    fn hash_state(&self, hasher: &mut StateHasher);

    /// Field-by-field dump (`name`, `value`) used to diff two states after a desync.
    fn describe(&self) -> Vec<(String, String)>;

    /// Stable checksum of the canonical bytes written by [`Game::hash_state`].
    fn checksum(&self) -> u128 {
        let mut h = StateHasher::new();
        self.hash_state(&mut h);
        h.finish()
    }

    /// The game's id, written into replays ([`crate::replay`]); a replay of another game
    /// is refused. Default: the Rust type name (override it with a stable name).
    fn game_id() -> String
    where
        Self: Sized,
    {
        std::any::type_name::<Self>().to_owned()
    }

    /// A hash of everything that defines the simulation of this build (rules, data
    /// tables, code revision). A replay recorded by a build with another hash is refused
    /// with a clear message. Default: `0` (no version check).
    fn version_hash() -> u64
    where
        Self: Sized,
    {
        0
    }

    /// The bytes a replay needs to rebuild this state as the match's initial state (rules,
    /// seed, ...), read back by [`Game::from_initial_bytes`]. Default: none.
    fn initial_bytes(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Rebuilds the initial state from [`Game::initial_bytes`] (untrusted bytes from a
    /// file: never panic). `None` if the bytes are invalid or the game does not support
    /// replays (the default).
    fn from_initial_bytes(bytes: &[u8]) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = bytes;
        None
    }

    /// The canonical bytes of the whole current state, for a spectator joining mid-match
    /// ([`crate::spectate::StateSnapshot`]): at most
    /// [`crate::spectate::MAX_STATE_BYTES`], read back by [`Game::from_state_bytes`].
    /// `None` (the default) if the game cannot be snapshotted.
    fn state_bytes(&self) -> Option<Vec<u8>> {
        None
    }

    /// Rebuilds a state from [`Game::state_bytes`] (untrusted bytes from the network:
    /// never panic; refuse a state the simulation cannot step safely). `None` if invalid
    /// or unsupported (the default).
    fn from_state_bytes(bytes: &[u8]) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = bytes;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_is_order_sensitive_and_stable() {
        let mut a = StateHasher::new();
        a.write_i32(1);
        a.write_i32(2);
        let mut b = StateHasher::new();
        b.write_i32(2);
        b.write_i32(1);
        assert_ne!(a.finish(), b.finish());
        // FNV-1a 128 of the empty input is the offset basis.
        assert_eq!(StateHasher::new().finish(), FNV128_OFFSET);
        let mut c = StateHasher::new();
        c.write_bytes(b"a");
        assert_eq!(c.finish(), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
