//! Wire format of the game data channel: one ggrs [`Message`] per data-channel message.
//!
//! ```text
//! +------+------+---------+----------------+------------------------------+
//! | 0x4E | 0x50 | version | sequence (u32) | bincode 2 (serde) ggrs Message |
//! +------+------+---------+----------------+------------------------------+
//!   magic "NP"    1 byte     little endian    standard config, size-limited
//! ```
//!
//! Pure functions over byte buffers, and the workspace's only decoder of ggrs messages
//! (`rollback::wire` only classifies and sizes them). [`decode_packet`] checks the size
//! before anything else, decodes with a bincode allocation limit, refuses trailing bytes and
//! never panics: a malformed, oversized or foreign packet is a [`DecodeError`] that the
//! socket counts and drops. [`decode_message`] is the same for a bare message (the payload).
//! Both are public so the fuzz targets `ggrs_socket_decode` and `ggrs_message_decode` can
//! drive them directly.

use bincode::config::{self, Configuration, Limit};
use ggrs::Message;

/// Largest packet accepted or produced, in bytes. ggrs messages are a few dozen bytes
/// (inputs for a handful of frames); ggrs itself warns above 508.
pub const MAX_PACKET_SIZE: usize = 1200;
/// Bytes before the bincode payload: magic (2), version (1), sequence (4).
pub const HEADER_SIZE: usize = 7;
/// The two magic bytes that start every packet ("NP").
pub const MAGIC: [u8; 2] = [0x4E, 0x50];
/// Version of this wire format.
pub const VERSION: u8 = 1;
/// Largest bare message accepted by [`decode_message`] (a packet without its header).
pub const MAX_MESSAGE_SIZE: usize = MAX_PACKET_SIZE - HEADER_SIZE;

type WireConfig = Configuration<config::LittleEndian, config::Varint, Limit<MAX_PACKET_SIZE>>;

fn wire_config() -> WireConfig {
    config::standard().with_limit::<MAX_PACKET_SIZE>()
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Sender's sequence number (one per packet, wrapping).
    pub sequence: u32,
    /// The ggrs message.
    pub message: Message,
}

/// Why a packet could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// bincode refused the message.
    #[error("encoding failed: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
    /// The encoded packet is over [`MAX_PACKET_SIZE`].
    #[error("packet of {0} bytes is over the {MAX_PACKET_SIZE}-byte limit")]
    TooLarge(usize),
}

/// Why a received packet was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`MAX_PACKET_SIZE`] (a packet) or [`MAX_MESSAGE_SIZE`] (a bare message);
    /// nothing was decoded.
    #[error("{0} bytes is over the size limit")]
    TooLarge(usize),
    /// Shorter than the header.
    #[error("packet of {0} bytes is shorter than the header")]
    TooShort(usize),
    /// Does not start with [`MAGIC`]: not ours.
    #[error("foreign packet (bad magic)")]
    Foreign,
    /// A wire format version this build does not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// The payload is not a valid ggrs message.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A valid message followed by extra bytes.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

/// Encodes one packet.
pub fn encode_packet(sequence: u32, message: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&MAGIC);
    buf.push(VERSION);
    buf.extend_from_slice(&sequence.to_le_bytes());
    let payload = bincode::serde::encode_to_vec(message, wire_config())?;
    buf.extend_from_slice(&payload);
    if buf.len() > MAX_PACKET_SIZE {
        return Err(EncodeError::TooLarge(buf.len()));
    }
    Ok(buf)
}

/// Decodes one packet; never panics, whatever the input.
pub fn decode_packet(bytes: &[u8]) -> Result<Packet, DecodeError> {
    if bytes.len() > MAX_PACKET_SIZE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_SIZE>() else {
        return Err(DecodeError::TooShort(bytes.len()));
    };
    let [m0, m1, version, s0, s1, s2, s3] = *header;
    if [m0, m1] != MAGIC {
        return Err(DecodeError::Foreign);
    }
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    Ok(Packet {
        sequence: u32::from_le_bytes([s0, s1, s2, s3]),
        message: decode_message(payload)?,
    })
}

/// Encodes a bare ggrs message (bincode 2, standard config; no header).
pub fn encode_message(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let bytes = bincode::serde::encode_to_vec(message, wire_config())?;
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(EncodeError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes a bare ggrs message (no header); never panics, whatever the input. bincode
/// accepts non-canonical varints, so a re-encoding may be shorter than the input.
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (message, used): (Message, usize) = bincode::serde::decode_from_slice(bytes, wire_config())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len().saturating_sub(used)));
    }
    Ok(message)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real ggrs message built from its wire form (ggrs keeps `Message`'s fields private):
    /// header magic 7, then variant 7 of the message body, `KeepAlive`, which has no payload.
    pub(crate) fn keep_alive() -> Message {
        let (message, used): (Message, usize) =
            bincode::serde::decode_from_slice(&[7u8, 7], wire_config()).expect("keep-alive");
        assert_eq!(used, 2);
        message
    }

    #[test]
    fn round_trip_keeps_sequence_and_message() {
        let message = keep_alive();
        let bytes = encode_packet(0xDEAD_BEEF, &message).expect("encodes");
        assert_eq!(&bytes[..2], &MAGIC);
        let packet = decode_packet(&bytes).expect("decodes");
        assert_eq!(packet.sequence, 0xDEAD_BEEF);
        assert_eq!(packet.message, message);
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let good = encode_packet(1, &keep_alive()).expect("encodes");
        assert_eq!(decode_packet(&[]), Err(DecodeError::TooShort(0)));
        assert_eq!(decode_packet(&good[..3]), Err(DecodeError::TooShort(3)));
        assert_eq!(
            decode_packet(&vec![0u8; MAX_PACKET_SIZE + 1]),
            Err(DecodeError::TooLarge(MAX_PACKET_SIZE + 1))
        );
        assert_eq!(decode_packet(b"hello, world"), Err(DecodeError::Foreign));
        let mut wrong_version = good.clone();
        wrong_version[2] = 9;
        assert_eq!(decode_packet(&wrong_version), Err(DecodeError::Version(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_packet(&trailing), Err(DecodeError::TrailingBytes(1)));
        let mut bad_variant = good[..HEADER_SIZE].to_vec();
        bad_variant.extend_from_slice(&[7, 200]);
        assert!(matches!(
            decode_packet(&bad_variant),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating() {
        // Header, magic 7, variant 0..16 with a Vec length prefix claiming 2^60 bytes.
        for variant in 0u8..16 {
            let mut bytes = vec![MAGIC[0], MAGIC[1], VERSION, 0, 0, 0, 0, 7, variant];
            bytes.extend_from_slice(&[0xFF; 9]);
            assert!(decode_packet(&bytes).is_err());
        }
    }
}
