//! Spectator links and the watcher on virtual time: one machine at a time, fed by hand
//! (the fake server and transports are the test's own steps).

use std::time::{Duration, Instant};

use signal::protocol::{
    EndReason, ErrorPayload, IceCandidateReceived, LinkKind, MatchEnded, MatchStarted, SdpReceived,
    SpectatorJoined, WatchStarted,
};

use super::*;
use crate::channel::ChannelMode;
use crate::link::{CloseReason, MatchEvent};
use crate::machine::{ChannelInput, RelayPolicy, TransportInput};

const MATCH: &str = "m-1";

fn config(player: &str) -> MachineConfig {
    MachineConfig {
        player_id: player.to_owned(),
        match_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(20),
        mode: ChannelMode::Sequenced,
        relay: RelayPolicy::Fallback,
        resume_timeout: Duration::from_secs(20),
    }
}

fn drain(machine: &mut MatchMachine) -> Vec<Action> {
    std::iter::from_fn(|| machine.poll_action()).collect()
}

fn sdp(session: &str, from: &str, sdp: &str) -> SdpReceived {
    SdpReceived {
        sender_id: from.to_owned(),
        sdp: sdp.to_owned(),
        session_id: session.to_owned(),
    }
}

/// Alice, running a match against bob.
fn running_host(now: Instant) -> MatchMachine {
    let pairing = Pairing {
        session_id: MATCH.into(),
        opponent_id: "bob".into(),
        opponent_name: "Bob".into(),
        role: Role::Offerer,
        accepted_at: now,
    };
    let mut m = MatchMachine::paired(config("alice"), pairing);
    m.handle_transport(now, TransportInput::Created);
    m.handle_transport(now, TransportInput::LocalOffer("offer".into()));
    m.handle_signal(
        now,
        ServerMessage::SdpAnswerReceived(sdp(MATCH, "bob", "answer")),
    );
    m.handle_channel(now, ChannelInput::Open);
    m.handle_signal(
        now,
        ServerMessage::MatchStarted(MatchStarted {
            opponent_id: "bob".into(),
            opponent_name: "Bob".into(),
            session_id: MATCH.into(),
            link: LinkKind::P2p,
        }),
    );
    assert!(m.is_running());
    drain(&mut m);
    m
}

fn joined(session: &str, watcher: &str) -> ServerMessage {
    ServerMessage::SpectatorJoined(SpectatorJoined {
        session_id: session.into(),
        match_session_id: MATCH.into(),
        watcher_id: watcher.into(),
        watcher_name: watcher.to_uppercase(),
    })
}

fn signals(actions: &[Action]) -> Vec<&ClientMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Joins spectator `session` and opens its stream; returns its key.
fn open_spectator(
    m: &mut MatchMachine,
    now: Instant,
    session: &str,
    watcher: &str,
) -> SpectatorKey {
    m.handle_signal(now, joined(session, watcher));
    let key = match drain(m).as_slice() {
        [Action::Spectator(SpectatorAction::Create(key))] => *key,
        other => panic!("expected a spectator link: {other:?}"),
    };
    m.handle_spectator(now, key, SpectatorInput::Created);
    m.handle_signal(
        now,
        ServerMessage::SdpOfferReceived(sdp(session, watcher, "w-offer")),
    );
    m.handle_spectator(now, key, SpectatorInput::LocalAnswer("h-answer".into()));
    m.handle_spectator(now, key, SpectatorInput::ChannelOpen);
    drain(m);
    key
}

