//! Unit tests of every hub transition and every error code, on virtual time.

use std::time::{Duration, Instant};

use super::*;
use crate::protocol::*;

mod resume;

struct Bench {
    hub: Hub,
    now: Instant,
    names: Vec<&'static str>,
}

fn cfg() -> HubConfig {
    HubConfig {
        request_timeout: Duration::from_secs(30),
        negotiation_timeout: Duration::from_secs(20),
        lobby_debounce: Duration::from_millis(100),
        max_lobby_size: crate::hub::DEFAULT_MAX_LOBBY_SIZE,
        relay: None,
        resume_timeout: Duration::from_secs(20),
    }
}

impl Bench {
    /// Players a, b, c, d connected (conn ids 1..=4) and in the lobby; outputs drained.
    fn new() -> Self {
        let mut b = Bench {
            hub: Hub::with_seed(cfg(), 1),
            now: Instant::now(),
            names: vec!["a", "b", "c", "d"],
        };
        for (i, p) in ["a", "b", "c", "d"].into_iter().enumerate() {
            b.hub.connect(i as u64 + 1, p, p, b.now);
            b.ok(p, join(p, &p.to_uppercase()));
        }
        b.tick(Duration::from_secs(1));
        b.drain();
        b
    }

    fn conn(&self, p: &str) -> ConnId {
        self.names.iter().position(|n| *n == p).unwrap() as u64 + 1
    }

    fn player(&self, conn: ConnId) -> &'static str {
        self.names[(conn - 1) as usize]
    }

    fn send(&mut self, p: &str, msg: ClientMessage) -> Result<(), Refusal> {
        let conn = self.conn(p);
        self.hub.handle_message(conn, msg, self.now)
    }

    fn ok(&mut self, p: &str, msg: ClientMessage) {
        self.send(p, msg).expect("message should be accepted");
        self.hub.check_invariants().unwrap();
    }

    /// Sends a message that must be refused with `code`, and checks that nothing changed
    /// except the error sent back to the sender.
    fn refused(&mut self, p: &str, msg: ClientMessage, code: u16) {
        self.drain();
        let before = format!(
            "{:?}",
            (
                self.hub.lobby(),
                self.sorted_sessions(),
                self.hub.stats(),
                self.hub.lobby_due
            )
        );
        let err = self.send(p, msg).expect_err("message should be refused");
        assert_eq!(err.code.as_u16(), code, "{err:?}");
        let after = format!(
            "{:?}",
            (
                self.hub.lobby(),
                self.sorted_sessions(),
                self.hub.stats(),
                self.hub.lobby_due
            )
        );
        assert_eq!(before, after, "a refused message changed state");
        let out = self.drain();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, p);
        assert!(matches!(&out[0].1, ServerMessage::Error(e) if e.code == code));
    }

    fn sorted_sessions(&self) -> Vec<MatchSession> {
        let mut v: Vec<_> = self.hub.sessions.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.hub.handle_timeout(self.now);
    }

    fn drain(&mut self) -> Vec<(&'static str, ServerMessage)> {
        let mut out = Vec::new();
        while let Some(o) = self.hub.poll_output() {
            match o {
                HubOutput::Send { conn, msg } => out.push((self.player(conn), msg)),
                HubOutput::Lobby { update, recipients } => {
                    for c in recipients {
                        out.push((
                            self.player(c),
                            ServerMessage::LobbyUpdate((*update).clone()),
                        ));
                    }
                }
                HubOutput::Close { .. } | HubOutput::LobbyDelta { .. } => {}
            }
        }
        out.retain(|(_, m)| !matches!(m, ServerMessage::LobbyUpdate(_)));
        out
    }

    /// a requests b; returns the session id.
    fn request(&mut self, from: &str, to: &str) -> String {
        self.ok(from, request(from, to));
        let out = self.drain();
        let sid = out
            .iter()
            .find_map(|(p, m)| match m {
                ServerMessage::MatchRequestSent(s) if *p == from => Some(s.session_id.clone()),
                _ => None,
            })
            .expect("match_request_sent");
        assert!(out.iter().any(|(p, m)| *p == to
            && matches!(m, ServerMessage::MatchRequestReceived(r) if r.session_id == sid && r.requester_id == from)));
        sid
    }

    fn accepted(&mut self, from: &str, to: &str) -> String {
        let sid = self.request(from, to);
        self.ok(to, accept(to, from, Some(&sid)));
        let out = self.drain();
        assert!(out.iter().any(|(p, m)| *p == from
            && matches!(m, ServerMessage::MatchRequestAccepted(a) if a.session_id == sid)));
        sid
    }

    fn connecting(&mut self, from: &str, to: &str) -> String {
        let sid = self.accepted(from, to);
        self.ok(from, offer(from, to, &sid));
        self.drain();
        sid
    }

    fn connected(&mut self, from: &str, to: &str) -> String {
        let sid = self.connecting(from, to);
        self.ok(to, answer(to, from, &sid));
        self.ok(from, report(from, &sid, ConnectionState::Connected));
        self.ok(to, report(to, &sid, ConnectionState::Connected));
        let out = self.drain();
        assert_eq!(
            out.iter()
                .filter(|(_, m)| matches!(m, ServerMessage::MatchStarted(_)))
                .count(),
            2
        );
        sid
    }

    fn state(&self, sid: &str) -> Option<SessionState> {
        self.hub.session(sid).map(|s| s.state)
    }
}

