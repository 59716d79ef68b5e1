//! Resuming a running match: the `interrupted` state.
//!
//! A `connected` session becomes `interrupted` when a player says its game link is down
//! (`resume_match`, or `report_connection failed`) or when a player's WebSocket drops.
//! Both players are told (`match_interrupted`), the offer / answer / ICE relay works as
//! during the first negotiation, and once both players present have reported `connected`
//! again the session is `connected` (`match_resumed` to both). A player whose WebSocket
//! dropped stays a member while away; when it reconnects (same `sub`) it is told
//! `match_interrupted` and may resume. After [`HubConfig::resume_timeout`](super::HubConfig)
//! the session ends with `match_ended peer_disconnected`. A zero timeout turns all of this
//! off: a drop ends the match at once, as before.

use std::collections::BTreeMap;
use std::time::Instant;

use super::handlers::{conflict, require_self, Handled};
use super::relay::RELAYED_NOT_RENEGOTIATED;
use super::{Hub, SessionState};
use crate::protocol::{
    ConnectionState, EndReason, InterruptReason, MatchEnded, MatchInterrupted, MatchResumed,
    ResumeMatch, ServerMessage,
};

/// Players whose WebSocket dropped while their match was interrupted, and why each
/// interrupted session is interrupted.
#[derive(Debug, Default)]
pub(super) struct Away {
    /// Player id → the interrupted session it belongs to.
    players: BTreeMap<String, String>,
    /// Session id → the reason it is interrupted.
    reasons: BTreeMap<String, InterruptReason>,
}

impl Away {
    /// Whether `player` is away from interrupted session `sid`.
    pub(super) fn is_away(&self, player: &str, sid: &str) -> bool {
        self.players.get(player).map(String::as_str) == Some(sid)
    }

    /// Drops everything about a session that is gone.
    pub(super) fn forget(&mut self, sid: &str) {
        self.players.retain(|_, s| s != sid);
        self.reasons.remove(sid);
    }
}

impl Hub {
    fn resume_enabled(&self) -> bool {
        !self.config.resume_timeout.is_zero()
    }

    /// `connected` → `interrupted` (with a fresh deadline), or a new reason for an
    /// interrupted session. Both `connected` flags are cleared; the members present are told.
    fn interrupt(&mut self, sid: &str, reason: InterruptReason, now: Instant) {
        let Some(state) = self.sessions.get(sid).map(|s| s.state) else {
            return;
        };
        if state == SessionState::Connected {
            let deadline = now + self.config.resume_timeout;
            self.set_state(sid, SessionState::Interrupted, Some(deadline));
        }
        if let Some(s) = self.sessions.get_mut(sid) {
            s.reported = [false; 2];
        }
        self.resume.reasons.insert(sid.to_owned(), reason);
        let members = self
            .sessions
            .get(sid)
            .map(|s| [s.requester.clone(), s.target.clone()]);
        for member in members.into_iter().flatten() {
            let message = MatchInterrupted {
                session_id: sid.to_owned(),
                reason,
            };
            self.send_player(&member, ServerMessage::MatchInterrupted(message));
        }
    }

    /// `resume_match`: the sender's game link is down; renegotiate in this session.
    pub(super) fn resume_match(&mut self, sender: &str, m: ResumeMatch, now: Instant) -> Handled {
        require_self(sender, &m.player_id)?;
        let sid = m.session_id;
        let (state, _) = self.member_session(sender, &sid, None)?;
        if !self.resume_enabled() {
            return Err(conflict("resuming is off on this server", &sid));
        }
        if self.is_relayed(&sid) {
            return Err(conflict(RELAYED_NOT_RENEGOTIATED, &sid));
        }
        match state {
            SessionState::Connected => self.interrupt(&sid, InterruptReason::ConnectionFailed, now),
            SessionState::Interrupted => {
                let reason = self.resume.reasons.get(&sid).copied();
                if reason == Some(InterruptReason::ConnectionFailed) {
                    // Already renegotiating: only the sender's link is (again) down.
                    self.clear_report(&sid, sender);
                } else {
                    self.interrupt(&sid, InterruptReason::ConnectionFailed, now);
                }
            }
            other => {
                return Err(conflict(
                    &format!("resume_match not allowed in state {}", other.name()),
                    &sid,
                ));
            }
        }
        Ok(())
    }

