//! LZ4 payload compression: the K4os "pickle" framing and raw LZ4 blocks (via `lz4_flex`).
//!
//! Decompression is always bounded by an `original_size` the caller has already checked
//! against its configured maximum: the output buffer is allocated once with exactly that
//! size, so a hostile payload can never make it grow (no decompression bombs).

use super::DecodeError;

/// Which framing the reference server uses for compressed payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lz4Format {
    /// A bare LZ4 block; its decompressed size travels in the `OriginalSize` header field.
    #[default]
    RawBlock,
    /// K4os `LZ4Pickler` framing: a header byte, a diff field, then a raw block.
    Pickle,
}

/// Size in bytes of the pickle diff field for the size code in bits 6–7 of the header.
fn pickle_diff_len(header: u8) -> usize {
    match header >> 6 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    }
}

/// Decompresses `payload` into exactly `original_size` bytes.
///
/// Tries the pickle framing first when the first byte looks like a version-0 pickle header
/// and its lengths are consistent with `original_size`, then falls back to a raw block.
pub fn decompress(payload: &[u8], original_size: usize) -> Result<Vec<u8>, DecodeError> {
    if let Some(out) = try_unpickle(payload, original_size) {
        return Ok(out);
    }
    decompress_raw(payload, original_size)
}

/// Decodes a raw LZ4 block that must expand to exactly `original_size` bytes.
pub fn decompress_raw(payload: &[u8], original_size: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = vec![0u8; original_size];
    let written = lz4_flex::block::decompress_into(payload, &mut out)
        .map_err(|e| DecodeError::Decompress(e.to_string()))?;
    if written != original_size {
        return Err(DecodeError::SizeMismatch {
            expected: original_size,
            actual: written,
        });
    }
    Ok(out)
}

/// Decodes the K4os pickle framing when it is consistent with `original_size`.
fn try_unpickle(payload: &[u8], original_size: usize) -> Option<Vec<u8>> {
    let (&header, rest) = payload.split_first()?;
    if header & 0x3F != 0 {
        return None; // version bits 0–2 must be 0, bits 3–5 are unused
    }
    let diff_len = pickle_diff_len(header);
    let diff_bytes = rest.get(..diff_len)?;
    let body = rest.get(diff_len..)?;
    let mut le = [0u8; 4];
    le.get_mut(..diff_len)?.copy_from_slice(diff_bytes);
    let diff = u32::from_le_bytes(le) as usize;
    if diff == 0 {
        return (body.len() == original_size).then(|| body.to_vec());
    }
    if body.len().checked_add(diff)? != original_size {
        return None;
    }
    decompress_raw(body, original_size).ok()
}

/// Compresses `input` as a raw LZ4 block.
pub fn compress_raw(input: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress(input)
}

/// Compresses `input` with the K4os pickle framing (stored when compression does not help).
pub fn compress_pickle(input: &[u8]) -> Vec<u8> {
    let block = lz4_flex::block::compress(input);
    if block.len() >= input.len() {
        let mut out = Vec::with_capacity(input.len() + 1);
        out.push(0x00);
        out.extend_from_slice(input);
        return out;
    }
    let diff = input.len() - block.len();
    let (code, len) = if diff <= 0xFF {
        (1u8, 1usize)
    } else if diff <= 0xFFFF {
        (2, 2)
    } else {
        (3, 4)
    };
    let mut out = Vec::with_capacity(1 + len + block.len());
    out.push(code << 6);
    let diff_le = u32::try_from(diff).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(diff_le.get(..len).unwrap_or(&diff_le));
    out.extend_from_slice(&block);
    out
}

/// Compresses `input` in the given format.
pub fn compress(input: &[u8], format: Lz4Format) -> Vec<u8> {
    match format {
        Lz4Format::RawBlock => compress_raw(input),
        Lz4Format::Pickle => compress_pickle(input),
    }
}