fn join(p: &str, name: &str) -> ClientMessage {
    ClientMessage::JoinLobby(JoinLobby {
        player_id: p.into(),
        player_name: name.into(),
        ..JoinLobby::default()
    })
}
fn leave(p: &str) -> ClientMessage {
    ClientMessage::LeaveLobby(LeaveLobby {
        player_id: p.into(),
    })
}
fn request(from: &str, to: &str) -> ClientMessage {
    ClientMessage::RequestMatch(RequestMatch {
        requester_id: from.into(),
        target_id: to.into(),
    })
}
fn accept(me: &str, requester: &str, sid: Option<&str>) -> ClientMessage {
    ClientMessage::AcceptMatch(AcceptMatch {
        accepter_id: me.into(),
        requester_id: requester.into(),
        session_id: sid.map(Into::into),
    })
}
fn decline(me: &str, requester: &str, sid: Option<&str>) -> ClientMessage {
    ClientMessage::DeclineMatch(DeclineMatch {
        decliner_id: me.into(),
        requester_id: requester.into(),
        session_id: sid.map(Into::into),
    })
}
fn cancel(me: &str, target: &str, sid: &str) -> ClientMessage {
    ClientMessage::CancelMatchRequest(CancelMatchRequest {
        requester_id: me.into(),
        target_id: target.into(),
        session_id: sid.into(),
    })
}
fn sdp(me: &str, to: &str, sid: &str) -> SdpRelay {
    SdpRelay {
        sender_id: me.into(),
        receiver_id: to.into(),
        sdp: "v=0".into(),
        session_id: sid.into(),
    }
}
fn offer(me: &str, to: &str, sid: &str) -> ClientMessage {
    ClientMessage::SendSdpOffer(sdp(me, to, sid))
}
fn answer(me: &str, to: &str, sid: &str) -> ClientMessage {
    ClientMessage::SendSdpAnswer(sdp(me, to, sid))
}
fn ice(me: &str, to: &str, sid: &str) -> ClientMessage {
    ClientMessage::SendIceCandidate(IceRelay {
        sender_id: me.into(),
        receiver_id: to.into(),
        candidate: serde_json::json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}),
        session_id: sid.into(),
    })
}
fn report(me: &str, sid: &str, state: ConnectionState) -> ClientMessage {
    ClientMessage::ReportConnection(ReportConnection {
        player_id: me.into(),
        session_id: sid.into(),
        state,
    })
}
fn end(me: &str, sid: &str) -> ClientMessage {
    ClientMessage::EndMatch(EndMatch {
        player_id: me.into(),
        session_id: sid.into(),
    })
}

fn status_of(b: &Bench, p: &str) -> PlayerStatus {
    b.hub
        .lobby()
        .players
        .into_iter()
        .find(|x| x.player_id == p)
        .unwrap()
        .status
}

#[test]
fn join_lists_the_player_after_the_debounce_and_rename_works() {
    let mut b = Bench::new();
    b.ok("a", join("a", "  Renamed  "));
    assert!(
        b.hub.poll_output().is_none(),
        "lobby snapshot must wait for the debounce"
    );
    assert_eq!(
        b.hub.poll_timeout(),
        Some(b.now + Duration::from_millis(100))
    );
    b.tick(Duration::from_millis(100));
    let Some(HubOutput::Lobby { update, recipients }) = b.hub.poll_output() else {
        panic!("expected a lobby snapshot");
    };
    assert_eq!(recipients.len(), 4);
    assert_eq!(update.players[0].player_name, "Renamed");
    assert_eq!(update.players.len(), 4);
}

