//! The start-of-match input stall of ggrs 0.13 (input delay 2, one-way latency ≥ 6 frames)
//! is avoided: with the runner's own retransmission switched off, a match at 150 ms one-way
//! latency still runs at the nominal frame rate in virtual time (a stall would wait for
//! ggrs's 200 ms wall-clock resend while the virtual clock races ahead).

use std::time::Duration;

use rollback::botmatch::{run_pair, PairConfig};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::netsim::LinkConditions;
use rollback::RunnerConfig;

#[test]
fn high_latency_start_does_not_wait_for_wall_clock_resends() {
    for latency_ms in [100, 150, 200] {
        let cfg = PairConfig {
            frames: 600,
            link: LinkConditions::with_latency_loss(Duration::from_millis(latency_ms), 0.0),
            reverse_link: None,
            runner: RunnerConfig {
                input_delay: 2,
                retransmit_interval: Duration::ZERO,
                disconnect_timeout: Duration::from_secs(60),
                ..RunnerConfig::default()
            },
            seed: latency_ms,
            diff_dir: None,
            record_interval: None,
            cut: None,
        };
        let out = run_pair(&cfg, FighterGame::new(1), |p, g| {
            FighterInput::new(((g.frame / 20) as u8 + p as u8) & FighterInput::ALL)
        })
        .unwrap();
        assert_eq!(out.desyncs, 0);
        assert_eq!(out.final_checksums[0], out.final_checksums[1]);
        // Physical bound: a peer may run at most (window + delay) frames ahead of the last
        // remote input it has, so the frame rate is at most (8 + 2) frames per one-way
        // latency (50 fps at 200 ms). Expected: 600 frames at that rate, plus the handshake
        // (5 round trips). A wall-clock stall (200 ms) would add thousands of ticks.
        let fps = (10_000.0 / latency_ms as f64).min(60.0);
        let expected =
            Duration::from_secs_f64(600.0 / fps) + Duration::from_millis(latency_ms * 10);
        let limit = expected * 3 / 2;
        assert!(
            out.virtual_time < limit,
            "{latency_ms} ms: took {:?} of virtual time (limit {limit:?})",
            out.virtual_time
        );
    }
}
