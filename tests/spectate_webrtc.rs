//! Spectators joining a running match, over real WebRTC on loopback through the real signal
//! server (issue 10, section 3): the players stream their confirmed match to watchers
//! (`peer::spectate` links, `netplay::spectate::SpectatorFeed`), and each watcher follows it
//! with `rollback::spectate::SpectatorFollower` to the players' final frame and checksum.
//! The players run unpaced (as fast as the link allows) to keep the tests short.

mod common;

use std::time::Duration;

use common::{loopback_config, matched_pair, TestServer};
use netplay::netmatch::{play, PlayConfig, PlayOutcome};
use netplay::spectate::{follow, WatchOutcome};
use peer::{ChannelMode, WatchOptions};
use tokio::sync::watch;

const FRAMES: u32 = 3_600;

/// Bound on the players' match, on waiting for a frame and on a spectator's end: a guard
/// against a hang, not a speed requirement. The unpaced match slows down with the
/// machine's load: with eight spectators at load 12-14 on 2 cores a spectator was at frame
/// 2,819 after 90 s, and alice at frame 3,328 at `play`'s default 120 s deadline (66 s for
/// the whole test at load 10).
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Alice and Bob play `FRAMES` frames; alice's progress goes to the returned receiver.
async fn start_match(
    server: &TestServer,
) -> (
    tokio::task::JoinHandle<PlayOutcome>,
    tokio::task::JoinHandle<PlayOutcome>,
    watch::Receiver<i32>,
) {
    let (mut alice, mut bob) = matched_pair(server, ChannelMode::Sequenced).await;
    let (progress_tx, progress) = watch::channel(0);
    let config = PlayConfig {
        deadline: HANG_GUARD,
        ..PlayConfig::new(FRAMES)
    };
    let mut config_b = config.clone();
    config_b.bot_seed = 2;
    let a = tokio::spawn(async move {
        let outcome = play(&mut alice, 0, &config, |p| {
            let _ = progress_tx.send(p.confirmed);
        })
        .await;
        alice.finish().await;
        outcome.expect("alice plays")
    });
    let b = tokio::spawn(async move {
        let outcome = play(&mut bob, 1, &config_b, |_| {}).await;
        bob.finish().await;
        outcome.expect("bob plays")
    });
    (a, b, progress)
}

async fn wait_for_frame(progress: &mut watch::Receiver<i32>, frame: i32) {
    let reached = progress.wait_for(|f| *f >= frame);
    tokio::time::timeout(HANG_GUARD, reached)
        .await
        .expect("the match reaches the frame in time")
        .expect("alice plays on");
}

/// A watcher `id` that follows alice's match to its end.
fn spawn_reader(server: &TestServer, id: &str) -> tokio::task::JoinHandle<WatchOutcome> {
    let (url, token, id) = (server.url(), server.token(id), id.to_owned());
    tokio::spawn(async move {
        let peer = peer::Peer::connect(&url, &token, loopback_config(&id, ChannelMode::Ordered))
            .await
            .expect("watcher connects");
        let mut watch = peer.watch("alice").await.expect("watching starts");
        let outcome = follow(&mut watch, false, HANG_GUARD).await;
        watch.finish().await;
        outcome
    })
}

fn assert_players_agree(a: &PlayOutcome, b: &PlayOutcome) {
    assert!(a.completed, "alice did not finish: {a:?}");
    assert!(b.completed, "bob did not finish: {b:?}");
    assert!(a.checksum.is_some());
    assert_eq!(
        a.checksum, b.checksum,
        "the players' final checksums differ"
    );
    assert_eq!(a.ggrs_desyncs + b.ggrs_desyncs, 0, "desync detected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectator_joining_at_frame_1200_ends_on_the_players_checksum() {
    let server = TestServer::start().await;
    let (a, b, mut progress) = start_match(&server).await;
    wait_for_frame(&mut progress, 1_200).await;
    let carol = spawn_reader(&server, "carol");
    let (a, b, carol) = tokio::join!(a, b, carol);
    let (a, b, carol) = (a.expect("alice"), b.expect("bob"), carol.expect("carol"));
    assert_players_agree(&a, &b);
    assert!(carol.completed, "the spectator did not finish: {carol:?}");
    assert_eq!(carol.frames, FRAMES as i32, "spectator's final frame");
    assert_eq!(carol.checksum, a.checksum, "spectator's final checksum");
    assert!(
        carol.joined_at >= 1_200 && carol.joined_at < FRAMES as i32,
        "joined mid-match: {carol:?}"
    );
    let joined = a.spectators.joined + b.spectators.joined;
    assert_eq!(joined, 1, "one spectator stream: {a:?} {b:?}");
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_spectators_one_never_reading_leave_the_players_unaffected() {
    let server = TestServer::start().await;
    let (a, b, mut progress) = start_match(&server).await;
    wait_for_frame(&mut progress, 300).await;
    // the one that never reads: a small receive window so that its stall reaches its host
    // within the match (with the default 1 MiB window the whole stream would fit)
    let silent = server
        .peer("silent", loopback_config("Silent", ChannelMode::Ordered))
        .await;
    let options = WatchOptions {
        queue_messages: 8,
        receive_buffer: Some(4_096),
    };
    let silent = silent
        .watch_with("alice", options)
        .await
        .expect("the silent spectator's stream opens");
    let readers: Vec<_> = (0..7)
        .map(|i| spawn_reader(&server, &format!("watcher{i}")))
        .collect();
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.expect("alice"), b.expect("bob"));
    assert_players_agree(&a, &b);
    for reader in readers {
        let outcome = reader.await.expect("reader");
        assert!(
            outcome.completed,
            "a reading spectator did not finish: {outcome:?}"
        );
        assert_eq!(outcome.frames, FRAMES as i32);
        assert_eq!(outcome.checksum, a.checksum, "a spectator's final checksum");
    }
    let (host_a, host_b) = (a.spectators, b.spectators);
    assert_eq!(host_a.joined + host_b.joined, 8, "{host_a:?} {host_b:?}");
    assert_eq!(
        host_a.cut + host_b.cut,
        1,
        "the silent spectator is cut: {host_a:?} {host_b:?}"
    );
    drop(silent);
    server.server.shutdown().await;
}
