//! Session lifecycle: creation, state changes, the ways a session ends, and the invariants
//! that tie sessions, players and the lobby together.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Hub, MatchSession, SessionState};
use crate::protocol::{
    CancelReason, DeclineReason, EndReason, FailReason, MatchEnded, MatchFailed,
    MatchRequestCancelled, MatchRequestDeclined, ServerMessage,
};

impl Hub {
    /// Checks the internal invariants; `Err` names the first violation. Used by the
    /// property tests and the fuzz target.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live_members: BTreeMap<&str, &str> = BTreeMap::new();
        let mut counts = [0usize; SessionState::COUNT];
        for (sid, s) in &self.sessions {
            counts[s.state.index()] += 1;
            if s.requester == s.target {
                return Err(format!("session {sid} matches a player with themself"));
            }
            for member in [&s.requester, &s.target] {
                let Some(p) = self.players.get(member) else {
                    if s.state == SessionState::Interrupted && self.resume.is_away(member, sid) {
                        live_members.insert(member, sid);
                        continue;
                    }
                    return Err(format!(
                        "session {sid} names a disconnected player {member}"
                    ));
                };
                if s.state.is_live() {
                    if live_members.insert(member, sid).is_some() {
                        return Err(format!("{member} is in two live sessions"));
                    }
                    if p.live_session.as_deref() != Some(sid.as_str()) {
                        return Err(format!("{member} does not point at live session {sid}"));
                    }
                }
            }
            if s.state == SessionState::Requested {
                let outgoing = self
                    .players
                    .get(&s.requester)
                    .and_then(|p| p.outgoing.as_ref());
                if outgoing != Some(sid) {
                    return Err(format!("requested {sid} is not the requester's outgoing"));
                }
            }
            if s.state != SessionState::Connected && s.deadline.is_none() {
                return Err(format!("session {sid} can never reach a terminal state"));
            }
        }
        if counts != self.state_counts {
            return Err("state counts drifted".into());
        }
        for (id, p) in &self.players {
            if p.live_session.is_some() != live_members.contains_key(id.as_str()) {
                return Err(format!("{id}: lobby status disagrees with sessions"));
            }
            if self.conns.get(&p.conn) != Some(id) {
                return Err(format!("{id}: connection map disagrees"));
            }
        }
        for s in self.sessions.values() {
            if s.state == SessionState::Requested {
                let lobby = |id: &str| self.players.get(id).and_then(|p| p.lobby.as_deref());
                if lobby(&s.requester).is_none() || lobby(&s.requester) != lobby(&s.target) {
                    return Err(format!("request {} crosses lobbies", s.id));
                }
            }
        }
        self.check_spectating()?;
        self.check_lobbies()
    }

    pub(super) fn insert_session(&mut self, session: MatchSession) {
        self.state_counts[session.state.index()] += 1;
        if let Some(deadline) = session.deadline {
            self.timers.insert((deadline, session.id.clone()));
        }
        self.sessions.insert(session.id.clone(), session);
    }

    pub(super) fn set_state(&mut self, sid: &str, state: SessionState, deadline: Option<Instant>) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        self.state_counts[s.state.index()] -= 1;
        self.state_counts[state.index()] += 1;
        if let Some(old) = s.deadline {
            self.timers.remove(&(old, sid.to_owned()));
        }
        s.state = state;
        s.deadline = deadline;
        if let Some(d) = deadline {
            self.timers.insert((d, sid.to_owned()));
        }
    }

    pub(super) fn remove_session(&mut self, sid: &str, now: Instant) -> Option<MatchSession> {
        let s = self.sessions.remove(sid)?;
        self.resume.forget(sid);
        self.state_counts[s.state.index()] -= 1;
        if let Some(d) = s.deadline {
            self.timers.remove(&(d, sid.to_owned()));
        }
        for member in [&s.requester, &s.target] {
            let mut freed = false;
            if let Some(p) = self.players.get_mut(member) {
                if p.outgoing.as_deref() == Some(sid) {
                    p.outgoing = None;
                }
                p.incoming.remove(sid);
                if p.live_session.as_deref() == Some(sid) {
                    p.live_session = None;
                    freed = true;
                }
            }
            if freed {
                self.touch_player(member, now);
            }
        }
        self.end_spectators_of_match(sid, now);
        Some(s)
    }

    /// Closes a `requested` session: the requester gets `declined(decline)`, the target
    /// gets `cancelled(cancel)`.
    pub(super) fn end_request(
        &mut self,
        sid: &str,
        decline: DeclineReason,
        cancel: CancelReason,
        now: Instant,
    ) {
        let Some(s) = self.remove_session(sid, now) else {
            return;
        };
        let decliner_name = self.name_of(&s.target);
        self.send_player(
            &s.requester,
            ServerMessage::MatchRequestDeclined(MatchRequestDeclined {
                decliner_id: s.target.clone(),
                decliner_name,
                session_id: s.id.clone(),
                reason: Some(decline),
            }),
        );
        self.send_player(
            &s.target,
            ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
                requester_id: s.requester.clone(),
                session_id: s.id.clone(),
                reason: Some(cancel),
            }),
        );
    }

    /// Fails a negotiating session; both members (except `skip`) get `match_failed`.
    pub(super) fn fail_session(
        &mut self,
        sid: &str,
        reason: FailReason,
        skip: Option<&str>,
        now: Instant,
    ) {
        let Some(s) = self.remove_session(sid, now) else {
            return;
        };
        for member in [&s.requester, &s.target] {
            if Some(member.as_str()) != skip {
                self.send_player(
                    member,
                    ServerMessage::MatchFailed(MatchFailed {
                        session_id: s.id.clone(),
                        reason,
                    }),
                );
            }
        }
    }

    /// A member of a live session went away: the opponent is told and freed.
    pub(super) fn abort_live_session(&mut self, sid: &str, leaver: &str, now: Instant) {
        let Some(state) = self.sessions.get(sid).map(|s| s.state) else {
            return;
        };
        if state == SessionState::Connected {
            if let Some(s) = self.remove_session(sid, now) {
                let opponent = s.opponent_of(leaver).to_owned();
                self.send_player(
                    &opponent,
                    ServerMessage::MatchEnded(MatchEnded {
                        session_id: s.id.clone(),
                        reason: EndReason::PeerDisconnected,
                    }),
                );
            }
        } else {
            self.fail_session(sid, FailReason::PeerDisconnected, Some(leaver), now);
        }
    }

    /// Withdraws every pending request of a player leaving the lobby or disconnecting.
    pub(super) fn withdraw_requests(&mut self, player_id: &str, now: Instant) {
        self.close_pending_requests(
            player_id,
            CancelReason::RequesterLeft,
            DeclineReason::Declined,
            now,
        );
    }

    /// Closes every pending request of `player_id` and tells the other party: its outgoing
    /// request is cancelled with `cancel_reason`, incoming ones are declined with
    /// `decline_reason` (`busy` when the player just entered a match).
    pub(super) fn close_pending_requests(
        &mut self,
        player_id: &str,
        cancel_reason: CancelReason,
        decline_reason: DeclineReason,
        now: Instant,
    ) {
        let Some(p) = self.player(player_id) else {
            return;
        };
        let outgoing = p.outgoing.clone();
        let incoming: Vec<String> = p.incoming.iter().cloned().collect();
        if let Some(sid) = outgoing {
            if let Some(s) = self.remove_session(&sid, now) {
                self.send_player(
                    &s.target,
                    ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
                        requester_id: s.requester.clone(),
                        session_id: s.id.clone(),
                        reason: Some(cancel_reason),
                    }),
                );
            }
        }
        for sid in incoming {
            if let Some(s) = self.remove_session(&sid, now) {
                let decliner_name = self.name_of(&s.target);
                self.send_player(
                    &s.requester,
                    ServerMessage::MatchRequestDeclined(MatchRequestDeclined {
                        decliner_id: s.target.clone(),
                        decliner_name,
                        session_id: s.id.clone(),
                        reason: Some(decline_reason),
                    }),
                );
            }
        }
    }
}
