//! Riding out a cut on real sockets and the wall clock: two real-time peers over loopback
//! UDP (127.0.0.1, port 0); all traffic is dropped for 3 s mid-match (longer than ggrs's
//! 2 s disconnect timeout, which used to end the match), then restored. One peer's
//! transport reports `LinkState::Resuming` during the cut, the other is watched by silence
//! alone. Both finish with the same checksums.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ggrs::{Message, NonBlockingSocket};
use peer::codec::{decode_message, encode_message};
use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::clock::WallClock;
use rollback::fighter::FighterGame;
use rollback::session::{FramePacer, LinkState, LinkStatus, P2PRunner, RunnerOptions};
use rollback::RunnerConfig;

/// Loopback UDP with a switch that drops everything in both directions.
struct CuttableUdp {
    socket: UdpSocket,
    cut: Arc<AtomicBool>,
}

impl CuttableUdp {
    fn bind(cut: Arc<AtomicBool>) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket, cut })
    }
}

impl NonBlockingSocket<SocketAddr> for CuttableUdp {
    fn send_to(&mut self, msg: &Message, addr: &SocketAddr) {
        if self.cut.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(bytes) = encode_message(msg) {
            let _ = self.socket.send_to(&bytes, addr);
        }
    }
    fn receive_all_messages(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            if self.cut.load(Ordering::Relaxed) {
                continue;
            }
            if let Ok(m) = decode_message(&buf[..n]) {
                out.push((from, m));
            }
        }
        out
    }
}

#[test]
fn a_3_s_cut_of_real_udp_is_ridden_out_past_ggrs_timeout() {
    let clock = WallClock::new();
    let cut = Arc::new(AtomicBool::new(false));
    let u0 = CuttableUdp::bind(cut.clone()).unwrap();
    let u1 = CuttableUdp::bind(cut.clone()).unwrap();
    let (a0, a1) = (
        u0.socket.local_addr().unwrap(),
        u1.socket.local_addr().unwrap(),
    );
    let status = LinkStatus::new();
    let config = RunnerConfig::default(); // ggrs's own timeout would be 2 s
    assert!(config.ggrs_disconnect_timeout() > Duration::from_secs(20));
    let opts = |link_status| RunnerOptions {
        clock: Some(clock.shared()),
        link_status,
        ..RunnerOptions::default()
    };
    let game = FighterGame::new(4);
    let mut peers = [
        P2PRunner::with_options(
            config.clone(),
            game.clone(),
            u0,
            0,
            a1,
            opts(Some(status.clone())),
        )
        .unwrap(),
        P2PRunner::with_options(config, game, u1, 1, a0, opts(None)).unwrap(),
    ];
    let mut bots: [Box<dyn Bot>; 2] = [Box::new(ReactiveBot::new(5)), Box::new(RandomBot::new(6))];
    let mut pacers = [FramePacer::new(clock.now()), FramePacer::new(clock.now())];
    let target = 180;
    let cut_from = Duration::from_millis(1500);
    let cut_until = cut_from + Duration::from_secs(3);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut frame_at_cut = None;
    while peers
        .iter()
        .any(|p| p.confirmed_checksums().next_frame() <= target)
    {
        let now = clock.now();
        let cutting = now >= cut_from && now < cut_until;
        if cutting && !cut.load(Ordering::Relaxed) {
            frame_at_cut = Some(peers[0].confirmed_frame());
            status.set(LinkState::Resuming);
        } else if !cutting && cut.load(Ordering::Relaxed) {
            status.set(LinkState::Up);
        }
        cut.store(cutting, Ordering::Relaxed);
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            while p.is_running() && pacers[i].frame_due(clock.now(), p.frame_interval()) {
                let input = bots[i].next_input(p.game(), i);
                p.advance(input).unwrap();
            }
            assert_eq!(p.end_reason(), None, "peer {i} ended");
        }
        std::thread::sleep(Duration::from_millis(2));
        assert!(Instant::now() < deadline, "no progress");
    }
    let at_cut = frame_at_cut.expect("the cut happened mid-match");
    assert!(at_cut > 0 && at_cut < target, "cut at frame {at_cut}");
    for f in 0..=target {
        assert_eq!(
            peers[0].confirmed_checksums().checksum_at(f),
            peers[1].confirmed_checksums().checksum_at(f),
            "frame {f}"
        );
    }
    for p in &peers {
        let s = p.stats();
        assert_eq!(s.interruptions, 1, "{s:?}");
        assert_eq!(s.events.disconnected, 0);
        assert_eq!(s.events.desyncs_detected, 0);
        let resumed = s.resumed_after_ms.first().copied().unwrap_or(0);
        assert!(
            (2900..5000).contains(&resumed),
            "resumed after {resumed} ms"
        );
    }
}