#[test]
fn host_answers_the_watcher_in_the_spectator_session_and_opens_its_stream() {
    let now = Instant::now();
    let mut m = running_host(now);
    m.handle_signal(now, joined("w-1", "carol"));
    let key = match drain(&mut m).as_slice() {
        [Action::Spectator(SpectatorAction::Create(key))] => *key,
        other => panic!("expected a spectator link: {other:?}"),
    };
    // the offer and a candidate arrive before the peer connection exists
    m.handle_signal(
        now,
        ServerMessage::SdpOfferReceived(sdp("w-1", "carol", "w-offer")),
    );
    m.handle_signal(
        now,
        ServerMessage::IceCandidateReceived(IceCandidateReceived {
            sender_id: "carol".into(),
            candidate: serde_json::json!({"candidate": "c"}),
            session_id: "w-1".into(),
        }),
    );
    assert!(
        drain(&mut m).is_empty(),
        "nothing to do before the link exists"
    );
    m.handle_spectator(now, key, SpectatorInput::Created);
    let actions = drain(&mut m);
    assert!(
        matches!(actions.as_slice(), [Action::Spectator(SpectatorAction::Answer(k, offer))] if *k == key && offer == "w-offer"),
        "{actions:?}"
    );
    m.handle_spectator(now, key, SpectatorInput::LocalAnswer("h-answer".into()));
    let actions = drain(&mut m);
    match actions.as_slice() {
        [Action::Signal(ClientMessage::SendSdpAnswer(answer)), Action::Spectator(SpectatorAction::AddCandidate(k, _))] =>
        {
            assert_eq!(answer.session_id, "w-1");
            assert_eq!(answer.receiver_id, "carol");
            assert_eq!(answer.sdp, "h-answer");
            assert_eq!(*k, key);
        }
        other => panic!("expected the answer and the kept candidate: {other:?}"),
    }
    m.handle_spectator(
        now,
        key,
        SpectatorInput::LocalCandidate(serde_json::json!({"candidate": "h"})),
    );
    m.handle_spectator(now, key, SpectatorInput::ChannelOpen);
    let actions = drain(&mut m);
    match actions.as_slice() {
        [Action::Signal(ClientMessage::SendIceCandidate(ice)), Action::Signal(ClientMessage::ReportConnection(report)), Action::Spectator(SpectatorAction::Opened {
            key: k, watcher_id, ..
        })] => {
            assert_eq!(ice.session_id, "w-1");
            assert_eq!(report.session_id, "w-1");
            assert_eq!(report.state, ConnectionState::Connected);
            assert_eq!((*k, watcher_id.as_str()), (key, "carol"));
        }
        other => panic!("expected the report and the open stream: {other:?}"),
    }
    assert_eq!(m.spectator_links(), 1);
    assert_eq!(m.poll_timeout(), None, "an open link has no deadline");
    assert!(m.is_running());
}

#[test]
fn a_ninth_spectator_is_declined_with_end_match() {
    let now = Instant::now();
    let mut m = running_host(now);
    for i in 0..MAX_SPECTATOR_LINKS {
        m.handle_signal(now, joined(&format!("w-{i}"), &format!("watcher{i}")));
    }
    assert_eq!(drain(&mut m).len(), MAX_SPECTATOR_LINKS);
    m.handle_signal(now, joined("w-9", "late"));
    let actions = drain(&mut m);
    match signals(&actions).as_slice() {
        [ClientMessage::EndMatch(end)] => assert_eq!(end.session_id, "w-9"),
        other => panic!("expected end_match: {other:?}"),
    }
    assert_eq!(m.spectators_declined(), 1);
    assert_eq!(m.spectator_links(), MAX_SPECTATOR_LINKS);
}

#[test]
fn a_spectator_that_does_not_open_in_time_is_closed_and_the_match_runs_on() {
    let now = Instant::now();
    let mut m = running_host(now);
    m.handle_signal(now, joined("w-1", "carol"));
    drain(&mut m);
    let deadline = m.poll_timeout().expect("a negotiation deadline");
    assert_eq!(deadline, now + Duration::from_secs(20));
    m.handle_timeout(deadline - Duration::from_millis(1));
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(deadline);
    let actions = drain(&mut m);
    match actions.as_slice() {
        [Action::Signal(ClientMessage::ReportConnection(report)), Action::Spectator(SpectatorAction::Close(_))] =>
        {
            assert_eq!(report.state, ConnectionState::Failed);
            assert_eq!(report.session_id, "w-1");
        }
        other => panic!("expected failed + close: {other:?}"),
    }
    assert!(m.is_running(), "the match does not wait for a spectator");
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_closed_spectator_link_ends_only_its_session() {
    let now = Instant::now();
    let mut m = running_host(now);
    let key = open_spectator(&mut m, now, "w-1", "carol");
    let other = open_spectator(&mut m, now, "w-2", "dave");
    m.handle_spectator(now, key, SpectatorInput::Closed);
    let actions = drain(&mut m);
    match actions.as_slice() {
        [Action::Signal(ClientMessage::EndMatch(end)), Action::Spectator(SpectatorAction::Close(k))] =>
        {
            assert_eq!(end.session_id, "w-1");
            assert_eq!(*k, key);
        }
        other => panic!("expected end_match + close: {other:?}"),
    }
    assert!(m.is_running());
    assert_eq!(m.spectator_links(), 1);
    // the server ending an open spectator session leaves its stream alone
    m.handle_signal(
        now,
        ServerMessage::MatchEnded(MatchEnded {
            session_id: "w-2".into(),
            reason: EndReason::Ended,
        }),
    );
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.spectator_links(), 1);
    let _ = other;
}

