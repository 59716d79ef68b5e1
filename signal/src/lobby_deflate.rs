//! Opt-in compressed lobby messages (`docs/spec/signaling.md`, "Compressed lobby messages").
//!
//! A client that connects with `?lobby_compression=deflate` in the WebSocket URL may receive
//! its `lobby_update` and `lobby_delta` messages as **binary** frames instead of text. Each
//! message is compressed on its own (raw DEFLATE, RFC 1951, no context carried between
//! messages, so the server compresses a message once and sends the same bytes to every
//! member) and split into chunks of at most [`MAX_CHUNK`] bytes. A binary frame is one flag
//! byte followed by one chunk; the frame whose flag byte is [`FLAG_FIN`] ends the message.
//! The chunks of one message are consecutive frames. Every other message, and lobby
//! messages too small to be worth it, stay text frames.
//!
//! The server encodes with [`deflate_chunks`]; clients decode with [`LobbyInflater`], which
//! bounds both the compressed and the inflated size and never panics on bad input.
//!
//! ```
//! use signal::lobby_deflate::{deflate_chunks, LobbyInflater};
//!
//! let text = r#"{"type":"lobby_delta","payload":{"lobby":"main","version":2,"added":[],"removed":["a"],"changed":[]}}"#;
//! let mut inflater = LobbyInflater::default();
//! let mut decoded = None;
//! for frame in deflate_chunks(text.as_bytes(), 16) {
//!     decoded = inflater.push(&frame).expect("valid frame");
//! }
//! assert_eq!(decoded.as_deref(), Some(text));
//! ```

use miniz_oxide::inflate::{decompress_to_vec_with_limit, TINFLStatus};

/// Query parameter of the WebSocket URL that opts in (`?lobby_compression=deflate`).
pub const QUERY_PARAM: &str = "lobby_compression";
/// Flag byte of the last frame of a message.
pub const FLAG_FIN: u8 = 0x01;
/// Flag byte of a frame that more frames of the same message follow.
pub const FLAG_MORE: u8 = 0x00;
/// Most compressed bytes in one binary frame (the server's write buffer never has to hold
/// a whole large snapshot).
pub const MAX_CHUNK: usize = 4 * 1024;
/// Lobby messages shorter than this many bytes are sent as text even in deflate mode.
pub const MIN_DEFLATE_LEN: usize = 256;
/// DEFLATE level the server uses (miniz_oxide levels 0–10).
pub const LEVEL: u8 = 6;
/// Default bound of one message's compressed bytes in [`LobbyInflater`].
pub const DEFAULT_MAX_DEFLATED: usize = 4 << 20;
/// Default bound of one message's inflated bytes in [`LobbyInflater`].
pub const DEFAULT_MAX_INFLATED: usize = 16 << 20;

/// How a connection wants its lobby messages (chosen at connect).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LobbyCompression {
    /// Text frames (the default, the seed's behaviour).
    #[default]
    None,
    /// Large lobby messages as chunked DEFLATE binary frames.
    Deflate,
}

impl LobbyCompression {
    /// Parses the value of [`QUERY_PARAM`] (`none` or `deflate`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "deflate" => Some(Self::Deflate),
            _ => None,
        }
    }
}

/// `url` with `lobby_compression=deflate` added to its query (for [`crate::SignalClient`]).
pub fn url_with_deflate(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{QUERY_PARAM}=deflate")
}

/// Compresses one message and returns its binary frames (flag byte + at most `max_chunk`
/// compressed bytes each; `max_chunk` of 0 counts as 1).
pub fn deflate_chunks(text: &[u8], max_chunk: usize) -> Vec<Vec<u8>> {
    let deflated = miniz_oxide::deflate::compress_to_vec(text, LEVEL);
    let max_chunk = max_chunk.max(1);
    let count = deflated.len().div_ceil(max_chunk).max(1);
    let mut frames = Vec::with_capacity(count);
    let mut chunks = deflated.chunks(max_chunk).peekable();
    if chunks.peek().is_none() {
        frames.push(vec![FLAG_FIN]);
    }
    while let Some(chunk) = chunks.next() {
        let flag = if chunks.peek().is_some() {
            FLAG_MORE
        } else {
            FLAG_FIN
        };
        let mut frame = Vec::with_capacity(chunk.len() + 1);
        frame.push(flag);
        frame.extend_from_slice(chunk);
        frames.push(frame);
    }
    frames
}

