//! The replay byte format (`docs/spec/replay.md`): a checked header, then sections that
//! each carry their own CRC-32, so damage is located to a chunk of frames.
//!
//! Decoding is bounded: every length is checked against a limit and against the bytes
//! left before anything is allocated, and every failure is a [`ReplayError`].

use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

use super::entropy;
use super::format::{
    ChunkDamage, DescribedState, Replay, ReplayEnd, ReplayHeader, DEFAULT_CHUNK_FRAMES,
    FORMAT_VERSION, MAGIC, MAX_CHUNKS, MAX_CHUNK_BYTES, MAX_CHUNK_FRAMES, MAX_FRAMES,
    MAX_HEADER_BYTES, MAX_INPUT_BYTES, MAX_PLAYERS,
};

/// Section kind: a chunk of inputs and checksums.
pub const SECTION_INPUTS: u8 = 1;
/// Section kind: a described state.
pub const SECTION_DESCRIBED: u8 = 2;
/// Section kind: the end section (last in the file).
pub const SECTION_END: u8 = 3;
/// Bytes before the header: magic, version, header length, header CRC.
pub const PREAMBLE_BYTES: usize = 8 + 2 + 8 + 4;
/// Bytes of a section head: kind, first frame, frames, raw length, stored length, CRC.
pub const SECTION_HEAD_BYTES: usize = 1 + 4 + 4 + 8 + 8 + 4;
/// Largest total of decompressed bytes accepted from one file.
pub const MAX_TOTAL_RAW_BYTES: u64 = 256 * 1024 * 1024;
/// Deflate level used by the encoder (0-10).
pub const DEFLATE_LEVEL: u8 = 9;

/// Why a replay could not be encoded, decoded or used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// The file does not start with the replay magic.
    #[error("not a netplay replay (bad magic number)")]
    BadMagic,
    /// The file was written by a newer (or unknown) format version.
    #[error(
        "replay format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The file ends before `what` is complete.
    #[error("replay truncated: {what} ends past the end of the file (offset {offset})")]
    Truncated {
        /// The part being read.
        what: &'static str,
        /// Its offset.
        offset: usize,
    },
    /// A size field exceeds its limit.
    #[error("replay {what} size {size} exceeds the limit of {limit}")]
    TooLarge {
        /// The field.
        what: &'static str,
        /// Its value.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The header section failed its integrity check or could not be parsed.
    #[error("replay header is damaged: {0}")]
    HeaderDamaged(String),
    /// The end section failed its integrity check or could not be parsed.
    #[error("replay end section is damaged: {0}")]
    EndDamaged(String),
    /// A structural error at `offset`.
    #[error("replay corrupt at offset {offset}: {reason}")]
    Corrupt {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The replay is of another game.
    #[error("replay is of game '{found}', not '{expected}'")]
    WrongGame {
        /// Game id in the replay.
        found: String,
        /// This game's id.
        expected: String,
    },
    /// The replay was recorded by another build of the game.
    #[error(
        "replay was recorded by another build of '{game}' (version hash {found:016x}, this build is {expected:016x}); play it with the build that recorded it"
    )]
    WrongGameVersion {
        /// Game id.
        game: String,
        /// Hash in the replay.
        found: u64,
        /// This build's hash.
        expected: u64,
    },
    /// The game could not rebuild its initial state from the replay.
    #[error("the game cannot rebuild its initial state from this replay")]
    BadInitialState,
    /// Encoding failed.
    #[error("replay encoding failed: {0}")]
    Encode(String),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

fn bincode_limited<const N: usize>() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<N>()
}

fn ser<T: Serialize>(v: &T) -> Result<Vec<u8>, ReplayError> {
    bincode::serde::encode_to_vec(v, bincode_config())
        .map_err(|e| ReplayError::Encode(e.to_string()))
}

fn deflate(raw: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(raw, DEFLATE_LEVEL)
}

fn push_section(out: &mut Vec<u8>, kind: u8, first: u32, frames: u32, raw: &[u8]) {
    // input chunks are entropy-coded already; the other sections are deflated
    let stored = if kind == SECTION_INPUTS {
        raw.to_vec()
    } else {
        deflate(raw)
    };
    let start = out.len();
    out.push(kind);
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&frames.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(out.get(start..).unwrap_or_default());
    crc.update(&stored);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&stored);
}

