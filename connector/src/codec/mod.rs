//! Pure encode/decode of PlayHouse packets over byte buffers, in both directions.
//!
//! Decoding tells "need more bytes" (`Ok(None)`) apart from "invalid" (`Err`). The length
//! prefix, the msgId length and `OriginalSize` are all checked against [`CodecLimits`]
//! before anything is allocated. No function here panics on any input.

pub mod lz4;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

pub use lz4::Lz4Format;

/// Default maximum for the `Len` prefix: 2 MiB.
pub const DEFAULT_MAX_PACKET_LEN: usize = 2 * 1024 * 1024;
/// Default maximum for a decompressed payload (`OriginalSize`): 2 MiB.
pub const DEFAULT_MAX_ORIGINAL_SIZE: usize = 2 * 1024 * 1024;
/// Size of the `Len` prefix.
pub const LEN_PREFIX: usize = 4;
/// Fixed client→server header bytes after `Len`, excluding the msgId itself.
pub const CLIENT_FIXED: usize = 1 + 2 + 8;
/// Fixed server→client header bytes after `Len`, excluding the msgId itself.
pub const SERVER_FIXED: usize = 1 + 2 + 8 + 2 + 4;
/// Reserved heartbeat msgId (seq 0, stage 0, empty payload; echoed by the server).
pub const HEARTBEAT_MSG_ID: &str = "@Heart@Beat@";
/// Reserved debug msgId.
pub const DEBUG_MSG_ID: &str = "@Debug@";
/// Reserved timeout msgId.
pub const TIMEOUT_MSG_ID: &str = "@Timeout@";

/// Size limits enforced while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLimits {
    /// Largest accepted `Len` value ([`DEFAULT_MAX_PACKET_LEN`]).
    pub max_packet_len: usize,
    /// Largest accepted `OriginalSize` ([`DEFAULT_MAX_ORIGINAL_SIZE`]).
    pub max_original_size: usize,
}

impl Default for CodecLimits {
    fn default() -> Self {
        Self {
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            max_original_size: DEFAULT_MAX_ORIGINAL_SIZE,
        }
    }
}

/// Why a byte sequence is not a valid packet (a protocol error: close the connection).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// `Len` is zero, negative or above the configured maximum.
    #[error("packet length {len} outside 1..={max}")]
    LengthOutOfRange {
        /// The `Len` field as sent.
        len: i64,
        /// The configured maximum.
        max: usize,
    },
    /// The packet is shorter than its fixed header fields.
    #[error("packet body of {len} bytes is shorter than its {needed}-byte header")]
    Truncated {
        /// Bytes after `Len`.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// `MsgIdLen` is 0.
    #[error("empty msgId")]
    EmptyMsgId,
    /// `MsgIdLen` runs past the end of the packet.
    #[error("msgId length {msg_id_len} runs past the {len}-byte packet")]
    MsgIdPastEnd {
        /// The `MsgIdLen` field.
        msg_id_len: usize,
        /// Bytes after `Len`.
        len: usize,
    },
    /// The msgId is not UTF-8.
    #[error("msgId is not UTF-8")]
    MsgIdNotUtf8,
    /// `OriginalSize` is negative.
    #[error("negative OriginalSize {0}")]
    NegativeOriginalSize(i32),
    /// `OriginalSize` is above the configured maximum.
    #[error("OriginalSize {size} above maximum {max}")]
    OriginalSizeTooLarge {
        /// The `OriginalSize` field.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The LZ4 data is corrupt.
    #[error("LZ4 decompression failed: {0}")]
    Decompress(String),
    /// The payload decompressed to a size other than `OriginalSize`.
    #[error("payload decompressed to {actual} bytes, OriginalSize says {expected}")]
    SizeMismatch {
        /// `OriginalSize`.
        expected: usize,
        /// Bytes produced.
        actual: usize,
    },
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The msgId is empty or longer than 255 bytes.
    #[error("msgId must be 1..=255 bytes, got {0}")]
    MsgIdLength(usize),
    /// The packet would not fit the `Len` field or the configured maximum.
    #[error("packet of {len} bytes exceeds the maximum {max}")]
    TooLarge {
        /// Bytes after `Len`.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
}

/// A decoded client→server packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPacket {
    /// Message type name.
    pub msg_id: String,
    /// 0 = one-way send, otherwise the request's sequence number.
    pub seq: u16,
    /// 0 = no stage.
    pub stage_id: i64,
    /// Payload bytes.
    pub payload: Bytes,
}

/// A decoded server→client packet, payload already decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPacket {
    /// Message type name.
    pub msg_id: String,
    /// Echo of the request's seq; 0 = push.
    pub seq: u16,
    /// 0 = no stage.
    pub stage_id: i64,
    /// 0 = success.
    pub error_code: u16,
    /// Payload bytes (decompressed).
    pub payload: Bytes,
}

