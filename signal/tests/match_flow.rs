//! Match flows over real WebSockets on 127.0.0.1: the full negotiation with relays, decline,
//! cancel, request expiry and negotiation timeout, and disconnects in every state.

mod common;

use std::time::Duration;

use common::*;
use signal::protocol::*;
use signal::SignalServer;

#[tokio::test]
async fn full_flow_join_request_accept_relay_start_end() {
    let server = server().await;
    let mut a = lobby_client(&server, "alice").await;
    let mut b = lobby_client(&server, "bob").await;
    assert_eq!(a.welcome().player_id, "alice");
    assert!(
        a.welcome().ice_servers.is_empty(),
        "no ICE servers by default"
    );
    let lobby = await_lobby(&mut a, 2).await;
    assert_eq!(lobby.players[1].player_name, "BOB");
    assert!(lobby
        .players
        .iter()
        .all(|p| p.status == PlayerStatus::Available));

    send(&a, request("alice", "bob"));
    let sent = expect(&mut a, "sent", |m| {
        matches!(m, ServerMessage::MatchRequestSent(_))
    })
    .await;
    let ServerMessage::MatchRequestReceived(received) = expect(&mut b, "received", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(sent.session_id(), Some(received.session_id.as_str()));
    assert_eq!(received.requester_name, "ALICE");
    let sid = received.session_id.clone();
    send(&b, accept("bob", "alice", &sid));
    expect(
        &mut a,
        "accepted",
        |m| matches!(m, ServerMessage::MatchRequestAccepted(x) if x.accepter_id == "bob"),
    )
    .await;
    let lobby = expect(&mut a, "in_match lobby", |m| {
        matches!(m, ServerMessage::LobbyUpdate(l)
        if l.players.iter().all(|p| p.status == PlayerStatus::InMatch))
    })
    .await;
    assert_eq!(lobby.kind(), "lobby_update");

    send(&a, offer("alice", "bob", &sid, "v=0\r\no=offer"));
    let ServerMessage::SdpOfferReceived(o) = expect(&mut b, "offer", |m| {
        matches!(m, ServerMessage::SdpOfferReceived(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(
        (o.sender_id.as_str(), o.sdp.as_str()),
        ("alice", "v=0\r\no=offer")
    );
    send(&b, answer("bob", "alice", &sid, "v=0\r\no=answer"));
    let ServerMessage::SdpAnswerReceived(ans) = expect(&mut a, "answer", |m| {
        matches!(m, ServerMessage::SdpAnswerReceived(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(ans.sdp, "v=0\r\no=answer");
    let cand = serde_json::json!({"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"});
    send(&a, ice("alice", "bob", &sid, cand.clone()));
    send(&b, ice("bob", "alice", &sid, cand.clone()));
    let ServerMessage::IceCandidateReceived(c) = expect(&mut b, "ice", |m| {
        matches!(m, ServerMessage::IceCandidateReceived(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(c.candidate, cand, "candidate relayed verbatim");
    expect(&mut a, "ice", |m| {
        matches!(m, ServerMessage::IceCandidateReceived(_))
    })
    .await;

    send(&a, report("alice", &sid, ConnectionState::Connected));
    send(&b, report("bob", &sid, ConnectionState::Connected));
    let ServerMessage::MatchStarted(s) = expect(&mut a, "started", |m| {
        matches!(m, ServerMessage::MatchStarted(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(
        (s.opponent_id.as_str(), s.opponent_name.as_str()),
        ("bob", "BOB")
    );
    expect(
        &mut b,
        "started",
        |m| matches!(m, ServerMessage::MatchStarted(s) if s.opponent_id == "alice"),
    )
    .await;

    send(
        &a,
        ClientMessage::EndMatch(EndMatch {
            player_id: "alice".into(),
            session_id: sid.clone(),
        }),
    );
    expect(
        &mut b,
        "ended",
        |m| matches!(m, ServerMessage::MatchEnded(e) if e.reason == EndReason::Ended),
    )
    .await;
    expect(&mut a, "available again", |m| {
        matches!(m, ServerMessage::LobbyUpdate(l)
        if l.players.iter().all(|p| p.status == PlayerStatus::Available))
    })
    .await;
    // The finished session is gone: stale messages get 404.
    send(&b, ice("bob", "alice", &sid, cand));
    expect_error(&mut b, 404).await;
    a.close().await;
    b.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn decline_and_cancel_are_delivered() {
    let server = server().await;
    let mut a = lobby_client(&server, "alice").await;
    let mut b = lobby_client(&server, "bob").await;
    await_lobby(&mut a, 2).await;
    send(&a, request("alice", "bob"));
    let ServerMessage::MatchRequestReceived(r) = expect(&mut b, "received", |m| {
        matches!(m, ServerMessage::MatchRequestReceived(_))
    })
    .await
    else {
        unreachable!()
    };
    send(
        &b,
        ClientMessage::DeclineMatch(DeclineMatch {
            decliner_id: "bob".into(),
            requester_id: "alice".into(),
            session_id: None,
        }),
    );
    expect(&mut a, "declined", |m| {
        matches!(m, ServerMessage::MatchRequestDeclined(d)
        if d.session_id == r.session_id && d.reason == Some(DeclineReason::Declined))
    })
    .await;

    send(&a, request("alice", "bob"));
    let ServerMessage::MatchRequestSent(s) = expect(&mut a, "sent", |m| {
        matches!(m, ServerMessage::MatchRequestSent(_))
    })
    .await
    else {
        unreachable!()
    };
    send(
        &a,
        ClientMessage::CancelMatchRequest(CancelMatchRequest {
            requester_id: "alice".into(),
            target_id: "bob".into(),
            session_id: s.session_id.clone(),
        }),
    );
    expect(&mut b, "cancelled", |m| {
        matches!(m, ServerMessage::MatchRequestCancelled(c)
        if c.session_id == s.session_id && c.reason == Some(CancelReason::Cancelled))
    })
    .await;
    // Accepting the cancelled request is refused.
    send(&b, accept("bob", "alice", &s.session_id));
    expect_error(&mut b, 404).await;
    server.shutdown().await;
}

/// What a client queued right before `close()` still reaches the server: here a
/// requester's withdrawal after the target accepted, so the target learns
/// `match_request_cancelled {reason: "cancelled"}`. Before the fix the client's writer
/// dropped it about one time in two, and the target got `match_failed peer_disconnected`
/// from the closed connection instead. Bob's candidates may still be coming in while alice
/// closes: a frame read after `close` used to stop her client without the flush (the
/// real-server test that caught that is peer/tests/lobby_race.rs, about 1 run in 10).
#[tokio::test]
async fn a_withdrawal_queued_right_before_close_is_delivered() {
    let server = server().await;
    let mut b = lobby_client(&server, "bob").await;
    for _ in 0..12 {
        let mut a = lobby_client(&server, "alice").await;
        send(&a, request("alice", "bob"));
        let ServerMessage::MatchRequestReceived(r) = expect(&mut b, "received", |m| {
            matches!(m, ServerMessage::MatchRequestReceived(_))
        })
        .await
        else {
            unreachable!()
        };
        let sid = r.session_id;
        send(&b, accept("bob", "alice", &sid));
        expect(
            &mut a,
            "accepted",
            |m| matches!(m, ServerMessage::MatchRequestAccepted(x) if x.session_id == sid),
        )
        .await;
        // frames that may still come in while alice closes
        let cand = serde_json::json!({"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"});
        for _ in 0..4 {
            send(&b, ice("bob", "alice", &sid, cand.clone()));
        }
        expect(&mut a, "a candidate", |m| {
            matches!(m, ServerMessage::IceCandidateReceived(_))
        })
        .await;
        send(
            &a,
            ClientMessage::CancelMatchRequest(CancelMatchRequest {
                requester_id: "alice".into(),
                target_id: "bob".into(),
                session_id: sid.clone(),
            }),
        );
        a.close().await;
        let got = expect(&mut b, "cancelled or failed", |m| match m {
            ServerMessage::MatchRequestCancelled(c) => c.session_id == sid,
            ServerMessage::MatchFailed(f) => f.session_id == sid,
            _ => false,
        })
        .await;
        assert!(
            matches!(&got, ServerMessage::MatchRequestCancelled(c) if c.reason == Some(CancelReason::Cancelled)),
            "{got:?}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn requests_expire_and_negotiations_time_out() {
    // Short request timeout: nobody answers.
    let mut cfg = config();
    cfg.hub.request_timeout = Duration::from_millis(300);
    let server = SignalServer::start(cfg).await.unwrap();
    let mut a = lobby_client(&server, "alice").await;
    let mut b = lobby_client(&server, "bob").await;
    await_lobby(&mut a, 2).await;
    send(&a, request("alice", "bob"));
    expect(&mut a, "expired", |m| matches!(m, ServerMessage::MatchRequestDeclined(d) if d.reason == Some(DeclineReason::Expired))).await;
    expect(&mut b, "expired", |m| matches!(m, ServerMessage::MatchRequestCancelled(c) if c.reason == Some(CancelReason::Expired))).await;
    server.shutdown().await;

    // Short negotiation timeout (requests keep the default, so accepting is never racy).
    let mut cfg = config();
    cfg.hub.negotiation_timeout = Duration::from_millis(300);
    let server = SignalServer::start(cfg).await.unwrap();
    let mut a = lobby_client(&server, "alice").await;
    let mut b = lobby_client(&server, "bob").await;
    await_lobby(&mut a, 2).await;
    let sid = matched(&mut a, &mut b).await;
    for c in [&mut a, &mut b] {
        expect(c, "timeout", |m| matches!(m, ServerMessage::MatchFailed(f) if f.session_id == sid && f.reason == FailReason::Timeout)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn disconnect_in_every_state_notifies_the_other_player() {
    // Resuming off: a dropped player ends a running match at once (with resuming on it is
    // interrupted instead: tests/resume.rs).
    let mut config = config();
    config.hub.resume_timeout = Duration::ZERO;
    let server = SignalServer::start(config).await.unwrap();
    // requested (requester leaves), requested (target leaves), accepted, connecting, connected
    for (case, expected) in [
        "requested",
        "requested_target",
        "accepted",
        "connecting",
        "connected",
    ]
    .into_iter()
    .zip([
        "match_request_cancelled",
        "match_request_declined",
        "match_failed",
        "match_failed",
        "match_ended",
    ]) {
        let (na, nb) = (format!("a-{case}"), format!("b-{case}"));
        let mut a = lobby_client(&server, &na).await;
        let mut b = lobby_client(&server, &nb).await;
        await_listed(&mut a, &nb).await;
        let (mut stay, leave) = match case {
            "requested" | "requested_target" => {
                send(&a, request(&na, &nb));
                expect(&mut b, "received", |m| {
                    matches!(m, ServerMessage::MatchRequestReceived(_))
                })
                .await;
                expect(&mut a, "sent", |m| {
                    matches!(m, ServerMessage::MatchRequestSent(_))
                })
                .await;
                if case == "requested" {
                    (b, a)
                } else {
                    (a, b)
                }
            }
            "accepted" => {
                matched(&mut a, &mut b).await;
                (b, a)
            }
            "connecting" => {
                let sid = matched(&mut a, &mut b).await;
                send(&a, offer(&na, &nb, &sid, "v=0"));
                expect(&mut b, "offer", |m| {
                    matches!(m, ServerMessage::SdpOfferReceived(_))
                })
                .await;
                (a, b)
            }
            _ => {
                started(&mut a, &mut b).await;
                (b, a)
            }
        };
        leave.close().await;
        let got = expect(&mut stay, expected, |m| m.kind() == expected).await;
        match got {
            ServerMessage::MatchFailed(f) => assert_eq!(f.reason, FailReason::PeerDisconnected),
            ServerMessage::MatchEnded(e) => assert_eq!(e.reason, EndReason::PeerDisconnected),
            _ => {}
        }
        // The one who stayed is available again: it can be asked for a new match.
        let idle_name = format!("c-{case}");
        let c = lobby_client(&server, &idle_name).await;
        send(&c, request(&idle_name, stay.player_id()));
        expect(&mut stay, "new request", |m| {
            matches!(m, ServerMessage::MatchRequestReceived(_))
        })
        .await;
        c.close().await;
        stay.close().await;
    }
    server.shutdown().await;
}
