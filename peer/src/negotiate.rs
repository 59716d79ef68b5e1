//! From "an authenticated player in the lobby" to "an open data channel to an opponent".
//!
//! [`Peer::connect`] opens the signaling connection (the `welcome` gives the ICE servers) and
//! joins the lobby. [`Peer::start_match`] finds an opponent by [`MatchRule`] (challenge a
//! player, or accept a challenge), then negotiates: the requester creates the offer, the
//! answer comes back, candidates trickle both ways, every message tagged with the session id.
//! When the data channel opens the peer reports `connected`; once the server's
//! `match_started` arrives the result is a [`MatchLink`]. Every failure or timeout reports
//! `failed` to the server and becomes a [`PeerError`].

use std::time::Duration;

use bytes::Bytes;
use signal::client::SignalClient;
use signal::protocol::{
    AcceptMatch, CancelMatchRequest, ClientMessage, ConnectionState, DeclineMatch, JoinLobby,
    PlayerStatus, ReportConnection, RequestMatch, SdpRelay, ServerMessage, Welcome,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::channel::{ChannelConfig, LinkCounters};
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{LinkParts, MatchInfo, MatchLink, Opponent, Role};
use crate::transport::{Transport, TransportEvent};

/// Default time to find an opponent (challenge accepted, or a challenge received).
pub const DEFAULT_MATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time from acceptance to `match_started` with an open channel.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

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

/// Configuration of a [`Peer`].
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Display name sent with `join_lobby` (1–32 characters).
    pub name: String,
    /// ICE settings.
    pub ice: IceConfig,
    /// Game channel settings (both peers must agree).
    pub channel: ChannelConfig,
    /// Time to find an opponent ([`DEFAULT_MATCH_TIMEOUT`]).
    pub match_timeout: Duration,
    /// Time from acceptance to an open, started match ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
}

impl PeerConfig {
    /// Defaults with this display name: standard ICE, sequenced channel.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ice: IceConfig::standard(),
            channel: ChannelConfig::default(),
            match_timeout: DEFAULT_MATCH_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Loopback-only ICE (tests, examples): nothing leaves the machine.
    pub fn loopback(name: impl Into<String>) -> Self {
        Self {
            ice: IceConfig::loopback(),
            ..Self::new(name)
        }
    }

    fn validate(&self) -> Result<(), PeerError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 32 {
            return Err(PeerError::Config(
                "name must be 1 to 32 characters".to_owned(),
            ));
        }
        if self.match_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(PeerError::Config("timeouts must be positive".to_owned()));
        }
        Ok(())
    }
}

/// A player connected to the signal server and sitting in the lobby.
#[derive(Debug)]
pub struct Peer {
    client: SignalClient,
    config: PeerConfig,
}

/// The matched opponent and our role, before the WebRTC negotiation.
struct Pairing {
    session_id: String,
    opponent_id: String,
    opponent_name: String,
    role: Role,
    accepted_at: Instant,
}

impl Peer {
    /// Connects to `url` (`ws://host/ws/signal`) with a JWT and joins the lobby.
    pub async fn connect(url: &str, token: &str, config: PeerConfig) -> Result<Peer, PeerError> {
        config.validate()?;
        let client = SignalClient::connect(url, token).await?;
        client.sender().send(ClientMessage::JoinLobby(JoinLobby {
            player_id: client.player_id().to_owned(),
            player_name: config.name.trim().to_owned(),
        }))?;
        Ok(Peer { client, config })
    }

    /// Our player id (the token's `sub`).
    pub fn player_id(&self) -> &str {
        self.client.player_id()
    }

    /// The server's `welcome` (identity and ICE servers).
    pub fn welcome(&self) -> &Welcome {
        self.client.welcome()
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Finds an opponent by `rule` and opens the game channel to it.
    ///
    /// Consumes the peer: the signaling connection now belongs to the match's driver, which
    /// keeps it for `end_match` (and closes it at the end). On error the connection is
    /// closed after reporting `failed`.
    pub async fn start_match(mut self, rule: MatchRule) -> Result<MatchLink, PeerError> {
        let ice = &self.config.ice;
        if ice.relay_only && ice.servers(&self.client.welcome().ice_servers).is_empty() {
            self.client.close().await;
            return Err(PeerError::Config(
                "relay-only mode needs a TURN server (none in welcome or the config)".to_owned(),
            ));
        }
        let pairing = match rule {
            MatchRule::Challenge(target) => self.challenge(&target).await,
            MatchRule::Accept(accept) => self.wait_for_challenge(&accept).await,
        };
        let pairing = match pairing {
            Ok(pairing) => pairing,
            Err(error) => {
                self.client.close().await;
                return Err(error);
            }
        };
        let mut negotiation = Negotiation::new(self.client, self.config, pairing);
        match negotiation.run().await {
            Ok(()) => negotiation.into_link(),
            Err(error) => {
                negotiation.fail().await;
                Err(error)
            }
        }
    }

    async fn recv_before(&mut self, deadline: Instant) -> Result<ServerMessage, PeerError> {
        match tokio::time::timeout_at(deadline, self.client.recv()).await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(PeerError::SignalClosed),
            Err(_) => Err(PeerError::Timeout {
                phase: "matching",
                after: self.config.match_timeout,
            }),
        }
    }

