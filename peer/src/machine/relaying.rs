//! The relaying path of the [`MatchMachine`]: when peer-to-peer cannot connect, the match
//! goes on through a play-server relay stage, with no action from the game.
//!
//! ```text
//!   Negotiating ──(ICE failed, channel closed, timeout: report `failed`)──> Relaying (awaiting)
//!   Negotiating ──(relay_assigned: the server timed out or the opponent failed)──┐
//!   Lobby/accept ──(RelayPolicy::Always: report `relay`)──> Relaying (awaiting)  │
//!   Relaying (awaiting) ──(relay_assigned)──> JoinRelay ──(both members in the stage:
//!       report `connected`)──(match_started link=relay)──> Running
//!   Relaying ──(match_failed, error, timeout, relay refused or closed)──> Ended (the error)
//!   Running (relay) ──(relay link closed: opponent left / cut, idle, connection lost)──>
//!       MatchEvent::Closed(CloseReason::Relay(RelayEnd)) (not resumed)
//! ```
//! A negotiation failure waits for the server's answer: `relay_assigned` when it has a relay,
//! `match_failed` when it has none (then the original error is reported).

use std::time::Instant;

use signal::protocol::{
    ClientMessage, ConnectionState, LinkKind, RelayAssigned, ReportConnection, ServerMessage,
};

use super::{Action, MatchMachine, Negotiating, Pairing, Phase};
use crate::error::PeerError;
use crate::link::{CloseReason, MatchEvent};
use crate::relay_link::RelayEnd;

/// Whether a match may go through a play-server relay stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RelayPolicy {
    /// Never: a failed negotiation fails the match (the behaviour before the relay).
    Never,
    /// When peer-to-peer fails and the server has a relay (the default).
    #[default]
    Fallback,
    /// At once, skipping peer-to-peer (`report_connection relay`; for networks known to
    /// block UDP). Fails if the server has no relay.
    Always,
}

impl std::str::FromStr for RelayPolicy {
    type Err = String;
    /// `never`, `fallback` or `always`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(Self::Never),
            "fallback" => Ok(Self::Fallback),
            "always" => Ok(Self::Always),
            other => Err(format!(
                "relay policy {other:?} is not never, fallback or always"
            )),
        }
    }
}

/// What the driver reports about the relay link.
#[derive(Debug)]
pub enum RelayInput {
    /// Both members are in the stage: packets flow.
    Open,
    /// The other member left or was cut, the stage went idle, or the connection to the
    /// relay closed.
    Closed(RelayEnd),
    /// Joining failed (connect error, refused ticket).
    Failed(PeerError),
}

/// The relay stage to join ([`Action::JoinRelay`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTarget {
    /// Play-server URLs from `relay_assigned` (`tcp://` or `ws://`), the default first.
    pub urls: Vec<String>,
    /// The stage.
    pub stage_id: i64,
    /// Our ticket.
    pub ticket: String,
}

impl From<RelayAssigned> for RelayTarget {
    fn from(assigned: RelayAssigned) -> Self {
        let first = assigned.url;
        let rest = assigned.urls.into_iter().filter(|u| *u != first);
        let urls = std::iter::once(first.clone()).chain(rest).collect();
        Self {
            urls,
            stage_id: assigned.stage_id,
            ticket: assigned.ticket,
        }
    }
}

#[derive(Debug)]
pub(super) struct Relaying {
    pub(super) pairing: Pairing,
    pub(super) deadline: Instant,
    /// `relay_assigned` came and the join was asked for.
    assigned: bool,
    opened: bool,
    started: bool,
    /// Why peer-to-peer failed (reported if the server has no relay).
    cause: Option<PeerError>,
}

impl MatchMachine {
    /// Peer-to-peer failed while negotiating: wait for the server's relay if we may,
    /// otherwise fail as before.
    pub(super) fn link_failed(&mut self, error: PeerError) {
        let may_relay = self.config.relay != RelayPolicy::Never && self.signal_alive;
        let Phase::Negotiating(negotiating) = &self.phase else {
            return self.fail(error);
        };
        if !may_relay {
            return self.fail(error);
        }
        let pairing = negotiating.pairing.clone();
        tracing::info!(%error, "peer-to-peer failed; waiting for the relay");
        self.report(&pairing.session_id, ConnectionState::Failed);
        self.actions.push_back(Action::CloseTransport);
        self.await_relay(pairing, Some(error));
    }

    /// [`RelayPolicy::Always`]: ask for the relay instead of negotiating.
    pub(super) fn ask_for_relay(&mut self, pairing: Pairing) {
        self.report(&pairing.session_id, ConnectionState::Relay);
        self.await_relay(pairing, None);
    }

