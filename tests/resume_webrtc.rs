//! Resuming over real WebRTC through the real signal server: mid-match a test hook closes
//! one side's peer connection (as a network failure would). Both peers renegotiate a fresh
//! connection in the same session, the ggrs sockets keep working on it, and the match
//! finishes with equal checksums and 0 desyncs. A signaling WebSocket that drops mid-match
//! is reconnected in the background and does not stop the match.

mod common;

use common::{matched_pair, TestServer};
use netplay::netmatch::{play, PlayConfig, PlayOutcome};
use peer::{ChannelMode, MatchLink};

async fn play_both(
    mut alice: MatchLink,
    mut bob: MatchLink,
    a_config: PlayConfig,
) -> (PlayOutcome, PlayOutcome) {
    let mut b_config = PlayConfig {
        interrupt_at: None,
        ..a_config.clone()
    };
    b_config.bot_seed = 2;
    let a = tokio::spawn(async move {
        let outcome = play(&mut alice, 0, &a_config, |_| {}).await;
        alice.finish().await;
        outcome
    });
    let b = tokio::spawn(async move {
        let outcome = play(&mut bob, 1, &b_config, |_| {}).await;
        bob.finish().await;
        outcome
    });
    let (a, b) = tokio::join!(a, b);
    (
        a.expect("test setup").expect("alice plays"),
        b.expect("test setup").expect("bob plays"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_peer_connection_is_renegotiated_and_the_match_finishes() {
    let server = TestServer::start().await;
    let (alice, bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    let mut config = PlayConfig::new(900);
    config.realtime = true;
    config.interrupt_at = Some(240);
    let (a, b) = play_both(alice, bob, config).await;
    eprintln!(
        "interruptions {} / {}, resumed after {:?} / {:?} ms, stalls {} / {}",
        a.interruptions,
        b.interruptions,
        a.resumed_after_ms,
        b.resumed_after_ms,
        a.stalls,
        b.stalls
    );
    assert!(a.completed, "alice did not finish: {a:?}");
    assert!(b.completed, "bob did not finish: {b:?}");
    assert!(a.checksum.is_some());
    assert_eq!(a.checksum, b.checksum, "final checksums differ");
    assert_eq!(a.ggrs_desyncs + b.ggrs_desyncs, 0);
    assert!(a.interruptions >= 1, "alice saw no interruption: {a:?}");
    assert_eq!(a.resumed_after_ms.len() as u64, a.interruptions);
    assert!(b.interruptions >= 1, "bob saw no interruption: {b:?}");
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_signaling_connection_is_reconnected_and_the_match_goes_on() {
    let server = TestServer::start().await;
    let (alice, bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    let config = PlayConfig {
        realtime: true,
        ..PlayConfig::new(600)
    };
    let url = server.url();
    let token = server.token("alice");
    let both = tokio::spawn(play_both(alice, bob, config));
    // Mid-match, another connection with alice's identity replaces alice's WebSocket
    // (newest connection wins), then goes away too.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let intruder = signal::SignalClient::connect(&url, &token)
        .await
        .expect("connects");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    intruder.close().await;
    let (a, b) = both.await.expect("test setup");
    assert!(
        a.signaling_lost,
        "alice's WebSocket was not replaced: {a:?}"
    );
    assert!(a.completed && b.completed, "{a:?} {b:?}");
    assert_eq!(a.checksum, b.checksum, "final checksums differ");
    assert_eq!(a.ggrs_desyncs + b.ggrs_desyncs, 0);
    // The game link never went down: no renegotiation, no stall of 1 s or more.
    assert_eq!(a.interruptions, 0, "{a:?}");
    assert_eq!(b.interruptions, 0, "{b:?}");
    server.server.shutdown().await;
}
