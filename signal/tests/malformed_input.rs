//! Regression corpus for the fuzz target `signal_message`: the checked-in seeds and
//! hand-made hostile inputs go through `signal::fuzzing::feed` (parser + hub + invariant
//! check) without panicking, and the seeds still reach the states they were written for.

use signal::fuzzing::feed;

fn seed(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../fuzz/corpus/signal_message/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn full_flow_seed_starts_a_match() {
    let stats = feed(&seed("seed-full-flow"));
    assert_eq!(stats.frames, 10);
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(stats.matches_started, 2);
}

#[test]
fn decline_cancel_expire_seed_is_accepted() {
    let stats = feed(&seed("seed-decline-cancel-expire"));
    assert_eq!(stats.refused, 0, "{stats:?}");
}

#[test]
fn spoof_seed_is_refused_where_it_spoofs() {
    let stats = feed(&seed("seed-spoof-disconnect"));
    // carol's forged offer, "not json" and the empty frame are refused.
    assert_eq!(stats.refused, 3, "{stats:?}");
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = format!("\x01{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("\x01{}", "{\"a\":".repeat(50_000));
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 64],
        b"\x01\xff\xfe{\"type\":\"join_lobby\"}".to_vec(),
        deep.into_bytes(),
        deep_obj.into_bytes(),
        b"\x01{\"type\":\"join_lobby\",\"payload\":{\"playerId\":\"alice\",\"playerName\":\"\\ud800\"}}".to_vec(),
        b"\x01{\"type\":\"request_match\",\"payload\":{\"requesterId\":\"alice\",\"targetId\":1e999}}".to_vec(),
        b"\x01{\"type\":\"end_match\",\"payload\":{\"playerId\":\"alice\",\"sessionId\":\"@sid@sid@sid\"}}".to_vec(),
        b"\x00\n\x00\n\x00\n@t\n@t".to_vec(),
        b"\x01{\"type\":\"join_lobby\",\"type\":\"leave_lobby\",\"payload\":{\"playerId\":\"alice\"}}".to_vec(),
    ];
    for input in inputs {
        feed(&input);
    }
}