fn msg_id_len(msg_id: &str) -> Result<u8, EncodeError> {
    u8::try_from(msg_id.len())
        .ok()
        .filter(|n| *n > 0)
        .ok_or(EncodeError::MsgIdLength(msg_id.len()))
}

fn body_len(len: usize, max: usize) -> Result<i32, EncodeError> {
    i32::try_from(len)
        .ok()
        .filter(|_| len <= max)
        .ok_or(EncodeError::TooLarge { len, max })
}

/// Appends one client→server packet to `out`.
pub fn encode_client(
    msg_id: &str,
    seq: u16,
    stage_id: i64,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let id_len = msg_id_len(msg_id)?;
    let len = CLIENT_FIXED + msg_id.len() + payload.len();
    let len_field = body_len(len, i32::MAX as usize)?;
    out.reserve(LEN_PREFIX + len);
    out.put_i32_le(len_field);
    out.put_u8(id_len);
    out.put_slice(msg_id.as_bytes());
    out.put_u16_le(seq);
    out.put_i64_le(stage_id);
    out.put_slice(payload);
    Ok(())
}

/// Server reply compression policy: compress payloads above `min_size` bytes when that saves
/// at least `min_saving_percent` percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionPolicy {
    /// Framing of compressed payloads.
    pub format: Lz4Format,
    /// Only payloads strictly larger than this are compressed (512 by default).
    pub min_size: usize,
    /// Minimum saving in percent (10 by default).
    pub min_saving_percent: usize,
}

impl Default for CompressionPolicy {
    fn default() -> Self {
        Self {
            format: Lz4Format::RawBlock,
            min_size: 512,
            min_saving_percent: 10,
        }
    }
}

/// Appends one server→client packet to `out`, compressing the payload when `policy` says so.
pub fn encode_server(
    msg_id: &str,
    seq: u16,
    stage_id: i64,
    error_code: u16,
    payload: &[u8],
    policy: Option<CompressionPolicy>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let id_len = msg_id_len(msg_id)?;
    let compressed = policy
        .filter(|p| payload.len() > p.min_size)
        .map(|p| (lz4::compress(payload, p.format), p))
        .filter(|(c, p)| c.len() * 100 <= payload.len() * (100 - p.min_saving_percent.min(100)));
    let (body, original_size) = match &compressed {
        Some((c, _)) => (c.as_slice(), payload.len()),
        None => (payload, 0),
    };
    let original_field = body_len(original_size, i32::MAX as usize)?;
    let len = SERVER_FIXED + msg_id.len() + body.len();
    let len_field = body_len(len, i32::MAX as usize)?;
    out.reserve(LEN_PREFIX + len);
    out.put_i32_le(len_field);
    out.put_u8(id_len);
    out.put_slice(msg_id.as_bytes());
    out.put_u16_le(seq);
    out.put_i64_le(stage_id);
    out.put_u16_le(error_code);
    out.put_i32_le(original_field);
    out.put_slice(body);
    Ok(())
}

/// Checks the `Len` prefix at the start of `buf`. Returns the whole frame size (prefix
/// included) once it is complete, `Ok(None)` while more bytes are needed.
pub fn frame_len(buf: &[u8], max_packet_len: usize) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.get(..LEN_PREFIX) else {
        return Ok(None);
    };
    let mut le = [0u8; 4];
    le.copy_from_slice(prefix);
    let len = i32::from_le_bytes(le);
    let out_of_range = DecodeError::LengthOutOfRange {
        len: i64::from(len),
        max: max_packet_len,
    };
    let len = usize::try_from(len).map_err(|_| out_of_range.clone())?;
    if len == 0 || len > max_packet_len {
        return Err(out_of_range);
    }
    let total = LEN_PREFIX + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Reads `MsgIdLen` + `MsgId` from the front of `body`, checking the fixed header size.