#[test]
fn lobby_changes_within_the_debounce_coalesce_into_one_snapshot() {
    let mut b = Bench::new();
    b.ok("a", join("a", "x1"));
    b.ok("a", join("a", "x2"));
    b.ok("b", leave("b"));
    b.tick(Duration::from_millis(100));
    let mut snapshots = Vec::new();
    while let Some(o) = b.hub.poll_output() {
        if let HubOutput::Lobby { update, .. } = o {
            snapshots.push(update);
        }
    }
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].players.len(), 3);
    assert_eq!(snapshots[0].players[0].player_name, "x2");
}

#[test]
fn bad_names_and_foreign_ids_are_refused() {
    let mut b = Bench::new();
    b.refused("a", join("a", "   "), 400);
    b.refused("a", join("a", &"n".repeat(33)), 400);
    b.refused("a", join("a", "bell\u{7}"), 400);
    b.refused("a", join("b", "B"), 403);
    b.refused("a", leave("b"), 403);
    b.ok("a", join("a", &"é".repeat(32)));
}

#[test]
fn leave_lobby_twice_is_a_conflict() {
    let mut b = Bench::new();
    b.ok("a", leave("a"));
    b.refused("a", leave("a"), 409);
    b.refused("a", request("a", "b"), 409);
    b.refused("b", request("b", "a"), 404);
}

#[test]
fn request_match_errors() {
    let mut b = Bench::new();
    b.refused("a", request("b", "c"), 403);
    b.refused("a", request("a", "a"), 400);
    b.refused("a", request("a", "zed"), 404);
    let _sid = b.request("a", "b");
    b.refused("a", request("a", "c"), 409);
    let sid = b.accepted("c", "d");
    assert_eq!(b.state(&sid), Some(SessionState::Accepted));
    b.refused("b", request("b", "c"), 409);
    b.refused("c", request("c", "b"), 409);
}

#[test]
fn accept_moves_both_players_in_match_and_closes_other_requests_as_busy() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    let cb = b.request("c", "b");
    let da = b.request("d", "a");
    b.ok("b", accept("b", "a", Some(&ab)));
    let out = b.drain();
    assert_eq!(b.state(&ab), Some(SessionState::Accepted));
    assert_eq!(b.state(&cb), None);
    assert_eq!(b.state(&da), None);
    assert!(out.iter().any(|(p, m)| *p == "c"
        && matches!(m, ServerMessage::MatchRequestDeclined(d) if d.session_id == cb && d.reason == Some(DeclineReason::Busy))));
    assert!(out.iter().any(|(p, m)| *p == "d"
        && matches!(m, ServerMessage::MatchRequestDeclined(d) if d.session_id == da && d.reason == Some(DeclineReason::Busy))));
    assert_eq!(status_of(&b, "a"), PlayerStatus::InMatch);
    assert_eq!(status_of(&b, "b"), PlayerStatus::InMatch);
    assert_eq!(status_of(&b, "c"), PlayerStatus::Available);
    b.hub.check_invariants().unwrap();
}

#[test]
fn accept_closes_the_accepters_own_outgoing_request_with_a_cancel() {
    let mut b = Bench::new();
    let bc = b.request("b", "c");
    let ab = b.request("a", "b");
    b.ok("b", accept("b", "a", None));
    let out = b.drain();
    assert_eq!(b.state(&ab), Some(SessionState::Accepted));
    assert!(out.iter().any(|(p, m)| *p == "c"
        && matches!(m, ServerMessage::MatchRequestCancelled(c) if c.session_id == bc && c.reason == Some(CancelReason::Busy))));
}

#[test]
fn accept_and_decline_errors() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    b.refused("b", accept("a", "a", Some(&ab)), 403);
    b.refused("a", accept("a", "a", Some(&ab)), 403); // requester cannot accept
    b.refused("c", accept("c", "a", Some(&ab)), 403); // not a member
    b.refused("b", accept("b", "c", Some(&ab)), 404); // wrong requester
    b.refused("b", accept("b", "a", Some("no-such-session")), 404);
    b.refused("c", accept("c", "a", None), 404); // no pending request to c
    b.refused("b", accept("b", "zed", None), 404);
    b.refused("b", decline("c", "a", None), 403);
    b.refused("a", decline("a", "a", Some(&ab)), 403);
    b.ok("b", accept("b", "a", None));
    b.refused("b", accept("b", "a", Some(&ab)), 409);
    b.refused("b", decline("b", "a", Some(&ab)), 409);
}

