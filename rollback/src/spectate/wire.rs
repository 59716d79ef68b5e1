//! [`SpectatorMessage`]: what a host sends a spectator, one message per transport frame.
//!
//! | tag | message | body |
//! |---|---|---|
//! | 1 | `Snapshot` | a [`StateSnapshot`] |
//! | 2 | `Step` | frame `u32`, checksum `u128`, player count `u8`, each input (bincode) |
//! | 3 | `End` | frame `u32`, checksum `u128` |
//!
//! Decoding checks the length before anything else ([`MAX_MESSAGE_BYTES`]), the player
//! count against [`MAX_PLAYERS`], each input against [`MAX_INPUT_BYTES`], and refuses
//! trailing bytes.

use serde::{de::DeserializeOwned, Serialize};

use super::snapshot::{StateSnapshot, MAX_STATE_BYTES, SNAPSHOT_OVERHEAD};
use super::SpectateError;
use crate::session::ConfirmedStep;

/// Largest message (a snapshot with the largest state, plus its tag).
pub const MAX_MESSAGE_BYTES: usize = 1 + SNAPSHOT_OVERHEAD + MAX_STATE_BYTES;
/// Most players a step may carry.
pub const MAX_PLAYERS: usize = 8;
/// Largest encoded input of one player.
pub const MAX_INPUT_BYTES: usize = 64;

const TAG_SNAPSHOT: u8 = 1;
const TAG_STEP: u8 = 2;
const TAG_END: u8 = 3;

/// One message of the host-to-spectator stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpectatorMessage<I> {
    /// The state to start from (always the first message).
    Snapshot(StateSnapshot),
    /// The confirmed inputs of one frame and the checksum of the state they lead to.
    Step(ConfirmedStep<I>),
    /// The match ended at `frame` (the players' final frame) with `checksum`.
    End {
        /// The players' final frame.
        frame: u32,
        /// The checksum of the state at that frame.
        checksum: u128,
    },
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

impl<I: Serialize + DeserializeOwned> SpectatorMessage<I> {
    /// The encoded bytes.
    pub fn encode(&self) -> Result<Vec<u8>, SpectateError> {
        let mut out = Vec::new();
        match self {
            Self::Snapshot(s) => {
                out.push(TAG_SNAPSHOT);
                s.encode_into(&mut out);
            }
            Self::Step(step) => {
                out.push(TAG_STEP);
                let frame =
                    u32::try_from(step.frame).map_err(|_| SpectateError::BadFrame(step.frame))?;
                out.extend_from_slice(&frame.to_le_bytes());
                out.extend_from_slice(&step.checksum.to_le_bytes());
                if step.inputs.len() > MAX_PLAYERS {
                    return Err(SpectateError::Malformed("too many players".into()));
                }
                out.push(step.inputs.len() as u8);
                for input in &step.inputs {
                    bincode::serde::encode_into_std_write(input, &mut out, bincode_config())
                        .map_err(|e| SpectateError::Malformed(e.to_string()))?;
                }
            }
            Self::End { frame, checksum } => {
                out.push(TAG_END);
                out.extend_from_slice(&frame.to_le_bytes());
                out.extend_from_slice(&checksum.to_le_bytes());
            }
        }
        Ok(out)
    }

    /// Decodes untrusted bytes (never panics).
    pub fn decode(bytes: &[u8]) -> Result<Self, SpectateError> {
        let bad = |what: &str| SpectateError::Malformed(what.to_owned());
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(SpectateError::TooLarge(bytes.len()));
        }
        let (&tag, body) = bytes.split_first().ok_or_else(|| bad("empty message"))?;
        let frame_and_checksum = |b: &[u8]| -> Result<(u32, u128), SpectateError> {
            let frame = b
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| bad("truncated frame"))?;
            let checksum = b
                .get(4..20)
                .and_then(|s| s.try_into().ok())
                .map(u128::from_le_bytes)
                .ok_or_else(|| bad("truncated checksum"))?;
            Ok((frame, checksum))
        };
        match tag {
            TAG_SNAPSHOT => StateSnapshot::decode(body).map(Self::Snapshot),
            TAG_END => {
                if body.len() != 20 {
                    return Err(bad("end: wrong length"));
                }
                let (frame, checksum) = frame_and_checksum(body)?;
                Ok(Self::End { frame, checksum })
            }
            TAG_STEP => {
                let (frame, checksum) = frame_and_checksum(body)?;
                let (&players, mut rest) = body
                    .get(20..)
                    .and_then(<[u8]>::split_first)
                    .ok_or_else(|| bad("step: no player count"))?;
                let players = usize::from(players);
                if players > MAX_PLAYERS {
                    return Err(bad("step: too many players"));
                }
                let mut inputs = Vec::with_capacity(players);
                for _ in 0..players {
                    let limited = bincode::config::standard().with_limit::<MAX_INPUT_BYTES>();
                    let (input, used): (I, usize) =
                        bincode::serde::decode_from_slice(rest, limited)
                            .map_err(|e| SpectateError::Malformed(format!("step input: {e}")))?;
                    rest = rest.get(used..).unwrap_or_default();
                    inputs.push(input);
                }
                if !rest.is_empty() {
                    return Err(bad("step: trailing bytes"));
                }
                Ok(Self::Step(ConfirmedStep {
                    frame: i32::try_from(frame).map_err(|_| bad("step: frame out of range"))?,
                    inputs,
                    checksum,
                }))
            }
            _ => Err(bad("unknown tag")),
        }
    }
}
