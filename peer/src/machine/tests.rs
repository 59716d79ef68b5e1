//! The machine on virtual time, without sockets (in the style of quinn-proto's `Pair`
//! tests): two machines, a fake signal server that relays with a latency, and fake
//! transports that "connect" once both sides have a remote description and a candidate.

use std::collections::VecDeque;

use signal::protocol::{
    CancelReason, DeclineReason, EndReason, ErrorPayload, IceCandidateReceived, LobbyPlayer,
    LobbyUpdate, MatchEnded, MatchRequestAccepted, MatchRequestCancelled, MatchRequestDeclined,
    MatchRequestSent, MatchStarted, SdpReceived,
};

use super::*;

mod resume;

const LATENCY: Duration = Duration::from_millis(20);
const SESSION: &str = "s-1";

fn config(player: &str) -> MachineConfig {
    MachineConfig {
        player_id: player.to_owned(),
        match_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(20),
        mode: ChannelMode::Sequenced,
        relay: RelayPolicy::Never,
        resume_timeout: Duration::ZERO,
    }
}

fn lobby_with(player: &str) -> ServerMessage {
    ServerMessage::LobbyUpdate(LobbyUpdate {
        lobby: None,
        version: None,
        players: vec![LobbyPlayer {
            player_id: player.to_owned(),
            player_name: player.to_uppercase(),
            status: PlayerStatus::Available,
        }],
    })
}

fn request_from(requester: &str, session: &str) -> ServerMessage {
    ServerMessage::MatchRequestReceived(MatchRequestReceived {
        requester_id: requester.to_owned(),
        requester_name: requester.to_uppercase(),
        session_id: session.to_owned(),
    })
}

