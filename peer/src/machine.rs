//! The sans-IO match state machine: everything a peer decides, from "in the lobby" to "the
//! match is over", without a socket, a task or a clock of its own.
//!
//! [`MatchMachine`] takes inputs (signal messages, transport and channel events, commands
//! from the handle, and `now`) and queues [`Action`]s (send a signal message, build the peer
//! connection, create or apply an offer or answer, add a candidate, open the game, emit a
//! [`MatchEvent`], close things) plus the next deadline. The async driver
//! ([`crate::driver`]) executes the actions and feeds their results back as inputs; the unit
//! tests drive two machines against each other on virtual time (`machine/tests.rs`).
//!
//! ```text
//!   Lobby ──(accepted)──> Negotiating ──(channel open + match_started)──> Running ──> Ended
//!     │                        │                                             │
//!     └──(timeout, declined)───┴──(failed, timeout: report `failed`)─────────┴──(end, closed)
//!                              │                                             ^
//!                              └──(p2p failed, relay_assigned)──> Relaying ──┘
//! ```
//! A challenge withdrawn while we negotiate it (`match_request_cancelled`, the lobby race)
//! sends a [`MatchRule::Accept`] machine back to the lobby and ends a single accepted
//! request with [`PeerError::RequestWithdrawn`] at once; a requester that gives up before
//! the match runs sends `cancel_match_request` rather than reporting `failed`.
//! The relaying path (a play-server relay stage when peer-to-peer cannot connect) is in
//! [`relaying`]. While `Running` over peer-to-peer, a failed link is renegotiated in the
//! same session ([`resume`]); a relayed match whose relay link closes ends (no resume).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use signal::protocol::{
    AcceptMatch, CancelMatchRequest, ClientMessage, ConnectionState, DeclineMatch, EndMatch,
    ErrorCode, IceRelay, LinkKind, MatchRequestCancelled, MatchRequestReceived, PlayerStatus,
    ReportConnection, RequestMatch, SdpRelay, ServerMessage,
};

pub mod relaying;
pub use relaying::{RelayInput, RelayPolicy, RelayTarget};
pub mod spectate;
pub use spectate::{SpectatorAction, SpectatorInput, SpectatorKey, MAX_SPECTATOR_LINKS};

use crate::channel::ChannelMode;
use crate::error::PeerError;
use crate::link::{CloseReason, MatchEvent, MatchInfo, Opponent, Role};

/// Remote candidates kept while the remote description is not set yet; more are dropped
/// (a browser gathers a handful; this bounds what a hostile peer can make us store).
pub const MAX_PENDING_CANDIDATES: usize = 64;

/// Which challenges to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptRule {
    /// The first challenge from anyone.
    Any,
    /// Only a challenge from this player id; others are declined.
    Player(String),
}

impl std::str::FromStr for AcceptRule {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if s == "any" {
            Self::Any
        } else {
            Self::Player(s.to_owned())
        })
    }
}

impl AcceptRule {
    fn admits(&self, requester: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Player(id) => id == requester,
        }
    }
}

/// How to find the opponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchRule {
    /// Challenge this player (waits until it is `available` in the lobby). We are the
    /// requester and create the offer.
    Challenge(String),
    /// Wait for a challenge that the rule admits and accept it. We answer.
    Accept(AcceptRule),
}

/// The matched opponent and our role, before the WebRTC negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    /// The signaling session id.
    pub session_id: String,
    /// The opponent's player id.
    pub opponent_id: String,
    /// The opponent's display name.
    pub opponent_name: String,
    /// Offerer (requester) or answerer (accepter).
    pub role: Role,
    /// When the match was accepted (the connect time is counted from here).
    pub accepted_at: Instant,
}

/// The settings the machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Our player id (the token's `sub`).
    pub player_id: String,
    /// Time to find an opponent.
    pub match_timeout: Duration,
    /// Time from acceptance to an open, started match.
    pub connect_timeout: Duration,
    /// Channel ordering mode (reported in [`MatchInfo`]).
    pub mode: ChannelMode,
    /// Whether the match may go through a play-server relay stage.
    pub relay: RelayPolicy,
    /// How long a running match whose link failed may take to come back
    /// ([`resume::DEFAULT_RESUME_TIMEOUT`]); zero: a failed link ends the match.
    pub resume_timeout: Duration,
}