    fn send(&self, message: ClientMessage) -> Result<(), PeerError> {
        Ok(self.client.sender().send(message)?)
    }

    fn decline(&self, requester_id: String, session_id: String) -> Result<(), PeerError> {
        self.send(ClientMessage::DeclineMatch(DeclineMatch {
            decliner_id: self.player_id().to_owned(),
            requester_id,
            session_id: Some(session_id),
        }))
    }

    async fn challenge(&mut self, target: &str) -> Result<Pairing, PeerError> {
        let deadline = Instant::now() + self.config.match_timeout;
        let me = self.player_id().to_owned();
        let request = || {
            ClientMessage::RequestMatch(RequestMatch {
                requester_id: me.clone(),
                target_id: target.to_owned(),
            })
        };
        let mut session: Option<String> = None;
        let mut target_ready = false;
        let mut requested = false;
        let result = loop {
            if target_ready && !requested {
                self.send(request())?;
                requested = true;
            }
            let message = match self.recv_before(deadline).await {
                Ok(message) => message,
                Err(error) => break Err(error),
            };
            match message {
                ServerMessage::LobbyUpdate(update) => {
                    target_ready = update
                        .players
                        .iter()
                        .any(|p| p.player_id == target && p.status == PlayerStatus::Available);
                }
                ServerMessage::MatchRequestSent(sent) if sent.target_id == target => {
                    session = Some(sent.session_id);
                }
                ServerMessage::MatchRequestAccepted(acc)
                    if session.as_ref() == Some(&acc.session_id) =>
                {
                    break Ok(Pairing {
                        session_id: acc.session_id,
                        opponent_id: acc.accepter_id,
                        opponent_name: acc.accepter_name,
                        role: Role::Offerer,
                        accepted_at: Instant::now(),
                    });
                }
                ServerMessage::MatchRequestDeclined(dec)
                    if session.as_ref() == Some(&dec.session_id) =>
                {
                    let reason = dec.reason.map(|r| format!("{r:?}")).unwrap_or_default();
                    break Err(PeerError::Declined(reason));
                }
                // The target was not ready after all (left, busy): wait for the lobby again.
                ServerMessage::Error(error) if session.is_none() && requested => {
                    tracing::debug!(code = error.code, message = %error.message, "request refused, retrying");
                    requested = false;
                    target_ready = false;
                }
                ServerMessage::MatchRequestReceived(req) => {
                    self.decline(req.requester_id, req.session_id)?;
                }
                other => tracing::trace!(kind = other.kind(), "ignored while challenging"),
            }
        };
        if result.is_err() {
            if let Some(session_id) = session {
                let _ = self.send(ClientMessage::CancelMatchRequest(CancelMatchRequest {
                    requester_id: me.clone(),
                    target_id: target.to_owned(),
                    session_id,
                }));
            }
        }
        result
    }

    async fn wait_for_challenge(&mut self, rule: &AcceptRule) -> Result<Pairing, PeerError> {
        let deadline = Instant::now() + self.config.match_timeout;
        loop {
            match self.recv_before(deadline).await? {
                ServerMessage::MatchRequestReceived(req) if rule.admits(&req.requester_id) => {
                    let accepted_at = Instant::now();
                    self.send(ClientMessage::AcceptMatch(AcceptMatch {
                        accepter_id: self.player_id().to_owned(),
                        requester_id: req.requester_id.clone(),
                        session_id: Some(req.session_id.clone()),
                    }))?;
                    return Ok(Pairing {
                        session_id: req.session_id,
                        opponent_id: req.requester_id,
                        opponent_name: req.requester_name,
                        role: Role::Answerer,
                        accepted_at,
                    });
                }
                ServerMessage::MatchRequestReceived(req) => {
                    self.decline(req.requester_id, req.session_id)?;
                }
                other => tracing::trace!(kind = other.kind(), "ignored while waiting"),
            }
        }
    }
}