fn candidate(n: u32) -> serde_json::Value {
    serde_json::json!({ "candidate": format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host") })
}

/// One side: its machine, what its fake transport knows, what it produced.
struct Side {
    machine: MatchMachine,
    remote_set: bool,
    candidates_added: usize,
    connected: bool,
    ready: Option<Result<MatchInfo, PeerError>>,
    /// The relay stage this side joined ([`Action::JoinRelay`]).
    relay_joined: Option<RelayTarget>,
    events: Vec<MatchEvent>,
    sent: Vec<ClientMessage>,
    closed_transport: bool,
    closed_signal: bool,
}

impl Side {
    fn new(machine: MatchMachine) -> Self {
        Self {
            machine,
            remote_set: false,
            candidates_added: 0,
            connected: false,
            ready: None,
            relay_joined: None,
            events: Vec::new(),
            sent: Vec::new(),
            closed_transport: false,
            closed_signal: false,
        }
    }

    fn info(&self) -> &MatchInfo {
        match &self.ready {
            Some(Ok(info)) => info,
            other => panic!("not running: {other:?}"),
        }
    }
}

/// Two machines and a fake signal server on virtual time.
struct Pair {
    now: Instant,
    start: Instant,
    sides: [Side; 2],
    /// Messages in flight: (delivery time, to side, message).
    in_flight: VecDeque<(Instant, usize, ServerMessage)>,
    connected_reports: [bool; 2],
    /// Whether the fake transports may connect at all.
    network_up: bool,
    /// The fake server's relay: `None` ignores `failed` reports (the tests before the
    /// relay), `Some(false)` answers `match_failed`, `Some(true)` assigns a relay stage.
    relay: Option<bool>,
    /// The link of the match the fake server starts.
    link: LinkKind,
    /// Whether the fake relay stage opens once both sides joined it.
    relay_up: bool,
}

impl Pair {
    /// Alice (side 0) challenges bob (side 1), who accepts anyone.
    fn new() -> Self {
        let start = Instant::now();
        let alice = MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), start);
        let bob = MatchMachine::lobby(config("bob"), MatchRule::Accept(AcceptRule::Any), start);
        let mut pair = Self {
            now: start,
            start,
            sides: [Side::new(alice), Side::new(bob)],
            in_flight: VecDeque::new(),
            connected_reports: [false, false],
            network_up: true,
            relay: None,
            link: LinkKind::P2p,
            relay_up: true,
        };
        pair.deliver_later(0, lobby_with("bob"));
        pair
    }

    fn deliver_later(&mut self, to: usize, message: ServerMessage) {
        self.in_flight.push_back((self.now + LATENCY, to, message));
    }

    /// The fake server's reaction to a client message from side `from`.
    fn server(&mut self, from: usize, message: ClientMessage) {
        let to = 1 - from;
        match message {
            ClientMessage::RequestMatch(_) => {
                self.deliver_later(
                    from,
                    ServerMessage::MatchRequestSent(MatchRequestSent {
                        target_id: "bob".into(),
                        session_id: SESSION.into(),
                    }),
                );
                self.deliver_later(to, request_from("alice", SESSION));
            }
            ClientMessage::AcceptMatch(_) => self.deliver_later(
                to,
                ServerMessage::MatchRequestAccepted(MatchRequestAccepted {
                    accepter_id: "bob".into(),
                    accepter_name: "Bob".into(),
                    session_id: SESSION.into(),
                }),
            ),
            ClientMessage::SendSdpOffer(offer) => self.deliver_later(
                to,
                ServerMessage::SdpOfferReceived(SdpReceived {
                    sender_id: offer.sender_id,
                    sdp: offer.sdp,
                    session_id: offer.session_id,
                }),
            ),
            ClientMessage::SendSdpAnswer(answer) => self.deliver_later(
                to,
                ServerMessage::SdpAnswerReceived(SdpReceived {
                    sender_id: answer.sender_id,
                    sdp: answer.sdp,
                    session_id: answer.session_id,
                }),
            ),
            ClientMessage::SendIceCandidate(ice) => self.deliver_later(
                to,
                ServerMessage::IceCandidateReceived(IceCandidateReceived {
                    sender_id: ice.sender_id,
                    candidate: ice.candidate,
                    session_id: ice.session_id,
                }),
            ),
            ClientMessage::ReportConnection(report)
                if report.state == ConnectionState::Connected =>
            {
                self.connected_reports[from] = true;
                if self.connected_reports == [true, true] {
                    for (side, opponent) in [(0, "bob"), (1, "alice")] {
                        self.deliver_later(
                            side,
                            ServerMessage::MatchStarted(MatchStarted {
                                opponent_id: opponent.into(),
                                opponent_name: opponent.to_uppercase(),
                                session_id: SESSION.into(),
                                link: self.link,
                            }),
                        );
                    }
                }
            }
            ClientMessage::ReportConnection(report) => self.fallback(report.state),
            // As the hub: the requester withdraws until the match runs.
            ClientMessage::CancelMatchRequest(cancel) => self.deliver_later(
                to,
                ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
                    requester_id: cancel.requester_id,
                    session_id: cancel.session_id,
                    reason: Some(CancelReason::Cancelled),
                }),
            ),
            ClientMessage::EndMatch(end) => self.deliver_later(
                to,
                ServerMessage::MatchEnded(MatchEnded {
                    session_id: end.session_id,
                    reason: EndReason::Ended,
                }),
            ),
            _ => {}
        }
    }

    /// Executes side `i`'s actions against the fake transport and server.
    fn drain(&mut self, i: usize) -> bool {
        let mut progressed = false;
        while let Some(action) = self.sides[i].machine.poll_action() {
            progressed = true;
            let now = self.now;
            let side = &mut self.sides[i];
            match action {
                Action::Signal(message) => {
                    side.sent.push(message.clone());
                    self.server(i, message);
                }
                Action::CreateTransport => {
                    side.machine.handle_transport(now, TransportInput::Created)
                }
                Action::CreateOffer => {
                    side.machine
                        .handle_transport(now, TransportInput::LocalOffer(format!("offer-{i}")));
                    side.machine
                        .handle_transport(now, TransportInput::LocalCandidate(candidate(i as u32)));
                }
                Action::AnswerOffer(_) => {
                    side.remote_set = true;
                    side.machine
                        .handle_transport(now, TransportInput::LocalAnswer(format!("answer-{i}")));
                    side.machine
                        .handle_transport(now, TransportInput::LocalCandidate(candidate(i as u32)));
                }
                Action::AcceptAnswer(_) => side.remote_set = true,
                Action::AddCandidate(_) => side.candidates_added += 1,
                Action::Nudge => {}
                Action::Ready(result) => side.ready = Some(result),
                Action::Emit(event) => side.events.push(event),
                Action::JoinRelay(target) => side.relay_joined = Some(target),
                Action::CloseTransport => {
                    side.closed_transport = true;
                    side.remote_set = false;
                    side.candidates_added = 0;
                    side.connected = false;
                }
                Action::CloseSignal => side.closed_signal = true,
                Action::Spectator(_) => {}
            }
        }
        progressed
    }

    /// The fake transports connect once both sides could run ICE.
    fn connect_transports(&mut self) -> bool {
        let can = |s: &Side| s.remote_set && s.candidates_added > 0 && !s.connected;
        if !(self.network_up && can(&self.sides[0]) && can(&self.sides[1])) {
            return false;
        }
        for side in &mut self.sides {
            side.connected = true;
            side.machine
                .handle_transport(self.now, TransportInput::Connected);
            side.machine.handle_channel(self.now, ChannelInput::Open);
        }
        true
    }

    /// Runs until nothing is in flight and nothing is left to do, or `limit` has passed.
    fn drive_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            let mut progressed = self.drain(0) | self.drain(1);
            progressed |= self.connect_transports();
            progressed |= self.connect_relays();
            if let Some(index) = self.in_flight.iter().position(|(at, _, _)| *at <= self.now) {
                if let Some((_, to, message)) = self.in_flight.remove(index) {
                    self.sides[to].machine.handle_signal(self.now, message);
                    progressed = true;
                }
            }
            if progressed {
                continue;
            }
            let next = self
                .in_flight
                .iter()
                .map(|(at, _, _)| *at)
                .chain(self.sides.iter().filter_map(|s| s.machine.poll_timeout()))
                .min();
            match next {
                Some(next) if next <= end => {
                    self.now = self.now.max(next);
                    for side in &mut self.sides {
                        side.machine.handle_timeout(self.now);
                    }
                }
                _ => return,
            }
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

