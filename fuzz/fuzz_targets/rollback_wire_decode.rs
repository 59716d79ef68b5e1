#![no_main]
//! Fuzzes the rollback crate's ggrs message codec: `rollback::wire::decode` must never panic,
//! and whatever it accepts must survive a re-encode / decode round trip unchanged. (bincode
//! accepts non-canonical varints, so the first re-encoding may be shorter than the input;
//! from there on the bytes are a fixed point.)
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = rollback::wire::decode(data) {
        let canonical = rollback::wire::encode(&message).expect("a decoded message re-encodes");
        assert!(canonical.len() <= data.len(), "re-encoding grew the message");
        let again = rollback::wire::decode(&canonical).expect("a canonical encoding decodes");
        let twice = rollback::wire::encode(&again).expect("re-encodes again");
        assert_eq!(twice, canonical, "canonical encoding is not a fixed point");
    }
});
