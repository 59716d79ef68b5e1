#![no_main]
//! Fuzzes the replay decoder: `rollback::replay::decode` must never panic and must bound
//! its allocations; a replay it accepts re-encodes and decodes to the same replay, and
//! verifying or loading it for playback never panics either.
use libfuzzer_sys::fuzz_target;
use rollback::fighter::{FighterGame, FighterInput};
use rollback::replay;

fuzz_target!(|data: &[u8]| {
    let _ = replay::decode_header(data);
    let _ = replay::size_breakdown(data);
    if let Ok(r) = replay::decode::<FighterInput>(data) {
        if r.damage.is_empty() {
            let bytes = replay::encode(&r).expect("a decoded replay re-encodes");
            let again = replay::decode::<FighterInput>(&bytes).expect("and decodes");
            assert_eq!(again, r, "round trip changed the replay");
        }
        // bounded work: only short replays are simulated
        if r.frames() <= 20_000 {
            let _ = replay::verify::<FighterGame>(&r);
        }
    }
});
