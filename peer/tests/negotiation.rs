//! Negotiation through the real signal server over real WebRTC on loopback: a challenge is
//! accepted, offer/answer/candidates flow with the session id, `match_started` arrives, the
//! game channel carries ggrs packets both ways, and `end_match` frees both players.

mod common;

use std::time::Duration;

use common::{matched_pair, TestServer};
use ggrs::NonBlockingSocket;
use peer::codec::{decode_packet, MAGIC, VERSION};
use peer::{ChannelMode, Role};

fn keep_alive() -> ggrs::Message {
    decode_packet(&[MAGIC[0], MAGIC[1], VERSION, 0, 0, 0, 0, 7, 7])
        .expect("keep-alive")
        .message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_accept_and_exchange_packets() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = matched_pair(&server, ChannelMode::Sequenced).await;
    assert_eq!(alice.info().opponent.id, "bob");
    assert_eq!(bob.info().opponent.id, "alice");
    assert_eq!(alice.info().role, Role::Offerer);
    assert_eq!(bob.info().role, Role::Answerer);
    assert_eq!(alice.info().session_id, bob.info().session_id);

    let mut a = alice.take_socket().expect("socket");
    let mut b = bob.take_socket().expect("socket");
    let (to_b, to_a) = (a.opponent().clone(), b.opponent().clone());
    for _ in 0..10 {
        a.send_to(&keep_alive(), &to_b);
        b.send_to(&keep_alive(), &to_a);
    }
    let (mut got_a, mut got_b) = (0, 0);
    tokio::time::timeout(Duration::from_secs(10), async {
        while got_a < 10 || got_b < 10 {
            got_a += a.receive_all_messages().len();
            got_b += b.receive_all_messages().len();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("packets cross the channel both ways");
    let stats = alice.stats().await;
    assert_eq!(stats.packets_sent, 10);
    assert_eq!(stats.packets_delivered, 10);
    assert!(stats.rtt_ms.is_none_or(|rtt| rtt >= 0.0));

    alice.finish().await;
    // Bob hears that the match ended (`match_ended`; the data channel may close first,
    // which looks like a cut until then: `Interrupted`).
    let event = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match bob.next_event().await {
                Some(peer::MatchEvent::Interrupted) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("bob learns the match ended");
    assert!(
        matches!(event, Some(peer::MatchEvent::Closed(_))),
        "{event:?}"
    );
    bob.finish().await;
    server.server.shutdown().await;
}
