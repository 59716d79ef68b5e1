#![no_main]
//! Fuzzes the bare ggrs message decoder, `peer::codec::decode_message` (the workspace's only
//! decoder of ggrs messages; formerly `rollback::wire::decode`): it must never panic, and
//! whatever it accepts must survive a re-encode / decode round trip unchanged. (bincode
//! accepts non-canonical varints, so the first re-encoding may be shorter than the input;
//! from there on the bytes are a fixed point.)
use libfuzzer_sys::fuzz_target;
use peer::codec::{decode_message, encode_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_message(data) {
        let canonical = encode_message(&message).expect("a decoded message re-encodes");
        assert!(canonical.len() <= data.len(), "re-encoding grew the message");
        let again = decode_message(&canonical).expect("a canonical encoding decodes");
        let twice = encode_message(&again).expect("re-encodes again");
        assert_eq!(twice, canonical, "canonical encoding is not a fixed point");
    }
});
