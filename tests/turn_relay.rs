//! Relay-only ICE through a real coturn on 127.0.0.1: the signal server mints TURN REST
//! credentials (`welcome.iceServers`), both peers allow only relayed candidates, and a bot
//! match still plays to the end with equal checksums. `turnserver` is started and stopped
//! by the test on a free port (scripts/setup.sh installs it); the test fails loudly if it is
//! missing.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{loopback_config, TestServer};
use netplay::netmatch::{play, PlayConfig};
use peer::{AcceptRule, ChannelMode, MatchRule};
use signal::server::TurnConfig;

const TURN_SECRET: &str = "netplay-turn-test-secret";

/// A coturn process that is killed when dropped.
struct Coturn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn start_coturn() -> Coturn {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_udp_port();
    let relay_min = 40_000 + (port % 20_000);
    let path = |name: &str| dir.path().join(name).display().to_string();
    let child = Command::new("turnserver")
        .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp"])
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args(["--listening-port", &port.to_string()])
        .args(["--min-port", &relay_min.to_string()])
        .args(["--max-port", &(relay_min + 200).to_string()])
        .args(["--use-auth-secret", "--static-auth-secret", TURN_SECRET])
        .args(["--realm", "netplay.test", "--allow-loopback-peers"])
        .args(["--log-file", &path("turn.log"), "--simple-log"])
        .args(["--pidfile", &path("turn.pid"), "--db", &path("turndb")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `turnserver` ({e}): install coturn with scripts/setup.sh")
        });
    let coturn = Coturn {
        child,
        port,
        _dir: dir,
    };
    wait_ready(&coturn._dir.path().join("turn.log"));
    coturn
}

fn wait_ready(log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains("Total General servers")) {
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("turnserver did not become ready; log at {}", log.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_match_through_coturn() {
    let coturn = start_coturn();
    let turn_url = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let server = TestServer::start_with(|mut config| {
        config.turn = Some(TurnConfig {
            urls: vec![turn_url.clone()],
            secret: TURN_SECRET.as_bytes().to_vec(),
            ttl: Duration::from_secs(600),
        });
        config
    })
    .await;
    let relay_config = |name: &str| {
        let mut config = loopback_config(name, ChannelMode::Sequenced);
        config.ice = config.ice.with_relay_only(true);
        config
    };
    let alice = server.peer("alice", relay_config("Alice")).await;
    let bob = server.peer("bob", relay_config("Bob")).await;
    let welcome = alice.welcome().ice_servers.clone();
    assert!(
        welcome
            .iter()
            .any(|s| s.urls.contains(&turn_url) && s.credential.is_some()),
        "welcome carries TURN credentials: {welcome:?}"
    );
    let (a, b) = tokio::join!(
        alice.start_match(MatchRule::Challenge("bob".into())),
        bob.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    let (mut a, mut b) = (
        a.expect("alice connects via TURN"),
        b.expect("bob connects via TURN"),
    );
    let config = PlayConfig::new(300);
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
    let (oa, ob) = (oa.expect("alice plays"), ob.expect("bob plays"));
    assert!(oa.completed && ob.completed, "{oa:?} {ob:?}");
    assert_eq!(oa.checksum, ob.checksum);
    assert_eq!(
        oa.transport.local_candidate_type.as_deref(),
        Some("relay"),
        "alice's traffic is relayed"
    );
    assert_eq!(ob.transport.local_candidate_type.as_deref(), Some("relay"));
    server.server.shutdown().await;
    drop(coturn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_without_a_turn_server_is_a_typed_error() {
    let server = TestServer::start().await;
    let mut config = loopback_config("Alice", ChannelMode::Sequenced);
    config.ice = config.ice.with_relay_only(true);
    config.connect_timeout = Duration::from_secs(5);
    let alice = server.peer("alice", config.clone()).await;
    let bob = server.peer("bob", config).await;
    let (a, b) = tokio::join!(
        alice.start_match(MatchRule::Challenge("bob".into())),
        bob.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    assert!(matches!(a, Err(peer::PeerError::Config(_))), "{a:?}");
    assert!(matches!(b, Err(peer::PeerError::Config(_))), "{b:?}");
    server.server.shutdown().await;
}
