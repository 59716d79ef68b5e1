//! The relay fallback end to end: a real signal server with `--relay-url/--relay-secret`, a
//! real play server with the relay stage (`connector_server --relay-secret`), and two bots
//! whose UDP cannot get through. Their negotiation fails, the server hands both a relay
//! ticket, the match goes on through the play server's relay stage with no action from the
//! game, and finishes with equal checksums and 0 desyncs.
//!
//! - With a test hook that blocks ICE (no candidates exchanged), over TCP and over WebSocket.
//! - For real: inside a network namespace this test creates (`unshare -n`, `lo` up) where
//!   `iptables -I INPUT -p udp -j DROP` drops every UDP packet, so ICE's checks fail.
//! - A member that stops reading: the opponent joins the stage with its real ticket from the
//!   real signal server over a raw TCP socket it never reads; the play server cuts it, and
//!   the reading player's match ends cleanly with `CloseReason::Relay(OpponentCut)`.

mod common;

use std::time::Duration;

use std::sync::atomic::Ordering;

use common::{loopback_config, TestServer};
use connector::relay::RelayJoinRequest;
use connector::server::relay::RelayConfig as PlayRelayConfig;
use connector::server::{PlayServer, ServerConfig as PlayServerConfig};
use ggrs::NonBlockingSocket;
use netplay::netmatch::{play, PlayConfig, PlayOutcome};
use peer::relay_link::RelayEnd;
use peer::{ChannelMode, CloseReason, LinkKind, MatchEvent, MatchRule, PeerConfig, RelayPolicy};
use signal::client::SignalClient;
use signal::hub::RelayConfig;
use signal::protocol::{
    AcceptMatch, ClientMessage, ConnectionState, EndReason, JoinLobby, ReportConnection,
    ServerMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FRAMES: u32 = 300;
/// The variable that tells the re-executed test binary it runs inside the namespace.
const IN_NETNS: &str = "NETPLAY_RELAY_TEST_IN_NETNS";

struct Setup {
    signal: TestServer,
    play: PlayServer,
}

async fn setup() -> Setup {
    setup_with(|config| config).await
}

async fn setup_with(adjust: impl FnOnce(PlayRelayConfig) -> PlayRelayConfig) -> Setup {
    let secret = common::random_secret();
    let lo = "127.0.0.1:0".parse().expect("test setup");
    let play = PlayServer::builder(PlayServerConfig::default())
        .relay(adjust(PlayRelayConfig::new(secret.clone())))
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

/// What the signaling server tells a raw client, with a bound on the wait.
async fn next_message(client: &mut SignalClient) -> ServerMessage {
    tokio::time::timeout(Duration::from_secs(10), client.recv())
        .await
        .expect("a signaling message in time")
        .expect("the signaling connection stays open")
}

/// Bob is a raw signaling client and a raw relay member: he accepts Alice's challenge, asks
/// for the relay, joins the stage with his real ticket over a TCP socket that he then never
/// reads, and reports `connected`. Alice is a real peer; once her relayed match runs she
/// floods the stage. The play server must cut Bob (bounded queue) and tell Alice, whose
/// match ends with a typed reason, no hang and no panic; her `end_match` then reaches Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_cut_and_the_other_match_ends_cleanly() {
    let run = async {
        let Setup { signal, play } = setup_with(|config| PlayRelayConfig {
            max_queued_bytes_per_member: 64 * 1024,
            ..config
        })
        .await;
        let mut bob = SignalClient::connect(&signal.url(), &signal.token("bob"))
            .await
            .expect("bob connects");
        bob.sender()
            .send(ClientMessage::JoinLobby(JoinLobby::new("bob", "Bob")))
            .expect("bob joins the lobby");
        let alice = signal
            .peer(
                "alice",
                bot_config("Alice", false, false, RelayPolicy::Always),
            )
            .await;
        let alice = tokio::spawn(alice.start_match(MatchRule::Challenge("bob".into())));
        let sid = loop {
            if let ServerMessage::MatchRequestReceived(r) = next_message(&mut bob).await {
                break r.session_id;
            }
        };
        let report = |state| {
            ClientMessage::ReportConnection(ReportConnection {
                player_id: "bob".into(),
                session_id: sid.clone(),
                state,
            })
        };
        bob.sender()
            .send(ClientMessage::AcceptMatch(AcceptMatch {
                accepter_id: "bob".into(),
                requester_id: "alice".into(),
                session_id: Some(sid.clone()),
            }))
            .expect("accept");
        bob.sender()
            .send(report(ConnectionState::Relay))
            .expect("relay");
        let assigned = loop {
            if let ServerMessage::RelayAssigned(a) = next_message(&mut bob).await {
                break a;
            }
        };
        let addr = assigned
            .url
            .strip_prefix("tcp://")
            .expect("the default relay url is tcp");
        assert_eq!(addr, play.tcp_addr().expect("tcp").to_string());
        // A small receive window, as a stalled client's would soon be: the play server's
        // queue for Bob fills sooner (the cut itself does not depend on it).
        let raw = tokio::net::TcpSocket::new_v4().expect("socket");
        raw.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut raw = raw
            .connect(addr.parse().expect("relay address"))
            .await
            .expect("bob reaches the relay");
        let (id, payload) = connector::Packet::from_message(&RelayJoinRequest {
            ticket: assigned.ticket.clone(),
        })
        .into_parts();
        let mut frame = bytes::BytesMut::new();
        connector::codec::encode_client(&id, 1, assigned.stage_id, &payload, &mut frame)
            .expect("join frame");
        raw.write_all(&frame).await.expect("join sent");
        // From here on Bob never reads `raw`.
        bob.sender()
            .send(report(ConnectionState::Connected))
            .expect("connected");
        let mut alice = alice
            .await
            .expect("test setup")
            .expect("alice's match starts");
        assert_eq!(alice.info().link, LinkKind::Relay);
        let mut socket = alice.take_socket().expect("the socket");
        // Incompressible bytes: the play server compresses pushes (LZ4), and a constant
        // payload would shrink to a few bytes on Bob's socket.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let chunk = bytes::Bytes::from(noise);
        let started = std::time::Instant::now();
        let event = 'flood: loop {
            for _ in 0..32 {
                socket.send_raw(chunk.clone());
            }
            while let Some(event) = alice.try_event() {
                match event {
                    MatchEvent::SignalingLost => {}
                    other => break 'flood other,
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the member that stopped reading was never cut"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        assert_eq!(
            event,
            MatchEvent::Closed(CloseReason::Relay(RelayEnd::OpponentCut))
        );
        let relay = play.relay().expect("relay enabled").clone();
        assert_eq!(relay.stats.cut.load(Ordering::Relaxed), 1);
        assert!(relay.stats.forwarded.load(Ordering::Relaxed) > 0);
        // The socket stays usable and silent; nothing more arrives.
        assert!(socket.receive_all_messages().is_empty());
        // Alice ends the match: the server tells Bob, and her leaving closes the stage.
        alice.finish().await;
        let ended = loop {
            if let ServerMessage::MatchEnded(e) = next_message(&mut bob).await {
                break e;
            }
        };
        assert_eq!(ended.session_id, sid);
        assert_eq!(ended.reason, EndReason::Ended);
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while relay.stage_count() != 0 {
            assert!(std::time::Instant::now() < end, "the stage never closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Bob really was disconnected: after what the kernel had buffered, his socket ends.
        let mut sink = vec![0u8; 64 * 1024];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match raw.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the play server never closed Bob's connection"
        );
        bob.close().await;
        signal.server.shutdown().await;
        play.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the test finishes in bounded time");
}
