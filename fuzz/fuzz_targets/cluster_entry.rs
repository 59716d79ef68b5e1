#![no_main]
//! Fuzzes what a cluster node reads from Redis: stream ids and log entries (see
//! `signal::cluster::fuzz_stream_entries`). Decoding never panics, and the entries that
//! decode are applied to a hub replica whose invariants must hold.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    signal::cluster::fuzz_stream_entries(data);
});