#[test]
fn challenge_and_accept_reach_running_on_virtual_time() {
    let mut pair = Pair::new();
    pair.drive_for(Duration::from_secs(60));
    let (alice, bob) = (pair.sides[0].info(), pair.sides[1].info());
    assert_eq!((alice.role, bob.role), (Role::Offerer, Role::Answerer));
    assert_eq!(alice.session_id, SESSION);
    assert_eq!(bob.session_id, SESSION);
    assert_eq!(alice.opponent.id, "bob");
    assert_eq!(bob.opponent.name, "ALICE");
    // Hops of the fake server: lobby, request, accepted (alice pairs at 3), offer, answer
    // (both transports connect at 5), match_started.
    assert_eq!(pair.elapsed(), LATENCY * 6);
    assert_eq!(alice.connect_time, LATENCY * 3);
    assert_eq!(bob.connect_time, LATENCY * 4);
    assert!(pair.sides.iter().all(|s| s.machine.is_running()));
    assert!(pair
        .sides
        .iter()
        .all(|s| s.machine.poll_timeout().is_none()));
}

#[test]
fn ending_sends_end_match_and_the_opponent_sees_it() {
    let mut pair = Pair::new();
    pair.drive_for(Duration::from_secs(60));
    pair.sides[0].machine.handle_end(pair.now);
    pair.drive_for(Duration::from_secs(1));
    let alice = &pair.sides[0];
    assert!(matches!(
        alice.sent.last(),
        Some(ClientMessage::EndMatch(_))
    ));
    assert!(alice.closed_transport && alice.closed_signal && alice.machine.is_ended());
    assert_eq!(
        pair.sides[1].events,
        vec![MatchEvent::Closed(CloseReason::OpponentEnded)]
    );
    assert!(!pair.sides[1].machine.is_running());
    assert!(!pair.sides[1].machine.wants_transport());
}

#[test]
fn a_transport_that_never_connects_times_out_and_reports_failed() {
    let mut pair = Pair::new();
    pair.network_up = false;
    pair.drive_for(Duration::from_secs(60));
    for side in &pair.sides {
        assert!(matches!(
            side.ready,
            Some(Err(PeerError::Timeout {
                phase: "connecting",
                ..
            }))
        ));
        assert!(side.sent.iter().any(|m| matches!(
            m,
            ClientMessage::ReportConnection(r) if r.state == ConnectionState::Failed
        )));
        assert!(side.closed_transport && side.closed_signal && side.machine.is_ended());
    }
    // The limit counts from each side's acceptance; alice's came last, after three hops.
    assert_eq!(pair.elapsed(), Duration::from_secs(20) + LATENCY * 3);
}

