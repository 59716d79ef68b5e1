//! `spectate`: spectators that join a match while it runs.
//!
//! ggrs spectators must be declared when the session starts. A spectator joining
//! mid-match instead gets, from one of the players (the *host*):
//! 1. a [`StateSnapshot`] of the host's latest confirmed state: bounded
//!    ([`MAX_STATE_BYTES`]), versioned, CRC-protected, with the state's checksum, which
//!    the spectator verifies after decoding;
//! 2. the confirmed inputs since that frame, then every newly confirmed frame's inputs,
//!    each with the checksum of the state it leads to ([`SpectatorMessage::Step`]);
//! 3. the players' final frame and checksum ([`SpectatorMessage::End`]).
//!
//! The host side is [`SpectatorHost`], fed from [`crate::P2PRunner::drain_confirmed`];
//! every spectator has a bounded queue, and one that falls behind is cut and counted, so
//! a slow or vanished spectator never stalls or slows the players. The watcher side is
//! [`SpectatorFollower`]: it catches up faster than real time, then follows at a fixed
//! delay. Both are sans-IO: the transport is any reliable ordered message channel (a
//! WebRTC data channel in `peer`, a [`crate::netsim::SimPipe`] in the simulator), and
//! [`sim::run_watched`] drives a whole watched match on the virtual clock.
//!
//! # The driving loop
//! ```
//! use rollback::fighter::FighterGame;
//! use rollback::spectate::{FollowerConfig, SpectatorFollower, SpectatorHost, SpectatorHostConfig};
//! use rollback::Game;
//! use ggrs::InputStatus;
//!
//! // the host's confirmed state at frame 0 (a real host takes it from its runner)
//! let game = FighterGame::new(7);
//! let mut host = SpectatorHost::new(SpectatorHostConfig::default());
//! host.join(1u32, 0, &game).unwrap();
//! let mut watcher = SpectatorFollower::<FighterGame>::new(FollowerConfig::default());
//!
//! // the players confirm 30 frames; the host streams them
//! let mut players = game.clone();
//! for frame in 0..30 {
//!     let inputs = vec![Default::default(); 2];
//!     players.step(&[(inputs[0], InputStatus::Confirmed); 2]);
//!     let step = rollback::session::ConfirmedStep { frame, inputs, checksum: players.checksum() };
//!     host.push_steps([step]).unwrap();
//! }
//! host.end::<<FighterGame as Game>::Input>(30, players.checksum()).unwrap();
//! host.transmit(&1, |bytes| watcher.handle(bytes).is_ok());
//! while !watcher.is_finished() {
//!     watcher.tick().unwrap();
//! }
//! assert_eq!(watcher.checksum(), Some(players.checksum()));
//! ```

mod follower;
mod host;
pub mod sim;
mod snapshot;
mod wire;

use ggrs::Frame;
use thiserror::Error;

pub use follower::{
    FollowerConfig, FollowerStats, SpectatorFollower, DEFAULT_CATCH_UP_STEPS, DEFAULT_FOLLOW_DELAY,
    DEFAULT_MAX_PENDING,
};
pub use host::{
    SpectatorHost, SpectatorHostConfig, SpectatorHostStats, DEFAULT_HISTORY_FRAMES,
    DEFAULT_MAX_SPECTATORS, DEFAULT_QUEUE_MESSAGES,
};
pub use snapshot::{
    decode_fighter_snapshot, StateSnapshot, MAX_STATE_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_OVERHEAD,
    SNAPSHOT_VERSION,
};
pub use wire::{SpectatorMessage, MAX_INPUT_BYTES, MAX_MESSAGE_BYTES, MAX_PLAYERS};

/// Why a snapshot, a message or a spectator was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpectateError {
    /// The game has no state encoding ([`crate::Game::state_bytes`] is `None`).
    #[error("the game cannot be snapshotted")]
    Unsupported,
    /// Bytes that do not decode.
    #[error("malformed spectator message: {0}")]
    Malformed(String),
    /// A snapshot or message beyond the size limits.
    #[error("too large: {0} bytes")]
    TooLarge(usize),
    /// A snapshot format version this build does not read.
    #[error("unknown snapshot version {0}")]
    Version(u8),
    /// A snapshot of another game.
    #[error("the snapshot is of another game")]
    OtherGame,
    /// A snapshot of another version of the game.
    #[error("the snapshot is of another version of the game")]
    OtherVersion,
    /// State bytes the game refuses.
    #[error("the snapshot's state does not decode")]
    BadState,
    /// The decoded state does not hash to the announced checksum.
    #[error(
        "snapshot checksum mismatch at frame {frame}: expected {expected:032x}, got {actual:032x}"
    )]
    Checksum {
        /// The snapshot's frame.
        frame: u32,
        /// The announced checksum.
        expected: u128,
        /// The decoded state's checksum.
        actual: u128,
    },
    /// A frame number out of range.
    #[error("frame {0} out of range")]
    BadFrame(Frame),
    /// A step is missing in the stream.
    #[error("gap in the stream: expected frame {expected}, got {got}")]
    Gap {
        /// The next frame expected.
        expected: Frame,
        /// The frame received.
        got: Frame,
    },
    /// The spectator's queue of received steps is full.
    #[error("more than {0} steps waiting")]
    Overflow(usize),
    /// The spectator's state differs from the host's.
    #[error("desync at frame {frame}: host {expected:032x}, spectator {actual:032x}")]
    Desync {
        /// The frame whose checksums differ.
        frame: Frame,
        /// The host's checksum.
        expected: u128,
        /// The spectator's checksum.
        actual: u128,
    },
    /// The match already has its maximum number of spectators.
    #[error("the match already has {0} spectators")]
    Full(usize),
    /// The spectator already watches.
    #[error("already watching")]
    Duplicate,
    /// The host no longer holds the steps since the snapshot's frame.
    #[error("the steps since frame {0} are no longer held")]
    SnapshotTooOld(Frame),
}
