//! Failures end cleanly, as typed errors or events, never as a panic or a hang: the
//! opponent vanishing at the network level, a negotiation that times out (reported
//! `failed`, the server sends `match_failed`), and garbage packets injected into the game
//! channel (dropped and counted). The failures of a played fighter match (the opponent
//! vanishing through signaling, the signaling server dying mid-match) are in the root
//! package's `tests/online_match_failures.rs`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{loopback_config, matched_pair, TestServer};
use ggrs::NonBlockingSocket;
use peer::codec::{decode_packet, MAGIC, VERSION};
use peer::loopback::connect_pair;
use peer::relay::RelayConditions;
use peer::{ChannelConfig, ChannelMode, LinkCounters, MatchEvent, MatchRule, PeerError};
use signal::client::SignalClient;
use signal::protocol::{AcceptMatch, ClientMessage, JoinLobby, ServerMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_loss_of_the_opponent_is_an_event() {
    let mut pair = connect_pair(&ChannelConfig::default(), Some(RelayConditions::default()))
        .await
        .expect("pair connects");
    let mut socket = pair.offerer.take_socket().expect("socket");
    // The path dies: no close, no goodbye, nothing.
    drop(pair.relay.take());
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            // Keep sending like a game would.
            let addr = socket.opponent().clone();
            socket.send_to(&keep_alive(), &addr);
            if let Some(event) = pair.offerer.try_event() {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(16)).await;
        }
    })
    .await
    .expect("the dead path is reported");
    assert!(
        matches!(event, MatchEvent::Failed(_) | MatchEvent::Closed(_)),
        "{event:?}"
    );
    pair.offerer.finish().await;
    pair.answerer.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_timeout_reports_failed() {
    let server = TestServer::start().await;
    // Mallory accepts the challenge but never answers the offer.
    let mut mallory = SignalClient::connect(&server.url(), &server.token("mallory"))
        .await
        .expect("mallory connects");
    mallory
        .sender()
        .send(ClientMessage::JoinLobby(JoinLobby {
            player_id: "mallory".into(),
            player_name: "Mallory".into(),
            ..JoinLobby::default()
        }))
        .expect("test setup");
    let mut config = loopback_config("Alice", ChannelMode::Sequenced);
    config.connect_timeout = Duration::from_secs(2);
    let alice = server.peer("alice", config).await;
    let attempt = tokio::spawn(alice.start_match(MatchRule::Challenge("mallory".into())));

    let session = loop {
        match tokio::time::timeout(Duration::from_secs(15), mallory.recv()).await {
            Ok(Some(ServerMessage::MatchRequestReceived(req))) => break req.session_id,
            Ok(Some(_)) => continue,
            other => panic!("mallory got no challenge: {other:?}"),
        }
    };
    mallory
        .sender()
        .send(ClientMessage::AcceptMatch(AcceptMatch {
            accepter_id: "mallory".into(),
            requester_id: "alice".into(),
            session_id: Some(session.clone()),
        }))
        .expect("test setup");

    let result = tokio::time::timeout(Duration::from_secs(20), attempt)
        .await
        .expect("the attempt ends")
        .expect("test setup");
    assert!(
        matches!(
            result,
            Err(PeerError::Timeout {
                phase: "connecting",
                ..
            })
        ),
        "{result:?}"
    );
    let failed = loop {
        match tokio::time::timeout(Duration::from_secs(15), mallory.recv()).await {
            Ok(Some(ServerMessage::MatchFailed(failed))) => break failed,
            Ok(Some(_)) => continue,
            other => panic!("no match_failed: {other:?}"),
        }
    };
    assert_eq!(failed.session_id, session);
    mallory.close().await;
    server.server.shutdown().await;
}

fn keep_alive() -> ggrs::Message {
    decode_packet(&[MAGIC[0], MAGIC[1], VERSION, 0, 0, 0, 0, 7, 7])
        .expect("keep-alive")
        .message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_channel_is_dropped_and_counted() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    let mut a = alice.take_socket().expect("socket");
    let mut b = bob.take_socket().expect("socket");
    let to_b = a.opponent().clone();
    a.send_raw(Bytes::from_static(b"not a ggrs packet"));
    a.send_raw(Bytes::from(vec![0x4E; 4000])); // oversized
    let mut truncated = peer::codec::encode_packet(0, &keep_alive()).expect("test setup");
    truncated.pop();
    a.send_raw(Bytes::from(truncated));
    a.send_to(&keep_alive(), &to_b);
    let delivered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let got = b.receive_all_messages();
            if !got.is_empty() {
                return got.len();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the valid packet still arrives");
    assert_eq!(delivered, 1);
    assert_eq!(LinkCounters::get(&b.counters().dropped_malformed), 3);
    assert_eq!(bob.stats().await.dropped_malformed, 3);
    alice.finish().await;
    bob.finish().await;
    server.server.shutdown().await;
}