#[test]
fn a_challenge_nobody_accepts_times_out_and_is_cancelled() {
    let start = Instant::now();
    let mut alice = MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), start);
    alice.handle_signal(start, lobby_with("bob"));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Signal(ClientMessage::RequestMatch(_)))
    ));
    alice.handle_signal(
        start,
        ServerMessage::MatchRequestSent(MatchRequestSent {
            target_id: "bob".into(),
            session_id: SESSION.into(),
        }),
    );
    assert_eq!(alice.poll_timeout(), Some(start + Duration::from_secs(30)));
    alice.handle_timeout(start + Duration::from_secs(29));
    assert!(alice.poll_action().is_none());
    alice.handle_timeout(start + Duration::from_secs(30));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Signal(ClientMessage::CancelMatchRequest(c))) if c.session_id == SESSION
    ));
    assert!(matches!(alice.poll_action(), Some(Action::CloseSignal)));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Ready(Err(PeerError::Timeout {
            phase: "matching",
            ..
        })))
    ));
    assert!(alice.is_ended());
}

#[test]
fn a_refused_request_waits_for_the_lobby_and_a_decline_fails() {
    let now = Instant::now();
    let mut alice = MatchMachine::lobby(config("alice"), MatchRule::Challenge("bob".into()), now);
    alice.handle_signal(now, lobby_with("bob"));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Signal(ClientMessage::RequestMatch(_)))
    ));
    // Refused (bob just became busy): no retry until the lobby shows bob available again.
    alice.handle_signal(
        now,
        ServerMessage::Error(ErrorPayload {
            code: 409,
            message: "busy".into(),
            session_id: None,
        }),
    );
    assert!(alice.poll_action().is_none());
    alice.handle_signal(now, lobby_with("bob"));
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Signal(ClientMessage::RequestMatch(_)))
    ));
    alice.handle_signal(
        now,
        ServerMessage::MatchRequestSent(MatchRequestSent {
            target_id: "bob".into(),
            session_id: SESSION.into(),
        }),
    );
    alice.handle_signal(
        now,
        ServerMessage::MatchRequestDeclined(MatchRequestDeclined {
            decliner_id: "bob".into(),
            decliner_name: "Bob".into(),
            session_id: SESSION.into(),
            reason: Some(DeclineReason::Declined),
        }),
    );
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(matches!(
        actions.last(),
        Some(Action::Ready(Err(PeerError::Declined(reason)))) if reason == "Declined"
    ));
    assert!(alice.is_ended());
}

/// Declining is one function: the same answer in the lobby, while connecting and running.
#[test]
fn other_challenges_are_declined_in_every_phase() {
    let is_decline = |action: Option<Action>, session: &str| {
        matches!(action, Some(Action::Signal(ClientMessage::DeclineMatch(d)))
            if d.session_id.as_deref() == Some(session) && d.decliner_id == "bob")
    };
    let now = Instant::now();
    let rule = MatchRule::Accept(AcceptRule::Player("alice".into()));
    let mut bob = MatchMachine::lobby(config("bob"), rule, now);
    bob.handle_signal(now, request_from("mallory", "s-0"));
    assert!(is_decline(bob.poll_action(), "s-0"));
    bob.handle_signal(now, request_from("alice", SESSION));
    assert!(matches!(
        bob.poll_action(),
        Some(Action::Signal(ClientMessage::AcceptMatch(_)))
    ));
    assert!(matches!(bob.poll_action(), Some(Action::CreateTransport)));
    bob.handle_signal(now, request_from("carol", "s-2"));
    assert!(is_decline(bob.poll_action(), "s-2"));

    let mut pair = Pair::new();
    pair.drive_for(Duration::from_secs(60));
    let bob = &mut pair.sides[1].machine;
    bob.handle_signal(pair.now, request_from("dave", "s-3"));
    assert!(is_decline(bob.poll_action(), "s-3"));
}