#[test]
fn decline_notifies_the_requester_and_frees_the_request_slot() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    b.ok("b", decline("b", "a", Some(&ab)));
    let out = b.drain();
    assert!(
        matches!(&out[..], [("a", ServerMessage::MatchRequestDeclined(d))]
        if d.reason == Some(DeclineReason::Declined) && d.decliner_name == "B")
    );
    assert_eq!(b.state(&ab), None);
    b.refused("b", accept("b", "a", Some(&ab)), 404);
    b.request("a", "c");
}

#[test]
fn cancel_only_by_the_requester_and_only_until_the_match_runs() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    b.refused("b", cancel("b", "b", &ab), 403);
    b.refused("b", cancel("a", "b", &ab), 403);
    b.refused("c", cancel("c", "b", &ab), 403);
    b.refused("a", cancel("a", "c", &ab), 404);
    b.refused("a", cancel("a", "b", "nope"), 404);
    b.ok("a", cancel("a", "b", &ab));
    let out = b.drain();
    assert!(
        matches!(&out[..], [("b", ServerMessage::MatchRequestCancelled(c))]
        if c.reason == Some(CancelReason::Cancelled))
    );
    b.refused("a", cancel("a", "b", &ab), 404);
    let cd = b.accepted("c", "d");
    b.refused("d", cancel("d", "c", &cd), 403); // the target withdraws nothing
    b.ok("c", cancel("c", "d", &cd));
    let ab = b.connected("a", "b");
    b.refused("a", cancel("a", "b", &ab), 409); // a running match ends with end_match
}

/// The lobby race: the requester's withdrawal crosses the target's accept on the wire.
/// Until the match runs it ends the session at once: the target gets
/// `match_request_cancelled` (not a wait for the negotiation timeout), both are free.
#[test]
fn a_withdrawal_that_crosses_the_accept_ends_the_negotiation_at_once() {
    type Setup = fn(&mut Bench) -> String;
    let cases: [(SessionState, Setup); 2] = [
        (SessionState::Accepted, |b| b.accepted("a", "b")),
        (SessionState::Connecting, |b| b.connecting("a", "b")),
    ];
    for (state, setup) in cases {
        let mut b = Bench::new();
        let ab = setup(&mut b);
        assert_eq!(b.state(&ab), Some(state));
        assert_eq!(status_of(&b, "a"), PlayerStatus::InMatch);
        b.ok("a", cancel("a", "b", &ab));
        let out = b.drain();
        assert!(
            matches!(&out[..], [("b", ServerMessage::MatchRequestCancelled(c))]
            if c.session_id == ab && c.requester_id == "a" && c.reason == Some(CancelReason::Cancelled)),
            "{state:?}: {out:?}"
        );
        assert_eq!(b.state(&ab), None);
        b.tick(Duration::from_secs(1));
        assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
        assert_eq!(status_of(&b, "b"), PlayerStatus::Available);
        // the late messages of the gone session are refused, nothing else happens; the
        // answers name the session (the target's client knows which request is gone)
        b.refused("b", answer("b", "a", &ab), 404);
        let late = b.send("b", accept("b", "a", Some(&ab)));
        assert_eq!(
            late.map_err(|r| (r.code.as_u16(), r.message, r.session_id)),
            Err((404, "unknown session".to_owned(), Some(ab.clone())))
        );
        b.drain();
        b.refused("a", cancel("a", "b", &ab), 404);
        b.tick(Duration::from_secs(60));
        assert!(
            b.drain().is_empty(),
            "no timeout fires for the gone session"
        );
        // and both may play again
        b.accepted("b", "a");
    }
}

#[test]
fn request_expires_as_declined_expired() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    assert_eq!(b.hub.poll_timeout(), Some(b.now + Duration::from_secs(30)));
    b.tick(Duration::from_secs(29));
    assert_eq!(b.state(&ab), Some(SessionState::Requested));
    b.tick(Duration::from_secs(1));
    let out = b.drain();
    assert_eq!(b.state(&ab), None);
    assert!(out.iter().any(|(p, m)| *p == "a"
        && matches!(m, ServerMessage::MatchRequestDeclined(d) if d.reason == Some(DeclineReason::Expired))));
    assert!(out.iter().any(|(p, m)| *p == "b"
        && matches!(m, ServerMessage::MatchRequestCancelled(c) if c.reason == Some(CancelReason::Expired))));
}

