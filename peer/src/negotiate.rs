//! From "an authenticated player in the lobby" to "an open data channel to an opponent".
//!
//! [`Peer::connect`] opens the signaling connection (the `welcome` gives the ICE servers) and
//! joins the lobby. [`Peer::start_match`] hands the connection to the match's driver task
//! ([`crate::driver`]), whose [`MatchMachine`] finds an opponent by [`MatchRule`] (challenge
//! a player, or accept a challenge), then negotiates: the requester creates the offer, the
//! answer comes back, candidates trickle both ways, every message tagged with the session id.
//! When the data channel opens the peer reports `connected`; once the server's
//! `match_started` arrives the result is a [`MatchLink`]. Every failure or timeout reports
//! `failed` to the server and becomes a [`PeerError`].

use std::time::Duration;

use signal::client::SignalClient;
use signal::protocol::{ClientMessage, JoinLobby, Welcome};

use crate::channel::ChannelConfig;
use crate::driver::{DriverSetup, Reconnect, SignalPort};
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::MatchLink;
pub use crate::machine::resume::DEFAULT_RESUME_TIMEOUT;
pub use crate::machine::{AcceptRule, MatchRule};
use crate::machine::{MachineConfig, MatchMachine, RelayPolicy};
use crate::spectate::{Watch, WatchOptions};

/// Default time to find an opponent (challenge accepted, or a challenge received).
pub const DEFAULT_MATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time from acceptance to `match_started` with an open channel.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// Whether the match may go through the server's play-server relay
    /// ([`RelayPolicy::Fallback`]: when peer-to-peer fails).
    pub relay: RelayPolicy,
    /// Join the relay over WebSocket when the server offers a `ws://` URL (false: its
    /// first URL).
    pub relay_ws: bool,
    /// How long a running match whose link failed may take to be renegotiated
    /// ([`DEFAULT_RESUME_TIMEOUT`]); zero: a failed link ends the match.
    pub resume_timeout: Duration,
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
            relay: RelayPolicy::Fallback,
            relay_ws: false,
            resume_timeout: DEFAULT_RESUME_TIMEOUT,
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
    pub(crate) client: SignalClient,
    pub(crate) config: PeerConfig,
    pub(crate) reconnect: Reconnect,
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
        let reconnect = Reconnect {
            url: url.to_owned(),
            token: token.to_owned(),
        };
        Ok(Peer {
            client,
            config,
            reconnect,
        })
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
    pub async fn start_match(self, rule: MatchRule) -> Result<MatchLink, PeerError> {
        if let Some(error) = self.unusable_ice() {
            self.client.close().await;
            return Err(error);
        }
        let machine = MatchMachine::lobby(self.machine_config(), rule, std::time::Instant::now());
        self.run_machine(machine).await
    }

    /// Why no match can start with this ICE configuration (relay-only without TURN).
    pub(crate) fn unusable_ice(&self) -> Option<PeerError> {
        let ice = &self.config.ice;
        let ice_servers = ice.servers(&self.client.welcome().ice_servers);
        (ice.relay_only && ice_servers.is_empty()).then(|| {
            PeerError::Config(
                "relay-only mode needs a TURN server (none in welcome or the config)".to_owned(),
            )
        })
    }

    /// The match machine's settings for this peer.
    pub(crate) fn machine_config(&self) -> MachineConfig {
        MachineConfig {
            player_id: self.client.player_id().to_owned(),
            match_timeout: self.config.match_timeout,
            connect_timeout: self.config.connect_timeout,
            mode: self.config.channel.mode,
            relay: self.config.relay,
            resume_timeout: self.config.resume_timeout,
        }
    }

    /// Hands the signaling connection to a match driver running `machine`.
    pub(crate) async fn run_machine(self, machine: MatchMachine) -> Result<MatchLink, PeerError> {
        crate::driver::start(DriverSetup {
            machine,
            ice_servers: self.client.welcome().ice_servers.clone(),
            signal: SignalPort::Server(self.client),
            ice: self.config.ice,
            channel: self.config.channel,
            relay_ws: self.config.relay_ws,
            reconnect: Some(self.reconnect),
            watch: None,
        })
        .await
    }

    /// Watches the running match of player `target` with default [`WatchOptions`]:
    /// `watch_match`, then the spectator session's negotiation (see [`crate::spectate`]).
    ///
    /// Errors: [`PeerError::Server`] 404 (no such player in our lobby) or 409 (not in a
    /// running match, or 8 spectators already), a timeout, or a failed connection.
    pub async fn watch(self, target: &str) -> Result<Watch, PeerError> {
        self.watch_with(target, WatchOptions::default()).await
    }

    /// [`Peer::watch`] with explicit [`WatchOptions`].
    pub async fn watch_with(self, target: &str, options: WatchOptions) -> Result<Watch, PeerError> {
        if let Some(error) = self.unusable_ice() {
            self.client.close().await;
            return Err(error);
        }
        let now = std::time::Instant::now();
        let machine = MatchMachine::watch(self.machine_config(), target.to_owned(), now);
        crate::driver::start_watch(DriverSetup {
            machine,
            ice_servers: self.client.welcome().ice_servers.clone(),
            signal: SignalPort::Server(self.client),
            ice: self.config.ice,
            channel: self.config.channel,
            relay_ws: false,
            reconnect: None,
            watch: Some(options),
        })
        .await
    }
}
