//! Failures of a played fighter match end cleanly, never as a panic or a hang: the opponent
//! vanishing mid-match without `end_match` (an early end is reported), and the signaling
//! server dying mid-match (the peer-to-peer match goes on to the end, with equal checksums).

mod common;

use std::time::Duration;

use common::{matched_pair, TestServer};
use netplay::netmatch::{play, PlayConfig};
use peer::ChannelMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opponent_vanishing_mid_match_ends_the_match() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    let a = tokio::spawn(async move {
        let outcome = play(&mut alice, 0, &PlayConfig::new(100_000), |_| {}).await;
        alice.finish().await;
        outcome
    });
    // Bob plays 200 frames, then disappears without `end_match`.
    let bob_outcome = play(&mut bob, 1, &PlayConfig::new(200), |_| {}).await;
    assert!(bob_outcome.expect("bob plays").completed);
    drop(bob);
    let alice_outcome = tokio::time::timeout(Duration::from_secs(30), a)
        .await
        .expect("alice's match ends instead of hanging")
        .expect("test setup")
        .expect("alice's loop returns an outcome");
    assert!(!alice_outcome.completed);
    let reason = alice_outcome.ended_early.expect("an early end is reported");
    assert!(
        reason.contains("Closed") || reason.contains("disconnected"),
        "{reason}"
    );
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_server_death_does_not_stop_the_match() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    let mut config = PlayConfig::new(600);
    config.realtime = true; // 10 s of play: the server dies in the middle
    let config_b = PlayConfig {
        bot_seed: 2,
        ..config.clone()
    };
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
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !a.is_finished() && !b.is_finished(),
        "match ended too early"
    );
    server.server.shutdown().await;
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (
        a.expect("test setup").expect("alice"),
        b.expect("test setup").expect("bob"),
    );
    assert!(a.completed && b.completed, "{a:?} {b:?}");
    assert!(a.signaling_lost && b.signaling_lost);
    assert_eq!(a.checksum, b.checksum);
    assert_eq!(a.ggrs_desyncs + b.ggrs_desyncs, 0);
}
