//! Resuming a running match on virtual time: the link fails, the machines renegotiate with
//! backoff through the fake server until the network is back or the resume timeout.

use signal::protocol::{InterruptReason, MatchInterrupted};

use super::*;
use crate::machine::resume::{backoff, RESUME_ATTEMPT_TIMEOUT};

const RESUME: Duration = Duration::from_secs(20);

fn resume_config(player: &str) -> MachineConfig {
    MachineConfig {
        resume_timeout: RESUME,
        ..config(player)
    }
}

/// A pair with resuming on, already running.
fn running_pair() -> Pair {
    let mut pair = Pair::new();
    let start = pair.now;
    pair.sides[0].machine = MatchMachine::lobby(
        resume_config("alice"),
        MatchRule::Challenge("bob".into()),
        start,
    );
    pair.sides[1].machine = MatchMachine::lobby(
        resume_config("bob"),
        MatchRule::Accept(AcceptRule::Any),
        start,
    );
    pair.drive_for(Duration::from_secs(5));
    assert!(pair.sides.iter().all(|s| s.machine.is_running()));
    for side in &mut pair.sides {
        side.sent.clear();
    }
    pair
}

fn resumed_after(side: &Side) -> Option<Duration> {
    side.events.iter().find_map(|e| match e {
        MatchEvent::Resumed { after } => Some(*after),
        _ => None,
    })
}

fn sent_resume(side: &Side) -> usize {
    side.sent
        .iter()
        .filter(|m| matches!(m, ClientMessage::ResumeMatch(r) if r.session_id == SESSION))
        .count()
}

fn sent_offers(side: &Side) -> usize {
    side.sent
        .iter()
        .filter(|m| matches!(m, ClientMessage::SendSdpOffer(_)))
        .count()
}

#[test]
fn backoff_doubles_from_250_ms_up_to_1_s() {
    let ms: Vec<u128> = (1..6).map(|n| backoff(n).as_millis()).collect();
    assert_eq!(ms, [250, 500, 1000, 1000, 1000]);
    assert_eq!(backoff(u32::MAX), Duration::from_secs(1));
}

#[test]
fn a_failed_link_is_renegotiated_with_backoff_until_the_network_is_back() {
    let mut pair = running_pair();
    pair.network_up = false;
    let now = pair.now;
    let cut = now;
    for side in &mut pair.sides {
        side.machine.handle_transport(now, TransportInput::Failed);
    }
    pair.drive_for(Duration::from_secs(10));
    for side in &pair.sides {
        assert!(side.machine.is_running(), "still running while resuming");
        assert!(side.machine.is_resuming());
        assert_eq!(side.events, [MatchEvent::Interrupted]);
        assert_eq!(sent_resume(side), 1);
    }
    // Attempts at 0, 3.25, 6.75 and 10.75 s (3 s each, then 250 ms, 500 ms, 1 s pauses).
    assert_eq!(pair.sides[0].machine.resume_attempts(), 3);
    assert_eq!(sent_offers(&pair.sides[0]), 3);
    // The network comes back: the next attempt gets through.
    pair.network_up = true;
    pair.drive_for(Duration::from_secs(5));
    for side in &pair.sides {
        assert!(!side.machine.is_resuming());
        assert!(side.machine.is_running());
        let after = resumed_after(side).expect("resumed");
        assert!(after >= Duration::from_millis(10_750), "{after:?}");
        assert!(after < Duration::from_secs(11), "{after:?}");
        let reported = side.sent.iter().any(|m| {
            matches!(m, ClientMessage::ReportConnection(r) if r.state == ConnectionState::Connected)
        });
        assert!(reported, "the server hears the link is back");
    }
    assert!(pair.now - cut < RESUME);
    assert_eq!(pair.sides[0].machine.poll_timeout(), None);
}

#[test]
fn a_link_that_never_comes_back_ends_at_the_resume_timeout() {
    let mut pair = running_pair();
    pair.network_up = false;
    let now = pair.now;
    pair.sides[0]
        .machine
        .handle_channel(now, ChannelInput::Closed);
    pair.drive_for(Duration::from_secs(30));
    for side in &pair.sides {
        assert_eq!(
            side.events,
            [
                MatchEvent::Interrupted,
                MatchEvent::Closed(CloseReason::ResumeTimeout)
            ]
        );
        assert!(!side.machine.is_running());
        assert!(side.closed_transport);
    }
    // Attempts every ~3-5 s for 20 s, not a busy loop.
    let attempts = sent_offers(&pair.sides[0]);
    assert!((4..=7).contains(&attempts), "{attempts} attempts");
    assert_eq!(pair.sides[0].machine.poll_timeout(), None);
}

