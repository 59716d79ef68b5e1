//! Interop with a standards-compliant WebRTC stack: a Python aiortc peer
//! (`tests/aiortc_peer.py`, interpreter from `NETPLAY_PYTHON`, set by scripts/test.sh) speaks
//! our signaling protocol and opens the game channel with a native peer, in both offer
//! directions (aiortc as requester/offerer, and as accepter/answerer). Packets cross both
//! ways.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{loopback_config, TestServer};
use ggrs::NonBlockingSocket;
use peer::codec::decode_packet;
use peer::{AcceptRule, ChannelMode, MatchRule, Role};
use tokio::process::Command;

const PACKETS: usize = 50;

fn python() -> String {
    let python = std::env::var("NETPLAY_PYTHON").unwrap_or_else(|_| {
        panic!("NETPLAY_PYTHON is not set: run scripts/setup.sh, then the tests via scripts/test.sh (or export NETPLAY_PYTHON=target/pyenv/bin/python)")
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "NETPLAY_PYTHON={python} does not exist: run scripts/setup.sh"
    );
    python
}

async fn interop(python_offers: bool) {
    let python = python();
    let server = TestServer::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aiortc_peer.py");
    let role = if python_offers {
        ["--challenge", "native"]
    } else {
        ["--accept", "any"]
    };
    let child = Command::new(&python)
        .arg(script)
        .args(["--server", &server.url(), "--token", &server.token("py")])
        .args(["--name", "aiortc", "--packets", &PACKETS.to_string()])
        .args(role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");

    let native = server
        .peer("native", loopback_config("Native", ChannelMode::Sequenced))
        .await;
    let rule = if python_offers {
        MatchRule::Accept(AcceptRule::Player("py".into()))
    } else {
        // Wait until the aiortc peer is in the lobby: `Challenge` does that.
        MatchRule::Challenge("py".into())
    };
    let mut link = native
        .start_match(rule)
        .await
        .expect("native peer connects to aiortc");
    assert_eq!(link.info().opponent.id, "py");
    let expected_role = if python_offers {
        Role::Answerer
    } else {
        Role::Offerer
    };
    assert_eq!(link.info().role, expected_role);

    let mut socket = link.take_socket().expect("socket");
    let to_py = socket.opponent().clone();
    let ping = decode_packet(&[0x4E, 0x50, 1, 0, 0, 0, 0, 7, 7])
        .expect("keep-alive")
        .message;
    let mut received = 0;
    for _ in 0..PACKETS {
        socket.send_to(&ping, &to_py);
        received += socket.receive_all_messages().len();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("python finishes")
        .expect("python output");
    received += socket.receive_all_messages().len();
    let line = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "aiortc peer failed: {line}");
    let report: serde_json::Value = serde_json::from_str(line.trim()).expect("python JSON line");
    assert_eq!(report["offerer"], python_offers);
    let py_received = report["received"].as_u64().expect("received count");
    assert!(
        py_received >= (PACKETS / 2) as u64,
        "aiortc received {py_received}"
    );
    assert!(received >= PACKETS / 2, "native received {received}");
    assert_eq!(
        peer::LinkCounters::get(&socket.counters().dropped_malformed),
        0
    );
    link.finish().await;
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_offers_native_answers() {
    interop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_offers_aiortc_answers() {
    interop(false).await;
}
