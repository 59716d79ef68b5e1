//! The `interrupted` state: a running match whose link or WebSocket dropped resumes in the
//! same session, or ends after the resume timeout.

use super::*;

fn resume(me: &str, sid: &str) -> ClientMessage {
    ClientMessage::ResumeMatch(ResumeMatch {
        player_id: me.into(),
        session_id: sid.into(),
    })
}

fn interrupted_to(
    out: &[(&'static str, ServerMessage)],
    sid: &str,
    reason: InterruptReason,
) -> Vec<&'static str> {
    let mut to: Vec<&'static str> = out
        .iter()
        .filter(|(_, m)| matches!(m, ServerMessage::MatchInterrupted(i) if i.session_id == sid && i.reason == reason))
        .map(|(p, _)| *p)
        .collect();
    to.sort_unstable();
    to
}

fn resumed_to(out: &[(&'static str, ServerMessage)], sid: &str) -> Vec<&'static str> {
    let mut to: Vec<&'static str> = out
        .iter()
        .filter(|(_, m)| matches!(m, ServerMessage::MatchResumed(r) if r.session_id == sid))
        .map(|(p, _)| *p)
        .collect();
    to.sort_unstable();
    to
}

#[test]
fn a_failed_link_interrupts_relays_a_fresh_round_and_resumes() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.ok("b", resume("b", &sid));
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::ConnectionFailed),
        ["a", "b"]
    );
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    assert_eq!(
        b.hub.session(&sid).unwrap().deadline,
        Some(b.now + Duration::from_secs(20))
    );
    // Both stay in the match for the lobby.
    b.tick(Duration::from_millis(200));
    assert_eq!(status_of(&b, "a"), PlayerStatus::InMatch);
    // The second resume_match (the other side noticed too) changes nothing for the others.
    b.ok("a", resume("a", &sid));
    assert!(b.drain().is_empty());
    // A fresh offer / answer / ICE round in the same session.
    b.ok("a", offer("a", "b", &sid));
    b.ok("b", answer("b", "a", &sid));
    b.ok("b", ice("b", "a", &sid));
    let out = b.drain();
    let kinds: Vec<_> = out.iter().map(|(p, m)| (*p, m.kind())).collect();
    assert_eq!(
        kinds,
        [
            ("b", "sdp_offer_received"),
            ("a", "sdp_answer_received"),
            ("a", "ice_candidate_received")
        ]
    );
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    assert!(b.drain().is_empty());
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    let out = b.drain();
    assert_eq!(resumed_to(&out, &sid), ["a", "b"]);
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert_eq!(b.hub.session(&sid).unwrap().deadline, None);
    // The resumed match ends as usual.
    b.ok("a", end("a", &sid));
    assert_eq!(b.state(&sid), None);
}

#[test]
fn report_failed_while_connected_interrupts_and_failed_attempts_keep_it_interrupted() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::ConnectionFailed),
        ["a", "b"]
    );
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    assert_eq!(
        b.state(&sid),
        Some(SessionState::Interrupted),
        "a's attempt failed"
    );
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    // A `connected` report in a running match is still a conflict.
    b.refused("a", report("a", &sid, ConnectionState::Connected), 409);
}

#[test]
fn the_resume_timeout_ends_the_match_with_peer_disconnected() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.ok("a", resume("a", &sid));
    b.drain();
    b.tick(Duration::from_secs(19));
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    assert!(b.drain().is_empty());
    b.tick(Duration::from_secs(1));
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    let ended: Vec<_> = out
        .iter()
        .filter(|(_, m)| matches!(m, ServerMessage::MatchEnded(e) if e.session_id == sid && e.reason == EndReason::PeerDisconnected))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(ended, ["a", "b"]);
    assert_eq!(b.state(&sid), None);
    b.tick(Duration::from_millis(200));
    assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
    assert_eq!(status_of(&b, "b"), PlayerStatus::Available);
    b.refused("a", resume("a", &sid), 404);
}

#[test]
fn a_dropped_websocket_interrupts_and_the_player_may_come_back() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.hub.disconnect(b.conn("a"), b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::SignalingLost),
        ["b"]
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    assert_eq!(b.hub.away_from("a"), Some(sid.as_str()));
    // b's game link is up: its report changes nothing while a is away.
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    b.tick(Duration::from_secs(5));
    // a reconnects (same sub, a new connection) and is told about its match.
    b.hub.connect(b.conn("a"), "a", "a", b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::SignalingLost),
        ["a"]
    );
    assert_eq!(b.hub.away_from("a"), None);
    assert_eq!(b.hub.live_session_of("a"), Some(sid.as_str()));
    // Its link is up too: one report and the match runs again.
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    let out = b.drain();
    assert_eq!(resumed_to(&out, &sid), ["a", "b"]);
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    b.ok("b", end("b", &sid));
}

