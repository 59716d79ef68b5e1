//! The relay stage (`PlayServerBuilder::relay`) with real JWT tickets over real sockets:
//! packets go unchanged from one member to the other; forged, expired and wrong-stage
//! tickets and a third member are refused; a member that stops reading is cut and the other
//! is told; a leaving member and an idle stage are reported.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use common::*;
use connector::codec;
use connector::relay::{
    mint_ticket, RelayError, RelayEvent, RelayJoinRequest, RelayMember, RelayRefusal, TicketClaims,
};
use connector::server::relay::RelayConfig;
use connector::server::{PlayServer, ServerConfig};
use connector::{ConnectorConfig, Packet};
use tokio::io::AsyncWriteExt;

const SECRET: &[u8] = b"relay-test-secret";

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ticket(secret: &[u8], sub: &str, stage_id: i64, exp: u64) -> String {
    let claims = TicketClaims {
        sub: sub.into(),
        session_id: "s-1".into(),
        stage_id,
        exp,
    };
    mint_ticket(secret, &claims).unwrap()
}

fn valid(sub: &str, stage_id: i64) -> String {
    ticket(SECRET, sub, stage_id, now_s() + 60)
}

async fn relay_server(config: RelayConfig) -> PlayServer {
    let lo = "127.0.0.1:0".parse().unwrap();
    PlayServer::builder(ServerConfig::default())
        .relay(config)
        .tcp(lo)
        .websocket(lo)
        .start()
        .await
        .unwrap()
}

fn member_config(server: &PlayServer, ws: bool) -> ConnectorConfig {
    client_config(server, ws)
}

/// A member plus the events polled but not looked at yet.
struct Member {
    m: RelayMember,
    seen: VecDeque<RelayEvent>,
}

impl std::ops::Deref for Member {
    type Target = RelayMember;
    fn deref(&self) -> &RelayMember {
        &self.m
    }
}

fn member(m: RelayMember) -> Member {
    Member {
        m,
        seen: VecDeque::new(),
    }
}