fn take_msg_id(body: &mut Bytes, fixed: usize) -> Result<String, DecodeError> {
    let len = body.len();
    if len < fixed {
        return Err(DecodeError::Truncated { len, needed: fixed });
    }
    let id_len = usize::from(body.get_u8());
    if id_len == 0 {
        return Err(DecodeError::EmptyMsgId);
    }
    if fixed + id_len > len {
        return Err(DecodeError::MsgIdPastEnd {
            msg_id_len: id_len,
            len,
        });
    }
    let id = body.split_to(id_len);
    String::from_utf8(id.to_vec()).map_err(|_| DecodeError::MsgIdNotUtf8)
}

/// Parses a client→server packet body (the bytes after `Len`).
pub fn parse_client_body(mut body: Bytes) -> Result<ClientPacket, DecodeError> {
    let msg_id = take_msg_id(&mut body, CLIENT_FIXED)?;
    let seq = body.get_u16_le();
    let stage_id = body.get_i64_le();
    Ok(ClientPacket {
        msg_id,
        seq,
        stage_id,
        payload: body,
    })
}

/// Parses a server→client packet body (the bytes after `Len`), decompressing the payload.
pub fn parse_server_body(
    mut body: Bytes,
    limits: &CodecLimits,
) -> Result<ServerPacket, DecodeError> {
    let msg_id = take_msg_id(&mut body, SERVER_FIXED)?;
    let seq = body.get_u16_le();
    let stage_id = body.get_i64_le();
    let error_code = body.get_u16_le();
    let original = body.get_i32_le();
    let original =
        usize::try_from(original).map_err(|_| DecodeError::NegativeOriginalSize(original))?;
    if original > limits.max_original_size {
        return Err(DecodeError::OriginalSizeTooLarge {
            size: original,
            max: limits.max_original_size,
        });
    }
    let payload = if original == 0 {
        body
    } else {
        Bytes::from(lz4::decompress(&body, original)?)
    };
    Ok(ServerPacket {
        msg_id,
        seq,
        stage_id,
        error_code,
        payload,
    })
}

/// Takes one complete client→server packet off the front of `buf`.
pub fn decode_client(
    buf: &mut BytesMut,
    limits: &CodecLimits,
) -> Result<Option<ClientPacket>, DecodeError> {
    let Some(total) = frame_len(buf, limits.max_packet_len)? else {
        return Ok(None);
    };
    let mut frame = buf.split_to(total).freeze();
    frame.advance(LEN_PREFIX);
    parse_client_body(frame).map(Some)
}

/// Takes one complete server→client packet off the front of `buf`.
pub fn decode_server(
    buf: &mut BytesMut,
    limits: &CodecLimits,
) -> Result<Option<ServerPacket>, DecodeError> {
    let Some(total) = frame_len(buf, limits.max_packet_len)? else {
        return Ok(None);
    };
    let mut frame = buf.split_to(total).freeze();
    frame.advance(LEN_PREFIX);
    parse_server_body(frame, limits).map(Some)
}

/// Decodes a client→server packet from the start of a slice: the packet and the bytes it used.
pub fn decode_client_slice(
    buf: &[u8],
    limits: &CodecLimits,
) -> Result<Option<(ClientPacket, usize)>, DecodeError> {
    let Some(total) = frame_len(buf, limits.max_packet_len)? else {
        return Ok(None);
    };
    let body = Bytes::copy_from_slice(buf.get(LEN_PREFIX..total).unwrap_or_default());
    parse_client_body(body).map(|p| Some((p, total)))
}

/// Decodes a server→client packet from the start of a slice: the packet and the bytes it used.
pub fn decode_server_slice(
    buf: &[u8],
    limits: &CodecLimits,
) -> Result<Option<(ServerPacket, usize)>, DecodeError> {
    let Some(total) = frame_len(buf, limits.max_packet_len)? else {
        return Ok(None);
    };
    let body = Bytes::copy_from_slice(buf.get(LEN_PREFIX..total).unwrap_or_default());
    parse_server_body(body, limits).map(|p| Some((p, total)))
}
