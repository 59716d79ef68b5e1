//! The lobby race on virtual time: a challenge withdrawn while (or just after) it is
//! accepted. The accepter learns it from the server's `match_request_cancelled` at once,
//! never from its connect timeout; a requester that gives up after the accept withdraws
//! (`cancel_match_request`) instead of reporting `failed`.

use super::*;

fn cancelled(reason: CancelReason) -> ServerMessage {
    ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
        requester_id: "alice".into(),
        session_id: SESSION.into(),
        reason: Some(reason),
    })
}

/// Bob after `Peer::accept` (no lobby to go back to), with this relay policy.
fn bob_accepted(relay: RelayPolicy) -> MatchMachine {
    let pairing = Pairing {
        session_id: SESSION.into(),
        opponent_id: "alice".into(),
        opponent_name: "Alice".into(),
        role: Role::Answerer,
        accepted_at: Instant::now(),
    };
    let mut cfg = config("bob");
    cfg.relay = relay;
    MatchMachine::paired(cfg, pairing)
}

#[test]
fn an_accepted_request_that_is_withdrawn_fails_at_once_with_the_typed_error() {
    for (state, relay) in [
        ("negotiating", RelayPolicy::Never),
        ("relaying", RelayPolicy::Always),
    ] {
        let mut bob = bob_accepted(relay);
        let _ = std::iter::from_fn(|| bob.poll_action()).count();
        let now = Instant::now();
        bob.handle_signal(now, cancelled(CancelReason::Cancelled));
        let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
        assert!(
            matches!(
                actions.as_slice(),
                [
                    Action::CloseTransport,
                    Action::CloseSignal,
                    Action::Ready(Err(PeerError::RequestWithdrawn {
                        requester_id,
                        session_id,
                        reason: Some(CancelReason::Cancelled),
                    })),
                ] if requester_id == "alice" && session_id == SESSION
            ),
            "{state}: no `failed` report for a session the server ended: {actions:?}"
        );
        assert!(bob.is_ended());
        assert_eq!(bob.poll_timeout(), None, "{state}: no timer left");
    }
}

/// The accept's answer when the request was already gone: the lobby screen read the
/// `match_request_cancelled` itself, so the machine sees only `error 404` naming the session.
#[test]
fn a_404_for_the_accepted_session_is_the_withdrawal_too() {
    let mut bob = bob_accepted(RelayPolicy::Never);
    let _ = std::iter::from_fn(|| bob.poll_action()).count();
    let gone = ServerMessage::Error(signal::protocol::ErrorPayload {
        code: 404,
        message: "unknown session".into(),
        session_id: Some(SESSION.into()),
    });
    bob.handle_signal(Instant::now(), gone);
    let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::CloseTransport,
                Action::CloseSignal,
                Action::Ready(Err(PeerError::RequestWithdrawn { requester_id, reason: None, .. })),
            ] if requester_id == "alice"
        ),
        "{actions:?}"
    );
}

#[test]
fn the_withdrawal_reads_as_what_happened() {
    let error = |reason| PeerError::RequestWithdrawn {
        requester_id: "alice".into(),
        session_id: SESSION.into(),
        reason,
    };
    assert_eq!(
        error(Some(CancelReason::Cancelled)).to_string(),
        "challenge from alice withdrawn"
    );
    assert_eq!(
        error(Some(CancelReason::RequesterLeft)).to_string(),
        "challenge from alice withdrawn: they left the lobby"
    );
    assert_eq!(
        error(Some(CancelReason::Expired)).to_string(),
        "challenge from alice expired"
    );
}

/// A bot that accepts anyone goes back to waiting when the challenge it accepted is
/// withdrawn, and accepts the next one.
#[test]
fn an_accept_rule_waits_again_after_a_withdrawal() {
    let start = Instant::now();
    let mut bob = MatchMachine::lobby(config("bob"), MatchRule::Accept(AcceptRule::Any), start);
    bob.handle_signal(start, request_from("alice", SESSION));
    let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
    assert!(matches!(
        actions.as_slice(),
        [
            Action::Signal(ClientMessage::AcceptMatch(_)),
            Action::CreateTransport
        ]
    ));
    bob.handle_transport(start, TransportInput::Created);
    bob.handle_signal(start, cancelled(CancelReason::Cancelled));
    let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
    assert!(
        matches!(actions.as_slice(), [Action::CloseTransport]),
        "{actions:?}"
    );
    assert!(!bob.is_ended() && !bob.wants_transport());
    assert_eq!(
        bob.poll_timeout(),
        Some(start + Duration::from_secs(30)),
        "the original matching deadline, not a connect timeout"
    );
    // the next challenge is accepted as the first was
    let later = start + Duration::from_secs(1);
    bob.handle_signal(later, request_from("carol", "s-2"));
    let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
    assert!(
        matches!(actions.as_slice(), [
            Action::Signal(ClientMessage::AcceptMatch(a)),
            Action::CreateTransport
        ] if a.session_id.as_deref() == Some("s-2")),
        "{actions:?}"
    );
}

