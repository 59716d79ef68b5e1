//! Resuming a running match through a real server on 127.0.0.1:0: a player's WebSocket
//! drops mid-match and reconnects, and the match goes on; a link failure is renegotiated
//! in the same session; an interruption that lasts past `--resume-timeout` ends the match.

mod common;

use std::time::Duration;

use common::*;
use signal::protocol::*;
use signal::SignalServer;

fn resume(me: &str, sid: &str) -> ClientMessage {
    ClientMessage::ResumeMatch(ResumeMatch {
        player_id: me.into(),
        session_id: sid.into(),
    })
}

fn end(me: &str, sid: &str) -> ClientMessage {
    ClientMessage::EndMatch(EndMatch {
        player_id: me.into(),
        session_id: sid.into(),
    })
}

fn is_interrupted(m: &ServerMessage, sid: &str, reason: InterruptReason) -> bool {
    matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid && i.reason == reason)
}

fn is_resumed(m: &ServerMessage, sid: &str) -> bool {
    matches!(m, ServerMessage::MatchResumed(r) if r.session_id == sid)
}

#[tokio::test]
async fn a_players_websocket_drops_and_reconnects_mid_match_and_the_match_goes_on() {
    let server = server().await;
    let mut a = lobby_client(&server, "ra").await;
    let mut b = lobby_client(&server, "rb").await;
    await_listed(&mut a, "rb").await;
    let sid = started(&mut a, &mut b).await;

    // b's WebSocket drops: a learns it, the session waits for b.
    b.close().await;
    expect(&mut a, "match_interrupted", |m| {
        is_interrupted(m, &sid, InterruptReason::SignalingLost)
    })
    .await;
    // a's game link is still up: it says so.
    send(&a, report("ra", &sid, ConnectionState::Connected));

    // b comes back with the same identity and is told about its match.
    let mut b = client(&server, "rb").await;
    expect(&mut b, "match_interrupted", |m| {
        is_interrupted(m, &sid, InterruptReason::SignalingLost)
    })
    .await;
    send(&b, report("rb", &sid, ConnectionState::Connected));
    expect(&mut a, "match_resumed", |m| is_resumed(m, &sid)).await;
    expect(&mut b, "match_resumed", |m| is_resumed(m, &sid)).await;

    // The match goes on in the same session and ends normally.
    send(&b, end("rb", &sid));
    let ended = expect(&mut a, "match_ended", |m| {
        matches!(m, ServerMessage::MatchEnded(_))
    })
    .await;
    assert!(
        matches!(ended, ServerMessage::MatchEnded(e) if e.reason == EndReason::Ended && e.session_id == sid)
    );
    a.close().await;
    b.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_link_is_renegotiated_in_the_same_session() {
    let server = server().await;
    let mut a = lobby_client(&server, "la").await;
    let mut b = lobby_client(&server, "lb").await;
    await_listed(&mut a, "lb").await;
    let sid = started(&mut a, &mut b).await;

    send(&b, resume("lb", &sid));
    for c in [&mut a, &mut b] {
        expect(c, "match_interrupted", |m| {
            is_interrupted(m, &sid, InterruptReason::ConnectionFailed)
        })
        .await;
    }
    send(&a, offer("la", "lb", &sid, "v=0 again"));
    let got = expect(&mut b, "offer", |m| {
        matches!(m, ServerMessage::SdpOfferReceived(_))
    })
    .await;
    assert!(
        matches!(got, ServerMessage::SdpOfferReceived(o) if o.sdp == "v=0 again" && o.session_id == sid)
    );
    send(&b, answer("lb", "la", &sid, "v=0 answer again"));
    expect(&mut a, "answer", |m| {
        matches!(m, ServerMessage::SdpAnswerReceived(_))
    })
    .await;
    send(&a, report("la", &sid, ConnectionState::Connected));
    send(&b, report("lb", &sid, ConnectionState::Connected));
    expect(&mut a, "match_resumed", |m| is_resumed(m, &sid)).await;
    expect(&mut b, "match_resumed", |m| is_resumed(m, &sid)).await;
    a.close().await;
    b.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_interruption_past_the_resume_timeout_ends_the_match() {
    let mut config = config();
    config.hub.resume_timeout = Duration::from_secs(1);
    let server = SignalServer::start(config).await.unwrap();
    let mut a = lobby_client(&server, "ta").await;
    let mut b = lobby_client(&server, "tb").await;
    await_listed(&mut a, "tb").await;
    let sid = started(&mut a, &mut b).await;
    b.close().await;
    expect(&mut a, "match_interrupted", |m| {
        is_interrupted(m, &sid, InterruptReason::SignalingLost)
    })
    .await;
    let ended = expect(&mut a, "match_ended", |m| {
        matches!(m, ServerMessage::MatchEnded(_))
    })
    .await;
    assert!(
        matches!(ended, ServerMessage::MatchEnded(e) if e.reason == EndReason::PeerDisconnected)
    );
    // Back too late: nothing to resume.
    let mut b = client(&server, "tb").await;
    send(&b, resume("tb", &sid));
    expect(
        &mut b,
        "error 404",
        |m| matches!(m, ServerMessage::Error(e) if e.code == 404),
    )
    .await;
    a.close().await;
    b.close().await;
    server.shutdown().await;
}
