//! Slow consumers: one client stops reading while its opponent floods it with relayed ICE
//! candidates and 100 other clients keep negotiating. The others finish within a generous
//! bound, the slow client is cut off with close code 1008 once its bounded queue fills,
//! and the server's memory stays bounded.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use signal::protocol::*;
use signal::SignalServer;
use tokio_tungstenite::tungstenite::Message;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_cut_off_and_others_are_not_delayed() {
    let mut cfg = config();
    cfg.rate_per_sec = 1_000_000;
    cfg.rate_burst = 1_000_000;
    let server = SignalServer::start(cfg).await.unwrap();
    let rss_before = rss_kib();

    // The slow client: accepts a match, then stops reading.
    let mut slow = raw(&server.url(), &token("slow")).await;
    raw_send(
        &mut slow,
        r#"{"type":"join_lobby","payload":{"playerId":"slow","playerName":"Slow"}}"#,
    )
    .await;
    let mut flooder = lobby_client(&server, "flooder").await;
    await_lobby(&mut flooder, 2).await;
    send(&flooder, request("flooder", "slow"));
    let received = loop {
        let v = raw_next(&mut slow).await;
        if v["type"] == "match_request_received" {
            break v;
        }
    };
    let sid = received["payload"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    raw_send(
        &mut slow,
        serde_json::to_string(&accept("slow", "flooder", &sid)).unwrap(),
    )
    .await;
    expect(&mut flooder, "accepted", |m| {
        matches!(m, ServerMessage::MatchRequestAccepted(_))
    })
    .await;

    // 100 other clients negotiate, 3 rounds per pair, while the flood runs.
    let mut pairs = Vec::new();
    for i in 0..50 {
        let a = lobby_client(&server, &format!("a{i}")).await;
        let b = lobby_client(&server, &format!("b{i}")).await;
        pairs.push((a, b));
    }
    let players = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut tasks = Vec::new();
        for (mut a, mut b) in pairs {
            tasks.push(tokio::spawn(async move {
                let bid = b.player_id().to_owned();
                await_listed(&mut a, &bid).await;
                let mut worst = Duration::ZERO;
                for _ in 0..3 {
                    let t = Instant::now();
                    let sid = started(&mut a, &mut b).await;
                    let id = a.player_id().to_owned();
                    send(
                        &a,
                        ClientMessage::EndMatch(EndMatch {
                            player_id: id,
                            session_id: sid,
                        }),
                    );
                    expect(&mut b, "ended", |m| {
                        matches!(m, ServerMessage::MatchEnded(_))
                    })
                    .await;
                    worst = worst.max(t.elapsed());
                }
                worst
            }));
        }
        for t in tasks {
            worst = worst.max(t.await.unwrap());
        }
        worst
    });

    // Flood: 32 KiB candidates until the server reports the slow peer gone.
    let blob = "x".repeat(32 * 1024);
    let flood_sender = flooder.sender();
    let flood_sid = sid.clone();
    let flood = tokio::spawn(async move {
        let mut sent = 0u64;
        loop {
            let msg = ice(
                "flooder",
                "slow",
                &flood_sid,
                serde_json::json!({ "candidate": blob }),
            );
            match flood_sender.send(msg) {
                Ok(()) => sent += 1,
                Err(signal::ClientError::QueueFull) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(_) => return sent,
            }
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
    });
    let failed = expect(&mut flooder, "match_failed", |m| {
        matches!(m, ServerMessage::MatchFailed(_))
    })
    .await;
    flood.abort();
    let ServerMessage::MatchFailed(failed) = failed else {
        unreachable!()
    };
    assert_eq!(failed.reason, FailReason::PeerDisconnected);

    // The slow client now drains what was buffered and finds close code 1008.
    let drain = async {
        let mut relayed = 0u64;
        loop {
            match slow.next().await {
                Some(Ok(Message::Text(_))) => relayed += 1,
                Some(Ok(Message::Close(f))) => return (relayed, f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                _ => return (relayed, None),
            }
        }
    };
    let (relayed, code) = tokio::time::timeout(WAIT, drain).await.unwrap();
    assert_eq!(
        code,
        Some(1008),
        "slow consumer close code (after {relayed} frames)"
    );

    let worst = tokio::time::timeout(Duration::from_secs(120), players)
        .await
        .unwrap()
        .unwrap();
    assert!(
        worst < Duration::from_secs(15),
        "a negotiation took {worst:?}"
    );
    let (_, text) = http_get(server.local_addr(), "/metrics").await;
    assert_eq!(
        metric(&text, "signal_slow_consumers_disconnected_total"),
        Some(1.0),
        "{text}"
    );
    // Bounded: 256 queued frames of 32 KiB plus socket buffers, far below what an
    // unbounded queue would hold while the flood runs.
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 400, "RSS grew by {grown_mib} MiB");
    server.shutdown().await;
}
