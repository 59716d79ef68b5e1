//! Criterion suite `peer/*`: WebRTC connection time and data-channel round trips on
//! loopback, against a raw UDP baseline measured in the same run; plus (printed before the
//! criterion groups) the accept→match_started percentiles and the channel-mode comparison
//! under real packet loss.
//!
//! ```text
//! cargo bench --bench peer                       # everything
//! cargo bench --bench peer -- peer/datachannel   # one group
//! PEER_BENCH_MATCH_FRAMES=0 cargo bench --bench peer   # skip the channel-mode matches
//! ```

use std::time::{Duration, Instant};

use criterion::Criterion;
use ggrs::NonBlockingSocket;
use netplay::netmatch::{play, PlayConfig};
use peer::codec::decode_packet;
use peer::loopback::connect_pair;
use peer::relay::RelayConditions;
use peer::{
    AcceptRule, ChannelConfig, ChannelMode, GgrsSocket, MatchLink, MatchRule, Peer, PeerConfig,
};
use signal::server::{RunningServer, ServerConfig, SignalServer};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;

const SECRET: &[u8] = b"peer bench secret";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn server() -> RunningServer {
    let config = ServerConfig::new(SECRET.to_vec()).with_listen(([127, 0, 0, 1], 0).into());
    SignalServer::start(config).await.expect("server")
}

/// One challenge/accept/negotiation through the signal server; returns both links.
async fn matched(server: &RunningServer, round: u32) -> (MatchLink, MatchLink) {
    let token = |sub: &str| {
        signal::auth::mint_token(SECRET, sub, None, Duration::from_secs(600)).expect("token")
    };
    let (a_id, b_id) = (format!("a{round}"), format!("b{round}"));
    let a = Peer::connect(&server.url(), &token(&a_id), PeerConfig::loopback("A"))
        .await
        .expect("a connects");
    let b = Peer::connect(&server.url(), &token(&b_id), PeerConfig::loopback("B"))
        .await
        .expect("b connects");
    let (a, b) = tokio::join!(
        a.start_match(MatchRule::Challenge(b_id.clone())),
        b.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    (a.expect("a matched"), b.expect("b matched"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// accept_match → match_started (both sides' view) over 30 runs: p50 / p99.
fn connect_percentiles(rt: &Runtime) {
    let mut times = rt.block_on(async {
        let server = server().await;
        let mut times = Vec::new();
        for round in 0..30 {
            let (a, b) = matched(&server, round).await;
            times.push(a.info().connect_time.max(b.info().connect_time));
            a.finish().await;
            b.finish().await;
        }
        server.shutdown().await;
        times
    });
    times.sort();
    println!(
        "peer/connect_percentiles: accept_match -> match_started over {} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

fn ping_message() -> ggrs::Message {
    decode_packet(&[0x4E, 0x50, 1, 0, 0, 0, 0, 7, 7])
        .expect("keep-alive")
        .message
}

/// One ping-pong through the ggrs sockets (encode, data channel, decode, both ways).
async fn socket_round_trip(a: &mut GgrsSocket, b: &mut GgrsSocket, message: &ggrs::Message) {
    let (to_b, to_a) = (a.opponent().clone(), b.opponent().clone());
    a.send_to(message, &to_b);
    while b.receive_all_messages().is_empty() {
        tokio::task::yield_now().await;
    }
    b.send_to(message, &to_a);
    while a.receive_all_messages().is_empty() {
        tokio::task::yield_now().await;
    }
}

fn bench_rtt(c: &mut Criterion, rt: &Runtime) {
    let mut pair = rt
        .block_on(connect_pair(&ChannelConfig::default(), None))
        .expect("loopback pair");
    let mut a = pair.offerer.take_socket().expect("socket");
    let mut b = pair.answerer.take_socket().expect("socket");
    let message = ping_message();
    let (ua, ub) = rt.block_on(async {
        let ua = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let ub = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        ua.connect(ub.local_addr().expect("addr"))
            .await
            .expect("connect");
        ub.connect(ua.local_addr().expect("addr"))
            .await
            .expect("connect");
        (ua, ub)
    });
    let mut group = c.benchmark_group("peer");
    group.bench_function("datachannel_rtt", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    socket_round_trip(&mut a, &mut b, &message).await;
                }
                started.elapsed()
            })
        });
    });
    group.bench_function("udp_rtt", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let mut buf = [0u8; 64];
                let started = Instant::now();
                for _ in 0..iters {
                    ua.send(&[0x4E, 0x50, 1, 0, 0, 0, 0, 7, 7])
                        .await
                        .expect("send");
                    let n = ub.recv(&mut buf).await.expect("recv");
                    ub.send(&buf[..n]).await.expect("send");
                    ua.recv(&mut buf).await.expect("recv");
                }
                started.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(async {
        pair.offerer.finish().await;
        pair.answerer.finish().await;
    });
}

fn bench_connect(c: &mut Criterion, rt: &Runtime) {
    let server = rt.block_on(server());
    let mut round = 1000;
    let mut group = c.benchmark_group("peer");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("connect", |bench| {
        bench.to_async(rt).iter_custom(|iters| {
            round += 1;
            let (server, base) = (&server, round * 10_000);
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let (a, b) = matched(server, base + i as u32).await;
                    total += a.info().connect_time.max(b.info().connect_time);
                    a.finish().await;
                    b.finish().await;
                }
                total
            }
        });
    });
    group.finish();
    rt.block_on(server.shutdown());
}

