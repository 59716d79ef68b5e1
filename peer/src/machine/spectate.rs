//! Spectators in the [`MatchMachine`]: both ends of a spectator session (see
//! docs/spec/signaling.md, "Spectators").
//!
//! **Host** (a player of a running match): `spectator_joined` opens a spectator link: a
//! second peer connection, negotiated through the server in the spectator session's id. The
//! watcher offers, the host answers; once the stream channel is open the host reports
//! `connected` and the driver hands the game a [`crate::SpectatorSender`]. At most
//! [`MAX_SPECTATOR_LINKS`] links; a link that fails, closes or does not open within the
//! connect timeout is closed and forgotten, and the match never waits for one.
//!
//! **Watcher** ([`MatchMachine::watch`]): `watch_match` from the lobby; `watch_started`
//! pairs it with the host (the watcher offers), and the negotiation is the match's own
//! ([`Phase::Negotiating`] with `match_started` taken as given: a spectator session has
//! none). While watching, the server's `match_ended` for the spectator session does not
//! end the link (the stream carries its own end); the channel closing does.
//!
//! ```text
//!   spectator_joined ──> Creating ──(created)──> answer the offer ──(channel open)──> Open
//!          │                  └──(failed, closed, timeout, match_failed)──> closed
//!          └──(8 links already, or the match is over)──> end_match (declined)
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use signal::protocol::{
    ClientMessage, ConnectionState, EndMatch, IceRelay, ReportConnection, SdpRelay, ServerMessage,
    SpectatorJoined, WatchMatch,
};

use super::{
    Action, Lobby, MachineConfig, MatchMachine, MatchRule, Pairing, Phase, MAX_PENDING_CANDIDATES,
};
use crate::error::PeerError;
use crate::link::Role;

/// Spectator links one host keeps at once (the server's `MAX_SPECTATORS_PER_MATCH`).
pub const MAX_SPECTATOR_LINKS: usize = signal::protocol::MAX_SPECTATORS_PER_MATCH;

/// Names one spectator link of a host, unique for the machine's life.
pub type SpectatorKey = u64;

/// What the driver reports about one spectator link's peer connection and channel.
#[derive(Debug)]
pub enum SpectatorInput {
    /// The peer connection and its stream channel exist.
    Created,
    /// The watcher's offer is applied and our answer set; its SDP.
    LocalAnswer(String),
    /// A local candidate (RTCIceCandidateInit JSON).
    LocalCandidate(serde_json::Value),
    /// The stream channel is open.
    ChannelOpen,
    /// The peer connection failed or closed, or the channel closed.
    Closed,
    /// An operation failed.
    Error(PeerError),
}

/// What the machine asks the driver to do for spectator links.
#[derive(Debug, PartialEq)]
pub enum SpectatorAction {
    /// Build the link's peer connection with its stream channel; answer with
    /// [`SpectatorInput::Created`] or [`SpectatorInput::Error`].
    Create(SpectatorKey),
    /// Apply the watcher's offer and answer it ([`SpectatorInput::LocalAnswer`]).
    Answer(SpectatorKey, String),
    /// Add a remote candidate.
    AddCandidate(SpectatorKey, serde_json::Value),
    /// The stream is open: hand the game a sender for this spectator.
    Opened {
        /// The link.
        key: SpectatorKey,
        /// The watcher's player id.
        watcher_id: String,
        /// The watcher's display name.
        watcher_name: String,
    },
    /// Flush what was queued (bounded wait), then close the link's peer connection and
    /// tell the game it left (if it was opened).
    Close(SpectatorKey),
}

#[derive(Debug)]
struct SpectatorLink {
    session_id: String,
    watcher_id: String,
    watcher_name: String,
    deadline: Instant,
    created: bool,
    early_offer: Option<String>,
    remote_described: bool,
    pending_candidates: Vec<serde_json::Value>,
    open: bool,
}

/// The host's spectator links.
#[derive(Debug, Default)]
pub(crate) struct SpectatorLinks {
    links: BTreeMap<SpectatorKey, SpectatorLink>,
    next_key: SpectatorKey,
    /// `spectator_joined` declined (full, or the match was over).
    declined: u64,
}

impl SpectatorLinks {
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.links
            .values()
            .filter(|l| !l.open)
            .map(|l| l.deadline)
            .min()
    }

    fn by_session(&self, session_id: &str) -> Option<SpectatorKey> {
        self.links
            .iter()
            .find(|(_, l)| l.session_id == session_id)
            .map(|(k, _)| *k)
    }
}