#[test]
fn the_answerer_follows_a_new_offer_even_if_its_own_link_looked_fine() {
    let mut pair = running_pair();
    let now = pair.now;
    // Only alice (the offerer) sees the failure.
    pair.sides[0]
        .machine
        .handle_transport(now, TransportInput::Closed);
    pair.drive_for(Duration::from_secs(2));
    for side in &pair.sides {
        assert_eq!(side.events.first(), Some(&MatchEvent::Interrupted));
        assert!(resumed_after(side).is_some(), "{:?}", side.events);
        assert!(!side.machine.is_resuming());
    }
}

#[test]
fn match_interrupted_from_the_server_tells_a_healthy_peer_what_to_do() {
    let mut pair = running_pair();
    let now = pair.now;
    let alice = &mut pair.sides[0].machine;
    // signaling_lost: the opponent's WebSocket dropped, our link is up: say so.
    alice.handle_signal(
        now,
        ServerMessage::MatchInterrupted(MatchInterrupted {
            session_id: SESSION.into(),
            reason: InterruptReason::SignalingLost,
        }),
    );
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(matches!(
        actions.as_slice(),
        [Action::Signal(ClientMessage::ReportConnection(r))] if r.state == ConnectionState::Connected
    ));
    assert!(!alice.is_resuming());
    // connection_failed: the opponent's link is down: renegotiate.
    alice.handle_signal(
        now,
        ServerMessage::MatchInterrupted(MatchInterrupted {
            session_id: SESSION.into(),
            reason: InterruptReason::ConnectionFailed,
        }),
    );
    assert!(alice.is_resuming());
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Emit(MatchEvent::Interrupted))));
    assert!(actions.iter().any(|a| matches!(a, Action::CreateTransport)));
}

#[test]
fn a_server_that_gave_up_does_not_stop_a_healthy_link_but_nothing_resumes_later() {
    let mut pair = running_pair();
    let now = pair.now;
    let alice = &mut pair.sides[0].machine;
    alice.handle_signal(
        now,
        ServerMessage::MatchEnded(MatchEnded {
            session_id: SESSION.into(),
            reason: EndReason::PeerDisconnected,
        }),
    );
    assert!(alice.poll_action().is_none());
    assert!(alice.is_running());
    alice.handle_transport(now, TransportInput::Failed);
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Emit(MatchEvent::Failed(_)))
    ));
    assert!(!alice.is_running());
}

#[test]
fn a_refused_resume_ends_the_link_and_a_new_signal_connection_asks_again() {
    let mut pair = running_pair();
    pair.network_up = false;
    let now = pair.now;
    let alice = &mut pair.sides[0].machine;
    alice.handle_transport(now, TransportInput::Failed);
    while alice.poll_action().is_some() {}
    // The WebSocket dropped and came back: ask again.
    alice.handle_signal_closed(now);
    alice.handle_signal_reopened(now);
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Signal(ClientMessage::ResumeMatch(_)))),
        "{actions:?}"
    );
    alice.handle_signal(
        now,
        ServerMessage::Error(ErrorPayload {
            code: 404,
            message: "unknown session".into(),
            session_id: Some(SESSION.into()),
        }),
    );
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Emit(MatchEvent::Closed(CloseReason::ResumeRefused(m))) if m == "unknown session"
    )));
    assert!(!alice.is_running());
}

#[test]
fn an_attempt_is_given_up_after_its_timeout() {
    assert_eq!(RESUME_ATTEMPT_TIMEOUT, Duration::from_secs(3));
    let mut pair = running_pair();
    pair.network_up = false;
    let now = pair.now;
    let alice = &mut pair.sides[0].machine;
    alice.handle_transport(now, TransportInput::Failed);
    assert_eq!(alice.poll_timeout(), Some(now + RESUME_ATTEMPT_TIMEOUT));
}