#[test]
fn a_player_back_with_a_dead_link_renegotiates() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.hub.disconnect(b.conn("b"), b.now);
    b.hub.connect(b.conn("b"), "b", "b", b.now);
    b.drain();
    b.ok("b", resume("b", &sid));
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::ConnectionFailed),
        ["a", "b"]
    );
    b.ok("a", offer("a", "b", &sid));
    b.ok("b", answer("b", "a", &sid));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    assert_eq!(resumed_to(&b.drain(), &sid), ["a", "b"]);
}

#[test]
fn a_newer_connection_of_an_interrupted_player_keeps_the_match() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.ok("a", resume("a", &sid));
    b.drain();
    // Newest connection wins: the old one is closed, the new one gets the match back.
    b.hub.connect(b.conn("a"), "a", "a", b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert_eq!(
        interrupted_to(&out, &sid, InterruptReason::ConnectionFailed),
        ["a"]
    );
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
}

#[test]
fn both_players_gone_ends_the_session_and_a_late_return_is_a_fresh_start() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.hub.disconnect(b.conn("a"), b.now);
    b.hub.disconnect(b.conn("b"), b.now);
    b.hub.check_invariants().unwrap();
    b.drain();
    assert_eq!(b.state(&sid), None);
    assert_eq!(b.hub.away_from("a"), None);
    b.hub.connect(b.conn("a"), "a", "a", b.now);
    assert!(b
        .drain()
        .iter()
        .all(|(_, m)| !matches!(m, ServerMessage::MatchInterrupted(_))));
    assert_eq!(b.hub.live_session_of("a"), None);
    b.hub.check_invariants().unwrap();
}

#[test]
fn the_timeout_ends_an_interruption_while_a_player_is_away() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.hub.disconnect(b.conn("a"), b.now);
    b.drain();
    b.tick(Duration::from_secs(20));
    assert_eq!(b.state(&sid), None);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert!(
        matches!(&out[..], [("b", ServerMessage::MatchEnded(e))] if e.reason == EndReason::PeerDisconnected)
    );
    assert_eq!(b.hub.away_from("a"), None);
    // Back after the timeout: nothing to resume.
    b.hub.connect(b.conn("a"), "a", "a", b.now);
    assert!(b.drain().is_empty());
}

#[test]
fn resume_match_checks_identity_membership_and_state() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.refused("c", resume("a", &sid), 403);
    b.refused("c", resume("c", &sid), 403);
    b.refused(
        "a",
        resume("a", "00000000-0000-4000-8000-000000000000"),
        404,
    );
    let pending = b.accepted("c", "d");
    b.refused("c", resume("c", &pending), 409);
}

#[test]
fn with_resuming_off_a_drop_ends_the_match_as_before() {
    let mut b = Bench::new();
    b.hub.config.resume_timeout = Duration::ZERO;
    let sid = b.connected("a", "b");
    b.refused("a", resume("a", &sid), 409);
    b.refused("a", report("a", &sid, ConnectionState::Failed), 409);
    b.hub.disconnect(b.conn("a"), b.now);
    let out = b.drain();
    assert!(
        matches!(&out[..], [("b", ServerMessage::MatchEnded(e))] if e.reason == EndReason::PeerDisconnected)
    );
    assert_eq!(b.state(&sid), None);
}

#[test]
fn stats_count_interrupted_sessions() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.ok("a", resume("a", &sid));
    assert_eq!(b.hub.stats().sessions, [0, 0, 0, 0, 1]);
    assert_eq!(SessionState::Interrupted.name(), "interrupted");
}

#[test]
fn resume_messages_use_the_spec_names() {
    let text = serde_json::to_string(&resume("a", "s")).unwrap();
    assert_eq!(
        text,
        r#"{"type":"resume_match","payload":{"playerId":"a","sessionId":"s"}}"#
    );
    let msg = ServerMessage::MatchInterrupted(MatchInterrupted {
        session_id: "s".into(),
        reason: InterruptReason::ConnectionFailed,
    });
    let text = serde_json::to_string(&msg).unwrap();
    assert_eq!(
        text,
        r#"{"type":"match_interrupted","payload":{"sessionId":"s","reason":"connection_failed"}}"#
    );
    let msg = ServerMessage::MatchResumed(MatchResumed {
        session_id: "s".into(),
    });
    assert_eq!(
        serde_json::to_string(&msg).unwrap(),
        r#"{"type":"match_resumed","payload":{"sessionId":"s"}}"#
    );
    assert_eq!(msg.session_id(), Some("s"));
}