impl MatchMachine {
    /// A machine that watches the running match of player `target`: `watch_match` now, then
    /// the spectator session's negotiation (we offer). The match's ready outcome is the open
    /// stream; its errors are typed ([`PeerError::Server`] with 404 / 409 when the target
    /// is unknown or not in a running match).
    pub fn watch(mut config: MachineConfig, target: String, now: Instant) -> Self {
        // a spectator session is never relayed nor resumed
        config.relay = super::RelayPolicy::Never;
        config.resume_timeout = std::time::Duration::ZERO;
        let deadline = now + config.match_timeout;
        let mut machine = Self {
            phase: Phase::Lobby(Lobby {
                rule: MatchRule::Challenge(target.clone()),
                deadline,
                session: None,
                target_ready: false,
                // never `request_match`: the request is `watch_match`
                requested: true,
                withdrawing: false,
            }),
            signal_alive: true,
            actions: std::collections::VecDeque::new(),
            spectators: SpectatorLinks::default(),
            watching: true,
            watch_closing: None,
            waiting: None,
            config,
        };
        machine.signal(ClientMessage::WatchMatch(WatchMatch {
            player_id: machine.me(),
            target_id: target,
        }));
        machine
    }

    /// Whether this machine watches a match (built by [`MatchMachine::watch`]).
    pub fn is_watching(&self) -> bool {
        self.watching
    }

    /// Spectator links now (opening or open).
    pub fn spectator_links(&self) -> usize {
        self.spectators.links.len()
    }

    /// `spectator_joined` refused so far (8 links already, or the match was over).
    pub fn spectators_declined(&self) -> u64 {
        self.spectators.declined
    }

    /// The watcher in the lobby: `watch_started` starts the negotiation, an `error` fails.
    pub(super) fn watch_signal(&mut self, now: Instant, message: ServerMessage) {
        match message {
            ServerMessage::WatchStarted(started) => {
                self.negotiate(Pairing {
                    session_id: started.session_id,
                    opponent_id: started.host_id,
                    opponent_name: started.host_name,
                    role: Role::Offerer,
                    accepted_at: now,
                });
                // a spectator session has no `match_started`: the open channel is enough
                if let Phase::Negotiating(negotiating) = &mut self.phase {
                    negotiating.started = true;
                }
            }
            ServerMessage::Error(error) => self.fail(PeerError::Server {
                code: error.code,
                message: error.message,
            }),
            ServerMessage::MatchRequestReceived(request) => self.decline(request),
            other => tracing::trace!(kind = other.kind(), "ignored while asking to watch"),
        }
    }

    /// The watcher's peer connection went down: the channel's own close normally follows
    /// (with the last bytes before it); give it [`WATCH_CLOSE_GRACE`] before ending.
    pub(super) fn watch_link_down(&mut self, now: Instant) {
        if self.watch_closing.is_none() {
            self.watch_closing = Some(now + WATCH_CLOSE_GRACE);
        }
    }

    /// A server message about a spectator session, while running; returns the messages
    /// that are not.
    pub(super) fn spectate_signal(
        &mut self,
        now: Instant,
        message: ServerMessage,
    ) -> Option<ServerMessage> {
        if self.watching {
            // the server's end of our spectator session does not end the stream
            if let ServerMessage::MatchEnded(_) | ServerMessage::MatchFailed(_) = &message {
                tracing::debug!("spectator session over at the server; reading to the end");
                return None;
            }
            return Some(message);
        }
        if let ServerMessage::SpectatorJoined(joined) = message {
            self.spectator_joined(now, joined);
            return None;
        }
        let Some(key) = message
            .session_id()
            .and_then(|sid| self.spectators.by_session(sid))
        else {
            return Some(message);
        };
        match message {
            ServerMessage::SdpOfferReceived(offer) => {
                let link = self.spectators.links.get_mut(&key)?;
                if link.created {
                    self.spectator_action(SpectatorAction::Answer(key, offer.sdp));
                } else {
                    link.early_offer = Some(offer.sdp);
                }
            }
            ServerMessage::IceCandidateReceived(candidate) => {
                let link = self.spectators.links.get_mut(&key)?;
                if link.remote_described {
                    let add = SpectatorAction::AddCandidate(key, candidate.candidate);
                    self.spectator_action(add);
                } else if link.pending_candidates.len() < MAX_PENDING_CANDIDATES {
                    link.pending_candidates.push(candidate.candidate);
                }
            }
            // The data channel is not the server's: an open stream goes on to its end.
            ServerMessage::MatchEnded(_)
            | ServerMessage::MatchFailed(_)
            | ServerMessage::Error(_) => {
                if !self.spectators.links.get(&key)?.open {
                    self.close_spectator(key, false);
                }
            }
            other => tracing::trace!(kind = other.kind(), "ignored for a spectator"),
        }
        None
    }

