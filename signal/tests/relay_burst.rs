//! Bursts of relayed messages: the server writes queued frames in batches with one flush,
//! and the hub yields between full batches. Every frame must still arrive, once, in order,
//! and no healthy client may be cut off as a slow consumer.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use signal::protocol::*;
use signal::SignalServer;

const PAIRS: usize = 6;
const PER_SENDER: usize = 400;

#[tokio::test]
async fn bursts_from_several_pairs_arrive_complete_and_in_order() {
    let mut cfg = config();
    // The default per-connection rate limit (50/s, burst 100) would drop most of a burst.
    cfg.rate_per_sec = 100_000;
    cfg.rate_burst = 100_000;
    let server = SignalServer::start(cfg).await.unwrap();
    let mut pairs = Vec::new();
    for p in 0..PAIRS {
        let (ida, idb) = (format!("burst-a{p}"), format!("burst-b{p}"));
        let mut a = lobby_client(&server, &ida).await;
        let mut b = lobby_client(&server, &idb).await;
        await_listed(&mut a, &idb).await;
        let sid = started(&mut a, &mut b).await;
        pairs.push((a, b, ida, idb, sid));
    }
    // Every sender queues its whole burst at once, both directions of every pair.
    for (a, b, ida, idb, sid) in &pairs {
        for i in 0..PER_SENDER {
            let cand =
                |from: &str| serde_json::json!({"candidate": format!("{from} {i}"), "sdpMid": "0"});
            send(a, ice(ida, idb, sid, cand(ida)));
            send(b, ice(idb, ida, sid, cand(idb)));
        }
    }
    for (a, b, ida, idb, _) in &mut pairs {
        for (rx, from) in [(&mut *b, ida.as_str()), (&mut *a, idb.as_str())] {
            for i in 0..PER_SENDER {
                let got = expect(rx, "relayed candidate", |m| {
                    matches!(m, ServerMessage::IceCandidateReceived(_))
                })
                .await;
                let ServerMessage::IceCandidateReceived(c) = got else {
                    unreachable!()
                };
                assert_eq!(
                    c.candidate["candidate"],
                    format!("{from} {i}"),
                    "frame {i} from {from} in order"
                );
                assert_eq!(c.sender_id, from);
            }
        }
    }
    assert_eq!(
        server.metrics().slow_consumers.get(),
        0,
        "no healthy client cut off during the burst"
    );
    server.shutdown().await;
}