/// The WebRTC negotiation of one accepted match.
struct Negotiation {
    client: SignalClient,
    config: PeerConfig,
    pairing: Pairing,
    transport: Option<Transport>,
    events: Option<mpsc::UnboundedReceiver<TransportEvent>>,
    remote_described: bool,
    pending_candidates: Vec<serde_json::Value>,
    opened: bool,
    started: bool,
    inbound_tx: mpsc::Sender<Bytes>,
    inbound_rx: Option<mpsc::Receiver<Bytes>>,
    counters: std::sync::Arc<LinkCounters>,
    connect_time: Duration,
}

impl Negotiation {
    fn new(client: SignalClient, config: PeerConfig, pairing: Pairing) -> Self {
        let (inbound_tx, inbound_rx) = mpsc::channel(config.channel.queue_capacity.max(1));
        Self {
            client,
            config,
            pairing,
            transport: None,
            events: None,
            remote_described: false,
            pending_candidates: Vec::new(),
            opened: false,
            started: false,
            inbound_tx,
            inbound_rx: Some(inbound_rx),
            counters: Default::default(),
            connect_time: Duration::ZERO,
        }
    }

    fn me(&self) -> String {
        self.client.player_id().to_owned()
    }

    fn send(&self, message: ClientMessage) -> Result<(), PeerError> {
        Ok(self.client.sender().send(message)?)
    }

    fn transport(&mut self) -> Result<&mut Transport, PeerError> {
        self.transport
            .as_mut()
            .ok_or_else(|| PeerError::Connection("no transport".to_owned()))
    }

    async fn run(&mut self) -> Result<(), PeerError> {
        let timeout = self.config.connect_timeout;
        let deadline = self.pairing.accepted_at + timeout;
        let (transport, events) = Transport::new(
            &self.config.ice,
            &self.client.welcome().ice_servers,
            &self.config.channel,
        )
        .await?;
        self.transport = Some(transport);
        self.events = Some(events);
        if self.pairing.role == Role::Offerer {
            let sdp = self.transport()?.create_offer().await?;
            self.send(ClientMessage::SendSdpOffer(self.sdp_relay(sdp)))?;
        }
        while !(self.opened && self.started) {
            tokio::select! {
                message = self.client.recv() => {
                    let message = message.ok_or(PeerError::SignalClosed)?;
                    self.on_signal(message).await?;
                }
                event = recv_transport_event(self.events.as_mut()) => {
                    let dtls_up = matches!(event, Some(TransportEvent::State(RTCPeerConnectionState::Connected)));
                    self.on_transport_event(event)?;
                    if dtls_up {
                        self.transport()?.nudge().await;
                    }
                }
                event = poll_channel(self.transport.as_ref()), if !self.opened => {
                    self.on_channel_event(event)?;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(PeerError::Timeout { phase: "connecting", after: timeout });
                }
            }
        }
        self.connect_time = self.pairing.accepted_at.elapsed();
        Ok(())
    }

    fn sdp_relay(&self, sdp: String) -> SdpRelay {
        SdpRelay {
            sender_id: self.me(),
            receiver_id: self.pairing.opponent_id.clone(),
            sdp,
            session_id: self.pairing.session_id.clone(),
        }
    }

    async fn on_signal(&mut self, message: ServerMessage) -> Result<(), PeerError> {
        let ours = message.session_id() == Some(self.pairing.session_id.as_str());
        match message {
            ServerMessage::SdpOfferReceived(offer)
                if ours && self.pairing.role == Role::Answerer =>
            {
                let answer = self.transport()?.answer_offer(offer.sdp).await?;
                self.send(ClientMessage::SendSdpAnswer(self.sdp_relay(answer)))?;
                self.remote_described = true;
                self.flush_candidates().await;
            }
            ServerMessage::SdpAnswerReceived(answer)
                if ours && self.pairing.role == Role::Offerer =>
            {
                self.transport()?.accept_answer(answer.sdp).await?;
                self.remote_described = true;
                self.flush_candidates().await;
            }
            ServerMessage::IceCandidateReceived(candidate) if ours => {
                if self.remote_described {
                    self.add_candidate(candidate.candidate).await;
                } else {
                    self.pending_candidates.push(candidate.candidate);
                }
            }
            ServerMessage::MatchStarted(started) if ours => {
                self.pairing.opponent_name = started.opponent_name;
                self.started = true;
            }
            ServerMessage::MatchFailed(failed) if ours => {
                return Err(PeerError::MatchFailed(format!("{:?}", failed.reason)));
            }
            ServerMessage::MatchEnded(ended) if ours => {
                return Err(PeerError::MatchFailed(format!("{:?}", ended.reason)));
            }
            ServerMessage::MatchRequestCancelled(cancelled) if ours => {
                return Err(PeerError::Declined(format!("{:?}", cancelled.reason)));
            }
            ServerMessage::Error(error) if ours => {
                return Err(PeerError::Server {
                    code: error.code,
                    message: error.message,
                });
            }
            ServerMessage::MatchRequestReceived(req) => {
                self.send(ClientMessage::DeclineMatch(DeclineMatch {
                    decliner_id: self.me(),
                    requester_id: req.requester_id,
                    session_id: Some(req.session_id),
                }))?;
            }
            other => tracing::trace!(kind = other.kind(), "ignored while connecting"),
        }
        Ok(())
    }

