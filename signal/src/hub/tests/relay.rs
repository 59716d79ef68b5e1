//! The relay fallback (`hub/relay.rs`) on virtual time: every way a negotiation fails moves
//! the session to `relaying` with a ticket per player, and `match_started` says `relay`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::*;

const SECRET: &[u8] = b"relay secret";
const URL: &str = "tcp://127.0.0.1:34001";

fn with_relay() -> Bench {
    let mut b = Bench::new();
    let relay = RelayConfig::new(
        vec![URL.to_owned(), "ws://127.0.0.1:34002/ws".to_owned()],
        SECRET,
    )
    .unwrap();
    b.hub.config.relay = Some(relay);
    b
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "stageId")]
    stage_id: i64,
    exp: u64,
}

/// Both players got `relay_assigned` for `sid` with the same stage and their own valid
/// ticket; returns the stage id.
fn assert_assigned(out: &[(&'static str, ServerMessage)], sid: &str) -> i64 {
    let assigned: Vec<_> = out
        .iter()
        .filter_map(|(p, m)| match m {
            ServerMessage::RelayAssigned(r) => Some((*p, r.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(assigned.len(), 2, "{out:?}");
    assert!(
        !out.iter().any(|(_, m)| m.kind() == "match_failed"),
        "{out:?}"
    );
    let stage = assigned[0].1.stage_id;
    assert!(stage > 0);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    for (player, r) in &assigned {
        assert_eq!(r.session_id, sid);
        assert_eq!(r.url, URL);
        assert_eq!(r.urls.len(), 2);
        assert_eq!(r.stage_id, stage);
        let claims = jsonwebtoken::decode::<Claims>(
            &r.ticket,
            &DecodingKey::from_secret(SECRET),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.sub, *player);
        assert_eq!(claims.session_id, sid);
        assert_eq!(claims.stage_id, stage);
        let now = crate::auth::now_unix().unwrap();
        assert!(claims.exp > now && claims.exp <= now + DEFAULT_TICKET_TTL.as_secs());
        // A ticket signed with another secret does not verify.
        assert!(jsonwebtoken::decode::<Claims>(
            &r.ticket,
            &DecodingKey::from_secret(b"other"),
            &validation
        )
        .is_err());
    }
    let mut players: Vec<_> = assigned.iter().map(|(p, _)| *p).collect();
    players.sort_unstable();
    assert_eq!(players, ["a", "b"]);
    stage
}

/// Both report `connected` over the relay: `match_started` with `link: relay` to both.
fn finish_over_relay(b: &mut Bench, sid: &str) {
    b.ok("a", report("a", sid, ConnectionState::Connected));
    assert_eq!(b.state(sid), Some(SessionState::Relaying));
    b.ok("b", report("b", sid, ConnectionState::Connected));
    assert_eq!(b.state(sid), Some(SessionState::Connected));
    let out = b.drain();
    let started: Vec<_> = out
        .iter()
        .filter_map(|(p, m)| match m {
            ServerMessage::MatchStarted(s) => Some((*p, s.link)),
            _ => None,
        })
        .collect();
    assert_eq!(started, [("a", LinkKind::Relay), ("b", LinkKind::Relay)]);
    b.ok("a", end("a", sid));
    assert_eq!(b.state(sid), None);
}

#[test]
fn a_failed_report_moves_the_session_to_relaying() {
    for connecting in [false, true] {
        let mut b = with_relay();
        let sid = if connecting {
            b.connecting("a", "b")
        } else {
            b.accepted("a", "b")
        };
        b.ok("a", report("a", &sid, ConnectionState::Connected));
        b.ok("b", report("b", &sid, ConnectionState::Failed));
        assert_eq!(b.state(&sid), Some(SessionState::Relaying));
        assert_eq!(b.hub.stats().sessions[SessionState::Relaying.index()], 1);
        assert_eq!(status_of(&b, "a"), PlayerStatus::InMatch);
        let out = b.drain();
        assert_assigned(&out, &sid);
        // The earlier p2p `connected` report does not count for the relay.
        finish_over_relay(&mut b, &sid);
    }
}

#[test]
fn the_negotiation_timeout_moves_the_session_to_relaying_and_then_fails() {
    let mut b = with_relay();
    let sid = b.connecting("a", "b");
    b.tick(Duration::from_secs(20));
    assert_eq!(b.state(&sid), Some(SessionState::Relaying));
    let out = b.drain();
    assert_assigned(&out, &sid);
    // No second fallback: the relay has its own negotiation timeout.
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.tick(Duration::from_secs(20));
    assert_eq!(b.state(&sid), None);
    let out = b.drain();
    let failed: Vec<_> = out
        .iter()
        .filter(
            |(_, m)| matches!(m, ServerMessage::MatchFailed(f) if f.reason == FailReason::Timeout),
        )
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(failed, ["a", "b"]);
    assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
}

#[test]
fn a_player_may_ask_for_the_relay_at_once() {
    let mut b = with_relay();
    let sid = b.accepted("a", "b");
    b.ok("b", report("b", &sid, ConnectionState::Relay));
    let out = b.drain();
    let stage = assert_assigned(&out, &sid);
    // The other asking too is a no-op: no new stage, no new tickets.
    b.ok("a", report("a", &sid, ConnectionState::Relay));
    assert!(b.drain().is_empty());
    assert_eq!(b.hub.session(&sid).map(|s| s.link), Some(LinkKind::Relay));
    let _ = stage;
    finish_over_relay(&mut b, &sid);
}

#[test]
fn without_a_relay_failures_fail_and_asking_for_it_is_a_conflict() {
    let mut b = Bench::new();
    let sid = b.accepted("a", "b");
    b.refused("a", report("a", &sid, ConnectionState::Relay), 409);
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    assert_eq!(b.state(&sid), None);
    assert!(b.drain().iter().all(|(_, m)| m.kind() == "match_failed"));
    // And a p2p match says `link: p2p`.
    let sid = b.accepted("a", "b");
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    let out = b.drain();
    assert!(out
        .iter()
        .all(|(_, m)| matches!(m, ServerMessage::MatchStarted(s) if s.link == LinkKind::P2p)));
    assert_eq!(out.len(), 2);
}

#[test]
fn relaying_sessions_refuse_sdp_ignore_late_failures_and_fail_on_disconnect() {
    let mut b = with_relay();
    let sid = b.connecting("a", "b");
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    b.drain();
    b.refused("a", offer("a", "b", &sid), 409);
    b.refused("b", answer("b", "a", &sid), 409);
    b.refused("a", end("a", &sid), 409);
    b.refused("c", report("c", &sid, ConnectionState::Connected), 403);
    // b's own peer-to-peer failure, reported after the server moved on: ignored.
    b.ok("b", report("b", &sid, ConnectionState::Failed));
    assert_eq!(b.state(&sid), Some(SessionState::Relaying));
    assert!(b.drain().is_empty());
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    b.drain();
    // A player leaving while relaying (the requester here, the target below): the other
    // gets match_failed peer_disconnected.
    let sid = b.connecting("c", "d");
    b.ok("d", report("d", &sid, ConnectionState::Relay));
    b.drain();
    let conn = b.conn("c");
    b.hub.disconnect(conn, b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert!(
        matches!(&out[..], [("d", ServerMessage::MatchFailed(f))] if f.reason == FailReason::PeerDisconnected),
        "{out:?}"
    );
    assert_eq!(status_of(&b, "d"), PlayerStatus::Available);
    let mut b = with_relay();
    let sid = b.connecting("a", "b");
    b.ok("b", report("b", &sid, ConnectionState::Relay));
    b.drain();
    let conn = b.conn("b");
    b.hub.disconnect(conn, b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert!(
        matches!(&out[..], [("a", ServerMessage::MatchFailed(f))] if f.reason == FailReason::PeerDisconnected),
        "{out:?}"
    );
    assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
}

#[test]
fn the_requester_may_withdraw_while_relaying_and_not_once_the_relayed_match_runs() {
    let mut b = with_relay();
    let sid = b.accepted("a", "b");
    b.ok("b", report("b", &sid, ConnectionState::Relay));
    b.drain();
    b.refused("b", cancel("b", "a", &sid), 403);
    b.ok("a", cancel("a", "b", &sid));
    let out = b.drain();
    assert!(
        matches!(&out[..], [("b", ServerMessage::MatchRequestCancelled(c))]
        if c.session_id == sid && c.reason == Some(CancelReason::Cancelled)),
        "{out:?}"
    );
    assert_eq!(b.state(&sid), None);
    b.refused("b", report("b", &sid, ConnectionState::Connected), 404);
    let sid = relayed_and_running(&mut b);
    b.refused("a", cancel("a", "b", &sid), 409);
}

/// A relayed match runs (both reported `connected` over the relay).
fn relayed_and_running(b: &mut Bench) -> String {
    let sid = b.accepted("a", "b");
    b.ok("a", report("a", &sid, ConnectionState::Relay));
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert_eq!(b.hub.session(&sid).map(|s| s.link), Some(LinkKind::Relay));
    b.drain();
    sid
}

fn resume_match(me: &str, sid: &str) -> ClientMessage {
    ClientMessage::ResumeMatch(ResumeMatch {
        player_id: me.into(),
        session_id: sid.into(),
    })
}

#[test]
fn a_failed_report_does_not_interrupt_a_running_relayed_match() {
    let mut b = with_relay();
    let sid = relayed_and_running(&mut b);
    // A stale peer-to-peer `failed` (or a client that does not know better): accepted,
    // nothing changes, nobody is told, and no deadline starts.
    b.ok("b", report("b", &sid, ConnectionState::Failed));
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    assert!(b.drain().is_empty());
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert_eq!(b.hub.session(&sid).unwrap().deadline, None);
    b.tick(Duration::from_secs(60));
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert!(b.drain().is_empty());
    // There is nothing to renegotiate.
    b.refused("a", resume_match("a", &sid), 409);
    // The match ends as usual: the opponent is told `match_ended ended`.
    b.ok("b", end("b", &sid));
    assert_eq!(b.state(&sid), None);
    let out = b.drain();
    assert!(
        matches!(&out[..], [("a", ServerMessage::MatchEnded(e))] if e.reason == EndReason::Ended),
        "{out:?}"
    );
    assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
    // The same report in a peer-to-peer match still interrupts it (resuming).
    let sid = b.connected("a", "b");
    b.ok("a", report("a", &sid, ConnectionState::Failed));
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
}

#[test]
fn a_relayed_match_interrupted_by_a_dropped_websocket_ignores_failed_and_comes_back() {
    let mut b = with_relay();
    let sid = relayed_and_running(&mut b);
    b.hub.disconnect(b.conn("a"), b.now);
    b.hub.check_invariants().unwrap();
    let out = b.drain();
    assert!(
        matches!(&out[..], [("b", ServerMessage::MatchInterrupted(i))] if i.reason == InterruptReason::SignalingLost),
        "{out:?}"
    );
    assert_eq!(b.state(&sid), Some(SessionState::Interrupted));
    // b's relay link is up; a stale `failed` from it does not clear its report.
    b.ok("b", report("b", &sid, ConnectionState::Failed));
    assert!(b.drain().is_empty());
    b.hub.connect(b.conn("a"), "a", "a", b.now);
    b.drain();
    b.refused("a", resume_match("a", &sid), 409);
    // a's relay link is up too: one report and the match runs again.
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    let out = b.drain();
    let resumed: Vec<_> = out
        .iter()
        .filter(|(_, m)| matches!(m, ServerMessage::MatchResumed(_)))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(resumed, ["a", "b"]);
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert_eq!(b.hub.session(&sid).unwrap().link, LinkKind::Relay);
}