#[test]
fn negotiation_times_out_in_accepted_and_in_connecting() {
    for connecting in [false, true] {
        let mut b = Bench::new();
        let sid = if connecting {
            b.connecting("a", "b")
        } else {
            b.accepted("a", "b")
        };
        b.tick(Duration::from_secs(20));
        let out = b.drain();
        assert_eq!(b.state(&sid), None);
        let failed: Vec<_> = out
            .iter()
            .filter(|(_, m)| matches!(m, ServerMessage::MatchFailed(f) if f.reason == FailReason::Timeout))
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(failed, ["a", "b"]);
        assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
        b.hub.check_invariants().unwrap();
    }
}

#[test]
fn full_flow_relays_and_starts_and_ends_the_match() {
    let mut b = Bench::new();
    let sid = b.accepted("a", "b");
    b.ok("a", ice("a", "b", &sid)); // trickle before the offer is allowed
    b.ok("a", offer("a", "b", &sid));
    assert_eq!(b.state(&sid), Some(SessionState::Connecting));
    b.ok("b", answer("b", "a", &sid));
    b.ok("b", ice("b", "a", &sid));
    b.ok("a", offer("a", "b", &sid)); // renegotiation
    let out = b.drain();
    let kinds: Vec<_> = out.iter().map(|(p, m)| (*p, m.kind())).collect();
    assert_eq!(
        kinds,
        [
            ("b", "ice_candidate_received"),
            ("b", "sdp_offer_received"),
            ("a", "sdp_answer_received"),
            ("a", "ice_candidate_received"),
            ("b", "sdp_offer_received"),
        ]
    );
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    assert!(b.drain().is_empty());
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    let out = b.drain();
    assert!(out.iter().any(|(p, m)| *p == "a"
        && matches!(m, ServerMessage::MatchStarted(s) if s.opponent_id == "b" && s.opponent_name == "B")));
    assert_eq!(b.state(&sid), Some(SessionState::Connected));
    assert_eq!(b.hub.session(&sid).unwrap().deadline, None);
    b.ok("a", ice("a", "b", &sid));
    b.drain();
    b.ok("b", end("b", &sid));
    let out = b.drain();
    assert!(
        matches!(&out[..], [("a", ServerMessage::MatchEnded(e))] if e.reason == EndReason::Ended)
    );
    assert_eq!(status_of(&b, "a"), PlayerStatus::Available);
    b.refused("a", end("a", &sid), 404);
    b.refused("a", offer("a", "b", &sid), 404);
}

#[test]
fn forbidden_relay_transitions_are_conflicts() {
    let mut b = Bench::new();
    let sid = b.request("a", "b");
    b.refused("a", offer("a", "b", &sid), 409);
    b.refused("a", ice("a", "b", &sid), 409);
    b.refused("a", report("a", &sid, ConnectionState::Connected), 409);
    b.refused("a", end("a", &sid), 409);
    b.ok("b", accept("b", "a", Some(&sid)));
    b.refused("b", answer("b", "a", &sid), 409);
    b.refused("a", end("a", &sid), 409);
    b.ok("a", offer("a", "b", &sid));
    b.refused("a", end("a", &sid), 409);
    b.ok("b", answer("b", "a", &sid));
    b.ok("a", report("a", &sid, ConnectionState::Connected));
    b.ok("b", report("b", &sid, ConnectionState::Connected));
    b.refused("a", offer("a", "b", &sid), 409);
    b.refused("a", answer("a", "b", &sid), 409);
    // (`failed` while connected interrupts the match: tests/resume.rs.)
    b.refused("a", report("a", &sid, ConnectionState::Connected), 409);
}

#[test]
fn relays_check_identity_membership_and_receiver() {
    let mut b = Bench::new();
    let sid = b.connecting("a", "b");
    b.refused("a", offer("b", "a", &sid), 403);
    b.refused("c", offer("c", "a", &sid), 403);
    b.refused("a", offer("a", "c", &sid), 403);
    b.refused("a", ice("a", "c", &sid), 403);
    b.refused("a", ice("a", "b", "stale-session"), 404);
    b.refused("c", report("c", &sid, ConnectionState::Connected), 403);
    b.refused("c", report("a", &sid, ConnectionState::Connected), 403);
    b.refused("c", end("c", &sid), 403);
}