    async fn add_candidate(&mut self, candidate: serde_json::Value) {
        if let Some(transport) = &self.transport {
            if let Err(error) = transport.add_remote_candidate(candidate).await {
                tracing::debug!(%error, "remote candidate ignored");
            }
        }
    }

    async fn flush_candidates(&mut self) {
        for candidate in std::mem::take(&mut self.pending_candidates) {
            self.add_candidate(candidate).await;
        }
    }

    fn on_transport_event(&mut self, event: Option<TransportEvent>) -> Result<(), PeerError> {
        match event {
            Some(TransportEvent::LocalCandidate(init)) => {
                let candidate = self.transport()?.candidate_json(init);
                self.send(ClientMessage::SendIceCandidate(
                    signal::protocol::IceRelay {
                        sender_id: self.me(),
                        receiver_id: self.pairing.opponent_id.clone(),
                        candidate,
                        session_id: self.pairing.session_id.clone(),
                    },
                ))?;
            }
            Some(TransportEvent::State(
                state @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed),
            )) => return Err(PeerError::Connection(state.to_string())),
            Some(TransportEvent::IceState(state)) => tracing::debug!(%state, "ICE state"),
            Some(other) => tracing::trace!(?other, "transport event"),
            None => return Err(PeerError::Connection("closed".to_owned())),
        }
        Ok(())
    }

    fn on_channel_event(&mut self, event: Option<DataChannelEvent>) -> Result<(), PeerError> {
        match event {
            Some(DataChannelEvent::OnOpen) => {
                self.opened = true;
                self.send(ClientMessage::ReportConnection(ReportConnection {
                    player_id: self.me(),
                    session_id: self.pairing.session_id.clone(),
                    state: ConnectionState::Connected,
                }))?;
            }
            Some(DataChannelEvent::OnMessage(message)) => {
                // The opponent may start sending before our `match_started` arrives.
                if self.inbound_tx.try_send(message.data.freeze()).is_err() {
                    self.counters
                        .dropped_overflow
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Some(DataChannelEvent::OnClose) | None => {
                return Err(PeerError::Connection("data channel closed".to_owned()))
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Reports `failed`, closes the peer connection and the signaling connection.
    async fn fail(self) {
        let _ = self.send(ClientMessage::ReportConnection(ReportConnection {
            player_id: self.me(),
            session_id: self.pairing.session_id.clone(),
            state: ConnectionState::Failed,
        }));
        if let Some(transport) = &self.transport {
            transport.close().await;
        }
        self.client.close().await;
    }

    fn into_link(mut self) -> Result<MatchLink, PeerError> {
        let (Some(transport), Some(events)) = (self.transport.take(), self.events.take()) else {
            return Err(PeerError::Connection("no transport".to_owned()));
        };
        let info = MatchInfo {
            session_id: self.pairing.session_id.clone(),
            player_id: self.me(),
            opponent: Opponent {
                id: self.pairing.opponent_id.clone(),
                name: self.pairing.opponent_name.clone(),
            },
            role: self.pairing.role,
            mode: self.config.channel.mode,
            connect_time: self.connect_time,
        };
        let inbound_rx = self.inbound_rx.take();
        let inbound_rx = inbound_rx.ok_or_else(|| PeerError::Connection("no queue".to_owned()))?;
        Ok(MatchLink::spawn(LinkParts {
            info,
            client: Some(self.client),
            transport,
            events,
            inbound_tx: self.inbound_tx,
            inbound_rx,
            counters: self.counters,
            queue_capacity: self.config.channel.queue_capacity.max(1),
        }))
    }
}

async fn recv_transport_event(
    events: Option<&mut mpsc::UnboundedReceiver<TransportEvent>>,
) -> Option<TransportEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

async fn poll_channel(transport: Option<&Transport>) -> Option<DataChannelEvent> {
    match transport {
        Some(transport) => transport.channel.poll().await,
        None => std::future::pending().await,
    }
}
