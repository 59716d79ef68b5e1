//! From "an authenticated player in the lobby" to "an open data channel to an opponent".
//!
//! [`Peer::connect`] opens the signaling connection (the `welcome` gives the ICE servers) and
//! joins the lobby. [`Peer::start_match`] finds an opponent by [`MatchRule`] (challenge a
//! player, or accept a challenge), then negotiates: the requester creates the offer, the
//! answer comes back, candidates trickle both ways, every message tagged with the session id.
//! When the data channel opens the peer reports `connected`; once the server's
//! `match_started` arrives the result is a [`MatchLink`]. Every failure or timeout reports
//! `failed` to the server and becomes a [`PeerError`].

mod session;

use std::time::Duration;

use signal::client::SignalClient;
use signal::protocol::{
    AcceptMatch, CancelMatchRequest, ClientMessage, DeclineMatch, JoinLobby, PlayerStatus,
    RequestMatch, ServerMessage, Welcome,
};
use tokio::time::Instant;

use crate::channel::ChannelConfig;
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{MatchLink, Role};
use session::Negotiation;

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
pub(super) struct Pairing {
    pub(super) session_id: String,
    pub(super) opponent_id: String,
    pub(super) opponent_name: String,
    pub(super) role: Role,
    pub(super) accepted_at: Instant,
}

impl Peer {
    /// Connects to `url` (`ws://host/ws/signal`) with a JWT and joins the lobby.
    pub async fn connect(url: &str, token: &str, config: PeerConfig) -> Result<Peer, PeerError> {
        config.validate()?;
        let client = SignalClient::connect(url, token).await?;
        client.sender().send(ClientMessage::JoinLobby(JoinLobby {
            player_id: client.player_id().to_owned(),
            player_name: config.name.trim().to_owned(),
            ..JoinLobby::default()
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
