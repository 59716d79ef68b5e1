#![no_main]
//! Fuzzes the decoder of compressed lobby frames (`signal::lobby_deflate::fuzz_inflate`):
//! arbitrary frames must never panic or inflate past the bound, and the input itself must
//! survive a compress / chunk / inflate round trip.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    signal::lobby_deflate::fuzz_inflate(data);
});
