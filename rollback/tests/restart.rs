//! When ggrs cannot continue its session (issue 10 §2), both peers start a new one from
//! the last common confirmed frame, with a frame offset and no state transfer: here the
//! old session is abandoned mid-match (new sockets, new addresses), the peers exchange
//! their resume points, restart from the smaller one, and finish with equal checksums.

use std::time::Duration;

use rollback::clock::VirtualClock;
use rollback::fighter::{FighterGame, FighterInput};
use rollback::netsim::{LinkConditions, SimAddr, SimNetwork};
use rollback::session::{P2PRunner, RunnerOptions};
use rollback::{RunnerConfig, RunnerError};

type Runner = P2PRunner<FighterGame, SimAddr>;

fn input(p: usize, g: &FighterGame) -> FighterInput {
    FighterInput::new(((g.frame / 11) as u8 + 5 * p as u8) & FighterInput::ALL)
}

/// Ticks both peers (16 ms of virtual time a tick) until both confirmed `frame`.
fn play_until(peers: &mut [Runner; 2], clock: &VirtualClock, frame: i32) {
    let deadline = clock.now() + Duration::from_secs(120);
    while peers.iter().any(|p| p.confirmed_frame() < frame) {
        clock.advance(Duration::from_millis(16));
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            if p.is_running() {
                let inp = input(i, p.game());
                if let Err(e) = p.advance(inp) {
                    panic!("peer {i}: {e}");
                }
            }
        }
        assert!(clock.now() < deadline, "stuck before frame {frame}");
    }
}

fn link(net: &SimNetwork) -> [rollback::netsim::SimSocket; 2] {
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let c = LinkConditions::with_latency_loss(Duration::from_millis(40), 0.03);
    if let Err(e) = net.set_symmetric(s0.addr(), s1.addr(), c) {
        panic!("{e}");
    }
    [s0, s1]
}

#[test]
fn peers_restart_from_the_last_common_confirmed_frame() {
    let clock = VirtualClock::new();
    let net = SimNetwork::new(11, clock.clone());
    let [s0, s1] = link(&net);
    let (a0, a1) = (s0.addr(), s1.addr());
    let config = RunnerConfig {
        disconnect_timeout: Duration::from_secs(60),
        ..RunnerConfig::default()
    };
    let opts = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let game = FighterGame::new(8);
    let mut peers = [
        P2PRunner::with_options(config.clone(), game.clone(), s0, 0, a1, opts()).unwrap(),
        P2PRunner::with_options(config, game, s1, 1, a0, opts()).unwrap(),
    ];
    play_until(&mut peers, &clock, 400);
    let points = [peers[0].resume_point(), peers[1].resume_point()];
    let common = points[0].unwrap().min(points[1].unwrap());
    assert!(common >= 400, "{points:?}");
    let before: Vec<_> = (0..=common)
        .map(|f| peers[0].confirmed_checksums().checksum_at(f))
        .collect();
    // a frame that is not confirmed yet is refused
    let [n0, _] = link(&net);
    let future = peers[0].current_frame() + 5;
    assert!(matches!(
        peers[0].restart_from(future, n0, a1),
        Err(RunnerError::CannotRestart(f)) if f == future
    ));
    // the old session is abandoned: new sockets on new addresses
    let [n0, n1] = link(&net);
    let (b0, b1) = (n0.addr(), n1.addr());
    peers[0].restart_from(common, n0, b1).unwrap();
    peers[1].restart_from(common, n1, b0).unwrap();
    assert_eq!(peers[0].current_frame(), common);
    play_until(&mut peers, &clock, 1000);
    for f in 0..=1000 {
        let (c0, c1) = (
            peers[0].confirmed_checksums().checksum_at(f),
            peers[1].confirmed_checksums().checksum_at(f),
        );
        assert!(c0.is_some(), "frame {f} not logged");
        assert_eq!(c0, c1, "frame {f}");
    }
    for (f, c) in before.iter().enumerate() {
        assert_eq!(peers[1].confirmed_checksums().checksum_at(f as i32), *c);
    }
    for p in &peers {
        assert_eq!(p.stats().restarts, 1);
        assert_eq!(p.stats().events.desyncs_detected, 0);
        assert!(p.desync_events().is_empty());
    }
}