/// What the driver reports about the peer connection and the results of its operations.
#[derive(Debug)]
pub enum TransportInput {
    /// The peer connection and the game channel exist ([`Action::CreateTransport`] done).
    Created,
    /// Our offer is set locally ([`Action::CreateOffer`] done); its SDP.
    LocalOffer(String),
    /// The remote offer is applied and our answer set locally ([`Action::AnswerOffer`]
    /// done); the answer's SDP.
    LocalAnswer(String),
    /// A local candidate, already in RTCIceCandidateInit JSON form.
    LocalCandidate(serde_json::Value),
    /// The connection (DTLS) is up.
    Connected,
    /// ICE or DTLS gave up.
    Failed,
    /// The peer connection closed (or its event queue ended).
    Closed,
    /// An operation the machine asked for failed.
    Error(PeerError),
}

/// What the game channel reports (its data goes straight to the socket, not through here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelInput {
    /// The channel is open.
    Open,
    /// The channel closed.
    Closed,
}

/// What the machine asks the driver to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Send this message to the signal server.
    Signal(ClientMessage),
    /// Build the peer connection with the game channel; answer with
    /// [`TransportInput::Created`] or [`TransportInput::Error`].
    CreateTransport,
    /// Create and set our offer; answer with [`TransportInput::LocalOffer`].
    CreateOffer,
    /// Apply this remote offer, create and set our answer; answer with
    /// [`TransportInput::LocalAnswer`].
    AnswerOffer(String),
    /// Apply this remote answer.
    AcceptAnswer(String),
    /// Add this remote candidate (a failure is only logged).
    AddCandidate(serde_json::Value),
    /// Wake the connection's driver so it flushes queued output (see `Transport::nudge`).
    Nudge,
    /// The outcome of `start_match`: the match runs, or it could not start.
    Ready(Result<MatchInfo, PeerError>),
    /// Tell the game.
    Emit(MatchEvent),
    /// Join this relay stage; answer with [`RelayInput::Open`] once both members are in
    /// it, or [`RelayInput::Failed`].
    JoinRelay(RelayTarget),
    /// Close the peer connection (and the relay link, if any).
    CloseTransport,
    /// Close the signaling connection (after flushing what was sent).
    CloseSignal,
    /// Something for a spectator link ([`spectate`]).
    Spectator(SpectatorAction),
}

#[derive(Debug)]
struct Lobby {
    rule: MatchRule,
    deadline: Instant,
    /// Our request's session id, once `match_request_sent` came.
    session: Option<String>,
    target_ready: bool,
    requested: bool,
    /// We gave up while our request was unanswered: waiting (briefly) for its session id,
    /// to withdraw it ([`MatchMachine::withdraw_unanswered`]).
    withdrawing: bool,
}

#[derive(Debug)]
struct Negotiating {
    pairing: Pairing,
    deadline: Instant,
    created: bool,
    /// An offer that arrived before the peer connection existed.
    early_offer: Option<String>,
    remote_described: bool,
    pending_candidates: Vec<serde_json::Value>,
    opened: bool,
    started: bool,
}

#[derive(Debug)]
struct Running {
    session_id: String,
    /// A terminal event was emitted: the link is over, only `end` remains.
    over: bool,
    opponent_id: String,
    role: Role,
    /// The link is being renegotiated.
    resume: Option<resume::Resuming>,
    /// The server ended the session (the match goes on while the link is up, but it
    /// cannot be resumed).
    session_gone: bool,
    /// Peer-to-peer or through the relay (a relayed match is not resumed).
    link: LinkKind,
}

#[derive(Debug)]
enum Phase {
    Lobby(Lobby),
    Negotiating(Negotiating),
    Relaying(relaying::Relaying),
    Running(Running),
    Ended,
}

/// The state of one player's match, from the lobby to the end. See the [module docs](self).
#[derive(Debug)]
pub struct MatchMachine {
    config: MachineConfig,
    phase: Phase,
    signal_alive: bool,
    actions: VecDeque<Action>,
    /// The host's spectator links ([`spectate`]).
    spectators: spectate::SpectatorLinks,
    /// Built by [`MatchMachine::watch`].
    watching: bool,
    /// A watcher whose peer connection went down ends the link at this time.
    watch_closing: Option<Instant>,
    /// The lobby we left to answer a challenge ([`MatchRule::Accept`]): if the challenger
    /// withdraws before the match runs, the machine waits there again.
    waiting: Option<Lobby>,
}

