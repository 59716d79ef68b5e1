//! ggrs [`Message`] sizes and kinds: what the rollback crate itself needs of the wire.
//!
//! Rollback never decodes bytes from a network: the transports do (the WebRTC socket's
//! `peer::codec` is the workspace's only decoder of ggrs messages, fuzzed there).
//! [`encoded_len`] sizes a message for the simulator's bandwidth model; [`kind`] tells
//! input and sync messages apart, which the runners use to re-send them on their own clock
//! (see [`crate::session`]).

use ggrs::Message;
use thiserror::Error;

/// Largest message [`encode`] produces.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Codec errors.
#[derive(Debug, Error)]
pub enum WireError {
    /// The message could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encodes a message (bincode 2, standard config), as the simulator counts its size.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    bincode::serde::encode_to_vec(msg, config()).map_err(|e| WireError::Encode(e.to_string()))
}

/// Builds a message from its encoding, for the crate's unit tests (ggrs keeps `Message`'s
/// fields private); not for bytes from a network.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, String> {
    let (msg, used) = bincode::serde::decode_from_slice::<Message, _>(bytes, config())
        .map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(msg)
}

/// Encoded size in bytes (0 if the message cannot be encoded).
pub fn encoded_len(msg: &Message) -> usize {
    encode(msg).map(|v| v.len()).unwrap_or(0)
}

/// The kind of a ggrs message (the variant of its body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// Handshake request.
    SyncRequest,
    /// Handshake reply.
    SyncReply,
    /// Inputs (all unacknowledged frames).
    Input,
    /// Input acknowledgement.
    InputAck,
    /// Ping / frame advantage report.
    QualityReport,
    /// Pong.
    QualityReply,
    /// Desync detection checksum.
    ChecksumReport,
    /// Keep-alive.
    KeepAlive,
    /// Unknown (a newer ggrs).
    Other,
}

/// Classifies a message by the serde variant index of its body. ggrs 0.13's wire format
/// is `Message { header: MessageHeader { magic: u16 }, body: MessageBody }`; with
/// fixed-size integers the variant index is the little-endian `u32` at bytes 2..6.
pub fn kind(msg: &Message) -> MessageKind {
    let cfg = bincode::config::standard().with_fixed_int_encoding();
    // Only the first 6 bytes are needed: encoding into a 6-byte buffer stops (with an
    // "unexpected end" error) right after the variant index for every non-unit variant.
    let mut buf = [0xff_u8; 6];
    let _ = bincode::serde::encode_into_slice(msg, &mut buf, cfg);
    let idx = u32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
    match idx {
        0 => MessageKind::SyncRequest,
        1 => MessageKind::SyncReply,
        2 => MessageKind::Input,
        3 => MessageKind::InputAck,
        4 => MessageKind::QualityReport,
        5 => MessageKind::QualityReply,
        6 => MessageKind::ChecksumReport,
        7 => MessageKind::KeepAlive,
        _ => MessageKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_reads_the_body_variant() {
        // standard config: magic varint, variant varint, fields
        let keep_alive = decode(&[5, 7]).unwrap();
        assert_eq!(kind(&keep_alive), MessageKind::KeepAlive);
        let sync = decode(&[5, 0, 42]).unwrap();
        assert_eq!(kind(&sync), MessageKind::SyncRequest);
        // Input { peer_connect_status: [], disconnect_requested: false, start_frame: 0,
        //         ack_frame: 0, bytes: [] }
        let input = decode(&[5, 2, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(kind(&input), MessageKind::Input);
        let ack = decode(&[5, 3, 0]).unwrap();
        assert_eq!(kind(&ack), MessageKind::InputAck);
        // round trip
        assert_eq!(decode(&encode(&input).unwrap()).unwrap(), input);
        assert_eq!(encoded_len(&keep_alive), 2);
    }
}
