//! The lobby race: a challenge withdrawn while (or just after) it is accepted. The
//! accepter learns it from the server's `match_request_cancelled` (or the accept's
//! `error 404`) at once; a requester that gives up after the accept withdraws rather than
//! reporting `failed`. See docs/spec/signaling.md, "Withdrawing a request".

use std::time::{Duration, Instant};

use signal::protocol::{CancelMatchRequest, ClientMessage, MatchRequestCancelled};

use super::{Action, MatchMachine, MatchRule, Phase};
use crate::error::PeerError;
use crate::link::Role;

/// How long a requester that gives up waits for its unanswered request's session id
/// ([`MatchMachine::withdraw_unanswered`]); the server answers within one round trip.
pub(super) const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

impl MatchMachine {
    /// The requester gives up after the accept, before the match runs: it withdraws the
    /// request (`cancel_match_request`), so the server ends the session and the target
    /// learns it at once (a `failed` report would move the session to the relay fallback
    /// or make the target's error a connection failure). False when we are not the
    /// requester of a negotiation.
    pub(super) fn withdraw(&mut self) -> bool {
        if self.watching {
            return false; // a spectator session is not a request
        }
        let pairing = match &self.phase {
            Phase::Negotiating(negotiating) => &negotiating.pairing,
            Phase::Relaying(relaying) => &relaying.pairing,
            _ => return false,
        };
        if pairing.role != Role::Offerer {
            return false;
        }
        let cancel = CancelMatchRequest {
            requester_id: self.me(),
            target_id: pairing.opponent_id.clone(),
            session_id: pairing.session_id.clone(),
        };
        self.phase = Phase::Ended;
        self.signal(ClientMessage::CancelMatchRequest(cancel));
        self.actions.push_back(Action::CloseTransport);
        self.actions.push_back(Action::CloseSignal);
        let error = PeerError::MatchFailed("cancelled".to_owned());
        self.actions.push_back(Action::Ready(Err(error)));
        true
    }

    /// The requester gives up before `match_request_sent` told it its request's session id:
    /// the target may have accepted already, and without the id the request cannot be
    /// withdrawn; closing the connection instead would be `match_failed peer_disconnected`
    /// for the target. So it waits, at most [`WITHDRAW_WAIT`], for `match_request_sent` (the
    /// server's next message on this connection), then withdraws and closes. False when
    /// there is no such unanswered request.
    pub(super) fn withdraw_unanswered(&mut self, now: Instant) -> bool {
        if self.watching {
            return false; // a `watch_match` is not a request
        }
        let alive = self.signal_alive;
        let Phase::Lobby(lobby) = &mut self.phase else {
            return false;
        };
        if !alive
            || !matches!(lobby.rule, MatchRule::Challenge(_))
            || !lobby.requested
            || lobby.session.is_some()
        {
            return false;
        }
        if !lobby.withdrawing {
            lobby.withdrawing = true;
            lobby.deadline = lobby.deadline.min(now + WITHDRAW_WAIT);
        }
        true
    }

    /// The challenge we accepted is gone before the match ran (`match_request_cancelled`:
    /// the challenger withdrew, even just after our accept; left; or it expired). With an
    /// [`super::MatchRule::Accept`] we wait in the lobby again; a single accepted request
    /// ([`crate::Peer::accept`]) ends at once with [`PeerError::RequestWithdrawn`]. No
    /// `failed` report: the server already ended the session.
    pub(super) fn challenge_withdrawn(&mut self, cancelled: MatchRequestCancelled) {
        let error = PeerError::RequestWithdrawn {
            requester_id: cancelled.requester_id,
            session_id: cancelled.session_id,
            reason: cancelled.reason,
        };
        self.actions.push_back(Action::CloseTransport);
        match self.waiting.take() {
            Some(lobby) => {
                // warn: an unattended accepter (the bot) shows it with default filters
                tracing::warn!("{error}; waiting for another challenge");
                self.phase = Phase::Lobby(lobby);
            }
            None => {
                self.phase = Phase::Ended;
                self.actions.push_back(Action::CloseSignal);
                self.actions.push_back(Action::Ready(Err(error)));
            }
        }
    }
}