/// Encodes `replay` with [`DEFAULT_CHUNK_FRAMES`] frames per chunk.
pub fn encode<I: Copy + Serialize>(replay: &Replay<I>) -> Result<Vec<u8>, ReplayError> {
    encode_with_chunk(replay, DEFAULT_CHUNK_FRAMES)
}

/// Encodes `replay` with `chunk_frames` frames per input chunk.
pub fn encode_with_chunk<I: Copy + Serialize>(
    replay: &Replay<I>,
    chunk_frames: u32,
) -> Result<Vec<u8>, ReplayError> {
    let chunk_frames = chunk_frames.clamp(1, MAX_CHUNK_FRAMES);
    let players = replay.players();
    if players > MAX_PLAYERS || replay.frames() > MAX_FRAMES {
        return Err(ReplayError::Encode("too many players or frames".into()));
    }
    let header = ser(&replay.header)?;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
    out.extend_from_slice(&header);
    let frames = replay.frames();
    let mut ck = replay.checksums.iter().peekable();
    let mut first = 0u32;
    loop {
        let n = chunk_frames.min(frames - first);
        let end = first + n;
        let last_chunk = end == frames;
        // checksums of frames first..end (the last chunk also takes any at `frames`)
        let mut sums = Vec::new();
        while let Some(&&(f, c)) = ck.peek() {
            if f < end || (last_chunk && f == end) {
                sums.push((f, c));
                ck.next();
            } else {
                break;
            }
        }
        let mut raw = Vec::with_capacity(8 + sums.len() * 18 + (n as usize) * players);
        put_varint(&mut raw, sums.len() as u64);
        let mut at = first;
        for (f, c) in &sums {
            put_varint(&mut raw, u64::from(f - at));
            raw.extend_from_slice(&c.to_le_bytes());
            at = *f;
        }
        // one column per player: inputs repeat along a column, which the coder exploits
        let mut column = Vec::with_capacity(n as usize);
        for p in 0..players {
            column.clear();
            for f in first..end {
                let input = replay
                    .inputs
                    .get(f as usize * players + p)
                    .ok_or_else(|| ReplayError::Encode("inputs missing".into()))?;
                bincode::serde::encode_into_std_write(input, &mut column, bincode_config())
                    .map_err(|e| ReplayError::Encode(e.to_string()))?;
            }
            let packed = entropy::compress(&column);
            put_varint(&mut raw, column.len() as u64);
            put_varint(&mut raw, packed.len() as u64);
            raw.extend_from_slice(&packed);
        }
        push_section(&mut out, SECTION_INPUTS, first, n, &raw);
        first = end;
        if last_chunk {
            break;
        }
    }
    for d in &replay.described {
        push_section(&mut out, SECTION_DESCRIBED, d.frame, 0, &ser(d)?);
    }
    push_section(
        &mut out,
        SECTION_END,
        replay.end.frames,
        0,
        &ser(&replay.end)?,
    );
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A bounds-checked reader over the file bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReplayError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let slice = end.and_then(|e| self.bytes.get(self.pos..e));
        match slice {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(ReplayError::Truncated {
                what,
                offset: self.pos,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ReplayError> {
        let s = self.take(N, what)?;
        s.try_into().map_err(|_| ReplayError::Truncated {
            what,
            offset: self.pos,
        })
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// An LEB128 varint of at most 10 bytes.
    fn varint(&mut self, what: &'static str) -> Result<u64, ReplayError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.take(1, what)?.first().copied().unwrap_or(0);
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReplayError::Corrupt {
            offset: self.pos,
            reason: format!("{what}: varint too long"),
        })
    }
}

/// Checks a length field against its limit and the bytes left.
fn check_len(len: u64, limit: u64, what: &'static str) -> Result<usize, ReplayError> {
    if len > limit {
        return Err(ReplayError::TooLarge {
            what,
            size: len,
            limit,
        });
    }
    usize::try_from(len).map_err(|_| ReplayError::TooLarge {
        what,
        size: len,
        limit,
    })
}

/// Reads only the preamble and header section (cheap; no game type needed).
pub fn decode_header(bytes: &[u8]) -> Result<ReplayHeader, ReplayError> {
    let mut r = Reader { bytes, pos: 0 };
    read_header(&mut r)
}

fn read_header(r: &mut Reader<'_>) -> Result<ReplayHeader, ReplayError> {
    let magic: [u8; 8] = r.array("magic")?;
    if magic != MAGIC {
        return Err(ReplayError::BadMagic);
    }
    let version = u16::from_le_bytes(r.array("version")?);
    if version != FORMAT_VERSION {
        return Err(ReplayError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = check_len(
        u64::from_le_bytes(r.array("header length")?),
        MAX_HEADER_BYTES,
        "header",
    )?;
    let crc = u32::from_le_bytes(r.array("header checksum")?);
    let body = r.take(len, "header")?;
    if crc32fast::hash(body) != crc {
        return Err(ReplayError::HeaderDamaged("CRC-32 mismatch".into()));
    }
    let (header, used): (ReplayHeader, usize) =
        bincode::serde::decode_from_slice(body, bincode_limited::<{ MAX_HEADER_BYTES as usize }>())
            .map_err(|e| ReplayError::HeaderDamaged(e.to_string()))?;
    if used != body.len() {
        return Err(ReplayError::HeaderDamaged("trailing bytes".into()));
    }
    let players = usize::from(header.players);
    if players == 0 || players > MAX_PLAYERS {
        return Err(ReplayError::HeaderDamaged(format!(
            "player count {players} out of range 1..={MAX_PLAYERS}"
        )));
    }
    Ok(header)
}

/// One section as read: head fields, whether its CRC matched, and its stored payload.
struct Section<'a> {
    offset: usize,
    kind: u8,
    first_frame: u32,
    frames: u32,
    raw_len: usize,
    stored: &'a [u8],
    intact: bool,
}

fn read_section<'a>(r: &mut Reader<'a>) -> Result<Section<'a>, ReplayError> {
    let offset = r.pos;
    let head = r.take(SECTION_HEAD_BYTES - 4, "section head")?;
    let crc = u32::from_le_bytes(r.array("section checksum")?);
    let field = |range: std::ops::Range<usize>| head.get(range).unwrap_or_default();
    let kind = head.first().copied().unwrap_or_default();
    let u32_at = |at: usize| {
        field(at..at + 4)
            .try_into()
            .map(u32::from_le_bytes)
            .unwrap_or(u32::MAX)
    };
    let u64_at = |at: usize| {
        field(at..at + 8)
            .try_into()
            .map(u64::from_le_bytes)
            .unwrap_or(u64::MAX)
    };
    let (first_frame, frames) = (u32_at(1), u32_at(5));
    let raw_len = check_len(u64_at(9), MAX_CHUNK_BYTES, "section raw")?;
    let stored_len = check_len(u64_at(17), MAX_CHUNK_BYTES, "section stored")?;
    if stored_len > r.remaining() {
        return Err(ReplayError::Truncated {
            what: "section payload",
            offset: r.pos,
        });
    }
    let stored = r.take(stored_len, "section payload")?;
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(stored);
    Ok(Section {
        offset,
        kind,
        first_frame,
        frames,
        raw_len,
        stored,
        intact: h.finalize() == crc,
    })
}

fn inflate(s: &Section<'_>) -> Result<Vec<u8>, String> {
    if s.kind == SECTION_INPUTS {
        if s.stored.len() != s.raw_len {
            return Err("input chunk lengths disagree".into());
        }
        return Ok(s.stored.to_vec());
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(s.stored, s.raw_len)
        .map_err(|e| format!("deflate: {e:?}"))?;
    if raw.len() != s.raw_len {
        return Err(format!(
            "payload is {} bytes, head says {}",
            raw.len(),
            s.raw_len
        ));
    }
    Ok(raw)
}

type ChunkBody<I> = (Vec<(u32, u128)>, Vec<I>);

/// Parses an input chunk's payload: checksums then one coded input column per player.
fn parse_chunk<I: Copy + DeserializeOwned>(
    raw: &[u8],
    first: u32,
    frames: u32,
    players: usize,
) -> Result<ChunkBody<I>, String> {
    let mut r = Reader { bytes: raw, pos: 0 };
    let e = |e: ReplayError| e.to_string();
    let count = r.varint("checksum count").map_err(e)?;
    if count
        .checked_mul(17)
        .is_none_or(|n| n > r.remaining() as u64)
    {
        return Err(format!("{count} checksums do not fit the chunk"));
    }
    let mut sums = Vec::with_capacity(count as usize);
    let mut at = u64::from(first);
    for _ in 0..count {
        at = at.saturating_add(r.varint("checksum frame").map_err(e)?);
        let c = u128::from_le_bytes(r.array("checksum").map_err(e)?);
        if at > u64::from(first) + u64::from(frames) {
            return Err(format!("checksum frame {at} outside its chunk"));
        }
        if sums.last().is_some_and(|(l, _)| u64::from(*l) == at) {
            return Err(format!("checksum frame {at} twice"));
        }
        sums.push((at as u32, c));
    }
    let n = frames as usize;
    let mut columns: Vec<Vec<I>> = Vec::with_capacity(players);
    for _ in 0..players {
        let len = r.varint("column length").map_err(e)?;
        if len > (n * MAX_INPUT_BYTES) as u64 || len > MAX_CHUNK_BYTES || len < n as u64 {
            return Err(format!("column of {len} bytes for {n} inputs"));
        }
        let packed_len = r.varint("packed column length").map_err(e)?;
        let packed = usize::try_from(packed_len)
            .ok()
            .filter(|l| *l <= r.remaining())
            .ok_or_else(|| format!("packed column of {packed_len} bytes past the chunk"))?;
        let packed = r.take(packed, "packed column").map_err(e)?;
        let column = entropy::decompress(packed, len as usize);
        let mut rest = column.as_slice();
        let mut inputs = Vec::with_capacity(n);
        for _ in 0..n {
            let (input, used): (I, usize) =
                bincode::serde::decode_from_slice(rest, bincode_limited::<MAX_INPUT_BYTES>())
                    .map_err(|e| format!("input: {e}"))?;
            rest = rest.get(used..).unwrap_or_default();
            inputs.push(input);
        }
        if !rest.is_empty() {
            return Err("trailing bytes after a column's inputs".into());
        }
        columns.push(inputs);
    }
    if r.remaining() != 0 {
        return Err("trailing bytes after the columns".into());
    }
    // columns (player-major) to frame-major
    let mut inputs = Vec::with_capacity(n * players);
    for f in 0..n {
        for column in &columns {
            inputs.push(column.get(f).copied().ok_or("index")?);
        }
    }
    Ok((sums, inputs))
}

/// Decodes a replay without checking which game it belongs to. A chunk whose CRC fails is
/// still used when its content parses (re-simulation then locates the damage); otherwise
/// the inputs stop before it. Either way it is listed in [`Replay::damage`].
pub fn decode<I: Copy + DeserializeOwned>(bytes: &[u8]) -> Result<Replay<I>, ReplayError> {
    let mut r = Reader { bytes, pos: 0 };
    let header = read_header(&mut r)?;
    let players = usize::from(header.players);
    let mut inputs: Vec<I> = Vec::new();
    let mut checksums: Vec<(u32, u128)> = Vec::new();
    let mut described = Vec::new();
    let mut damage = Vec::new();
    let mut next_frame = 0u32;
    let mut inputs_complete = true;
    let mut total_raw = 0u64;
    for _ in 0..=MAX_CHUNKS {
        let s = read_section(&mut r)?;
        total_raw = total_raw.saturating_add(s.raw_len as u64);
        if total_raw > MAX_TOTAL_RAW_BYTES {
            return Err(ReplayError::TooLarge {
                what: "decompressed total",
                size: total_raw,
                limit: MAX_TOTAL_RAW_BYTES,
            });
        }
        let corrupt = |reason: String| ReplayError::Corrupt {
            offset: s.offset,
            reason,
        };
        match s.kind {
            SECTION_INPUTS => {
                if s.frames > MAX_CHUNK_FRAMES {
                    return Err(ReplayError::TooLarge {
                        what: "chunk frames",
                        size: u64::from(s.frames),
                        limit: u64::from(MAX_CHUNK_FRAMES),
                    });
                }
                if s.first_frame != next_frame && s.intact {
                    return Err(corrupt(format!(
                        "chunk starts at frame {}, expected {next_frame}",
                        s.first_frame
                    )));
                }
                let end = next_frame.saturating_add(s.frames);
                if end > MAX_FRAMES {
                    return Err(ReplayError::TooLarge {
                        what: "frames",
                        size: u64::from(end),
                        limit: u64::from(MAX_FRAMES),
                    });
                }
                let parsed = inflate(&s)
                    .and_then(|raw| parse_chunk::<I>(&raw, next_frame, s.frames, players));
                match parsed {
                    Ok((sums, chunk_inputs)) if s.intact || inputs_complete => {
                        if !s.intact {
                            damage.push(ChunkDamage {
                                first_frame: next_frame,
                                frames: s.frames,
                                readable: true,
                            });
                        }
                        if inputs_complete {
                            inputs.extend_from_slice(&chunk_inputs);
                        }
                        checksums.extend(sums);
                    }
                    Ok((sums, _)) => {
                        // damaged, after an unreadable chunk: listed, inputs unused
                        damage.push(ChunkDamage {
                            first_frame: next_frame,
                            frames: s.frames,
                            readable: true,
                        });
                        checksums.extend(sums);
                    }
                    Err(reason) if s.intact => return Err(corrupt(reason)),
                    Err(_) => {
                        damage.push(ChunkDamage {
                            first_frame: next_frame,
                            frames: s.frames,
                            readable: false,
                        });
                        inputs_complete = false;
                    }
                }
                next_frame = end;
            }
            SECTION_DESCRIBED => {
                // optional: a damaged described state is dropped
                let d = inflate(&s).ok().and_then(|raw| {
                    bincode::serde::decode_from_slice::<DescribedState, _>(
                        &raw,
                        bincode_limited::<{ MAX_CHUNK_BYTES as usize }>(),
                    )
                    .ok()
                });
                if let (true, Some((d, _))) = (s.intact, d) {
                    described.push(d);
                }
            }
            SECTION_END => {
                if !s.intact {
                    return Err(ReplayError::EndDamaged("CRC-32 mismatch".into()));
                }
                let raw = inflate(&s).map_err(ReplayError::EndDamaged)?;
                let (end, _): (ReplayEnd, usize) =
                    bincode::serde::decode_from_slice(&raw, bincode_limited::<1024>())
                        .map_err(|e| ReplayError::EndDamaged(e.to_string()))?;
                if end.frames != next_frame {
                    return Err(ReplayError::EndDamaged(format!(
                        "end says {} frames, the chunks hold {next_frame}",
                        end.frames
                    )));
                }
                if r.remaining() != 0 {
                    return Err(ReplayError::Corrupt {
                        offset: r.pos,
                        reason: "bytes after the end section".into(),
                    });
                }
                checksums.sort_by_key(|(f, _)| *f);
                checksums.dedup_by_key(|(f, _)| *f);
                described.sort_by_key(|d: &DescribedState| d.frame);
                return Ok(Replay {
                    header,
                    inputs,
                    checksums,
                    described,
                    end,
                    damage,
                });
            }
            other => return Err(corrupt(format!("unknown section kind {other}"))),
        }
    }
    Err(ReplayError::TooLarge {
        what: "section count",
        size: MAX_CHUNKS as u64 + 1,
        limit: MAX_CHUNKS as u64,
    })
}

/// Checks that `header` belongs to game `G` of this build.
pub fn check_game<G: crate::Game>(header: &ReplayHeader) -> Result<(), ReplayError> {
    let expected = G::game_id();
    if header.game_id != expected {
        return Err(ReplayError::WrongGame {
            found: header.game_id.clone(),
            expected,
        });
    }
    let version = G::version_hash();
    if header.game_version != version {
        return Err(ReplayError::WrongGameVersion {
            game: expected,
            found: header.game_version,
            expected: version,
        });
    }
    Ok(())
}

/// Decodes a replay of game `G` and checks its id and version hash.
pub fn decode_for<G: crate::Game>(bytes: &[u8]) -> Result<Replay<G::Input>, ReplayError> {
    let header = decode_header(bytes)?;
    check_game::<G>(&header)?;
    decode(bytes)
}

/// Where the bytes of an encoded replay go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SizeBreakdown {
    /// Whole file.
    pub total: usize,
    /// Preamble and header section.
    pub header: usize,
    /// Coded input columns (with their length fields).
    pub inputs: usize,
    /// Recorded checksums (with their frame fields).
    pub checksums: usize,
    /// Section heads, described states and the end section.
    pub other: usize,
}

/// Measures an encoded replay (`None` if it does not parse).
pub fn size_breakdown(bytes: &[u8]) -> Option<SizeBreakdown> {
    let mut r = Reader { bytes, pos: 0 };
    read_header(&mut r).ok()?;
    let mut out = SizeBreakdown {
        total: bytes.len(),
        header: r.pos,
        ..SizeBreakdown::default()
    };
    while r.remaining() > 0 {
        let s = read_section(&mut r).ok()?;
        if s.kind != SECTION_INPUTS {
            continue;
        }
        let mut p = Reader {
            bytes: s.stored,
            pos: 0,
        };
        let count = p.varint("count").ok()?;
        for _ in 0..count {
            p.varint("frame").ok()?;
            p.take(16, "checksum").ok()?;
        }
        out.checksums += p.pos;
        out.inputs += s.stored.len() - p.pos;
    }
    out.other = out.total - out.header - out.inputs - out.checksums;
    Some(out)
}