impl MatchMachine {
    /// A machine in the lobby that finds an opponent by `rule`, starting at `now`.
    pub fn lobby(config: MachineConfig, rule: MatchRule, now: Instant) -> Self {
        let deadline = now + config.match_timeout;
        Self {
            config,
            phase: Phase::Lobby(Lobby {
                rule,
                deadline,
                session: None,
                target_ready: false,
                requested: false,
                withdrawing: false,
            }),
            signal_alive: true,
            actions: VecDeque::new(),
            spectators: spectate::SpectatorLinks::default(),
            watching: false,
            watch_closing: None,
            waiting: None,
        }
    }

    /// A machine already paired (the loopback pair): it starts negotiating at once.
    pub fn paired(config: MachineConfig, pairing: Pairing) -> Self {
        let mut machine = Self {
            config,
            phase: Phase::Ended,
            signal_alive: true,
            actions: VecDeque::new(),
            spectators: spectate::SpectatorLinks::default(),
            watching: false,
            watch_closing: None,
            waiting: None,
        };
        machine.negotiate(pairing);
        machine
    }

    /// The next action to execute, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`MatchMachine::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Lobby(lobby) => Some(lobby.deadline),
            Phase::Negotiating(negotiating) => Some(negotiating.deadline),
            Phase::Relaying(relaying) => Some(relaying.deadline),
            Phase::Running(running) if !running.over => {
                running.resume.as_ref().map(resume::Resuming::next_deadline)
            }
            Phase::Running(_) => None,
            Phase::Ended => None,
        };
        [phase, self.spectators.next_deadline(), self.watch_closing]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the machine is done (all its actions still have to be executed).
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// Whether the transport and the channel still matter (not before the negotiation, not
    /// after the link is over).
    pub fn wants_transport(&self) -> bool {
        match &self.phase {
            Phase::Negotiating(_) | Phase::Relaying(_) => true,
            Phase::Running(running) => !running.over,
            Phase::Lobby(_) | Phase::Ended => false,
        }
    }

    /// Whether game packets flow (the match runs and its link is not over).
    pub fn is_running(&self) -> bool {
        matches!(&self.phase, Phase::Running(running) if !running.over)
    }

    /// Time allowed to connect a link (the driver bounds a relay join by it).
    pub fn connect_timeout(&self) -> Duration {
        self.config.connect_timeout
    }

    /// Whether the signaling connection is still usable.
    pub fn signal_alive(&self) -> bool {
        self.signal_alive
    }

    fn me(&self) -> String {
        self.config.player_id.clone()
    }

    fn signal(&mut self, message: ClientMessage) {
        if self.signal_alive {
            self.actions.push_back(Action::Signal(message));
        }
    }

    fn decline(&mut self, request: MatchRequestReceived) {
        self.signal(ClientMessage::DeclineMatch(DeclineMatch {
            decliner_id: self.me(),
            requester_id: request.requester_id,
            session_id: Some(request.session_id),
        }));
    }

    /// Handles the time passing: phase deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.phase {
            Phase::Lobby(lobby) if lobby.withdrawing && now >= lobby.deadline => {
                self.fail(PeerError::MatchFailed("cancelled".to_owned()));
            }
            Phase::Lobby(lobby) if now >= lobby.deadline => {
                let after = self.config.match_timeout;
                self.fail(PeerError::Timeout {
                    phase: "matching",
                    after,
                });
            }
            Phase::Negotiating(negotiating) if now >= negotiating.deadline => {
                let after = self.config.connect_timeout;
                self.link_failed(PeerError::Timeout {
                    phase: "connecting",
                    after,
                });
            }
            Phase::Relaying(_) => self.relaying_timeout(now),
            Phase::Running(_) => {
                self.spectator_timeout(now);
                if self.watch_closing.is_some_and(|at| now >= at) {
                    self.watch_closing = None;
                    self.link_over(MatchEvent::Closed(CloseReason::ChannelClosed));
                }
                self.running_timeout(now)
            }
            _ => {}
        }
    }

    /// Handles a message from the signal server.
    pub fn handle_signal(&mut self, now: Instant, message: ServerMessage) {
        if self.watching && matches!(self.phase, Phase::Lobby(_)) {
            return self.watch_signal(now, message);
        }
        if let ServerMessage::MatchRequestReceived(request) = message {
            return self.on_match_request(now, request);
        }
        let message = match &self.phase {
            Phase::Running(_) => match self.spectate_signal(now, message) {
                Some(message) => message,
                None => return,
            },
            _ => message,
        };
        match &self.phase {
            Phase::Lobby(_) => self.lobby_signal(now, message),
            Phase::Negotiating(_) => self.negotiating_signal(now, message),
            Phase::Relaying(_) => self.relaying_signal(now, message),
            Phase::Running(_) => self.running_signal(now, message),
            Phase::Ended => {}
        }
    }

    /// The signaling connection is gone (closed, or a send failed).
    pub fn handle_signal_closed(&mut self, _now: Instant) {
        if !self.signal_alive {
            return;
        }
        self.signal_alive = false;
        match &self.phase {
            Phase::Lobby(_) | Phase::Negotiating(_) | Phase::Relaying(_) => {
                self.fail(PeerError::SignalClosed)
            }
            Phase::Running(_) => {
                tracing::info!("signaling connection lost; the match continues peer to peer");
                self.actions
                    .push_back(Action::Emit(MatchEvent::SignalingLost));
            }
            Phase::Ended => {}
        }
    }

    /// Handles what the driver reports about the peer connection.
    pub fn handle_transport(&mut self, now: Instant, input: TransportInput) {
        match input {
            TransportInput::LocalCandidate(candidate) => self.send_candidate(candidate),
            TransportInput::Connected => self.actions.push_back(Action::Nudge),
            TransportInput::Failed | TransportInput::Closed
                if self.watching && self.is_running() =>
            {
                self.watch_link_down(now)
            }
            TransportInput::Failed => self.link_down(
                now,
                "failed",
                MatchEvent::Failed("peer connection failed".to_owned()),
            ),
            TransportInput::Closed => self.link_down(
                now,
                "closed",
                MatchEvent::Closed(CloseReason::ChannelClosed),
            ),
            TransportInput::Error(_) if self.is_resuming() => self.attempt_failed(now),
            TransportInput::Error(error) => self.link_failed(error),
            TransportInput::Created => self.on_created(),
            TransportInput::LocalOffer(sdp) => {
                if let Some(relay) = self.sdp_relay(sdp) {
                    self.signal(ClientMessage::SendSdpOffer(relay));
                }
            }
            TransportInput::LocalAnswer(sdp) => {
                if let Some(relay) = self.sdp_relay(sdp) {
                    self.signal(ClientMessage::SendSdpAnswer(relay));
                }
                self.remote_described(now);
            }
        }
    }

    /// Handles what the game channel reports.
    pub fn handle_channel(&mut self, now: Instant, input: ChannelInput) {
        match (input, &mut self.phase) {
            (ChannelInput::Open, Phase::Negotiating(negotiating)) if !negotiating.opened => {
                negotiating.opened = true;
                let report = ReportConnection {
                    player_id: self.config.player_id.clone(),
                    session_id: negotiating.pairing.session_id.clone(),
                    state: ConnectionState::Connected,
                };
                self.signal(ClientMessage::ReportConnection(report));
                self.maybe_ready(now);
            }
            (ChannelInput::Open, Phase::Running(running)) if running.resume.is_some() => {
                self.resume_opened(now);
            }
            (ChannelInput::Closed, _) => self.link_down(
                now,
                "data channel closed",
                MatchEvent::Closed(CloseReason::ChannelClosed),
            ),
            _ => {}
        }
    }

    /// The game ends the match (or dropped its handle): `end_match`, close everything.
    pub fn handle_end(&mut self, now: Instant) {
        match std::mem::replace(&mut self.phase, Phase::Ended) {
            Phase::Running(running) => {
                self.signal(ClientMessage::EndMatch(EndMatch {
                    player_id: self.me(),
                    session_id: running.session_id,
                }));
                self.close_all_spectators();
                self.actions.push_back(Action::CloseTransport);
                self.actions.push_back(Action::CloseSignal);
            }
            phase => {
                self.phase = phase;
                if !self.withdraw() && !self.withdraw_unanswered(now) {
                    self.fail(PeerError::MatchFailed("cancelled".to_owned()));
                }
            }
        }
    }

    fn on_match_request(&mut self, now: Instant, request: MatchRequestReceived) {
        let admitted = match &self.phase {
            Phase::Lobby(Lobby {
                rule: MatchRule::Accept(rule),
                ..
            }) => rule.admits(&request.requester_id),
            _ => false,
        };
        if !admitted {
            return self.decline(request);
        }
        self.signal(ClientMessage::AcceptMatch(AcceptMatch {
            accepter_id: self.me(),
            requester_id: request.requester_id.clone(),
            session_id: Some(request.session_id.clone()),
        }));
        if let Phase::Lobby(lobby) = std::mem::replace(&mut self.phase, Phase::Ended) {
            self.waiting = Some(lobby);
        }
        self.negotiate(Pairing {
            session_id: request.session_id,
            opponent_id: request.requester_id,
            opponent_name: request.requester_name,
            role: Role::Answerer,
            accepted_at: now,
        });
    }

    fn lobby_signal(&mut self, now: Instant, message: ServerMessage) {
        let Phase::Lobby(lobby) = &mut self.phase else {
            return;
        };
        let MatchRule::Challenge(target) = &lobby.rule else {
            return tracing::trace!(kind = message.kind(), "ignored while waiting");
        };
        let target = target.clone();
        match message {
            ServerMessage::LobbyUpdate(update) => {
                lobby.target_ready = update
                    .players
                    .iter()
                    .any(|p| p.player_id == target && p.status == PlayerStatus::Available);
            }
            ServerMessage::MatchRequestSent(sent) if sent.target_id == target => {
                lobby.session = Some(sent.session_id);
                if lobby.withdrawing {
                    // now it can be withdrawn (`fail` sends the cancel)
                    return self.fail(PeerError::MatchFailed("cancelled".to_owned()));
                }
            }
            ServerMessage::MatchRequestAccepted(accepted)
                if lobby.session.as_ref() == Some(&accepted.session_id) =>
            {
                return self.negotiate(Pairing {
                    session_id: accepted.session_id,
                    opponent_id: accepted.accepter_id,
                    opponent_name: accepted.accepter_name,
                    role: Role::Offerer,
                    accepted_at: now,
                });
            }
            ServerMessage::MatchRequestDeclined(declined)
                if lobby.session.as_ref() == Some(&declined.session_id) =>
            {
                let reason = declined
                    .reason
                    .map(|r| format!("{r:?}"))
                    .unwrap_or_default();
                return self.fail(PeerError::Declined(reason));
            }
            // The target was not ready after all (left, busy): wait for the lobby again.
            ServerMessage::Error(_) if lobby.session.is_none() && lobby.withdrawing => {
                // the request was refused: nothing to withdraw
                return self.fail(PeerError::MatchFailed("cancelled".to_owned()));
            }
            ServerMessage::Error(error) if lobby.session.is_none() && lobby.requested => {
                tracing::debug!(code = error.code, message = %error.message, "request refused, retrying");
                lobby.requested = false;
                lobby.target_ready = false;
            }
            other => tracing::trace!(kind = other.kind(), "ignored while challenging"),
        }
        if lobby.target_ready && !lobby.requested && !lobby.withdrawing {
            lobby.requested = true;
            let request = RequestMatch {
                requester_id: self.config.player_id.clone(),
                target_id: target,
            };
            self.signal(ClientMessage::RequestMatch(request));
        }
    }

    fn negotiate(&mut self, pairing: Pairing) {
        if self.config.relay == RelayPolicy::Always {
            return self.ask_for_relay(pairing);
        }
        let deadline = pairing.accepted_at + self.config.connect_timeout;
        self.phase = Phase::Negotiating(Negotiating {
            pairing,
            deadline,
            created: false,
            early_offer: None,
            remote_described: false,
            pending_candidates: Vec::new(),
            opened: false,
            started: false,
        });
        self.actions.push_back(Action::CreateTransport);
    }

    fn on_created(&mut self) {
        let Phase::Negotiating(negotiating) = &mut self.phase else {
            return self.resume_created();
        };
        negotiating.created = true;
        if negotiating.pairing.role == Role::Offerer {
            self.actions.push_back(Action::CreateOffer);
        } else if let Some(offer) = negotiating.early_offer.take() {
            self.actions.push_back(Action::AnswerOffer(offer));
        }
    }

    fn session_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Negotiating(negotiating) => Some(&negotiating.pairing.session_id),
            Phase::Relaying(relaying) => Some(&relaying.pairing.session_id),
            Phase::Running(running) => Some(&running.session_id),
            Phase::Lobby(_) | Phase::Ended => None,
        }
    }

    fn opponent_id(&self) -> Option<String> {
        match &self.phase {
            Phase::Negotiating(negotiating) => Some(negotiating.pairing.opponent_id.clone()),
            Phase::Running(running) => Some(running.opponent_id.clone()),
            _ => None,
        }
    }

    fn sdp_relay(&self, sdp: String) -> Option<SdpRelay> {
        Some(SdpRelay {
            sender_id: self.me(),
            receiver_id: self.opponent_id()?,
            sdp,
            session_id: self.session_id()?.to_owned(),
        })
    }

    fn send_candidate(&mut self, candidate: serde_json::Value) {
        let (Some(receiver_id), Some(session_id)) = (self.opponent_id(), self.session_id()) else {
            return;
        };
        let relay = IceRelay {
            sender_id: self.me(),
            receiver_id,
            candidate,
            session_id: session_id.to_owned(),
        };
        self.signal(ClientMessage::SendIceCandidate(relay));
    }

    fn remote_described(&mut self, now: Instant) {
        let Phase::Negotiating(negotiating) = &mut self.phase else {
            return self.resume_remote_described();
        };
        negotiating.remote_described = true;
        for candidate in std::mem::take(&mut negotiating.pending_candidates) {
            self.actions.push_back(Action::AddCandidate(candidate));
        }
        self.maybe_ready(now);
    }

    fn negotiating_signal(&mut self, now: Instant, message: ServerMessage) {
        let Phase::Negotiating(negotiating) = &mut self.phase else {
            return;
        };
        if message.session_id() != Some(negotiating.pairing.session_id.as_str()) {
            return tracing::trace!(kind = message.kind(), "ignored while connecting");
        }
        let role = negotiating.pairing.role;
        match message {
            ServerMessage::SdpOfferReceived(offer) if role == Role::Answerer => {
                if negotiating.created {
                    self.actions.push_back(Action::AnswerOffer(offer.sdp));
                } else {
                    negotiating.early_offer = Some(offer.sdp);
                }
            }
            ServerMessage::SdpAnswerReceived(answer) if role == Role::Offerer => {
                self.actions.push_back(Action::AcceptAnswer(answer.sdp));
                self.remote_described(now);
            }
            ServerMessage::IceCandidateReceived(candidate) => {
                if negotiating.remote_described {
                    self.actions
                        .push_back(Action::AddCandidate(candidate.candidate));
                } else if negotiating.pending_candidates.len() < MAX_PENDING_CANDIDATES {
                    negotiating.pending_candidates.push(candidate.candidate);
                } else {
                    tracing::debug!("too many candidates before the remote description; dropped");
                }
            }
            ServerMessage::RelayAssigned(assigned) => self.relay_while_negotiating(now, assigned),
            ServerMessage::MatchStarted(started) => {
                negotiating.pairing.opponent_name = started.opponent_name;
                negotiating.started = true;
                self.maybe_ready(now);
            }
            ServerMessage::MatchFailed(failed) => {
                self.fail(PeerError::MatchFailed(format!("{:?}", failed.reason)));
            }
            ServerMessage::MatchEnded(ended) => {
                self.fail(PeerError::MatchFailed(format!("{:?}", ended.reason)));
            }
            ServerMessage::MatchRequestCancelled(cancelled) => self.challenge_withdrawn(cancelled),
            // The accept's answer when the request was already gone (the lobby screen may
            // have read its `match_request_cancelled` itself).
            ServerMessage::Error(error)
                if error.code == ErrorCode::NotFound.as_u16() && role == Role::Answerer =>
            {
                let cancelled = MatchRequestCancelled {
                    requester_id: negotiating.pairing.opponent_id.clone(),
                    session_id: negotiating.pairing.session_id.clone(),
                    reason: None,
                };
                self.challenge_withdrawn(cancelled);
            }
            ServerMessage::Error(error) => self.fail(PeerError::Server {
                code: error.code,
                message: error.message,
            }),
            other => tracing::trace!(kind = other.kind(), "ignored while connecting"),
        }
    }

    fn running_signal(&mut self, now: Instant, message: ServerMessage) {
        let Phase::Running(running) = &self.phase else {
            return;
        };
        if message.session_id() != Some(running.session_id.as_str()) || running.over {
            return tracing::trace!(kind = message.kind(), "ignored during the match");
        }
        let Some(message) = self.resume_signal(now, message) else {
            return;
        };
        tracing::trace!(kind = message.kind(), "ignored during the match");
    }

    /// Channel open and `match_started`: the match runs.
    fn maybe_ready(&mut self, now: Instant) {
        let Phase::Negotiating(negotiating) = &self.phase else {
            return;
        };
        if !(negotiating.opened && negotiating.started) {
            return;
        }
        let pairing = negotiating.pairing.clone();
        self.run(pairing, LinkKind::P2p, now);
    }

    /// The link is up and the server started the match: the match runs.
    fn run(&mut self, pairing: Pairing, link: LinkKind, now: Instant) {
        let info = MatchInfo {
            session_id: pairing.session_id.clone(),
            player_id: self.me(),
            opponent: Opponent {
                id: pairing.opponent_id.clone(),
                name: pairing.opponent_name,
            },
            role: pairing.role,
            mode: self.config.mode,
            connect_time: now.saturating_duration_since(pairing.accepted_at),
            link,
        };
        self.waiting = None;
        self.phase = Phase::Running(Running {
            session_id: pairing.session_id,
            over: false,
            opponent_id: pairing.opponent_id,
            role: pairing.role,
            resume: None,
            session_gone: false,
            link,
        });
        self.actions.push_back(Action::Ready(Ok(info)));
    }

    /// The link went down: a failure while negotiating; while running, a renegotiation
    /// ([`resume`]) or, with resuming off, a terminal event.
    fn link_down(&mut self, now: Instant, what: &str, event: MatchEvent) {
        match &self.phase {
            Phase::Negotiating(_) => self.link_failed(PeerError::Connection(what.to_owned())),
            Phase::Running(_) => self.running_link_down(now, event),
            // The peer connection being torn down; only the relay link matters now.
            Phase::Relaying(_) | Phase::Lobby(_) | Phase::Ended => {}
        }
    }

    fn link_over(&mut self, event: MatchEvent) {
        if let Phase::Running(running) = &mut self.phase {
            if !running.over {
                running.over = true;
                running.resume = None;
                self.actions.push_back(Action::Emit(event));
            }
        }
    }

    /// The match could not start: tell the server, close everything, report the error.
    fn fail(&mut self, error: PeerError) {
        match std::mem::replace(&mut self.phase, Phase::Ended) {
            Phase::Lobby(lobby) => {
                if let (MatchRule::Challenge(target), Some(session_id)) =
                    (lobby.rule, lobby.session)
                {
                    self.signal(ClientMessage::CancelMatchRequest(CancelMatchRequest {
                        requester_id: self.me(),
                        target_id: target,
                        session_id,
                    }));
                }
                self.actions.push_back(Action::CloseSignal);
                self.actions.push_back(Action::Ready(Err(error)));
            }
            Phase::Negotiating(negotiating) => {
                self.signal(ClientMessage::ReportConnection(ReportConnection {
                    player_id: self.me(),
                    session_id: negotiating.pairing.session_id,
                    state: ConnectionState::Failed,
                }));
                self.actions.push_back(Action::CloseTransport);
                self.actions.push_back(Action::CloseSignal);
                self.actions.push_back(Action::Ready(Err(error)));
            }
            Phase::Relaying(relaying) => {
                self.signal(ClientMessage::ReportConnection(ReportConnection {
                    player_id: self.me(),
                    session_id: relaying.pairing.session_id,
                    state: ConnectionState::Failed,
                }));
                self.actions.push_back(Action::CloseTransport);
                self.actions.push_back(Action::CloseSignal);
                self.actions.push_back(Action::Ready(Err(error)));
            }
            phase @ Phase::Running(_) => {
                tracing::debug!(%error, "error during the match");
                self.phase = phase;
            }
            Phase::Ended => {}
        }
    }
}

pub mod resume;
mod withdraw;

#[cfg(test)]
mod tests;