#[test]
fn candidates_before_the_description_are_kept_bounded_and_applied_after_it() {
    let now = Instant::now();
    let mut bob = MatchMachine::lobby(config("bob"), MatchRule::Accept(AcceptRule::Any), now);
    bob.handle_signal(now, request_from("alice", SESSION));
    let _ = std::iter::from_fn(|| bob.poll_action()).count();
    // The offer and 100 candidates arrive before the peer connection exists.
    bob.handle_signal(
        now,
        ServerMessage::SdpOfferReceived(SdpReceived {
            sender_id: "alice".into(),
            sdp: "offer".into(),
            session_id: SESSION.into(),
        }),
    );
    for n in 0..100 {
        bob.handle_signal(
            now,
            ServerMessage::IceCandidateReceived(IceCandidateReceived {
                sender_id: "alice".into(),
                candidate: candidate(n),
                session_id: SESSION.into(),
            }),
        );
    }
    // A candidate for another session is not ours.
    bob.handle_signal(
        now,
        ServerMessage::IceCandidateReceived(IceCandidateReceived {
            sender_id: "mallory".into(),
            candidate: candidate(999),
            session_id: "other".into(),
        }),
    );
    assert!(bob.poll_action().is_none());
    bob.handle_transport(now, TransportInput::Created);
    assert!(matches!(bob.poll_action(), Some(Action::AnswerOffer(sdp)) if sdp == "offer"));
    bob.handle_transport(now, TransportInput::LocalAnswer("answer".into()));
    assert!(matches!(
        bob.poll_action(),
        Some(Action::Signal(ClientMessage::SendSdpAnswer(a))) if a.receiver_id == "alice"
    ));
    let added = std::iter::from_fn(|| bob.poll_action())
        .filter(|a| matches!(a, Action::AddCandidate(_)))
        .count();
    assert_eq!(added, MAX_PENDING_CANDIDATES);
}

#[test]
fn a_running_link_ends_once_and_survives_losing_the_signal_server() {
    let mut pair = Pair::new();
    pair.drive_for(Duration::from_secs(60));
    let now = pair.now;
    let alice = &mut pair.sides[0].machine;
    alice.handle_signal_closed(now);
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Emit(MatchEvent::SignalingLost))
    ));
    assert!(alice.is_running(), "the match goes on peer to peer");
    alice.handle_channel(now, ChannelInput::Closed);
    alice.handle_transport(now, TransportInput::Failed);
    assert!(matches!(
        alice.poll_action(),
        Some(Action::Emit(MatchEvent::Closed(CloseReason::ChannelClosed)))
    ));
    assert!(alice.poll_action().is_none(), "one terminal event only");
    assert!(!alice.wants_transport());
    // Without signaling, ending sends nothing and closes the transport.
    alice.handle_end(now);
    let actions: Vec<Action> = std::iter::from_fn(|| alice.poll_action()).collect();
    assert!(matches!(
        actions.as_slice(),
        [Action::CloseTransport, Action::CloseSignal]
    ));
}

#[test]
fn server_verdicts_while_connecting_are_typed_errors() {
    let verdicts = [
        ServerMessage::MatchEnded(MatchEnded {
            session_id: SESSION.into(),
            reason: EndReason::PeerDisconnected,
        }),
        ServerMessage::Error(ErrorPayload {
            code: 409,
            message: "not allowed now".into(),
            session_id: Some(SESSION.into()),
        }),
    ];
    for verdict in verdicts {
        let now = Instant::now();
        let mut bob = MatchMachine::lobby(config("bob"), MatchRule::Accept(AcceptRule::Any), now);
        bob.handle_signal(now, request_from("alice", SESSION));
        bob.handle_transport(now, TransportInput::Created);
        let _ = std::iter::from_fn(|| bob.poll_action()).count();
        bob.handle_signal(now, verdict);
        let actions: Vec<Action> = std::iter::from_fn(|| bob.poll_action()).collect();
        assert!(matches!(
            actions.as_slice(),
            [
                Action::Signal(ClientMessage::ReportConnection(_)),
                Action::CloseTransport,
                Action::CloseSignal,
                Action::Ready(Err(PeerError::MatchFailed(_) | PeerError::Server { .. })),
            ]
        ));
    }
}

mod relaying;
mod withdraw;
