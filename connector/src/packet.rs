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