    /// `report_connection` in a `connected` or `interrupted` session.
    pub(super) fn report_in_match(
        &mut self,
        sender: &str,
        sid: &str,
        state: SessionState,
        report: ConnectionState,
        now: Instant,
    ) -> Handled {
        if self.is_relayed(sid) && report == ConnectionState::Failed {
            return Self::relayed_failed_report(sender, sid, state);
        }
        match (state, report) {
            (SessionState::Connected, ConnectionState::Failed) if self.resume_enabled() => {
                self.interrupt(sid, InterruptReason::ConnectionFailed, now);
            }
            (SessionState::Interrupted, ConnectionState::Failed) => {
                // One attempt failed; the players keep trying until the deadline.
                self.clear_report(sid, sender);
            }
            (SessionState::Interrupted, ConnectionState::Connected) => {
                let both = self
                    .sessions
                    .get_mut(sid)
                    .is_some_and(|s| s.mark_connected(sender));
                let present = self.sessions.get(sid).is_some_and(|s| {
                    [&s.requester, &s.target]
                        .iter()
                        .all(|m| self.players.contains_key(m.as_str()))
                });
                if both && present {
                    self.resumed(sid);
                }
            }
            (state, _) => {
                return Err(conflict(
                    &format!("report not allowed in state {}", state.name()),
                    sid,
                ));
            }
        }
        Ok(())
    }

    fn clear_report(&mut self, sid: &str, player: &str) {
        if let Some(s) = self.sessions.get_mut(sid) {
            let i = usize::from(s.requester != player);
            s.reported[i] = false;
        }
    }

    fn resumed(&mut self, sid: &str) {
        self.set_state(sid, SessionState::Connected, None);
        self.resume.reasons.remove(sid);
        let members = self
            .sessions
            .get(sid)
            .map(|s| [s.requester.clone(), s.target.clone()]);
        for member in members.into_iter().flatten() {
            let message = MatchResumed {
                session_id: sid.to_owned(),
            };
            self.send_player(&member, ServerMessage::MatchResumed(message));
        }
    }

    /// A member's WebSocket dropped (the player record is removed right after this).
    pub(super) fn player_dropped(&mut self, sid: &str, player: &str, now: Instant) {
        let state = self.sessions.get(sid).map(|s| s.state);
        let resumable = matches!(
            state,
            Some(SessionState::Connected | SessionState::Interrupted)
        );
        if !(resumable && self.resume_enabled()) {
            return self.abort_live_session(sid, player, now);
        }
        let opponent = self
            .sessions
            .get(sid)
            .map(|s| s.opponent_of(player).to_owned())
            .unwrap_or_default();
        if self.resume.players.contains_key(&opponent) {
            // Nobody is left to resume with.
            self.remove_session(sid, now);
            return;
        }
        self.resume
            .players
            .insert(player.to_owned(), sid.to_owned());
        if state == Some(SessionState::Connected) {
            let deadline = now + self.config.resume_timeout;
            self.set_state(sid, SessionState::Interrupted, Some(deadline));
            self.resume
                .reasons
                .insert(sid.to_owned(), InterruptReason::SignalingLost);
            // Only the leaver's side is unknown: the opponent still holds its link.
            self.clear_report(sid, player);
            if let Some(s) = self.sessions.get_mut(sid) {
                let i = usize::from(s.requester != opponent);
                s.reported[i] = true;
            }
            let message = MatchInterrupted {
                session_id: sid.to_owned(),
                reason: InterruptReason::SignalingLost,
            };
            self.send_player(&opponent, ServerMessage::MatchInterrupted(message));
        } else {
            self.clear_report(sid, player);
        }
    }

    /// A (re)connected player who is away from an interrupted session gets it back and is
    /// told `match_interrupted` (it then resumes or reports `connected`).
    pub(super) fn rejoin_interrupted(&mut self, player: &str, _now: Instant) {
        let Some(sid) = self.resume.players.remove(player) else {
            return;
        };
        if let Some(p) = self.player_mut(player) {
            p.live_session = Some(sid.clone());
        }
        let reason = self
            .resume
            .reasons
            .get(&sid)
            .copied()
            .unwrap_or(InterruptReason::SignalingLost);
        let message = MatchInterrupted {
            session_id: sid,
            reason,
        };
        self.send_player(player, ServerMessage::MatchInterrupted(message));
    }

    /// The resume timeout passed: the match is over for the members still here.
    pub(super) fn resume_expired(&mut self, sid: &str, now: Instant) {
        let Some(s) = self.remove_session(sid, now) else {
            return;
        };
        for member in [&s.requester, &s.target] {
            let message = MatchEnded {
                session_id: s.id.clone(),
                reason: EndReason::PeerDisconnected,
            };
            self.send_player(member, ServerMessage::MatchEnded(message));
        }
    }

    /// The session a player is away from (inspection for tests and tools).
    pub fn away_from(&self, player_id: &str) -> Option<&str> {
        self.resume.players.get(player_id).map(String::as_str)
    }
}
