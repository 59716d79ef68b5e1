//! Spectators: a host streams confirmed inputs to a spectator over the simulated network;
//! the spectator simulates the same frames with the same checksums as the players.

use std::time::Duration;

use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::clock::VirtualClock;
use rollback::fighter::FighterGame;
use rollback::netsim::{LinkConditions, SimNetwork};
use rollback::replay::{self, EndReason, RecordSettings};
use rollback::session::{P2PRunner, RunnerOptions, SpectatorRunner};
use rollback::RunnerConfig;

#[test]
fn spectator_follows_the_host_with_identical_checksums() {
    let clock = VirtualClock::new();
    let net = SimNetwork::new(8, clock.clone());
    let (s0, s1, s2) = (net.endpoint(), net.endpoint(), net.endpoint());
    let (a0, a1, a2) = (s0.addr(), s1.addr(), s2.addr());
    let link = LinkConditions::with_latency_loss(Duration::from_millis(30), 0.05);
    net.set_symmetric(a0, a1, link).unwrap();
    net.set_symmetric(a0, a2, link).unwrap();
    let config = RunnerConfig {
        disconnect_timeout: Duration::from_secs(60),
        ..RunnerConfig::default()
    };
    let game = FighterGame::new(4);
    let host_opts = RunnerOptions {
        clock: Some(clock.shared()),
        spectators: vec![a2],
        ..RunnerOptions::default()
    };
    let peer_opts = RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let mut host =
        P2PRunner::with_options(config.clone(), game.clone(), s0, 0, a1, host_opts).unwrap();
    let mut guest =
        P2PRunner::with_options(config.clone(), game.clone(), s1, 1, a0, peer_opts).unwrap();
    let mut spectator = SpectatorRunner::new(config, game, s2, a0).unwrap();
    host.start_recording(RecordSettings::default()).unwrap();
    spectator
        .start_recording(2, 60, RecordSettings::default())
        .unwrap();
    let (mut b0, mut b1) = (ReactiveBot::new(1), RandomBot::new(2));
    let frame = Duration::from_nanos(16_666_667);
    while spectator.current_frame() < 400 {
        clock.advance(frame);
        host.poll();
        guest.poll();
        spectator.poll();
        if host.is_running() {
            let i = b0.next_input(host.game(), 0);
            host.advance(i).unwrap();
        }
        if guest.is_running() {
            let i = b1.next_input(guest.game(), 1);
            guest.advance(i).unwrap();
        }
        if spectator.is_running() {
            spectator.advance().unwrap();
        }
        assert!(
            clock.now() < Duration::from_secs(120),
            "stuck at frame {}",
            spectator.current_frame()
        );
    }
    let host_log = host.confirmed_checksums();
    let spec_log = spectator.confirmed_checksums();
    let mut compared = 0;
    for (frame, ck) in spec_log.iter() {
        if let Some(h) = host_log.checksum_at(frame) {
            assert_eq!(h, ck, "frame {frame}");
            compared += 1;
        }
    }
    assert!(compared >= 300, "compared only {compared} frames");
    assert!(spectator.stats().frames >= 400);
    // both recorded the same confirmed frames; the spectator's replay verifies
    let spec_log = spec_log.clone();
    let host_replay = host.take_replay(EndReason::Completed).unwrap();
    let spec_replay = spectator.take_replay(EndReason::Completed).unwrap();
    assert!(spec_replay.frames() >= 400 && host_replay.frames() >= 300);
    let common = spec_replay.frames().min(host_replay.frames());
    for f in 0..common {
        assert_eq!(
            spec_replay.inputs_at(f),
            host_replay.inputs_at(f),
            "frame {f}"
        );
    }
    let v = replay::verify::<FighterGame>(&spec_replay).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        Some(v.final_checksum),
        spec_log.checksum_at(spec_replay.frames() as i32)
    );
}
