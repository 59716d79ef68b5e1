//! Real sockets: two peers over loopback UDP (127.0.0.1, port 0) wrapped in the `Impaired`
//! decorator on the wall clock, run as fast as possible, confirm the same checksums; and
//! the decorator really delays and drops packets.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ggrs::{Message, NonBlockingSocket};
use peer::codec::{decode_message, encode_message};
use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::clock::WallClock;
use rollback::fighter::FighterGame;
use rollback::netsim::{Impaired, LinkConditions};
use rollback::session::{P2PRunner, RunnerOptions};
use rollback::RunnerConfig;

/// A minimal non-blocking UDP transport using the bounded ggrs message codec of `peer`.
struct LoopbackUdp {
    socket: UdpSocket,
    decode_errors: u64,
}

impl LoopbackUdp {
    fn bind() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        socket.set_nonblocking(true).expect("nonblocking");
        Self {
            socket,
            decode_errors: 0,
        }
    }
    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }
}

impl NonBlockingSocket<SocketAddr> for LoopbackUdp {
    fn send_to(&mut self, msg: &Message, addr: &SocketAddr) {
        if let Ok(bytes) = encode_message(msg) {
            let _ = self.socket.send_to(&bytes, addr);
        }
    }
    fn receive_all_messages(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            match decode_message(&buf[..n]) {
                Ok(m) => out.push((from, m)),
                Err(_) => self.decode_errors += 1,
            }
        }
        out
    }
}

#[test]
fn two_peers_over_impaired_loopback_udp_agree() {
    let clock = WallClock::new();
    let link = LinkConditions {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(3),
        loss: 0.05,
        ..LinkConditions::ideal()
    };
    let (u0, u1) = (LoopbackUdp::bind(), LoopbackUdp::bind());
    let (a0, a1) = (u0.addr(), u1.addr());
    let s0 = Impaired::new(u0, link, LinkConditions::ideal(), clock.shared(), 1).unwrap();
    let s1 = Impaired::new(u1, link, LinkConditions::ideal(), clock.shared(), 2).unwrap();
    let opts = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let game = FighterGame::new(6);
    let mut p0 =
        P2PRunner::with_options(RunnerConfig::default(), game.clone(), s0, 0, a1, opts()).unwrap();
    let mut p1 = P2PRunner::with_options(RunnerConfig::default(), game, s1, 1, a0, opts()).unwrap();
    let (mut b0, mut b1) = (ReactiveBot::new(1), RandomBot::new(2));
    let target = 300;
    let deadline = Instant::now() + Duration::from_secs(60);
    while p0.confirmed_checksums().next_frame() <= target
        || p1.confirmed_checksums().next_frame() <= target
    {
        p0.poll();
        p1.poll();
        if p0.is_running() {
            let i = b0.next_input(p0.game(), 0);
            p0.advance(i).unwrap();
        }
        if p1.is_running() {
            let i = b1.next_input(p1.game(), 1);
            p1.advance(i).unwrap();
        }
        std::thread::sleep(Duration::from_micros(200));
        assert!(
            Instant::now() < deadline,
            "no progress: {} / {}",
            p0.confirmed_frame(),
            p1.confirmed_frame()
        );
    }
    let (c0, c1) = (p0.confirmed_checksums(), p1.confirmed_checksums());
    for f in 0..=target {
        assert_eq!(c0.checksum_at(f), c1.checksum_at(f), "frame {f}");
    }
    assert!(p0.stats().frames >= target as u64);
}

#[test]
fn impaired_delays_and_drops_on_the_wall_clock() {
    let clock = WallClock::new();
    let (u0, mut u1) = (LoopbackUdp::bind(), LoopbackUdp::bind());
    let dest = u1.addr();
    let latency = Duration::from_millis(200);
    let out = LinkConditions {
        latency,
        loss: 0.5,
        ..LinkConditions::ideal()
    };
    let mut s0 = Impaired::new(u0, out, LinkConditions::ideal(), clock.shared(), 3).unwrap();
    let msg = decode_message(&[5, 7]).unwrap();
    let sent_at = Instant::now();
    for _ in 0..200 {
        s0.send_to(&msg, &dest);
    }
    // nothing arrives before the latency has passed; `checked_at` bounds how late the
    // early flush really ran (a loaded machine may oversleep the 20 ms by far)
    std::thread::sleep(Duration::from_millis(20));
    s0.receive_all_messages();
    let early = u1.receive_all_messages().len();
    let checked_at = sent_at.elapsed();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < 200 - s0.outbound_stats().lost as usize && Instant::now() < deadline {
        s0.receive_all_messages(); // flushes due outbound packets
        got += u1.receive_all_messages().len();
        std::thread::sleep(Duration::from_millis(2));
    }
    if sent_at.elapsed() < latency {
        panic!("test machine clock misbehaved");
    }
    assert!(
        early == 0 || checked_at >= latency,
        "{early} delivered {checked_at:?} after sending, before the latency"
    );
    let lost = s0.outbound_stats().lost;
    assert!((60..=140).contains(&lost), "lost {lost} of 200 at p=0.5");
    assert_eq!(got as u64, 200 - lost);
}

#[test]
fn real_time_paced_peers_over_udp_confirm_the_same_frames() {
    use rollback::session::FramePacer;
    let clock = WallClock::new();
    let link = LinkConditions::with_latency_loss(Duration::from_millis(30), 0.02);
    let (u0, u1) = (LoopbackUdp::bind(), LoopbackUdp::bind());
    let (a0, a1) = (u0.addr(), u1.addr());
    let s0 = Impaired::new(u0, link, LinkConditions::ideal(), clock.shared(), 7).unwrap();
    let s1 = Impaired::new(u1, link, LinkConditions::ideal(), clock.shared(), 8).unwrap();
    let game = FighterGame::new(2);
    let mut peers = [
        P2PRunner::new(RunnerConfig::default(), game.clone(), s0, 0, a1).unwrap(),
        P2PRunner::new(RunnerConfig::default(), game, s1, 1, a0).unwrap(),
    ];
    let mut bots: [Box<dyn Bot>; 2] = [Box::new(ReactiveBot::new(3)), Box::new(RandomBot::new(4))];
    let mut pacers = [FramePacer::new(clock.now()), FramePacer::new(clock.now())];
    let target = 90; // 1.5 s of play at 60 fps
    let deadline = Instant::now() + Duration::from_secs(30);
    while peers
        .iter()
        .any(|p| p.confirmed_checksums().next_frame() <= target)
    {
        for (i, p) in peers.iter_mut().enumerate() {
            p.poll();
            while p.is_running() && pacers[i].frame_due(clock.now(), p.frame_interval()) {
                let input = bots[i].next_input(p.game(), i);
                p.advance(input).unwrap();
            }
        }
        let wait = pacers[0].time_to_next(clock.now(), peers[0].frame_interval());
        std::thread::sleep(wait.min(Duration::from_millis(2)));
        assert!(Instant::now() < deadline, "no progress");
    }
    for f in 0..=target {
        assert_eq!(
            peers[0].confirmed_checksums().checksum_at(f),
            peers[1].confirmed_checksums().checksum_at(f),
            "frame {f}"
        );
    }
    // paced: the frame count follows the wall clock instead of running ahead
    assert!(
        peers[0].stats().frames < 400,
        "ran {} frames",
        peers[0].stats().frames
    );
}