/// Alice gives up after bob accepted (her screen's Esc crossed his accept): she withdraws,
/// and bob is back in the lobby one hop later, long before any timeout.
#[test]
fn a_requester_who_gives_up_after_the_accept_withdraws_and_the_accepter_waits_again() {
    let mut pair = Pair::new();
    pair.network_up = false; // the match cannot start: they stay negotiating
    pair.drive_for(LATENCY * 6);
    assert!(pair.sides[0].machine.wants_transport(), "alice negotiates");
    assert!(pair.sides[1].machine.wants_transport(), "bob negotiates");
    let gave_up = pair.now;
    pair.sides[0].machine.handle_end(gave_up);
    pair.drive_for(LATENCY * 2);
    let alice = &pair.sides[0];
    assert!(
        alice
            .sent
            .iter()
            .any(|m| matches!(m, ClientMessage::CancelMatchRequest(c) if c.session_id == SESSION)),
        "{:?}",
        alice.sent
    );
    assert!(
        !alice.sent.iter().any(|m| matches!(
            m,
            ClientMessage::ReportConnection(r) if r.state == ConnectionState::Failed
        )),
        "a withdrawal, not a failure"
    );
    assert!(matches!(&alice.ready, Some(Err(PeerError::MatchFailed(r))) if r == "cancelled"));
    let bob = &pair.sides[1];
    assert!(bob.ready.is_none(), "bob waits for another challenge");
    assert!(bob.closed_transport && !bob.closed_signal);
    assert!(!bob.machine.is_ended() && !bob.machine.wants_transport());
    assert!(pair.now - gave_up <= LATENCY * 2);
}

/// The answerer giving up is not a withdrawal: it reports `failed` as before.
#[test]
fn an_accepter_who_gives_up_reports_failed() {
    let mut bob = bob_accepted(RelayPolicy::Never);
    let _ = std::iter::from_fn(|| bob.poll_action()).count();
    bob.handle_end(Instant::now());
    let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
    assert!(
        matches!(actions.first(), Some(Action::Signal(ClientMessage::ReportConnection(r)))
            if r.state == ConnectionState::Failed),
        "{actions:?}"
    );
}

/// Alice gives up (drops `Peer::challenge`) after sending her request but before
/// `match_request_sent` told her its session id: bob may have accepted already, and only a
/// `cancel_match_request` is a withdrawal for him (a closed connection is `match_failed
/// peer_disconnected`). So she waits for the id, withdraws, then closes.
#[test]
fn a_challenger_giving_up_before_the_session_id_waits_for_it_to_withdraw() {
    let start = Instant::now();
    let mut alice = MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), start);
    alice.handle_signal(start, lobby_with("bob"));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Signal(ClientMessage::RequestMatch(_)))
    ));
    alice.handle_end(start);
    assert!(
        alice.poll_action().is_none(),
        "no close before the withdrawal"
    );
    assert!(!alice.is_ended());
    assert_eq!(
        alice.poll_timeout(),
        Some(start + super::super::withdraw::WITHDRAW_WAIT)
    );
    alice.handle_end(start); // again (the driver's handle is gone): nothing new
    assert!(alice.poll_action().is_none());
    let later = start + LATENCY;
    alice.handle_signal(
        later,
        ServerMessage::MatchRequestSent(MatchRequestSent {
            target_id: "bob".into(),
            session_id: SESSION.into(),
        }),
    );
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Signal(ClientMessage::CancelMatchRequest(c)),
                Action::CloseSignal,
                Action::Ready(Err(PeerError::MatchFailed(r))),
            ] if c.session_id == SESSION && c.target_id == "bob" && r == "cancelled"
        ),
        "{actions:?}"
    );
    assert!(alice.is_ended());
}

/// ... but not for ever: without an answer (or with a refusal) she just closes.
#[test]
fn a_challenger_giving_up_closes_when_the_session_id_does_not_come() {
    let refused = ServerMessage::Error(signal::protocol::ErrorPayload {
        code: 409,
        message: "target is not available".into(),
        session_id: None,
    });
    for answer in [None, Some(refused)] {
        let start = Instant::now();
        let mut alice =
            MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), start);
        alice.handle_signal(start, lobby_with("bob"));
        let _ = std::iter::from_fn(|| alice.poll_action()).count();
        alice.handle_end(start);
        let wait = super::super::withdraw::WITHDRAW_WAIT;
        match answer {
            Some(error) => alice.handle_signal(start + LATENCY, error),
            None => {
                alice.handle_timeout(start + wait - LATENCY);
                assert!(alice.poll_action().is_none());
                alice.handle_timeout(start + wait);
            }
        }
        let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
        assert!(
            matches!(
                actions.as_slice(),
                [Action::CloseSignal, Action::Ready(Err(PeerError::MatchFailed(r)))] if r == "cancelled"
            ),
            "{actions:?}"
        );
        assert!(alice.is_ended());
    }
}

/// Before any request went out there is nothing to withdraw: giving up closes at once.
#[test]
fn a_challenger_giving_up_before_requesting_closes_at_once() {
    let start = Instant::now();
    let mut alice = MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), start);
    alice.handle_end(start);
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(
        matches!(
            actions.as_slice(),
            [Action::CloseSignal, Action::Ready(Err(_))]
        ),
        "{actions:?}"
    );
}