async fn next_event(m: &mut Member) -> RelayEvent {
    let end = std::time::Instant::now() + MUST_HAPPEN;
    loop {
        let polled = m.m.poll_events();
        m.seen.extend(polled);
        if let Some(e) = m.seen.pop_front() {
            return e;
        }
        assert!(std::time::Instant::now() < end, "no relay event");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn packets_pass_unchanged_both_ways(ws: bool) {
    let server = relay_server(RelayConfig::new(SECRET)).await;
    let mut a = member(
        RelayMember::join(member_config(&server, ws), 7, &valid("alice", 7))
            .await
            .unwrap(),
    );
    assert_eq!(a.member_index(), 0);
    let mut b = member(
        RelayMember::join(member_config(&server, ws), 7, &valid("bob", 7))
            .await
            .unwrap(),
    );
    assert_eq!(b.member_index(), 1);
    assert_eq!(next_event(&mut a).await, RelayEvent::PeerJoined);
    let payload: Vec<u8> = (0..=255u8).collect();
    a.send(payload.clone()).unwrap();
    assert_eq!(next_event(&mut b).await, RelayEvent::Packet(payload.into()));
    b.send(&b"back"[..]).unwrap();
    assert_eq!(
        next_event(&mut a).await,
        RelayEvent::Packet((&b"back"[..]).into())
    );
    assert!(matches!(
        a.send(vec![0u8; 5000]),
        Err(RelayError::TooLarge { .. })
    ));
    b.leave();
    assert_eq!(
        next_event(&mut a).await,
        RelayEvent::PeerLeft {
            reason: "left".into()
        }
    );
    a.leave();
    let relay = server.relay().unwrap().clone();
    assert!(
        wait_until(|| relay.stage_count() == 0).await,
        "the stage closes when both left"
    );
    server.shutdown().await;
}

async fn bad_tickets_and_a_third_member_are_refused(ws: bool) {
    let server = relay_server(RelayConfig::new(SECRET)).await;
    let cfg = || member_config(&server, ws);
    let refused = |r: Result<RelayMember, RelayError>| match r {
        Err(RelayError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let forged = ticket(b"not-the-secret", "mallory", 7, now_s() + 60);
    assert_eq!(
        refused(RelayMember::join(cfg(), 7, &forged).await),
        RelayRefusal::InvalidTicket
    );
    assert_eq!(
        refused(RelayMember::join(cfg(), 7, "not.a.jwt").await),
        RelayRefusal::InvalidTicket
    );
    let expired = ticket(SECRET, "alice", 7, now_s() - 5);
    assert_eq!(
        refused(RelayMember::join(cfg(), 7, &expired).await),
        RelayRefusal::ExpiredTicket
    );
    assert_eq!(
        refused(RelayMember::join(cfg(), 7, &valid("alice", 8)).await),
        RelayRefusal::WrongStage
    );
    let _a = RelayMember::join(cfg(), 7, &valid("alice", 7))
        .await
        .unwrap();
    let _b = RelayMember::join(cfg(), 7, &valid("bob", 7)).await.unwrap();
    assert_eq!(
        refused(RelayMember::join(cfg(), 7, &valid("carol", 7)).await),
        RelayRefusal::StageFull
    );
    assert_eq!(
        server
            .relay()
            .unwrap()
            .stats
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    server.shutdown().await;
}

both_transports!(
    packets_pass_unchanged_both_ways,
    bad_tickets_and_a_third_member_are_refused
);

/// Member B joins over a raw socket and never reads; A floods it. The relay must cut B
/// (not queue without bound) and tell A cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_that_stops_reading_is_cut() {
    let config = RelayConfig {
        max_queued_bytes_per_member: 64 * 1024,
        ..RelayConfig::new(SECRET)
    };
    let server = relay_server(config).await;
    let mut a = member(
        RelayMember::join(member_config(&server, false), 9, &valid("alice", 9))
            .await
            .unwrap(),
    );
    let mut raw = tokio::net::TcpStream::connect(server.tcp_addr().unwrap())
        .await
        .unwrap();
    let (id, payload) = Packet::from_message(&RelayJoinRequest {
        ticket: valid("bob", 9),
    })
    .into_parts();
    let mut frame = BytesMut::new();
    codec::encode_client(&id, 1, 9, &payload, &mut frame).unwrap();
    raw.write_all(&frame).await.unwrap();
    assert_eq!(next_event(&mut a).await, RelayEvent::PeerJoined);
    let chunk = vec![0x5Au8; 4000];
    let end = std::time::Instant::now() + MUST_HAPPEN;
    let reason = 'flood: loop {
        for _ in 0..64 {
            a.send(chunk.clone()).unwrap();
        }
        for e in a.poll_events() {
            if let RelayEvent::PeerLeft { reason } = e {
                break 'flood reason;
            }
        }
        assert!(
            std::time::Instant::now() < end,
            "the non-reading member was never cut"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert_eq!(reason, "cut");
    assert!(a.is_connected(), "the reading member stays connected");
    let relay = server.relay().unwrap().clone();
    assert_eq!(
        relay.stats.cut.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(raw);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_stage_closes() {
    let config = RelayConfig {
        idle_timeout: Duration::from_millis(200),
        ..RelayConfig::new(SECRET)
    };
    let server = relay_server(config).await;
    let mut a = member(
        RelayMember::join(member_config(&server, false), 3, &valid("alice", 3))
            .await
            .unwrap(),
    );
    assert_eq!(
        next_event(&mut a).await,
        RelayEvent::PeerLeft {
            reason: "idle".into()
        }
    );
    assert_eq!(next_event(&mut a).await, RelayEvent::Disconnected);
    assert_eq!(server.relay().unwrap().stage_count(), 0);
    server.shutdown().await;
}
