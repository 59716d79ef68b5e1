#![no_main]
//! Fuzzes the signaling hub: arbitrary bytes become text frames from three players (see
//! `signal::fuzzing::feed`), parsed and applied to the hub; it must never panic and its
//! invariants must hold after every frame.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    signal::fuzzing::feed(data);
});
