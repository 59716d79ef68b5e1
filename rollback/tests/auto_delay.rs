//! `--input-delay auto` (issue 10 §4): the runner measures the RTT on its own clock during
//! the handshake and picks `round((rtt/4 + jitter) / frame)`, capped at 3.

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
        record_interval: None,
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

#[test]
fn changing_the_delay_mid_match_keeps_both_peers_in_sync() {
    use rollback::clock::VirtualClock;
    use rollback::netsim::SimNetwork;
    use rollback::session::{P2PRunner, RunnerOptions};
    let clock = VirtualClock::new();
    let net = SimNetwork::new(4, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    let link = LinkConditions::with_latency_loss(Duration::from_millis(50), 0.02);
    net.set_symmetric(a0, a1, link).unwrap();
    let config = RunnerConfig {
        disconnect_timeout: Duration::from_secs(60),
        ..RunnerConfig::default()
    };
    let opts = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let game = FighterGame::new(5);
    let mut peers = [
        P2PRunner::with_options(config.clone(), game.clone(), s0, 0, a1, opts()).unwrap(),
        P2PRunner::with_options(config, game, s1, 1, a0, opts()).unwrap(),
    ];
    // (frame, peer, new delay): up, down to zero, and different delays on each side
    let mut changes = vec![(150, 0, 4), (200, 1, 3), (300, 0, 0), (420, 1, 1)];
    let target = 700;
    while peers.iter().any(|p| p.confirmed_frame() < target) {
        clock.advance(Duration::from_millis(16));
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            if !p.is_running() {
                continue;
            }
            if let Some(k) = changes
                .iter()
                .position(|&(f, who, _)| who == i && p.current_frame() >= f)
            {
                let (_, _, d) = changes.remove(k);
                p.set_input_delay(d).unwrap();
                assert_eq!(p.input_delay(), d);
            }
            let inp = FighterInput::new(((p.game().frame / 7) as u8 + i as u8) & FighterInput::ALL);
            p.advance(inp).unwrap();
        }
        assert!(clock.now() < Duration::from_secs(60), "stuck");
    }
    assert!(changes.is_empty());
    for f in 0..=target {
        let c0 = peers[0].confirmed_checksums().checksum_at(f);
        assert!(c0.is_some());
        assert_eq!(
            c0,
            peers[1].confirmed_checksums().checksum_at(f),
            "frame {f}"
        );
    }
    assert!(peers.iter().all(|p| p.desync_events().is_empty()));
    assert!(peers[0].set_input_delay(17).is_err());
}
