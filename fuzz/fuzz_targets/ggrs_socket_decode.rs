#![no_main]
//! Fuzzes the game-channel packet decoder: `peer::codec::decode_packet` must never panic,
//! and whatever it accepts must re-encode to the same bytes it was decoded from.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = peer::codec::decode_packet(data) {
        let again = peer::codec::encode_packet(packet.sequence, &packet.message)
            .expect("a decoded packet re-encodes");
        let reparsed = peer::codec::decode_packet(&again).expect("re-encoded packet decodes");
        assert_eq!(reparsed, packet);
    }
});
