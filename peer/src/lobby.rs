//! Staying in the lobby and choosing the opponent by hand: a lobby screen reads the
//! server's messages itself ([`Peer::next_message`], [`Peer::lobby`]), then challenges the
//! player the user picked ([`Peer::challenge`]) or answers one specific incoming request
//! ([`Peer::accept`], [`Peer::decline`]). [`Peer::start_match`] is the unattended form
//! (a [`crate::MatchRule`] decides).
//!
//! A match consumes the [`Peer`] and its driver closes the signaling connection at the end
//! (after `end_match`), so a lobby screen returns to the lobby by connecting again
//! ([`Peer::connect`]); the server replaces an older connection of the same player.
//!
//! ```no_run
//! # async fn lobby(url: &str, token: &str) -> Result<(), peer::PeerError> {
//! use peer::{Peer, PeerConfig};
//! use signal::protocol::ServerMessage;
//!
//! let mut peer = Peer::connect(url, token, PeerConfig::loopback("Alice")).await?;
//! while let Some(message) = peer.next_message().await {
//!     match message {
//!         ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_) => {
//!             let names: Vec<_> = peer.lobby().players().map(|p| p.player_name.clone()).collect();
//!             println!("lobby: {names:?}");
//!         }
//!         // a real screen asks the user; this one accepts the first challenge
//!         ServerMessage::MatchRequestReceived(request) => {
//!             let mut link = peer.accept(request).await?;
//!             // ... play over link.take_socket() ...
//!             link.finish().await;
//!             return Ok(());
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use signal::lobby_view::LobbyView;
use signal::protocol::{
    AcceptMatch, ClientMessage, DeclineMatch, LobbyUpdate, MatchRequestReceived, ServerMessage,
};

use crate::error::PeerError;
use crate::link::{MatchLink, Role};
use crate::machine::{MatchMachine, MatchRule, Pairing};
use crate::negotiate::Peer;

impl Peer {
    /// The next message from the signal server while in the lobby (`lobby_update`,
    /// `match_request_received`, `match_request_cancelled`, `error`, ...); `None` once the
    /// connection is closed. Lobby messages are already applied to [`Peer::lobby`].
    pub async fn next_message(&mut self) -> Option<ServerMessage> {
        self.client.recv().await
    }

    /// The lobby as of the last lobby message received (every member, ourselves included,
    /// sorted by player id).
    pub fn lobby(&self) -> LobbyView {
        self.client.lobby()
    }

    /// Declines this incoming request; we stay in the lobby.
    pub fn decline(&self, request: &MatchRequestReceived) -> Result<(), PeerError> {
        self.client
            .sender()
            .send(ClientMessage::DeclineMatch(DeclineMatch {
                decliner_id: self.player_id().to_owned(),
                requester_id: request.requester_id.clone(),
                session_id: Some(request.session_id.clone()),
            }))?;
        Ok(())
    }

    /// Challenges `target` and opens the game channel once it accepts (we are the offerer,
    /// player 0). Uses the lobby as already received, so a target that is `available` now
    /// is asked at once. A decline, a timeout or a failed negotiation is the error; the
    /// signaling connection is closed either way (see the [module docs](self)).
    ///
    /// Dropping the future withdraws the challenge: the driver sends
    /// `cancel_match_request`, also when the target's accept already crossed it, so the
    /// target learns it at once ([`PeerError::RequestWithdrawn`] on its side). If the
    /// server has not yet told the request's session id, the driver waits for it (at most
    /// 2 s) before it withdraws and closes the connection.
    pub async fn challenge(self, target: &str) -> Result<MatchLink, PeerError> {
        if let Some(error) = self.unusable_ice() {
            self.client.close().await;
            return Err(error);
        }
        let now = std::time::Instant::now();
        let rule = MatchRule::Challenge(target.to_owned());
        let mut machine = MatchMachine::lobby(self.machine_config(), rule, now);
        // the lobby screen consumed the lobby updates: hand the machine the current one
        let players = self.lobby().players().cloned().collect();
        machine.handle_signal(
            now,
            ServerMessage::LobbyUpdate(LobbyUpdate {
                players,
                ..LobbyUpdate::default()
            }),
        );
        self.run_machine(machine).await
    }

    /// Accepts this incoming request and opens the game channel (we answer, player 1).
    /// The signaling connection is closed at the end of the match, or on error.
    ///
    /// If the challenger withdraws the request before the match runs (even at the moment we
    /// accept, or if it expired or the challenger left before our accept), the error is
    /// [`PeerError::RequestWithdrawn`], as soon as the server says so. A challenger whose
    /// connection goes after our accept (without withdrawing) fails the negotiation:
    /// [`PeerError::MatchFailed`] (`PeerDisconnected`), as soon as the server says so too.
    pub async fn accept(self, request: MatchRequestReceived) -> Result<MatchLink, PeerError> {
        if let Some(error) = self.unusable_ice() {
            let _ = self.decline(&request);
            self.client.close().await;
            return Err(error);
        }
        self.client
            .sender()
            .send(ClientMessage::AcceptMatch(AcceptMatch {
                accepter_id: self.player_id().to_owned(),
                requester_id: request.requester_id.clone(),
                session_id: Some(request.session_id.clone()),
            }))?;
        let pairing = Pairing {
            session_id: request.session_id,
            opponent_id: request.requester_id,
            opponent_name: request.requester_name,
            role: Role::Answerer,
            accepted_at: std::time::Instant::now(),
        };
        let machine = MatchMachine::paired(self.machine_config(), pairing);
        self.run_machine(machine).await
    }

    /// Leaves the lobby: closes the signaling connection.
    pub async fn close(self) {
        self.client.close().await;
    }
}
