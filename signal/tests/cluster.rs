//! Cluster mode: several nodes sharing a real `redis-server` (started on a free port by
//! each test, persistence off, killed at the end). Clients on different nodes play
//! together; dead nodes and a lost Redis cost only what the spec says.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::redis::{node, node_with, NodeProcess, RedisServer};
use common::*;
use signal::protocol::*;
use signal::{RunningServer, SignalClient};

async fn client_at(url: &str, sub: &str) -> SignalClient {
    SignalClient::connect(url, &token(sub)).await.unwrap()
}

fn join(c: &SignalClient, updates: LobbyUpdates) {
    let id = c.player_id().to_owned();
    send(
        c,
        ClientMessage::JoinLobby(JoinLobby {
            player_id: id.clone(),
            player_name: id.to_uppercase(),
            lobby: None,
            updates: Some(updates),
        }),
    );
}

/// Waits until `c`'s lobby view (kept from full updates and deltas) lists exactly `ids`.
async fn await_view(c: &mut SignalClient, ids: &[&str]) {
    let mut want: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    let fut = async {
        loop {
            let mut have: Vec<String> = c.lobby().players().map(|p| p.player_id.clone()).collect();
            have.sort();
            if have == want {
                return;
            }
            if c.recv().await.is_none() {
                panic!("{}: closed while waiting for lobby {want:?}", c.player_id());
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("lobby never became {want:?}"));
}

async fn three_nodes(redis: &RedisServer) -> [RunningServer; 3] {
    [
        node(redis, "n1").await,
        node(redis, "n2").await,
        node(redis, "n3").await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_on_three_nodes_play_a_full_match_in_both_update_modes() {
    let redis = RedisServer::start();
    let nodes = three_nodes(&redis).await;
    let mut alice = client_at(&nodes[0].url(), "alice").await;
    let mut bob = client_at(&nodes[1].url(), "bob").await;
    let mut carol = client_at(&nodes[2].url(), "carol").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Delta);
    join(&carol, LobbyUpdates::Delta);
    let all = ["alice", "bob", "carol"];
    for c in [&mut alice, &mut bob, &mut carol] {
        await_view(c, &all).await;
    }

    let sid = started(&mut alice, &mut bob).await;
    // ICE crosses nodes too.
    send(
        &bob,
        ice("bob", "alice", &sid, serde_json::json!({"candidate": "c1"})),
    );
    expect(
        &mut alice,
        "ice",
        |m| matches!(m, ServerMessage::IceCandidateReceived(i) if i.sender_id == "bob"),
    )
    .await;
    // Busy across nodes: carol (node 3) cannot ask alice (node 1) or bob (node 2).
    send(&carol, request("carol", "alice"));
    let e = expect_error(&mut carol, 409).await;
    assert_eq!(e.message, "target is busy");
    // Both show as in_match on node 3 (delta mode).
    let fut = async {
        loop {
            let v = carol.lobby();
            let busy = |id| v.player(id).map(|p| p.status) == Some(PlayerStatus::InMatch);
            if busy("alice") && busy("bob") {
                break;
            }
            carol.recv().await.unwrap();
        }
    };
    tokio::time::timeout(WAIT, fut).await.unwrap();

    send(
        &alice,
        ClientMessage::EndMatch(EndMatch {
            player_id: "alice".into(),
            session_id: sid.clone(),
        }),
    );
    expect(&mut bob, "match_ended", |m| {
        matches!(m, ServerMessage::MatchEnded(e) if e.session_id == sid && e.reason == EndReason::Ended)
    })
    .await;
    // Free again: carol's request to bob reaches node 2 and bob declines it.
    send(&carol, request("carol", "bob"));
    let rsid = match expect(&mut bob, "request", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    {
        ServerMessage::MatchRequestReceived(r) => r.session_id,
        _ => unreachable!(),
    };
    send(
        &bob,
        ClientMessage::DeclineMatch(DeclineMatch {
            decliner_id: "bob".into(),
            requester_id: "carol".into(),
            session_id: Some(rsid.clone()),
        }),
    );
    expect(
        &mut carol,
        "declined",
        |m| matches!(m, ServerMessage::MatchRequestDeclined(d) if d.session_id == rsid),
    )
    .await;
    // Leaving on node 3 reaches the others.
    send(
        &carol,
        ClientMessage::LeaveLobby(LeaveLobby {
            player_id: "carol".into(),
        }),
    );
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_connection_wins_and_spoofing_is_refused_across_nodes() {
    let redis = RedisServer::start();
    let nodes = three_nodes(&redis).await;
    let mut old = client_at(&nodes[0].url(), "alice").await;
    join(&old, LobbyUpdates::Snapshot);
    await_view(&mut old, &["alice"]).await;
    let mut bob = client_at(&nodes[1].url(), "bob").await;
    join(&bob, LobbyUpdates::Snapshot);
    await_view(&mut bob, &["alice", "bob"]).await;

    // bob (node 2) claims to be alice: 403, nothing changes.
    send(&bob, request("alice", "bob"));
    expect_error(&mut bob, 403).await;

    // alice connects again on node 3: node 1's connection gets 409 and is closed.
    let mut new = client_at(&nodes[2].url(), "alice").await;
    let e = expect_error(&mut old, 409).await;
    assert_eq!(e.message, "replaced by a newer connection");
    let closed = tokio::time::timeout(WAIT, async { while old.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "old connection was not closed");
    // The replaced connection left the lobby; the new one starts outside it.
    await_view(&mut bob, &["bob"]).await;
    join(&new, LobbyUpdates::Delta);
    await_view(&mut new, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    let sid = matched(&mut new, &mut bob).await;
    assert!(!sid.is_empty());
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_lobby_size_holds_across_nodes() {
    let redis = RedisServer::start();
    let small = |c: &mut signal::ServerConfig| c.hub.max_lobby_size = 2;
    let a = node_with(&redis, "a", small).await;
    let b = node_with(&redis, "b", small).await;
    let mut alice = client_at(&a.url(), "alice").await;
    let bob = client_at(&b.url(), "bob").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Snapshot);
    await_view(&mut alice, &["alice", "bob"]).await;
    let mut carol = client_at(&a.url(), "carol").await;
    join(&carol, LobbyUpdates::Snapshot);
    let e = expect_error(&mut carol, 409).await;
    assert_eq!(e.message, "lobby full");
    drop(bob);
    await_view(&mut alice, &["alice"]).await;
    join(&carol, LobbyUpdates::Snapshot);
    await_view(&mut carol, &["alice", "carol"]).await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_costs_its_players_only_within_ten_seconds() {
    let redis = RedisServer::start();
    // Resume off (issue 10): a dropped player's match ends at once instead of waiting
    // `--resume-timeout` for it to reconnect (possibly through another node).
    let no_resume = |c: &mut signal::ServerConfig| c.hub.resume_timeout = Duration::ZERO;
    let survivor = node_with(&redis, "survivor", no_resume).await;
    let mut doomed = NodeProcess::start_with(&redis, "doomed", &["--resume-timeout", "0"]);
    let mut alice = client_at(&survivor.url(), "alice").await;
    let mut dave = client_at(&survivor.url(), "dave").await;
    let mut bob = client_at(&doomed.url, "bob").await;
    let mut carol = client_at(&doomed.url, "carol").await;
    let mut erin = client_at(&doomed.url, "erin").await;
    for c in [&alice, &bob, &carol, &dave, &erin] {
        join(c, LobbyUpdates::Delta);
    }
    let all = ["alice", "bob", "carol", "dave", "erin"];
    await_view(&mut alice, &all).await;
    await_view(&mut dave, &all).await;
    // alice (survivor) plays bob (doomed); dave negotiates with carol; erin has asked dave.
    let sid = started(&mut alice, &mut bob).await;
    let negotiating = matched(&mut dave, &mut carol).await;
    let _ = expect(&mut dave, "lobby settled", |_| true).await;
    // erin cannot ask dave (busy), so she asks nobody; dave's pending request is to nobody.
    send(&erin, request("erin", "alice"));
    expect_error(&mut erin, 409).await;

    doomed.kill();
    let killed = Instant::now();
    expect(&mut alice, "match_ended", |m| {
        matches!(m, ServerMessage::MatchEnded(e)
            if e.session_id == sid && e.reason == EndReason::PeerDisconnected)
    })
    .await;
    expect(&mut dave, "match_failed", |m| {
        matches!(m, ServerMessage::MatchFailed(f)
            if f.session_id == negotiating && f.reason == FailReason::PeerDisconnected)
    })
    .await;
    await_view(&mut alice, &["alice", "dave"]).await;
    await_view(&mut dave, &["alice", "dave"]).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The survivors are free again.
    let sid2 = matched(&mut alice, &mut dave).await;
    assert_ne!(sid2, sid);
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_to_a_dead_node_is_cancelled() {
    let redis = RedisServer::start();
    let survivor = node(&redis, "survivor").await;
    let mut doomed = NodeProcess::start(&redis, "doomed");
    let mut alice = client_at(&survivor.url(), "alice").await;
    let mut bob = client_at(&doomed.url, "bob").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Snapshot);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    // alice asks bob; bob (on the doomed node) will never answer.
    send(&bob, request("bob", "alice"));
    let sid = match expect(&mut alice, "request", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    {
        ServerMessage::MatchRequestReceived(r) => r.session_id,
        _ => unreachable!(),
    };
    doomed.kill();
    expect(&mut alice, "cancelled", |m| {
        matches!(m, ServerMessage::MatchRequestCancelled(c)
            if c.session_id == sid && c.reason == Some(CancelReason::RequesterLeft))
    })
    .await;
    await_view(&mut alice, &["alice"]).await;
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_answers_503_then_recovers_and_reannounces_players() {
    let mut redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut alice = client_at(&a.url(), "alice").await;
    let mut bob = client_at(&b.url(), "bob").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Delta);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    assert_eq!(
        http_get(a.local_addr(), "/healthz").await,
        (200, "ok".into())
    );

    redis.kill();
    // Within a few heartbeats the node knows; then messages are refused with 503.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = http_get(a.local_addr(), "/healthz").await;
        if status == 503 {
            assert_eq!(body, "degraded");
            break;
        }
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    send(&alice, request("alice", "bob"));
    let e = expect_error(&mut alice, 503).await;
    assert!(e.message.contains("unavailable"), "{e:?}");
    let metrics = http_get(a.local_addr(), "/metrics").await.1;
    assert!(metric(&metrics, "signal_cluster_unavailable_total").unwrap() >= 1.0);

    // Redis comes back empty: both nodes start a new epoch and re-announce their players.
    redis.restart();
    await_view(&mut alice, &["alice", "bob"]).await;
    let deadline = Instant::now() + WAIT;
    while http_get(a.local_addr(), "/healthz").await.0 != 200 {
        assert!(Instant::now() < deadline, "never healthy again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sid = matched(&mut alice, &mut bob).await;
    assert!(!sid.is_empty());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_metrics_count_redis_traffic() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut alice = client_at(&a.url(), "alice").await;
    let mut bob = client_at(&b.url(), "bob").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Snapshot);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    let text = http_get(a.local_addr(), "/metrics").await.1;
    let get = |name: &str| metric(&text, name).unwrap_or_else(|| panic!("no {name}"));
    assert!(get("signal_cluster_redis_round_trips_total") >= 2.0);
    assert!(get("signal_cluster_entries_published_total") >= 2.0);
    assert!(get("signal_cluster_entries_received_total") >= 4.0);
    assert!(get("signal_cluster_cross_node_latency_seconds_count") >= 1.0);
    assert_eq!(get("signal_cluster_degraded"), 0.0);
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn an_unreachable_redis_at_start_is_one_line_and_exit_2() {
    // A free port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signal"))
        .args(["serve", "--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}"))
        .env("SIGNAL_JWT_SECRET", "s")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(out.stdout.is_empty());
    // --node-id needs --redis.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signal"))
        .args(["serve", "--node-id", "n1", "--jwt-secret", "s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resume_a_killed_node_interrupts_the_match_and_the_player_rejoins_elsewhere() {
    let redis = RedisServer::start();
    let survivor = node(&redis, "survivor").await;
    let mut doomed = NodeProcess::start(&redis, "doomed");
    let mut alice = client_at(&survivor.url(), "alice").await;
    let mut bob = client_at(&doomed.url, "bob").await;
    join(&alice, LobbyUpdates::Snapshot);
    join(&bob, LobbyUpdates::Snapshot);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    let sid = started(&mut alice, &mut bob).await;
    doomed.kill();
    let killed = Instant::now();
    expect(
        &mut alice,
        "match_interrupted",
        |m| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid),
    )
    .await;
    assert!(killed.elapsed() < Duration::from_secs(10));
    // bob comes back through the surviving node and finds his match waiting.
    let mut bob = client_at(&survivor.url(), "bob").await;
    expect(
        &mut bob,
        "match_interrupted",
        |m| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid),
    )
    .await;
    survivor.shutdown().await;
}