/// Why a binary lobby frame could not be decoded (the message is dropped; the next frame
/// starts a new one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// A binary frame without its flag byte.
    #[error("empty binary frame")]
    Empty,
    /// A flag byte other than 0 or 1.
    #[error("unknown flag byte {0:#04x}")]
    Flag(u8),
    /// The message's compressed bytes passed the bound.
    #[error("compressed message over {0} bytes")]
    DeflatedTooLarge(usize),
    /// The message inflates to more than the bound.
    #[error("message inflates to more than {0} bytes")]
    InflatedTooLarge(usize),
    /// The bytes are not a complete DEFLATE stream.
    #[error("corrupt deflate data")]
    Corrupt,
    /// The inflated message is not UTF-8.
    #[error("inflated message is not UTF-8")]
    NotUtf8,
}

/// Reassembles and inflates binary lobby frames (client side, sans-IO).
#[derive(Debug, Clone)]
pub struct LobbyInflater {
    pending: Vec<u8>,
    max_deflated: usize,
    max_inflated: usize,
}

impl Default for LobbyInflater {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_DEFLATED, DEFAULT_MAX_INFLATED)
    }
}

impl LobbyInflater {
    /// An inflater that refuses messages over `max_deflated` compressed or `max_inflated`
    /// inflated bytes.
    pub fn new(max_deflated: usize, max_inflated: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_deflated,
            max_inflated,
        }
    }

    /// Takes one binary frame. `Ok(Some(text))` when it completed a message, `Ok(None)`
    /// when more frames are needed. On an error the partial message is dropped.
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<String>, InflateError> {
        let result = self.push_inner(frame);
        if !matches!(result, Ok(None)) {
            self.pending = Vec::new();
        }
        result
    }

    fn push_inner(&mut self, frame: &[u8]) -> Result<Option<String>, InflateError> {
        let (&flag, chunk) = frame.split_first().ok_or(InflateError::Empty)?;
        if flag != FLAG_FIN && flag != FLAG_MORE {
            return Err(InflateError::Flag(flag));
        }
        if self.pending.len().saturating_add(chunk.len()) > self.max_deflated {
            return Err(InflateError::DeflatedTooLarge(self.max_deflated));
        }
        self.pending.extend_from_slice(chunk);
        if flag == FLAG_MORE {
            return Ok(None);
        }
        let inflated =
            decompress_to_vec_with_limit(&self.pending, self.max_inflated).map_err(|e| match e
                .status
            {
                TINFLStatus::HasMoreOutput => InflateError::InflatedTooLarge(self.max_inflated),
                _ => InflateError::Corrupt,
            })?;
        String::from_utf8(inflated)
            .map(Some)
            .map_err(|_| InflateError::NotUtf8)
    }

    /// Bytes of the message being reassembled.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// Fuzz entry point: arbitrary bytes split into frames at `0xff` bytes go through a small