#[test]
fn ending_the_match_closes_every_spectator_link_before_the_transport() {
    let now = Instant::now();
    let mut m = running_host(now);
    let first = open_spectator(&mut m, now, "w-1", "carol");
    let second = open_spectator(&mut m, now, "w-2", "dave");
    m.handle_end(now);
    let closes: Vec<String> = drain(&mut m)
        .iter()
        .filter_map(|a| match a {
            Action::Spectator(SpectatorAction::Close(k)) => Some(format!("close {k}")),
            Action::CloseTransport => Some("transport".to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        closes,
        vec![
            format!("close {first}"),
            format!("close {second}"),
            "transport".to_owned()
        ]
    );
}

fn watcher(now: Instant) -> MatchMachine {
    let mut m = MatchMachine::watch(config("carol"), "alice".into(), now);
    match drain(&mut m).as_slice() {
        [Action::Signal(ClientMessage::WatchMatch(watch))] => {
            assert_eq!(watch.target_id, "alice");
            assert_eq!(watch.player_id, "carol");
        }
        other => panic!("expected watch_match: {other:?}"),
    }
    m
}

#[test]
fn watcher_offers_in_the_spectator_session_and_is_ready_without_match_started() {
    let now = Instant::now();
    let mut m = watcher(now);
    m.handle_signal(
        now,
        ServerMessage::WatchStarted(WatchStarted {
            session_id: "w-1".into(),
            match_session_id: MATCH.into(),
            host_id: "alice".into(),
            host_name: "Alice".into(),
        }),
    );
    assert!(matches!(
        drain(&mut m).as_slice(),
        [Action::CreateTransport]
    ));
    m.handle_transport(now, TransportInput::Created);
    assert!(matches!(drain(&mut m).as_slice(), [Action::CreateOffer]));
    m.handle_transport(now, TransportInput::LocalOffer("w-offer".into()));
    match drain(&mut m).as_slice() {
        [Action::Signal(ClientMessage::SendSdpOffer(offer))] => {
            assert_eq!(
                (offer.session_id.as_str(), offer.receiver_id.as_str()),
                ("w-1", "alice")
            );
        }
        other => panic!("expected the offer: {other:?}"),
    }
    m.handle_signal(
        now,
        ServerMessage::SdpAnswerReceived(sdp("w-1", "alice", "h-answer")),
    );
    m.handle_channel(now, ChannelInput::Open);
    let actions = drain(&mut m);
    let ready = actions.iter().find_map(|a| match a {
        Action::Ready(Ok(info)) => Some(info),
        _ => None,
    });
    let info = ready.expect("ready once the stream is open");
    assert_eq!(info.session_id, "w-1");
    assert_eq!(info.opponent.id, "alice");
    assert!(m.is_running());

    // the server ends the session when the match ends: the stream is read to its end
    m.handle_signal(
        now,
        ServerMessage::MatchEnded(MatchEnded {
            session_id: "w-1".into(),
            reason: EndReason::Ended,
        }),
    );
    assert!(drain(&mut m).is_empty());
    // the host closes: the channel's own close ends it, or the grace after the transport's
    m.handle_transport(now, TransportInput::Closed);
    assert!(drain(&mut m).is_empty(), "no resume, no end yet");
    let grace = m.poll_timeout().expect("a grace deadline");
    assert_eq!(grace, now + WATCH_CLOSE_GRACE);
    m.handle_timeout(grace);
    let actions = drain(&mut m);
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Emit(MatchEvent::Closed(CloseReason::ChannelClosed))]
        ),
        "{actions:?}"
    );
}

#[test]
fn watching_a_player_not_in_a_match_fails_with_the_server_code() {
    let now = Instant::now();
    let mut m = watcher(now);
    m.handle_signal(
        now,
        ServerMessage::Error(ErrorPayload {
            code: 409,
            message: "target is not in a running match".into(),
            session_id: None,
        }),
    );
    let actions = drain(&mut m);
    let error = actions.iter().find_map(|a| match a {
        Action::Ready(Err(e)) => Some(e),
        _ => None,
    });
    assert!(
        matches!(error, Some(PeerError::Server { code: 409, .. })),
        "{actions:?}"
    );
    assert!(m.is_ended());
}

#[test]
fn a_watcher_declines_match_requests() {
    let now = Instant::now();
    let mut m = watcher(now);
    m.handle_signal(
        now,
        ServerMessage::MatchRequestReceived(signal::protocol::MatchRequestReceived {
            requester_id: "eve".into(),
            requester_name: "Eve".into(),
            session_id: "s-9".into(),
        }),
    );
    assert!(matches!(
        signals(&drain(&mut m)).as_slice(),
        [ClientMessage::DeclineMatch(_)]
    ));
}