    fn await_relay(&mut self, pairing: Pairing, cause: Option<PeerError>) {
        // The server answers at once; this bounds a server that never does.
        let deadline = pairing.accepted_at + self.config.connect_timeout * 2;
        self.phase = Phase::Relaying(Relaying {
            pairing,
            deadline,
            assigned: false,
            opened: false,
            started: false,
            cause,
        });
    }

    fn report(&mut self, session_id: &str, state: ConnectionState) {
        self.signal(ClientMessage::ReportConnection(ReportConnection {
            player_id: self.me(),
            session_id: session_id.to_owned(),
            state,
        }));
    }

    /// `relay_assigned` while still negotiating (the server timed out first, or the
    /// opponent reported `failed`): drop the peer connection and join the relay.
    pub(super) fn relay_while_negotiating(&mut self, now: Instant, assigned: RelayAssigned) {
        let Phase::Negotiating(Negotiating { pairing, .. }) = &self.phase else {
            return;
        };
        let pairing = pairing.clone();
        tracing::info!("the server moved the match to the relay");
        self.actions.push_back(Action::CloseTransport);
        self.await_relay(pairing, None);
        self.relaying_signal(now, ServerMessage::RelayAssigned(assigned));
    }

    pub(super) fn relaying_signal(&mut self, now: Instant, message: ServerMessage) {
        let Phase::Relaying(relaying) = &mut self.phase else {
            return;
        };
        if message.session_id() != Some(relaying.pairing.session_id.as_str()) {
            return tracing::trace!(kind = message.kind(), "ignored while relaying");
        }
        match message {
            ServerMessage::RelayAssigned(assigned) if !relaying.assigned => {
                relaying.assigned = true;
                relaying.deadline = now + self.config.connect_timeout;
                self.actions
                    .push_back(Action::JoinRelay(RelayTarget::from(assigned)));
            }
            ServerMessage::MatchStarted(started) if started.link == LinkKind::Relay => {
                relaying.pairing.opponent_name = started.opponent_name;
                relaying.started = true;
                self.relay_ready(now);
            }
            ServerMessage::MatchFailed(failed) => {
                let error = relaying
                    .cause
                    .take()
                    .unwrap_or_else(|| PeerError::MatchFailed(format!("{:?}", failed.reason)));
                self.fail(error);
            }
            ServerMessage::Error(error) => self.fail(PeerError::Server {
                code: error.code,
                message: error.message,
            }),
            ServerMessage::MatchRequestCancelled(cancelled) => self.challenge_withdrawn(cancelled),
            other => tracing::trace!(kind = other.kind(), "ignored while relaying"),
        }
    }

    /// Handles what the driver reports about the relay link.
    pub fn handle_relay(&mut self, now: Instant, input: RelayInput) {
        match (input, &mut self.phase) {
            (RelayInput::Open, Phase::Relaying(relaying)) if !relaying.opened => {
                relaying.opened = true;
                let session_id = relaying.pairing.session_id.clone();
                self.report(&session_id, ConnectionState::Connected);
                self.relay_ready(now);
            }
            (RelayInput::Failed(error), Phase::Relaying(_)) => self.fail(error),
            (RelayInput::Closed(why), Phase::Relaying(_)) => {
                self.fail(PeerError::Connection(format!("relay closed: {why}")));
            }
            (RelayInput::Closed(end), Phase::Running(_)) => {
                tracing::info!(%end, "the relay link closed: the match is over");
                self.link_over(MatchEvent::Closed(CloseReason::Relay(end)));
            }
            (RelayInput::Failed(error), Phase::Running(_)) => {
                tracing::info!(%error, "the relay link failed: the match is over");
                self.link_over(MatchEvent::Closed(CloseReason::Relay(
                    RelayEnd::ConnectionLost,
                )));
            }
            _ => {}
        }
    }

    /// The relay link is open and `match_started` came: the match runs.
    fn relay_ready(&mut self, now: Instant) {
        let Phase::Relaying(relaying) = &self.phase else {
            return;
        };
        if relaying.opened && relaying.started {
            let pairing = relaying.pairing.clone();
            self.run(pairing, LinkKind::Relay, now);
        }
    }

    pub(super) fn relaying_timeout(&mut self, now: Instant) {
        if let Phase::Relaying(relaying) = &mut self.phase {
            if now >= relaying.deadline {
                let cause = relaying.cause.take();
                let after = self.config.connect_timeout;
                self.fail(cause.unwrap_or(PeerError::Timeout {
                    phase: "relaying",
                    after,
                }));
            }
        }
    }
}