#[test]
fn stale_session_ids_from_an_old_attempt_are_refused() {
    let mut b = Bench::new();
    let old = b.connecting("a", "b");
    b.ok("a", report("a", &old, ConnectionState::Failed));
    let out = b.drain();
    assert_eq!(
        out.iter().filter(|(_, m)| matches!(m, ServerMessage::MatchFailed(f) if f.reason == FailReason::ConnectionFailed)).count(),
        2
    );
    let new = b.connecting("a", "b");
    assert_ne!(old, new);
    b.refused("b", answer("b", "a", &old), 404);
    b.refused("a", ice("a", "b", &old), 404);
}

#[test]
fn disconnect_in_every_state_notifies_and_frees_the_opponent() {
    // requested (as requester, as target), accepted, connecting, connected.
    type Setup = fn(&mut Bench) -> String;
    // (A dropped player of a connected match is `interrupted` instead: tests/resume.rs.)
    // Whoever leaves an unfinished negotiation (requester or target), the other gets
    // `match_failed peer_disconnected` (the contract); only a `cancel_match_request` sent
    // before leaving is a withdrawal.
    let cases: [(&str, Setup, &str, &str); 6] = [
        ("a", |b| b.request("a", "b"), "b", "match_request_cancelled"),
        ("b", |b| b.request("a", "b"), "a", "match_request_declined"),
        ("a", |b| b.accepted("a", "b"), "b", "match_failed"),
        ("b", |b| b.accepted("a", "b"), "a", "match_failed"),
        ("a", |b| b.connecting("a", "b"), "b", "match_failed"),
        ("b", |b| b.connecting("a", "b"), "a", "match_failed"),
    ];
    for (leaver, setup, other, kind) in cases {
        let mut b = Bench::new();
        let sid = setup(&mut b);
        let conn = b.conn(leaver);
        b.hub.disconnect(conn, b.now);
        b.hub.check_invariants().unwrap();
        let out = b.drain();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, other);
        assert_eq!(out[0].1.kind(), kind);
        assert_eq!(out[0].1.session_id(), Some(sid.as_str()));
        if let ServerMessage::MatchFailed(f) = &out[0].1 {
            assert_eq!(f.reason, FailReason::PeerDisconnected);
        }
        assert_eq!(b.state(&sid), None);
        assert_eq!(b.hub.lobby().players.len(), 3);
        assert_eq!(status_of(&b, other), PlayerStatus::Available);
        b.refused(other, end(other, &sid), 404);
    }
}

#[test]
fn leave_lobby_withdraws_pending_requests_both_ways() {
    let mut b = Bench::new();
    let ab = b.request("a", "b");
    let cb = b.request("c", "b");
    b.ok("b", leave("b"));
    let out = b.drain();
    assert_eq!(b.state(&ab), None);
    assert_eq!(b.state(&cb), None);
    assert_eq!(
        out.iter()
            .filter(|(_, m)| matches!(m, ServerMessage::MatchRequestDeclined(_)))
            .count(),
        2
    );
    let da = b.request("d", "a");
    b.ok("d", leave("d"));
    let out = b.drain();
    assert!(
        matches!(&out[..], [("a", ServerMessage::MatchRequestCancelled(c))]
        if c.session_id == da && c.reason == Some(CancelReason::RequesterLeft))
    );
}

#[test]
fn a_newer_connection_replaces_the_old_one_with_409() {
    let mut b = Bench::new();
    let sid = b.connected("a", "b");
    b.hub.connect(99, "a", "A2", b.now);
    let mut got_error = false;
    let mut got_close = false;
    let mut opponent_told = false;
    while let Some(o) = b.hub.poll_output() {
        match o {
            HubOutput::Send {
                conn: 1,
                msg: ServerMessage::Error(e),
            } => {
                got_error = e.code == 409 && e.message == "replaced by a newer connection";
            }
            HubOutput::Close { conn: 1, .. } => got_close = true,
            // The match is not lost: the opponent learns the WebSocket dropped, and the
            // new connection is told about its interrupted match.
            HubOutput::Send {
                conn: 2 | 99,
                msg: ServerMessage::MatchInterrupted(e),
            } => {
                opponent_told = e.session_id == sid && e.reason == InterruptReason::SignalingLost;
            }
            _ => {}
        }
    }
    assert!(got_error && got_close && opponent_told);
    // The old connection is gone: its messages are ignored, its disconnect is a no-op.
    assert!(b.hub.handle_message(1, leave("a"), b.now).is_err());
    b.hub.disconnect(1, b.now);
    assert!(b.hub.stats().players == 4);
    b.hub.check_invariants().unwrap();
}

