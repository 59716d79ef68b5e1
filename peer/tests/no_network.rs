//! On a host whose only interface is loopback, standard ICE cannot work; the error must name
//! the cause and suggest loopback ICE (`--loopback`), not just say "No such device (os error
//! 19)". The test re-runs itself inside a network namespace it creates (`unshare -n`, with
//! `lo` up), where a real signal server and two standard-ICE peers try to play.

mod common;

use std::time::Duration;

use common::TestServer;
use peer::{AcceptRule, MatchRule, PeerConfig, PeerError};

const IN_NAMESPACE: &str = "NETPLAY_TEST_IN_NETNS";
const TEST_NAME: &str = "standard_ice_on_a_loopback_only_host_names_the_cause";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_ice_on_a_loopback_only_host_names_the_cause() {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        return inside_the_namespace().await;
    }
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE, "1")
        .output()
        .expect("unshare runs (scripts/setup.sh installs util-linux and iproute2)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the inner test ran: {stdout}");
}

async fn inside_the_namespace() {
    let server = TestServer::start().await;
    let config = |name: &str| {
        let mut config = PeerConfig::new(name);
        config.connect_timeout = Duration::from_secs(10);
        config.match_timeout = Duration::from_secs(10);
        config
    };
    let alice = server.peer("alice", config("Alice")).await;
    let bob = server.peer("bob", config("Bob")).await;
    let (a, b) = tokio::join!(
        alice.start_match(MatchRule::Challenge("bob".into())),
        bob.start_match(MatchRule::Accept(AcceptRule::Any)),
    );
    for result in [a, b] {
        let error = result.expect_err("standard ICE cannot work with only loopback");
        let text = error.to_string();
        println!("error: {text}");
        assert!(matches!(error, PeerError::NoNetwork(_)), "{error:?}");
        assert!(text.contains("--loopback"), "{text}");
        assert!(text.contains("os error 19"), "{text}");
    }
    server.server.shutdown().await;
}
