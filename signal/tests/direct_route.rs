//! Direct relay routes (signal/src/server/route.rs) through a real server on 127.0.0.1:0:
//! once the hub relayed a sender's ICE candidate, the sender's connection task relays the
//! next ones straight into the receiver's queue. These tests check that the route keeps
//! per-sender order when it is granted in the middle of a burst, and that it is revoked by
//! `end_match`, by the receiver's reconnection and by a newest-connection-wins replacement:
//! the next candidate takes the hub's normal path and gets the spec'd answer.

mod common;

use common::*;
use signal::protocol::*;
use signal::{RunningServer, SignalClient, SignalServer};

/// A server whose rate limit lets the tests send bursts of candidates.
async fn server() -> RunningServer {
    let mut config = config();
    config.rate_per_sec = 10_000;
    config.rate_burst = 10_000;
    config.rate_abuse_threshold = 10_000;
    SignalServer::start(config).await.expect("server starts")
}

fn candidate(n: usize) -> serde_json::Value {
    serde_json::json!({
        "candidate": format!("candidate:{n} 1 udp 2122260223 127.0.0.1 {} typ host", 40000 + n),
        "sdpMid": "0",
        "sdpMLineIndex": 0
    })
}

/// The candidate number of a relayed candidate.
fn number(m: &IceCandidateReceived) -> usize {
    let text = m.candidate["candidate"].as_str().unwrap_or_default();
    let digits = text.trim_start_matches("candidate:");
    digits
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The next message that is not a lobby message.
async fn next(c: &mut SignalClient) -> ServerMessage {
    expect(c, "a message", |m| {
        !matches!(
            m,
            ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_)
        )
    })
    .await
}

fn direct(server: &RunningServer) -> u64 {
    server.metrics().ice_direct.get()
}

/// Sends candidates `range` from `from` to `to` and waits until `to` got them, in order.
async fn relay_round(
    a: &mut SignalClient,
    b: &mut SignalClient,
    sid: &str,
    range: std::ops::Range<usize>,
) {
    let (ida, idb) = (a.player_id().to_owned(), b.player_id().to_owned());
    for n in range.clone() {
        send(a, ice(&ida, &idb, sid, candidate(n)));
    }
    for n in range {
        match next(b).await {
            ServerMessage::IceCandidateReceived(m) => assert_eq!(number(&m), n),
            other => panic!("expected candidate {n}, got {other:?}"),
        }
    }
}

/// A round trip through `c`'s connection task and the hub: an ICE candidate naming an
/// unknown session is refused with 404. Everything `c` sent before is handled by then.
async fn sync(c: &mut SignalClient) {
    let id = c.player_id().to_owned();
    send(c, ice(&id, "nobody", "no-such-session", candidate(0)));
    let e = expect_error(c, 404).await;
    assert_eq!(e.session_id.as_deref(), Some("no-such-session"));
}

