//! The cluster log is trimmed (real `redis-server` on a free port, persistence off): only
//! what every live node has applied is removed, and a node that cannot replay the log (it
//! joined after a trim, or it was declared dead and the log was trimmed past it) starts a
//! new epoch with everyone instead of going on with a partial state.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::redis::{node_with, NodeProcess, RedisServer};
use common::*;
use signal::cluster::ClusterConfig;
use signal::protocol::*;
use signal::{RunningServer, SignalClient};

/// Trim once the log holds more than this many stream entries.
const TRIM_LEN: u64 = 20;

async fn trimming_node(redis: &RedisServer, name: &str) -> RunningServer {
    node_with(redis, name, |c| {
        let mut cluster = ClusterConfig::new(redis.url(), name);
        cluster.heartbeat_interval = Duration::from_millis(200);
        cluster.heartbeat_ttl = Duration::from_millis(1_000);
        cluster.log_trim_len = TRIM_LEN;
        c.cluster = Some(cluster);
    })
    .await
}

async fn redis_conn(redis: &RedisServer) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn get(conn: &mut ::redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    ::redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

async fn epoch(conn: &mut ::redis::aio::MultiplexedConnection) -> String {
    get(conn, "netplay:epoch").await.unwrap()
}

/// (entries in the log, trim point) of the epoch.
async fn log_state(
    conn: &mut ::redis::aio::MultiplexedConnection,
    epoch: &str,
) -> (u64, Option<String>) {
    let len: u64 = ::redis::cmd("XLEN")
        .arg(format!("netplay:log:{epoch}"))
        .query_async(conn)
        .await
        .unwrap();
    (len, get(conn, &format!("netplay:trimmed:{epoch}")).await)
}

async fn client_at(url: &str, sub: &str) -> SignalClient {
    SignalClient::connect(url, &token(sub)).await.unwrap()
}

fn join(c: &SignalClient) {
    let id = c.player_id().to_owned();
    send(
        c,
        ClientMessage::JoinLobby(JoinLobby::new(id.clone(), id).with_updates(LobbyUpdates::Delta)),
    );
}

/// Waits until `c`'s lobby view lists exactly `ids`.
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
    if tokio::time::timeout(WAIT, fut).await.is_err() {
        let have: Vec<String> = c.lobby().players().map(|p| p.player_id.clone()).collect();
        panic!(
            "{}: lobby never became {want:?}, is {have:?}",
            c.player_id()
        );
    }
}

/// Log traffic: short-lived connections (a `connect` and a `disconnect` entry each).
async fn churn(url: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let c = client_at(url, &format!("{prefix}{i}")).await;
        c.close().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls until the epoch's log has been trimmed below `len_below` entries.
async fn await_trim(conn: &mut ::redis::aio::MultiplexedConnection, epoch: &str, len_below: u64) {
    let fut = async {
        loop {
            let (len, trimmed) = log_state(conn, epoch).await;
            if trimmed.is_some() && len < len_below {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("the log of {epoch} was never trimmed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_trimmed_to_what_every_live_node_applied_and_a_late_joiner_starts_a_new_epoch() {
    let redis = RedisServer::start();
    let mut r = redis_conn(&redis).await;
    let n1 = trimming_node(&redis, "n1").await;
    let n2 = trimming_node(&redis, "n2").await;
    let first = epoch(&mut r).await;
    let mut alice = client_at(&n1.url(), "alice").await;
    let mut bob = client_at(&n2.url(), "bob").await;
    join(&alice);
    join(&bob);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;

    // Far more entries than the limit, from both nodes.
    churn(&n1.url(), "x", 30).await;
    churn(&n2.url(), "y", 30).await;
    await_trim(&mut r, &first, 60).await;
    let (_, trimmed) = log_state(&mut r, &first).await;
    // The first entry left is the trim point: nothing at or after it was removed.
    let head: Vec<(String, std::collections::HashMap<String, String>)> = ::redis::cmd("XRANGE")
        .arg(format!("netplay:log:{first}"))
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(Some(&head[0].0), trimmed.as_ref());
    // Live nodes never lose an entry: same epoch, and a whole match across nodes works.
    assert_eq!(
        epoch(&mut r).await,
        first,
        "live nodes must not restart the epoch"
    );
    let sid = started(&mut alice, &mut bob).await;
    send(
        &alice,
        ClientMessage::EndMatch(EndMatch {
            player_id: "alice".into(),
            session_id: sid.clone(),
        }),
    );
    expect(
        &mut bob,
        "match_ended",
        |m| matches!(m, ServerMessage::MatchEnded(e) if e.session_id == sid),
    )
    .await;

    // A node started now cannot replay the trimmed log: a new epoch, in which everyone
    // (alice and bob re-announced with their lobby) is seen by the newcomer's player.
    let n3 = trimming_node(&redis, "n3").await;
    let mut carol = client_at(&n3.url(), "carol").await;
    join(&carol);
    await_view(&mut carol, &["alice", "bob", "carol"]).await;
    await_view(&mut alice, &["alice", "bob", "carol"]).await;
    assert_ne!(
        epoch(&mut r).await,
        first,
        "the late joiner must start a new epoch"
    );
    let sid = started(&mut carol, &mut alice).await;
    assert!(!sid.is_empty());
    for n in [n1, n2, n3] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_declared_dead_and_trimmed_past_resyncs_in_a_new_epoch() {
    let redis = RedisServer::start();
    let mut r = redis_conn(&redis).await;
    let n1 = trimming_node(&redis, "n1").await;
    let trim = TRIM_LEN.to_string();
    let stalled = NodeProcess::start_with(&redis, "stalled", &["--cluster-log-trim", &trim]);
    let first = epoch(&mut r).await;
    let mut alice = client_at(&n1.url(), "alice").await;
    let mut bob = client_at(&stalled.url, "bob").await;
    join(&alice);
    join(&bob);
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;

    // The node stops (no heartbeat, no reads): declared dead, bob leaves alice's lobby.
    stalled.signal("STOP");
    await_view(&mut alice, &["alice"]).await;
    // The log moves on and is trimmed past the stalled node's position.
    churn(&n1.url(), "x", 40).await;
    await_trim(&mut r, &first, 40).await;
    stalled.signal("CONT");

    // It must not go on from the gap: a new epoch, where both see each other again.
    await_view(&mut alice, &["alice", "bob"]).await;
    await_view(&mut bob, &["alice", "bob"]).await;
    assert_ne!(epoch(&mut r).await, first);
    let sid = started(&mut bob, &mut alice).await;
    assert!(!sid.is_empty());
    n1.shutdown().await;
}
