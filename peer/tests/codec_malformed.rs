//! The ggrs message codec (`peer::codec`, the workspace's only decoder of ggrs messages)
//! never panics on arbitrary or mutated bytes, bounds its input, and whatever it accepts
//! survives an encode/decode round trip, as a bare message and as a packet.

use peer::codec::{
    decode_message, decode_packet, encode_message, encode_packet, DecodeError, MAX_MESSAGE_SIZE,
};
use proptest::prelude::*;

/// Valid encodings of a few message kinds (standard bincode config).
fn seeds() -> Vec<Vec<u8>> {
    vec![
        vec![5, 7],                                     // KeepAlive
        vec![5, 0, 42],                                 // SyncRequest
        vec![5, 1, 42],                                 // SyncReply
        vec![5, 2, 0, 0, 0, 0, 0],                      // Input, empty
        vec![5, 3, 8],                                  // InputAck
        vec![5, 6, 9, 2],                               // ChecksumReport
        vec![5, 2, 2, 0, 4, 0, 4, 0, 6, 2, 3, 1, 2, 3], // Input: 2 statuses, start 3, ack 1, 3 bytes
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(msg) = decode_message(&bytes) {
            let again = encode_message(&msg).unwrap();
            prop_assert_eq!(decode_message(&again).unwrap(), msg);
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        seed in 0usize..7,
        flips in proptest::collection::vec((0usize..16, any::<u8>()), 1..4),
        extra in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = seeds()[seed].clone();
        let len = bytes.len().max(1);
        for (pos, val) in flips {
            if let Some(b) = bytes.get_mut(pos % len) {
                *b = val;
            }
        }
        bytes.extend(extra);
        if let Ok(msg) = decode_message(&bytes) {
            let packet = encode_packet(7, &msg).unwrap();
            prop_assert_eq!(decode_packet(&packet).unwrap().message, msg.clone());
            prop_assert_eq!(decode_message(&encode_message(&msg).unwrap()).unwrap(), msg);
        }
    }
}

#[test]
fn valid_seeds_decode_and_oversized_input_is_refused_before_parsing() {
    for s in seeds() {
        assert!(decode_message(&s).is_ok(), "{s:?}");
    }
    // a length prefix claiming a huge vector must not allocate it
    let huge_len = [5u8, 2, 0xfc, 0xff, 0xff, 0xff, 0x7f];
    assert!(decode_message(&huge_len).is_err());
    assert!(matches!(
        decode_message(&vec![0u8; MAX_MESSAGE_SIZE + 1]),
        Err(DecodeError::TooLarge(_))
    ));
}

/// Found by the `ggrs_message_decode` fuzz target (then `rollback_wire_decode`): bincode
/// accepts a non-canonical varint (`fb b5 00` = 181 written as a u16). Decoding must not
/// panic, and the re-encoding is the shorter canonical form, which decodes to the same
/// message.
#[test]
fn non_canonical_varint_decodes_to_its_canonical_form() {
    let input = [0x00, 0x00, 0xfb, 0xb5, 0x00];
    let message = decode_message(&input).expect("bincode accepts the long varint");
    let canonical = encode_message(&message).unwrap();
    assert_eq!(canonical, vec![0x00, 0x00, 0xb5]);
    let again = decode_message(&canonical).unwrap();
    assert_eq!(encode_message(&again).unwrap(), canonical);
}
