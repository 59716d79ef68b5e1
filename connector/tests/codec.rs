//! Codec behaviour: the spec's worked example byte for byte, round trips (proptest), LZ4
//! pickle vectors for header bytes 0x00/0x40/0x80/0xC0 and raw blocks, and every malformed
//! input of the spec rejected with a typed error before any oversized allocation.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use bytes::{BufMut, BytesMut};
use connector::codec::{
    self, lz4, CodecLimits, CompressionPolicy, DecodeError, Lz4Format, DEFAULT_MAX_ORIGINAL_SIZE,
};
use proptest::prelude::*;

const WORKED: [u8; 21] = [
    0x11, 0x00, 0x00, 0x00, 0x04, 0x50, 0x69, 0x6E, 0x67, 0x02, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44,
    0x33, 0x22, 0x11, 0xAA, 0xBB,
];

#[test]
fn worked_example_encodes_byte_for_byte() {
    let mut out = BytesMut::new();
    codec::encode_client(
        "Ping",
        0x0102,
        0x1122_3344_5566_7788,
        &[0xAA, 0xBB],
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..], &WORKED[..]);
}

#[test]
fn worked_example_decodes() {
    let mut buf = BytesMut::from(&WORKED[..]);
    let p = codec::decode_client(&mut buf, &CodecLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(p.msg_id, "Ping");
    assert_eq!(p.seq, 0x0102);
    assert_eq!(p.stage_id, 0x1122_3344_5566_7788);
    assert_eq!(&p.payload[..], &[0xAA, 0xBB]);
    assert!(buf.is_empty());
}

#[test]
fn every_prefix_of_a_packet_needs_more_bytes() {
    for cut in 0..WORKED.len() {
        let r = codec::decode_client_slice(&WORKED[..cut], &CodecLimits::default());
        assert_eq!(r, Ok(None), "prefix of {cut} bytes");
    }
}

/// Builds a server packet by hand: header fields then `payload` as given.
fn server_frame(
    msg_id: &str,
    seq: u16,
    stage: i64,
    code: u16,
    original: i32,
    payload: &[u8],
) -> BytesMut {
    let mut b = BytesMut::new();
    let len = 1 + msg_id.len() + 2 + 8 + 2 + 4 + payload.len();
    b.put_i32_le(len as i32);
    b.put_u8(msg_id.len() as u8);
    b.put_slice(msg_id.as_bytes());
    b.put_u16_le(seq);
    b.put_i64_le(stage);
    b.put_u16_le(code);
    b.put_i32_le(original);
    b.put_slice(payload);
    b
}

/// A hand-written LZ4 block expanding to `n` (≥ 20) bytes of `'a'`: one literal, one long
/// match at offset 1, then five final literals.
fn run_block(n: usize) -> Vec<u8> {
    let m = n - 6;
    let mut extra = m - 4 - 15;
    let mut b = vec![0x1F, b'a', 0x01, 0x00];
    while extra >= 255 {
        b.push(255);
        extra -= 255;
    }
    b.push(extra as u8);
    b.push(0x50);
    b.extend_from_slice(b"aaaaa");
    b
}

fn pickle(code: u8, diff: u32, block: &[u8]) -> Vec<u8> {
    let mut p = vec![code << 6];
    let len = [0usize, 1, 2, 4][usize::from(code)];
    p.extend_from_slice(&diff.to_le_bytes()[..len]);
    p.extend_from_slice(block);
    p
}

fn decode_payload(
    original: i32,
    payload: &[u8],
    limits: &CodecLimits,
) -> Result<Vec<u8>, DecodeError> {
    let mut buf = server_frame("Pickled", 1, 0, 0, original, payload);
    codec::decode_server(&mut buf, limits).map(|p| p.expect("complete").payload.to_vec())
}

#[test]
fn pickle_header_00_stored() {
    let data = b"stored bytes, not compressed";
    let mut p = vec![0x00];
    p.extend_from_slice(data);
    let out = decode_payload(data.len() as i32, &p, &CodecLimits::default()).unwrap();
    assert_eq!(out, data);
}

#[test]
fn pickle_headers_40_80_c0() {
    for (code, n) in [(1u8, 100usize), (2, 1000), (3, 70_000)] {
        let block = run_block(n);
        let diff = (n - block.len()) as u32;
        let p = pickle(code, diff, &block);
        assert_eq!(p[0], code << 6);
        let out = decode_payload(n as i32, &p, &CodecLimits::default()).unwrap();
        assert_eq!(out, vec![b'a'; n], "header {:#04x}", code << 6);
    }
}

#[test]
fn pickle_written_by_this_crate_round_trips() {
    for n in [10usize, 600, 5000, 300_000] {
        let data: Vec<u8> = (0..n).map(|i| (i % 7) as u8).collect();
        let p = lz4::compress_pickle(&data);
        assert_eq!(lz4::decompress(&p, n).unwrap(), data);
    }
}

#[test]
fn raw_blocks_decode_including_pickle_lookalike_tokens() {
    let block = run_block(500);
    assert_eq!(
        decode_payload(500, &block, &CodecLimits::default()).unwrap(),
        vec![b'a'; 500]
    );
    // token 0x40 (4 literals, match of 4) looks like a pickle header byte
    let lookalike = [
        0x40, b'a', b'b', b'c', b'd', 0x04, 0x00, 0x50, b'e', b'f', b'g', b'h', b'i',
    ];
    let out = decode_payload(13, &lookalike, &CodecLimits::default()).unwrap();
    assert_eq!(out, b"abcdabcdefghi");
    let data = vec![42u8; 4096];
    let raw = lz4_flex::block::compress(&data);
    assert_eq!(
        decode_payload(4096, &raw, &CodecLimits::default()).unwrap(),
        data
    );
}

#[test]
fn malformed_lengths_are_errors_before_allocation() {
    let limits = CodecLimits::default();
    for len in [
        0i32,
        -1,
        i32::MIN,
        i32::MAX,
        (limits.max_packet_len + 1) as i32,
    ] {
        let buf = len.to_le_bytes();
        let r = codec::decode_client_slice(&buf, &limits);
        assert!(
            matches!(r, Err(DecodeError::LengthOutOfRange { .. })),
            "len {len}: {r:?}"
        );
        let r = codec::decode_server_slice(&buf, &limits);
        assert!(
            matches!(r, Err(DecodeError::LengthOutOfRange { .. })),
            "len {len}: {r:?}"
        );
    }
}

#[test]
fn truncated_headers_and_msg_id_past_end() {
    let limits = CodecLimits::default();
    // Len 5: shorter than the fixed client header
    let short = [5, 0, 0, 0, 1, b'X', 0, 0, 0];
    assert!(matches!(
        codec::decode_client_slice(&short, &limits),
        Err(DecodeError::Truncated { .. })
    ));
    // MsgIdLen 200 in a 20-byte packet
    let mut b = BytesMut::new();
    b.put_i32_le(20);
    b.put_u8(200);
    b.put_slice(&[b'a'; 19]);
    assert!(matches!(
        codec::decode_client_slice(&b, &limits),
        Err(DecodeError::MsgIdPastEnd {
            msg_id_len: 200,
            len: 20
        })
    ));
    let mut s = server_frame("Ok", 1, 0, 0, 0, &[]);
    s[4] = 100;
    assert!(matches!(
        codec::decode_server(&mut s, &limits),
        Err(DecodeError::MsgIdPastEnd { .. })
    ));
    let mut z = server_frame("Ok", 1, 0, 0, 0, &[1, 2, 3]);
    z[4] = 0;
    assert_eq!(
        codec::decode_server(&mut z, &limits),
        Err(DecodeError::EmptyMsgId)
    );
    let mut bad_utf8 = server_frame("\u{0}\u{0}", 1, 0, 0, 0, &[]);
    bad_utf8[5] = 0xFF;
    assert_eq!(
        codec::decode_server(&mut bad_utf8, &limits),
        Err(DecodeError::MsgIdNotUtf8)
    );
}

#[test]
fn bad_original_sizes() {
    let limits = CodecLimits::default();
    let block = run_block(1000);
    assert_eq!(
        decode_payload(-5, &block, &limits),
        Err(DecodeError::NegativeOriginalSize(-5))
    );
    assert_eq!(
        decode_payload(i32::MAX, &block, &limits),
        Err(DecodeError::OriginalSizeTooLarge {
            size: i32::MAX as usize,
            max: DEFAULT_MAX_ORIGINAL_SIZE
        })
    );
    // wrong decompressed size, both directions
    assert!(decode_payload(1001, &block, &limits).is_err());
    assert!(decode_payload(999, &block, &limits).is_err());
    // a pickle whose diff disagrees with OriginalSize and whose body is no valid raw block
    let p = pickle(2, 5, &block);
    assert!(decode_payload(1000, &p, &limits).is_err());
    // garbage
    assert!(decode_payload(64, &[0xFF; 16], &limits).is_err());
}

#[test]
fn decompression_bombs_are_bounded_by_original_size_and_limit() {
    // 70 000 bytes of output packed into 285 bytes, but OriginalSize claims 1 000
    let bomb = run_block(70_000);
    let limits = CodecLimits {
        max_packet_len: 4096,
        max_original_size: 65_536,
    };
    let r = decode_payload(1000, &bomb, &limits);
    assert!(
        matches!(
            r,
            Err(DecodeError::Decompress(_)) | Err(DecodeError::SizeMismatch { .. })
        ),
        "{r:?}"
    );
    // honest size but above the configured maximum: refused before decompressing
    let r = decode_payload(70_000, &bomb, &limits);
    assert_eq!(
        r,
        Err(DecodeError::OriginalSizeTooLarge {
            size: 70_000,
            max: 65_536
        })
    );
}

#[test]
fn server_compression_policy() {
    let limits = CodecLimits::default();
    let policy = Some(CompressionPolicy::default());
    let small = vec![0u8; 512];
    let mut out = BytesMut::new();
    codec::encode_server("R", 1, 0, 0, &small, policy, &mut out).unwrap();
    assert_eq!(
        &out[out.len() - 512 - 4..out.len() - 512],
        &0i32.to_le_bytes(),
        "≤ 512 bytes stay plain"
    );
    let big = vec![0u8; 4096];
    out.clear();
    codec::encode_server("R", 1, 0, 0, &big, policy, &mut out).unwrap();
    assert!(out.len() < 200, "compressible payload was compressed");
    let p = codec::decode_server(&mut out, &limits).unwrap().unwrap();
    assert_eq!(p.payload.to_vec(), big);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    out.clear();
    codec::encode_server("R", 1, 0, 0, &noise, policy, &mut out).unwrap();
    assert!(out.len() > 4096, "incompressible payload is sent plain");
}

#[test]
fn encode_rejects_bad_msg_ids() {
    let mut out = BytesMut::new();
    assert!(codec::encode_client("", 0, 0, &[], &mut out).is_err());
    assert!(codec::encode_client(&"x".repeat(256), 0, 0, &[], &mut out).is_err());
    assert!(out.is_empty());
}

proptest! {
    #[test]
    fn client_round_trip(id in "[A-Za-z@]{1,40}", seq: u16, stage: i64, payload in proptest::collection::vec(any::<u8>(), 0..2000), cut in 0usize..64) {
        let mut out = BytesMut::new();
        codec::encode_client(&id, seq, stage, &payload, &mut out).unwrap();
        let cut = cut.min(out.len() - 1);
        prop_assert_eq!(codec::decode_client_slice(&out[..cut], &CodecLimits::default()), Ok(None));
        let (p, used) = codec::decode_client_slice(&out, &CodecLimits::default()).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(p.msg_id, id);
        prop_assert_eq!(p.seq, seq);
        prop_assert_eq!(p.stage_id, stage);
        prop_assert_eq!(p.payload.to_vec(), payload);
    }

    #[test]
    fn server_round_trip(id in "[A-Za-z]{1,40}", seq: u16, stage: i64, code: u16, fmt in 0u8..3, run in 1usize..6, payload in proptest::collection::vec(0u8..4, 0..3000)) {
        let payload: Vec<u8> = payload.iter().flat_map(|b| std::iter::repeat_n(*b, run)).collect();
        let policy = match fmt {
            0 => None,
            1 => Some(CompressionPolicy::default()),
            _ => Some(CompressionPolicy { format: Lz4Format::Pickle, ..CompressionPolicy::default() }),
        };
        let mut out = BytesMut::new();
        codec::encode_server(&id, seq, stage, code, &payload, policy, &mut out).unwrap();
        let mut two = out.clone();
        two.extend_from_slice(&out);
        for _ in 0..2 {
            let p = codec::decode_server(&mut two, &CodecLimits::default()).unwrap().unwrap();
            prop_assert_eq!(&p.msg_id, &id);
            prop_assert_eq!(p.seq, seq);
            prop_assert_eq!(p.stage_id, stage);
            prop_assert_eq!(p.error_code, code);
            prop_assert_eq!(p.payload.to_vec(), payload.clone());
        }
        prop_assert!(two.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = CodecLimits { max_packet_len: 4096, max_original_size: 8192 };
        let _ = codec::decode_client_slice(&data, &limits);
        let _ = codec::decode_server_slice(&data, &limits);
        let _ = lz4::decompress(&data, 1024);
    }
}