#[test]
fn unparseable_text_is_a_400_and_changes_nothing() {
    let mut b = Bench::new();
    for text in [
        "",
        "not json",
        "{}",
        r#"{"type":"teleport","payload":{}}"#,
        r#"{"type":"join_lobby","payload":{"playerId":5,"playerName":"x"}}"#,
        r#"{"type":"join_lobby"}"#,
        "[1,2,3]",
    ] {
        let err = b.hub.handle_text(1, text, b.now).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest, "{text}");
        let out = b.drain();
        assert!(matches!(&out[..], [("a", ServerMessage::Error(e))] if e.code == 400));
    }
    b.hub.check_invariants().unwrap();
}

#[test]
fn session_ids_are_uuid_v4_and_distinct() {
    let mut b = Bench::new();
    let one = b.request("a", "b");
    b.ok("a", cancel("a", "b", &one));
    let two = b.request("a", "b");
    assert_ne!(one, two);
    let parsed = uuid::Uuid::parse_str(&two).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
}

#[test]
fn stats_count_sessions_by_state() {
    let mut b = Bench::new();
    b.request("a", "b");
    b.connected("c", "d");
    let stats = b.hub.stats();
    assert_eq!(stats.sessions, [1, 0, 0, 1, 0, 0]);
    assert_eq!(stats.lobby_size, 4);
}

// ----- named lobbies and delta mode -----

fn join_in(p: &str, lobby: &str, updates: LobbyUpdates) -> ClientMessage {
    ClientMessage::JoinLobby(
        JoinLobby::new(p, p.to_uppercase())
            .in_lobby(lobby)
            .with_updates(updates),
    )
}