/// A bot match over real WebRTC through the impairing UDP relay (loss below SCTP), in each
/// channel mode: rollback depth and confirmation lag.
fn channel_mode_comparison(rt: &Runtime) {
    let frames: u32 = std::env::var("PEER_BENCH_MATCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800);
    if frames == 0 {
        return;
    }
    let loss_per_mille: u32 = std::env::var("PEER_BENCH_LOSS_PER_MILLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let conditions = RelayConditions {
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        loss_per_mille,
        ..RelayConditions::default()
    };
    for mode in [ChannelMode::Ordered, ChannelMode::Sequenced] {
        let started = Instant::now();
        let result = rt.block_on(async {
            let pair = connect_pair(&ChannelConfig::default().with_mode(mode), Some(conditions))
                .await
                .expect("pair");
            let peer::loopback::LoopbackPair {
                offerer: mut a,
                answerer: mut b,
                relay,
            } = pair;
            let mut config = PlayConfig::new(frames);
            config.realtime = true;
            let config_b = PlayConfig {
                bot_seed: 2,
                ..config.clone()
            };
            let (oa, ob) = tokio::join!(
                async {
                    let o = play(&mut a, 0, &config, |_| {}).await;
                    a.finish().await;
                    o
                },
                async {
                    let o = play(&mut b, 1, &config_b, |_| {}).await;
                    b.finish().await;
                    o
                }
            );
            drop(relay);
            (oa.expect("a plays"), ob.expect("b plays"))
        });
        let (a, b) = result;
        let limit = rollback::stats::physical_limit_depth(Duration::from_millis(40), 2, 60);
        println!(
            "peer/channel_mode/{}: {} frames, relay 40 ms one-way ±10 ms, {:.1} % loss: mean rollback depth {:.2}/{:.2} (max {}/{}, physical limit {}), rolled-back frames per frame {:.2}, mean confirmation lag {:.2}/{:.2} frames, stalls {}/{}, ping {}/{} ms, checksums match {}, {:.0} s",
            mode.as_str(),
            frames,
            f64::from(loss_per_mille) / 10.0,
            a.mean_rollback_depth,
            b.mean_rollback_depth,
            a.max_rollback_depth,
            b.max_rollback_depth,
            limit,
            (a.rolled_back_frames + b.rolled_back_frames) as f64 / (2.0 * f64::from(frames)),
            a.mean_confirm_lag,
            b.mean_confirm_lag,
            a.stalls,
            b.stalls,
            a.ping_ms,
            b.ping_ms,
            a.completed && b.completed && a.checksum == b.checksum,
            started.elapsed().as_secs_f64()
        );
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    connect_percentiles(&rt);
    channel_mode_comparison(&rt);
    bench_rtt(c, &rt);
    bench_connect(c, &rt);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
