//! One match session: two players, a state and a deadline.

use std::time::Instant;

/// States of a live session. Terminal states (`declined`, `failed`, ended, cancelled) are
/// not stored: a finished session is removed from the hub, so any later message naming it
/// is answered with 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionState {
    /// Waiting for the target to accept or decline.
    Requested,
    /// Accepted; no SDP offer yet.
    Accepted,
    /// At least one SDP offer relayed; waiting for both `connected` reports.
    Connecting,
    /// Both players reported `connected`: the match runs.
    Connected,
    /// The running match's link or a player's WebSocket dropped; the players renegotiate
    /// in the same session until both report `connected` again (or the resume timeout).
    Interrupted,
    /// The negotiation failed and both players were sent `relay_assigned`; waiting for
    /// both `connected` reports over the relay (see `hub/relay.rs`).
    Relaying,
}

impl SessionState {
    /// Every state, in order.
    pub const ALL: [SessionState; Self::COUNT] = [
        Self::Requested,
        Self::Accepted,
        Self::Connecting,
        Self::Connected,
        Self::Interrupted,
        Self::Relaying,
    ];

    /// How many states there are.
    pub const COUNT: usize = 6;

    /// The name used in metrics (`requested`, `accepted`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepted => "accepted",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Interrupted => "interrupted",
            Self::Relaying => "relaying",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Requested => 0,
            Self::Accepted => 1,
            Self::Connecting => 2,
            Self::Connected => 3,
            Self::Interrupted => 4,
            Self::Relaying => 5,
        }
    }

    /// True while the requester may still withdraw (`cancel_match_request`): until the
    /// match runs. After the accept it ends the negotiation (the race of a withdrawal
    /// with an accept).
    pub fn is_withdrawable(self) -> bool {
        matches!(
            self,
            Self::Requested | Self::Accepted | Self::Connecting | Self::Relaying
        )
    }

    /// True for the states in which both players are `in_match`.
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Requested)
    }
}

/// A match session between a requester and a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSession {
    /// Unguessable id (UUIDv4 text).
    pub id: String,
    /// Who sent `request_match`.
    pub requester: String,
    /// Who was asked.
    pub target: String,
    /// Current state.
    pub state: SessionState,
    /// When the current state times out (none while connected).
    pub deadline: Option<Instant>,
    /// `connected` reports: `[requester, target]`.
    pub reported: [bool; 2],
    /// How the game packets travel once connected (`relay` after `relay_assigned`).
    pub link: crate::protocol::LinkKind,
}

impl MatchSession {
    /// True when `player` is one of the two members.
    pub fn has_member(&self, player: &str) -> bool {
        self.requester == player || self.target == player
    }

    /// The other member, given one of them.
    pub fn opponent_of(&self, player: &str) -> &str {
        if self.requester == player {
            &self.target
        } else {
            &self.requester
        }
    }

    /// Records a `connected` report; returns true once both have reported.
    pub fn mark_connected(&mut self, player: &str) -> bool {
        if self.requester == player {
            self.reported[0] = true;
        } else if self.target == player {
            self.reported[1] = true;
        }
        self.reported[0] && self.reported[1]
    }
}