/// All lobby outputs of one tick, per recipient player.
fn lobby_out(b: &mut Bench) -> Vec<(&'static str, ServerMessage)> {
    let mut out = Vec::new();
    while let Some(o) = b.hub.poll_output() {
        match o {
            HubOutput::Lobby { update, recipients } => {
                for c in recipients {
                    out.push((b.player(c), ServerMessage::LobbyUpdate((*update).clone())));
                }
            }
            HubOutput::LobbyDelta { delta, recipients } => {
                for c in recipients {
                    out.push((b.player(c), ServerMessage::LobbyDelta((*delta).clone())));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn requests_work_only_within_a_lobby_and_updates_list_one_lobby() {
    let mut b = Bench::new();
    b.ok("c", join_in("c", "side", LobbyUpdates::Snapshot));
    b.ok("d", join_in("d", "side", LobbyUpdates::Snapshot));
    b.refused("a", request("a", "c"), 404);
    b.tick(Duration::from_millis(100));
    let out = lobby_out(&mut b);
    for (p, msg) in &out {
        let ServerMessage::LobbyUpdate(u) = msg else {
            panic!("snapshot mode got {msg:?}")
        };
        let ids: Vec<_> = u.players.iter().map(|r| r.player_id.as_str()).collect();
        let expected = if ["c", "d"].contains(p) {
            ["c", "d"]
        } else {
            ["a", "b"]
        };
        assert_eq!(ids, expected, "{p}");
        assert_eq!((u.lobby.as_ref(), u.version), (None, None), "seed format");
    }
    assert_eq!(out.len(), 4, "{out:?}");
    b.request("c", "d");
    assert_eq!(b.hub.stats().lobbies, 2);
}

#[test]
fn moving_to_another_lobby_withdraws_pending_requests() {
    let mut b = Bench::new();
    let sid = b.request("a", "b");
    b.ok("b", join_in("b", "elsewhere", LobbyUpdates::Snapshot));
    assert_eq!(b.state(&sid), None);
    let out = b.drain();
    assert!(out.iter().any(|(p, m)| *p == "a"
        && matches!(m, ServerMessage::MatchRequestDeclined(d) if d.session_id == sid)));
    assert_eq!(b.hub.lobby_name_of("b"), Some("elsewhere"));
    assert_eq!(b.hub.lobby().players.len(), 3);
}

#[test]
fn a_full_lobby_refuses_one_more_with_409_and_bad_names_with_400() {
    let mut b = Bench::new();
    for p in ["a", "b", "c", "d"] {
        b.ok(p, leave(p));
    }
    b.hub.config.max_lobby_size = 2;
    b.ok("a", join_in("a", "duo", LobbyUpdates::Delta));
    b.ok("b", join_in("b", "duo", LobbyUpdates::Delta));
    b.refused("c", join_in("c", "duo", LobbyUpdates::Delta), 409);
    // Renaming inside a full lobby is not a join.
    b.ok("a", join_in("a", "duo", LobbyUpdates::Snapshot));
    for bad in ["", "has space", "ü", &"x".repeat(65)] {
        b.refused("d", join_in("d", bad, LobbyUpdates::Delta), 400);
    }
    b.ok("d", join_in("d", &"x".repeat(64), LobbyUpdates::Delta));
}

#[test]
fn delta_members_get_one_full_update_then_versioned_deltas() {
    let mut b = Bench::new();
    b.ok("a", join_in("a", "main", LobbyUpdates::Delta));
    b.tick(Duration::from_millis(100));
    let out = lobby_out(&mut b);
    let full: Vec<_> = out.iter().filter(|(p, _)| *p == "a").collect();
    assert_eq!(full.len(), 1, "{out:?}");
    let ServerMessage::LobbyUpdate(first) = &full[0].1 else {
        panic!("{full:?}")
    };
    assert_eq!(first.lobby.as_deref(), Some("main"));
    let v = first.version.unwrap();
    assert_eq!(first.players.len(), 4);
    // b enters a match with c: one delta with two changed rows, version + 1.
    let sid = b.request("b", "c");
    b.ok("c", accept("c", "b", Some(&sid)));
    b.ok("d", leave("d"));
    b.tick(Duration::from_millis(100));
    let out = lobby_out(&mut b);
    let deltas: Vec<_> = out.iter().filter(|(p, _)| *p == "a").collect();
    assert_eq!(deltas.len(), 1, "{out:?}");
    let ServerMessage::LobbyDelta(d) = &deltas[0].1 else {
        panic!("{deltas:?}")
    };
    assert_eq!(d.version, v + 1);
    assert_eq!(d.removed, ["d"]);
    let changed: Vec<_> = d.changed.iter().map(|r| r.player_id.as_str()).collect();
    assert_eq!(changed, ["b", "c"]);
    assert!(d.changed.iter().all(|r| r.status == PlayerStatus::InMatch));
    assert!(d.added.is_empty());
    // Snapshot-mode members still get the whole (seed-format) lobby.
    assert!(out.iter().any(|(p, m)| *p == "b"
        && matches!(m, ServerMessage::LobbyUpdate(u) if u.version.is_none() && u.players.len() == 3)));
    // Nothing changed: nothing is sent.
    b.ok("a", join_in("a", "main", LobbyUpdates::Delta));
    b.tick(Duration::from_millis(100));
    let out = lobby_out(&mut b);
    assert_eq!(
        out.len(),
        1,
        "only the re-joiner gets a full update: {out:?}"
    );
    assert!(matches!(&out[0].1, ServerMessage::LobbyUpdate(u) if u.version == Some(v + 1)));
}

#[test]
fn a_delta_round_trips_through_json_with_the_spec_field_names() {
    let msg = ServerMessage::LobbyDelta(LobbyDelta {
        lobby: "main".into(),
        version: 7,
        added: vec![],
        removed: vec!["x".into()],
        changed: vec![],
    });
    let text = serde_json::to_string(&msg).unwrap();
    assert_eq!(
        text,
        r#"{"type":"lobby_delta","payload":{"lobby":"main","version":7,"added":[],"removed":["x"],"changed":[]}}"#
    );
    let join = r#"{"type":"join_lobby","payload":{"playerId":"a","playerName":"A","lobby":"l1","updates":"delta"}}"#;
    let ClientMessage::JoinLobby(j) = ClientMessage::parse(join).unwrap() else {
        panic!()
    };
    assert_eq!(
        (j.lobby_name(), j.updates),
        ("l1", Some(LobbyUpdates::Delta))
    );
    assert!(ClientMessage::parse(
        r#"{"type":"join_lobby","payload":{"playerId":"a","playerName":"A","updates":"fast"}}"#
    )
    .is_err());
}

mod relay;
