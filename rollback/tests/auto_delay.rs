//! `--input-delay auto` (issue 10 §4): the runner measures the RTT on its own clock during
//! the handshake and picks `ceil((rtt/4 + jitter) / frame)`, capped at 3.

use std::time::Duration;

use rollback::botmatch::{run_pair, PairConfig};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::netsim::LinkConditions;
use rollback::session::{auto_input_delay, InputDelay};
use rollback::RunnerConfig;

/// The delay each peer picked and the RTT it measured.
fn delays_at(one_way_ms: u64) -> [(usize, Duration, Duration); 2] {
    let mut runner = RunnerConfig {
        disconnect_timeout: Duration::from_secs(60),
        input_delay: 7, // the fallback: must not be used
        ..RunnerConfig::default()
    };
    InputDelay::Auto.configure(&mut runner);
    let cfg = PairConfig {
        frames: 300,
        link: LinkConditions::with_latency_loss(Duration::from_millis(one_way_ms), 0.0),
        reverse_link: None,
        runner,
        seed: one_way_ms,
        diff_dir: None,
        cut: None,
    };
    let out = match run_pair(&cfg, FighterGame::new(3), |p, g| {
        FighterInput::new(((g.frame / 9) as u8 + p as u8) & FighterInput::ALL)
    }) {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(out.desyncs, 0);
    assert_eq!(out.final_checksums[0], out.final_checksums[1]);
    out.stats.map(|s| {
        let us = Duration::from_micros;
        (s.input_delay, us(s.rtt_us), us(s.rtt_jitter_us))
    })
}

#[test]
fn auto_delay_follows_the_measured_rtt() {
    let frame = Duration::from_micros(16_667);
    let mut last = 0;
    for one_way_ms in [0, 20, 50, 100, 150] {
        let rtt = Duration::from_millis(2 * one_way_ms);
        for (delay, measured, jitter) in delays_at(one_way_ms) {
            // measured on the virtual clock: the link's RTT plus up to a frame of polling
            // delay on each side
            assert!(
                measured >= rtt && measured <= rtt + 2 * frame,
                "{one_way_ms} ms: measured {measured:?}"
            );
            assert_eq!(delay, auto_input_delay(measured, jitter, 60));
            assert!(delay >= last, "{one_way_ms} ms: {delay} < {last}");
            last = delay;
        }
    }
    assert_eq!(last, 3, "150 ms one way hits the cap");
}
