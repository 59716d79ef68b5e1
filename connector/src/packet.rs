//! The application-level message: a msgId plus an opaque payload (the seed's `IPacket`).

use bytes::Bytes;

/// Header fields of a packet received from the server (absent on packets built locally).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceivedHeader {
    /// Sequence number echoed by the server (0 for pushes).
    pub seq: u16,
    /// Stage id carried by the packet (0 = no stage).
    pub stage_id: i64,
    /// Error code in the server header (0 = success).
    pub error_code: u16,
}

/// A message: its type name (`msg_id`) and serialized payload (protobuf or custom bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    msg_id: String,
    payload: Bytes,
    header: Option<ReceivedHeader>,
}

impl Packet {
    /// Builds a packet from a msgId (ASCII recommended, 1..=255 bytes) and a payload.
    pub fn new(msg_id: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            msg_id: msg_id.into(),
            payload: payload.into(),
            header: None,
        }
    }

    /// Builds a packet with an empty payload.
    pub fn empty(msg_id: impl Into<String>) -> Self {
        Self::new(msg_id, Bytes::new())
    }

    pub(crate) fn received(msg_id: String, payload: Bytes, header: ReceivedHeader) -> Self {
        Self {
            msg_id,
            payload,
            header: Some(header),
        }
    }

    /// The message type name.
    pub fn msg_id(&self) -> &str {
        &self.msg_id
    }

    /// The payload bytes (already decompressed for received packets).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Header fields when this packet came from the server, `None` for local packets.
    pub fn received_header(&self) -> Option<ReceivedHeader> {
        self.header
    }

    /// Splits the packet into its msgId and payload.
    pub fn into_parts(self) -> (String, Bytes) {
        (self.msg_id, self.payload)
    }
}

/// Default bound on a protobuf payload [`Packet::decode`] accepts: 2 MiB.
#[cfg(feature = "prost")]
pub const DEFAULT_MAX_MESSAGE_LEN: usize = crate::codec::DEFAULT_MAX_ORIGINAL_SIZE;

/// Why a payload is not the expected protobuf message.
#[cfg(feature = "prost")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageDecodeError {
    /// The payload is larger than the limit (checked before decoding).
    #[error("payload of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The packet's msgId is not the message's type name.
    #[error("msgId {actual:?} is not {expected:?}")]
    WrongMsgId {
        /// The message's type name.
        expected: &'static str,
        /// The packet's msgId.
        actual: String,
    },
    /// The bytes are not a valid encoding of the message.
    #[error("invalid protobuf: {0}")]
    Invalid(String),
}

#[cfg(feature = "prost")]
impl Packet {
    /// A packet carrying `message`, its msgId the message's type name (`M::NAME`, the short
    /// protobuf name, e.g. `EchoRequest`), as PlayHouse's `Packet(IMessage)` does.
    pub fn from_message<M: prost::Message + prost::Name>(message: &M) -> Self {
        Self::new(M::NAME, message.encode_to_vec())
    }

    /// Decodes the payload as `M` (at most [`DEFAULT_MAX_MESSAGE_LEN`] bytes). The msgId is
    /// not checked; see [`decode_checked`](Self::decode_checked).
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, MessageDecodeError> {
        decode_message(&self.payload, DEFAULT_MAX_MESSAGE_LEN)
    }

    /// Decodes the payload as `M` after checking that the msgId is `M::NAME`.
    pub fn decode_checked<M: prost::Message + prost::Name + Default>(
        &self,
    ) -> Result<M, MessageDecodeError> {
        if self.msg_id != M::NAME {
            return Err(MessageDecodeError::WrongMsgId {
                expected: M::NAME,
                actual: self.msg_id.clone(),
            });
        }
        self.decode()
    }
}

/// Decodes `bytes` as `M` after checking `bytes.len() <= max` (the bounded decoder behind
/// [`Packet::decode`], exposed for the fuzz targets). Never panics.
#[cfg(feature = "prost")]
pub fn decode_message<M: prost::Message + Default>(
    bytes: &[u8],
    max: usize,
) -> Result<M, MessageDecodeError> {
    if bytes.len() > max {
        return Err(MessageDecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    M::decode(bytes).map_err(|e| MessageDecodeError::Invalid(e.to_string()))
}