/// bounded [`LobbyInflater`]; every completed message must be valid UTF-8 within the bound.
/// Returns how many messages completed.
pub fn fuzz_inflate(data: &[u8]) -> usize {
    let mut inflater = LobbyInflater::new(64 * 1024, 256 * 1024);
    let mut done = 0;
    for frame in data.split(|&b| b == 0xff) {
        if let Ok(Some(text)) = inflater.push(frame) {
            assert!(text.len() <= 256 * 1024, "inflated past the bound");
            done += 1;
        }
        assert!(inflater.pending_len() <= 64 * 1024, "kept past the bound");
    }
    // Round trip: the input itself, compressed and chunked, decodes to itself.
    let text = String::from_utf8_lossy(data);
    let mut roundtrip = LobbyInflater::default();
    let mut decoded = None;
    for frame in deflate_chunks(text.as_bytes(), 1 + data.len() % 64) {
        match roundtrip.push(&frame) {
            Ok(d) => decoded = d,
            Err(e) => panic!("own frame does not decode: {e}"),
        }
    }
    assert_eq!(decoded.as_deref(), Some(&*text), "round trip");
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(frames: &[Vec<u8>], inflater: &mut LobbyInflater) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| inflater.push(f).expect("valid frame"))
            .collect()
    }

    #[test]
    fn a_large_message_round_trips_in_bounded_chunks() {
        let rows: Vec<String> = (0..2000)
            .map(|i| {
                format!(r#"{{"playerId":"idle{i}","playerName":"idle{i}","status":"available"}}"#)
            })
            .collect();
        let text = format!(
            r#"{{"type":"lobby_update","payload":{{"players":[{}]}}}}"#,
            rows.join(",")
        );
        let frames = deflate_chunks(text.as_bytes(), MAX_CHUNK);
        assert!(frames.len() > 1, "{} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() <= MAX_CHUNK + 1));
        assert!(frames[..frames.len() - 1].iter().all(|f| f[0] == FLAG_MORE));
        assert_eq!(frames.last().map(|f| f[0]), Some(FLAG_FIN));
        let total: usize = frames.iter().map(Vec::len).sum();
        assert!(total * 8 < text.len(), "{total} of {}", text.len());
        let mut inflater = LobbyInflater::default();
        assert_eq!(
            decode_all(&frames, &mut inflater),
            std::slice::from_ref(&text)
        );
        // The inflater is reusable: two messages back to back.
        let again = [frames.clone(), frames].concat();
        assert_eq!(decode_all(&again, &mut inflater), [text.clone(), text]);
    }

    #[test]
    fn an_empty_message_is_one_frame() {
        let frames = deflate_chunks(b"", 8);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            LobbyInflater::default().push(&frames[0]),
            Ok(Some(String::new()))
        );
    }

    #[test]
    fn bad_frames_are_errors_and_the_next_message_still_decodes() {
        let mut inflater = LobbyInflater::default();
        assert_eq!(inflater.push(&[]), Err(InflateError::Empty));
        assert_eq!(inflater.push(&[7, 1, 2]), Err(InflateError::Flag(7)));
        assert_eq!(
            inflater.push(&[FLAG_FIN, 0xde, 0xad]),
            Err(InflateError::Corrupt)
        );
        assert_eq!(inflater.pending_len(), 0);
        let frames = deflate_chunks("{\"ok\":1}".as_bytes(), 4);
        assert_eq!(decode_all(&frames, &mut inflater), ["{\"ok\":1}"]);
    }

    #[test]
    fn sizes_are_bounded_before_allocation() {
        let big = "x".repeat(100_000);
        let frames = deflate_chunks(big.as_bytes(), MAX_CHUNK);
        let mut small = LobbyInflater::new(1 << 20, 50_000);
        let last = frames.iter().map(|f| small.push(f)).last();
        assert_eq!(last, Some(Err(InflateError::InflatedTooLarge(50_000))));
        let mut tiny = LobbyInflater::new(10, 1 << 20);
        assert_eq!(
            tiny.push(&[FLAG_MORE; 12]),
            Err(InflateError::DeflatedTooLarge(10))
        );
        let latin1 = deflate_chunks(&[0xff, 0xfe], 8);
        assert_eq!(
            LobbyInflater::default().push(&latin1[0]),
            Err(InflateError::NotUtf8)
        );
    }

    #[test]
    fn the_url_helper_adds_the_parameter() {
        assert_eq!(
            url_with_deflate("ws://h/ws/signal"),
            "ws://h/ws/signal?lobby_compression=deflate"
        );
        assert_eq!(
            url_with_deflate("ws://h/x?a=1"),
            "ws://h/x?a=1&lobby_compression=deflate"
        );
    }

    #[test]
    fn compression_values_parse() {
        assert_eq!(
            LobbyCompression::parse("deflate"),
            Some(LobbyCompression::Deflate)
        );
        assert_eq!(
            LobbyCompression::parse("none"),
            Some(LobbyCompression::None)
        );
        assert_eq!(LobbyCompression::parse("gzip"), None);
    }
}