/// Two matched players whose `a → b` route is granted and used.
async fn routed(server: &RunningServer, a: &str, b: &str) -> (SignalClient, SignalClient, String) {
    let mut a = lobby_client(server, a).await;
    let mut b = lobby_client(server, b).await;
    let idb = b.player_id().to_owned();
    await_listed(&mut a, &idb).await;
    let sid = started(&mut a, &mut b).await;
    let before = direct(server);
    // The first candidate goes through the hub, which grants the route; once the hub has
    // caught up with a, the next round goes direct.
    relay_round(&mut a, &mut b, &sid, 0..5).await;
    relay_round(&mut a, &mut b, &sid, 5..10).await;
    sync(&mut a).await;
    assert!(direct(server) > before, "the route was never used");
    // The probe went through the hub, so a's grant is stale; this round renews it. The
    // hub grants in the same step it relays, so the grant is in place before the hub
    // handles anything the test does next.
    relay_round(&mut a, &mut b, &sid, 10..15).await;
    (a, b, sid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_granted_mid_burst_keeps_the_senders_order() {
    let server = server().await;
    let mut a = lobby_client(&server, "oa").await;
    let mut b = lobby_client(&server, "ob").await;
    await_listed(&mut a, "ob").await;
    let sid = matched(&mut a, &mut b).await;
    let offer_no = |m: &ServerMessage| match m {
        ServerMessage::SdpOfferReceived(o) => Some(o.sdp.clone()),
        _ => None,
    };
    // Negotiating (`connecting`): offers and candidates from a, interleaved, in bursts that
    // do not wait for the hub; the route is granted during the first burst, dropped by
    // each offer (a command to the hub) and granted again.
    let mut expected = Vec::new();
    for round in 0..4 {
        send(&a, offer("oa", "ob", &sid, &format!("v=0 offer {round}")));
        expected.push(format!("offer {round}"));
        for n in round * 100..round * 100 + 100 {
            send(&a, ice("oa", "ob", &sid, candidate(n)));
            expected.push(format!("ice {n}"));
        }
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let m = next(&mut b).await;
        match (&m, offer_no(&m)) {
            (_, Some(sdp)) => got.push(sdp.trim_start_matches("v=0 ").to_owned()),
            (ServerMessage::IceCandidateReceived(c), _) => got.push(format!("ice {}", number(c))),
            _ => panic!("unexpected {m:?}"),
        }
    }
    assert_eq!(got, expected);
    // And after the hub caught up, the rounds that go direct are still in order (the first
    // is granted the route again: the probe's refusal to a revoked it).
    sync(&mut a).await;
    let before = direct(&server);
    relay_round(&mut a, &mut b, &sid, 1000..1050).await;
    relay_round(&mut a, &mut b, &sid, 1050..1100).await;
    sync(&mut a).await;
    assert!(direct(&server) > before, "the route was never used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_match_revokes_the_route() {
    let server = server().await;
    let (mut a, mut b, sid) = routed(&server, "ea", "eb").await;
    send(
        &b,
        ClientMessage::EndMatch(EndMatch {
            player_id: "eb".into(),
            session_id: sid.clone(),
        }),
    );
    expect(
        &mut a,
        "match_ended",
        |m| matches!(m, ServerMessage::MatchEnded(e) if e.session_id == sid),
    )
    .await;
    let before = direct(&server);
    send(&a, ice("ea", "eb", &sid, candidate(99)));
    let e = expect_error(&mut a, 404).await;
    assert_eq!(e.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(direct(&server), before, "relayed directly after end_match");
    // b got nothing: the next thing it sees is the refusal of its own probe.
    send(&b, ice("eb", "ea", "probe", candidate(0)));
    match next(&mut b).await {
        ServerMessage::Error(e) => {
            assert_eq!((e.code, e.session_id.as_deref()), (404, Some("probe")))
        }
        other => panic!("b got {other:?} after the match ended"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_receiver_gets_candidates_on_its_new_connection() {
    let server = server().await;
    let (mut a, b, sid) = routed(&server, "ra", "rb").await;
    b.close().await;
    expect(
        &mut a,
        "match_interrupted",
        |m| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid),
    )
    .await;
    // While b is away a candidate for it is dropped (the hub's answer: nothing).
    let before = direct(&server);
    send(&a, ice("ra", "rb", &sid, candidate(50)));
    sync(&mut a).await;
    assert_eq!(
        direct(&server),
        before,
        "relayed directly to a closed connection"
    );

    let mut b = client(&server, "rb").await;
    expect(
        &mut b,
        "match_interrupted",
        |m| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid),
    )
    .await;
    send(&a, ice("ra", "rb", &sid, candidate(51)));
    match next(&mut b).await {
        ServerMessage::IceCandidateReceived(m) => assert_eq!(number(&m), 51),
        other => panic!("expected candidate 51, got {other:?}"),
    }
    sync(&mut a).await;
    assert_eq!(
        direct(&server),
        before,
        "the first relay after resuming was direct"
    );
    // The new route is granted (the probe's refusal to a revoked a's routes, like every
    // message the hub sends a) and used by the round after.
    relay_round(&mut a, &mut b, &sid, 52..60).await;
    relay_round(&mut a, &mut b, &sid, 60..70).await;
    sync(&mut a).await;
    assert!(direct(&server) > before, "no route to the new connection");
}

/// Sends `msg` over a raw connection.
async fn raw_msg(ws: &mut Raw, msg: &ClientMessage) {
    raw_send(ws, serde_json::to_string(msg).expect("serializable")).await;
}

/// The next non-lobby frame of a raw connection, which must be of type `kind`.
async fn raw_expect(ws: &mut Raw, kind: &str) -> serde_json::Value {
    let v = raw_next(ws).await;
    assert_eq!(v["type"], kind, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_receiver_connection_loses_the_route() {
    let server = server().await;
    let mut a = lobby_client(&server, "na").await;
    // b's first connection is raw: once replaced, it does not answer the server's close,
    // so its connection task (and queue) stays alive for a while, and a candidate relayed
    // there would be lost.
    let mut b = raw(&server.url(), &token("nb")).await;
    raw_expect(&mut b, "welcome").await;
    let join = ClientMessage::JoinLobby(JoinLobby {
        player_id: "nb".into(),
        player_name: "NB".into(),
        ..JoinLobby::default()
    });
    raw_msg(&mut b, &join).await;
    await_listed(&mut a, "nb").await;
    send(&a, request("na", "nb"));
    let sid = raw_expect(&mut b, "match_request_received").await["payload"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    raw_msg(&mut b, &accept("nb", "na", &sid)).await;
    expect(&mut a, "match_request_accepted", |m| {
        matches!(m, ServerMessage::MatchRequestAccepted(_))
    })
    .await;
    send(&a, offer("na", "nb", &sid, "v=0 offer"));
    raw_expect(&mut b, "sdp_offer_received").await;
    raw_msg(&mut b, &answer("nb", "na", &sid, "v=0 answer")).await;
    send(&a, report("na", &sid, ConnectionState::Connected));
    raw_msg(&mut b, &report("nb", &sid, ConnectionState::Connected)).await;
    raw_expect(&mut b, "match_started").await;
    expect(&mut a, "match_started", |m| {
        matches!(m, ServerMessage::MatchStarted(_))
    })
    .await;
    let before = direct(&server);
    for round in 0..3 {
        for n in round * 10..round * 10 + 10 {
            send(&a, ice("na", "nb", &sid, candidate(n)));
        }
        for n in round * 10..round * 10 + 10 {
            let v = raw_expect(&mut b, "ice_candidate_received").await;
            let text = v["payload"]["candidate"]["candidate"].as_str().unwrap();
            assert!(text.starts_with(&format!("candidate:{n} ")), "{text}");
        }
        if round == 1 {
            sync(&mut a).await;
            assert!(direct(&server) > before, "the route was never used");
        }
    }
    // Round 2 renewed a's grant (the probe had taken the hub path).
    let mut b2 = client(&server, "nb").await;
    expect(
        &mut a,
        "match_interrupted",
        |m| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid),
    )
    .await;
    let before = direct(&server);
    send(&a, ice("na", "nb", &sid, candidate(70)));
    // The candidate goes to the newest connection, through the hub.
    expect(
        &mut b2,
        "candidate 70",
        |m| matches!(m, ServerMessage::IceCandidateReceived(c) if number(c) == 70),
    )
    .await;
    sync(&mut a).await;
    assert_eq!(
        direct(&server),
        before,
        "relayed directly to the replaced connection"
    );
    // The old connection got its 409 and its close, nothing else.
    let e = raw_expect(&mut b, "error").await;
    assert_eq!(e["payload"]["code"], 409, "{e}");
    assert_eq!(raw_close_code(&mut b).await, Some(1000));
}
