//! The relay fallback end to end: a real signal server with `--relay-url/--relay-secret`, a
//! real play server with the relay stage (`connector_server --relay-secret`), and two bots
//! whose UDP cannot get through. Their negotiation fails, the server hands both a relay
//! ticket, the match goes on through the play server's relay stage with no action from the
//! game, and finishes with equal checksums and 0 desyncs.
//!
//! - With a test hook that blocks ICE (no candidates exchanged), over TCP and over WebSocket.
//! - For real: inside a network namespace this test creates (`unshare -n`, `lo` up) where
//!   `iptables -I INPUT -p udp -j DROP` drops every UDP packet, so ICE's checks fail.

mod common;

use std::time::Duration;

use common::{loopback_config, TestServer};
use connector::server::relay::RelayConfig as PlayRelayConfig;
use connector::server::{PlayServer, ServerConfig as PlayServerConfig};
use netplay::netmatch::{play, PlayConfig, PlayOutcome};
use peer::{ChannelMode, LinkKind, MatchRule, PeerConfig, RelayPolicy};
use signal::hub::RelayConfig;

const FRAMES: u32 = 300;
/// The variable that tells the re-executed test binary it runs inside the namespace.
const IN_NETNS: &str = "NETPLAY_RELAY_TEST_IN_NETNS";

struct Setup {
    signal: TestServer,
    play: PlayServer,
}

async fn setup() -> Setup {
    let secret = common::random_secret();
    let lo = "127.0.0.1:0".parse().expect("test setup");
    let play = PlayServer::builder(PlayServerConfig::default())
        .relay(PlayRelayConfig::new(secret.clone()))
        .tcp(lo)
        .websocket(lo)
        .start()
        .await
        .expect("play server starts");
    let tcp = format!("tcp://{}", play.tcp_addr().expect("tcp listener"));
    let ws = format!(
        "ws://{}{}",
        play.ws_addr().expect("ws listener"),
        play.ws_path()
    );
    let relay = RelayConfig::new(vec![tcp, ws], secret).expect("relay config");
    let signal = TestServer::start_with(move |mut config| {
        config.hub.relay = Some(relay);
        config
    })
    .await;
    Setup { signal, play }
}

fn bot_config(name: &str, block_ice: bool, relay_ws: bool, policy: RelayPolicy) -> PeerConfig {
    let mut config = loopback_config(name, ChannelMode::Sequenced);
    config.ice.block_candidates = block_ice;
    config.connect_timeout = Duration::from_secs(2);
    config.relay = policy;
    config.relay_ws = relay_ws;
    config
}

/// Matches two bots, plays `FRAMES`, checks the outcome; returns both outcomes.
async fn relayed_match(block_ice: bool, relay_ws: bool, policy: RelayPolicy) -> [PlayOutcome; 2] {
    let Setup {
        signal,
        play: play_server,
    } = setup().await;
    let alice = signal
        .peer("alice", bot_config("Alice", block_ice, relay_ws, policy))
        .await;
    let bob = signal
        .peer("bob", bot_config("Bob", block_ice, relay_ws, policy))
        .await;
    let a = tokio::spawn(alice.start_match(MatchRule::Challenge("bob".into())));
    let b = tokio::spawn(bob.start_match(MatchRule::Accept(peer::AcceptRule::Any)));
    let (a, b) = tokio::join!(a, b);
    let (mut alice, mut bob) = (
        a.expect("test setup").expect("alice's match starts"),
        b.expect("test setup").expect("bob's match starts"),
    );
    for link in [&alice, &bob] {
        assert_eq!(link.info().link, LinkKind::Relay, "{:?}", link.info());
    }
    let config = PlayConfig::new(FRAMES);
    let mut config_b = config.clone();
    config_b.bot_seed = 2;
    let a = tokio::spawn(async move {
        let outcome = play(&mut alice, 0, &config, |_| {}).await;
        alice.finish().await;
        outcome
    });
    let b = tokio::spawn(async move {
        let outcome = play(&mut bob, 1, &config_b, |_| {}).await;
        bob.finish().await;
        outcome
    });
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (
        a.expect("test setup").expect("alice plays"),
        b.expect("test setup").expect("bob plays"),
    );
    assert!(a.completed, "alice did not finish: {a:?}");
    assert!(b.completed, "bob did not finish: {b:?}");
    assert!(a.checksum.is_some());
    assert_eq!(a.checksum, b.checksum, "final checksums differ");
    assert_eq!(a.ggrs_desyncs + b.ggrs_desyncs, 0, "desync detected");
    for outcome in [&a, &b] {
        // The same socket and counters as over the data channel.
        assert!(
            outcome.transport.packets_delivered > 100,
            "{:?}",
            outcome.transport
        );
        assert_eq!(outcome.transport.dropped_malformed, 0);
        assert_eq!(outcome.transport.local_candidate_type, None);
    }
    // The packets really went through the play server's relay stage.
    let relay = play_server.relay().expect("relay enabled");
    let forwarded = relay
        .stats
        .forwarded
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(forwarded > 200, "{forwarded} packets relayed");
    signal.server.shutdown().await;
    play_server.shutdown().await;
    [a, b]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_ice_falls_back_to_the_relay_over_tcp() {
    relayed_match(true, false, RelayPolicy::Fallback).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_ice_falls_back_to_the_relay_over_websocket() {
    relayed_match(true, true, RelayPolicy::Fallback).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_always_skips_peer_to_peer() {
    relayed_match(false, false, RelayPolicy::Always).await;
}

/// Re-runs this test binary's `inner` test inside a new network namespace; the inner run
/// does the work (the namespace is gone when it exits: nothing to clean up).
#[test]
fn udp_dropped_by_iptables_in_a_network_namespace_falls_back_to_the_relay() {
    if std::env::var_os(IN_NETNS).is_some() {
        return inside_the_namespace();
    }
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new("unshare")
        .arg("-n")
        .arg(exe)
        .args([
            "udp_dropped_by_iptables_in_a_network_namespace_falls_back_to_the_relay",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IN_NETNS, "1")
        .output()
        .expect("unshare runs (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the run in the namespace failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

fn inside_the_namespace() {
    let run = |cmd: &str, args: &[&str]| {
        let status = std::process::Command::new(cmd)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert!(status.success(), "{cmd} {args:?} failed");
    };
    run("ip", &["link", "set", "lo", "up"]);
    run("iptables", &["-I", "INPUT", "-p", "udp", "-j", "DROP"]);
    // UDP really is dropped here: a datagram to ourselves never arrives.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let to = socket.local_addr().expect("addr");
    socket.send_to(b"ping", to).expect("send");
    let mut buf = [0u8; 8];
    assert!(socket.recv_from(&mut buf).is_err(), "UDP is not blocked");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(relayed_match(false, false, RelayPolicy::Fallback));
}
