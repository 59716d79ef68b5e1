#![no_main]
//! Fuzzes the connector codec: both decode directions over a byte stream (several packets,
//! partial packets) and the LZ4 paths, with small limits. Must never panic or over-allocate.
use connector::codec::{self, lz4, CodecLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = CodecLimits {
        max_packet_len: 64 * 1024,
        max_original_size: 256 * 1024,
    };
    let mut rest = data;
    while let Ok(Some((_, used))) = codec::decode_server_slice(rest, &limits) {
        rest = &rest[used..];
    }
    let mut rest = data;
    while let Ok(Some((_, used))) = codec::decode_client_slice(rest, &limits) {
        rest = &rest[used..];
    }
    if let Some((&size, payload)) = data.split_first() {
        let original = usize::from(size) * 97;
        if let Ok(out) = lz4::decompress(payload, original) {
            assert_eq!(out.len(), original);
        }
    }
});