    fn spectator_joined(&mut self, now: Instant, joined: SpectatorJoined) {
        let running = self.is_running();
        if !running || self.spectators.links.len() >= MAX_SPECTATOR_LINKS {
            tracing::info!(watcher = %joined.watcher_id, running, "spectator declined");
            self.spectators.declined = self.spectators.declined.saturating_add(1);
            self.signal(ClientMessage::EndMatch(EndMatch {
                player_id: self.me(),
                session_id: joined.session_id,
            }));
            return;
        }
        let key = self.spectators.next_key;
        self.spectators.next_key = key.saturating_add(1);
        self.spectators.links.insert(
            key,
            SpectatorLink {
                session_id: joined.session_id,
                watcher_id: joined.watcher_id,
                watcher_name: joined.watcher_name,
                deadline: now + self.config.connect_timeout,
                created: false,
                early_offer: None,
                remote_described: false,
                pending_candidates: Vec::new(),
                open: false,
            },
        );
        self.spectator_action(SpectatorAction::Create(key));
    }

    /// Handles what the driver reports about spectator link `key`.
    pub fn handle_spectator(&mut self, _now: Instant, key: SpectatorKey, input: SpectatorInput) {
        let me = self.me();
        let Some(link) = self.spectators.links.get_mut(&key) else {
            return;
        };
        match input {
            SpectatorInput::Created => {
                link.created = true;
                if let Some(offer) = link.early_offer.take() {
                    self.spectator_action(SpectatorAction::Answer(key, offer));
                }
            }
            SpectatorInput::LocalAnswer(sdp) => {
                link.remote_described = true;
                let pending = std::mem::take(&mut link.pending_candidates);
                let relay = SdpRelay {
                    sender_id: me,
                    receiver_id: link.watcher_id.clone(),
                    sdp,
                    session_id: link.session_id.clone(),
                };
                self.signal(ClientMessage::SendSdpAnswer(relay));
                for candidate in pending {
                    self.spectator_action(SpectatorAction::AddCandidate(key, candidate));
                }
            }
            SpectatorInput::LocalCandidate(candidate) => {
                let relay = IceRelay {
                    sender_id: me,
                    receiver_id: link.watcher_id.clone(),
                    candidate,
                    session_id: link.session_id.clone(),
                };
                self.signal(ClientMessage::SendIceCandidate(relay));
            }
            SpectatorInput::ChannelOpen if !link.open => {
                link.open = true;
                let report = ReportConnection {
                    player_id: me,
                    session_id: link.session_id.clone(),
                    state: ConnectionState::Connected,
                };
                let opened = SpectatorAction::Opened {
                    key,
                    watcher_id: link.watcher_id.clone(),
                    watcher_name: link.watcher_name.clone(),
                };
                self.signal(ClientMessage::ReportConnection(report));
                self.spectator_action(opened);
            }
            SpectatorInput::ChannelOpen => {}
            SpectatorInput::Closed => self.close_spectator(key, true),
            SpectatorInput::Error(error) => {
                tracing::info!(%error, "spectator link failed");
                self.close_spectator(key, true);
            }
        }
    }

    /// Spectator links that did not open in time are closed.
    pub(super) fn spectator_timeout(&mut self, now: Instant) {
        let late: Vec<SpectatorKey> = self
            .spectators
            .links
            .iter()
            .filter(|(_, l)| !l.open && now >= l.deadline)
            .map(|(k, _)| *k)
            .collect();
        for key in late {
            tracing::info!(key, "spectator link did not open in time");
            self.close_spectator(key, true);
        }
    }

    /// Forgets link `key` and asks the driver to close it; `tell` reports the end to the
    /// server (`failed` before the channel opened, `end_match` after).
    fn close_spectator(&mut self, key: SpectatorKey, tell: bool) {
        let Some(link) = self.spectators.links.remove(&key) else {
            return;
        };
        if tell {
            let message = if link.open {
                ClientMessage::EndMatch(EndMatch {
                    player_id: self.me(),
                    session_id: link.session_id,
                })
            } else {
                ClientMessage::ReportConnection(ReportConnection {
                    player_id: self.me(),
                    session_id: link.session_id,
                    state: ConnectionState::Failed,
                })
            };
            self.signal(message);
        }
        self.spectator_action(SpectatorAction::Close(key));
    }

    /// The game ended the match: every spectator link is flushed and closed (the server ends
    /// their sessions with the match).
    pub(super) fn close_all_spectators(&mut self) {
        let keys: Vec<SpectatorKey> = self.spectators.links.keys().copied().collect();
        for key in keys {
            self.close_spectator(key, false);
        }
    }

    fn spectator_action(&mut self, action: SpectatorAction) {
        self.actions.push_back(Action::Spectator(action));
    }
}

/// How long a watcher reads on after its peer connection went down, for the channel's own
/// close (and the stream's last bytes) to come through.
pub const WATCH_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(test)]
mod tests;
