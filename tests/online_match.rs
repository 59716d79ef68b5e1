//! End to end over real WebRTC on loopback through the real signal server: two bots play a
//! 600-frame fighter match (rollback crate) in each channel mode, with 0 desyncs and equal
//! checksums at the last frame.

mod common;

use common::{matched_pair, TestServer};
use netplay::netmatch::{play, PlayConfig};
use peer::ChannelMode;

async fn bot_match(mode: ChannelMode) {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = matched_pair(&server, mode).await;
    let config = PlayConfig::new(600);
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
    assert!(a.completed, "{mode:?}: alice did not finish: {a:?}");
    assert!(b.completed, "{mode:?}: bob did not finish: {b:?}");
    assert!(a.checksum.is_some());
    assert_eq!(a.checksum, b.checksum, "{mode:?}: final checksums differ");
    assert_eq!(
        a.ggrs_desyncs + b.ggrs_desyncs,
        0,
        "{mode:?}: desync detected"
    );
    assert_eq!(a.winner, b.winner);
    assert_eq!(a.transport.dropped_malformed, 0);
    assert!(a.transport.packets_delivered > 100);
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequenced_channel_plays_600_frames_without_desync() {
    bot_match(ChannelMode::Sequenced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_channel_plays_600_frames_without_desync() {
    bot_match(ChannelMode::Ordered).await;
}
