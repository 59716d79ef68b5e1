//! Spectator sessions: a watcher joins a running match through one of its players.
//!
//! `watch_match {playerId, targetId}` names a player of a `connected` match. The hub picks
//! the match's player hosting fewer spectators (the target on a tie) as host, opens a
//! spectator session with its own id, sends `watch_started` to the watcher and
//! `spectator_joined` to the host. The watcher then sends the SDP offer; offer, answer and
//! ICE are relayed between watcher and host exactly as in a match, and both
//! `report_connection connected` reports end the negotiation (the deadline is the
//! negotiation timeout). A match has at most [`MAX_SPECTATORS_PER_MATCH`] spectators. The
//! watcher shows as `watching` in its lobby. The session ends with `match_ended` to both
//! when either sends `end_match` with its id, when either disconnects
//! (`peer_disconnected`), or when the watched match ends; a failed negotiation ends with
//! `match_failed`.

use std::collections::BTreeMap;
use std::time::Instant;

use super::handlers::require_self;
use super::{Hub, Refusal};
use crate::protocol::{
    ClientMessage, ConnectionState, EndMatch, EndReason, ErrorCode, FailReason,
    IceCandidateReceived, IceRelay, MatchEnded, MatchFailed, ReportConnection, SdpRelay,
    ServerMessage, SpectatorJoined, WatchMatch, WatchStarted, MAX_SPECTATORS_PER_MATCH,
};

type Handled = Result<(), Refusal>;

/// One spectator session: a watcher and the player who streams the match to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpectatorSession {
    /// Unguessable id (UUIDv4 text), distinct from the match's.
    pub id: String,
    /// The watched match session.
    pub match_id: String,
    /// The spectator.
    pub watcher: String,
    /// The player streaming the match.
    pub host: String,
    /// Both reported `connected`.
    pub connected: bool,
    /// `connected` reports: `[watcher, host]`.
    pub reported: [bool; 2],
    /// When the negotiation times out (none once connected).
    pub deadline: Option<Instant>,
}

impl SpectatorSession {
    fn other(&self, player: &str) -> &str {
        if self.watcher == player {
            &self.host
        } else {
            &self.watcher
        }
    }
}

/// The hub's spectator sessions.
#[derive(Debug, Default)]
pub(crate) struct Spectating {
    sessions: BTreeMap<String, SpectatorSession>,
    /// Watcher id → its spectator session.
    by_watcher: BTreeMap<String, String>,
}

impl Spectating {
    fn count_of_match(&self, match_id: &str) -> usize {
        self.sessions
            .values()
            .filter(|s| s.match_id == match_id)
            .count()
    }

    fn hosted_by(&self, player: &str) -> usize {
        self.sessions.values().filter(|s| s.host == player).count()
    }
}

fn conflict(message: &str, sid: &str) -> Refusal {
    Refusal::new(ErrorCode::Conflict, message).in_session(sid)
}

impl Hub {
    /// A spectator session by id (inspection for tests and tools).
    pub fn spectator_session(&self, session_id: &str) -> Option<&SpectatorSession> {
        self.spectating.sessions.get(session_id)
    }

    /// The spectator session a player watches through, if any.
    pub fn watching_of(&self, player_id: &str) -> Option<&str> {
        self.spectating
            .by_watcher
            .get(player_id)
            .map(String::as_str)
    }

    /// Spectator sessions of match `match_id`.
    pub fn spectators_of(&self, match_id: &str) -> usize {
        self.spectating.count_of_match(match_id)
    }

    /// Whether `msg` names a spectator session (relay, report and end messages are routed
    /// here instead of to the match handlers).
    pub(super) fn is_spectator_message(&self, msg: &ClientMessage) -> bool {
        let sid = match msg {
            ClientMessage::SendSdpOffer(m) | ClientMessage::SendSdpAnswer(m) => &m.session_id,
            ClientMessage::SendIceCandidate(m) => &m.session_id,
            ClientMessage::ReportConnection(m) => &m.session_id,
            ClientMessage::EndMatch(m) => &m.session_id,
            ClientMessage::WatchMatch(_) => return true,
            _ => return false,
        };
        self.spectating.sessions.contains_key(sid)
    }

    pub(super) fn dispatch_spectate(
        &mut self,
        sender: &str,
        msg: ClientMessage,
        now: Instant,
    ) -> Handled {
        match msg {
            ClientMessage::WatchMatch(m) => self.watch_match(sender, m, now),
            ClientMessage::SendSdpOffer(m) => self.spectator_sdp(sender, m, true),
            ClientMessage::SendSdpAnswer(m) => self.spectator_sdp(sender, m, false),
            ClientMessage::SendIceCandidate(m) => self.spectator_ice(sender, m),
            ClientMessage::ReportConnection(m) => self.spectator_report(sender, m, now),
            ClientMessage::EndMatch(m) => self.spectator_end(sender, m, now),
            _ => Err(Refusal::new(ErrorCode::Internal, "not a spectator message")),
        }
    }

    fn watch_match(&mut self, sender: &str, m: WatchMatch, now: Instant) -> Handled {
        if sender != m.player_id {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "id field does not match the authenticated identity",
            ));
        }
        let Some(me) = self.player(sender) else {
            return Err(Refusal::new(ErrorCode::Internal, "sender not registered"));
        };
        let Some(my_lobby) = me.lobby.clone() else {
            return Err(Refusal::new(ErrorCode::Conflict, "join the lobby first"));
        };
        if m.target_id == sender {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                "cannot watch your own match",
            ));
        }
        if me.live_session.is_some() {
            return Err(Refusal::new(ErrorCode::Conflict, "already in a match"));
        }
        if self.spectating.by_watcher.contains_key(sender) {
            return Err(Refusal::new(ErrorCode::Conflict, "already watching"));
        }
        let Some(target) = self
            .player(&m.target_id)
            .filter(|p| p.lobby.as_deref() == Some(my_lobby.as_str()))
        else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown player"));
        };
        let running = target
            .live_session
            .as_ref()
            .and_then(|sid| self.sessions.get(sid))
            .filter(|s| s.state == super::SessionState::Connected);
        let Some(session) = running else {
            return Err(Refusal::new(
                ErrorCode::Conflict,
                "target is not in a running match",
            ));
        };
        let match_id = session.id.clone();
        if self.spectating.count_of_match(&match_id) >= MAX_SPECTATORS_PER_MATCH {
            return Err(conflict(
                &format!("the match already has {MAX_SPECTATORS_PER_MATCH} spectators"),
                &match_id,
            ));
        }
        // the player hosting fewer spectators streams to this one (the target on a tie)
        let other = session.opponent_of(&m.target_id).to_owned();
        let host = if self.spectating.hosted_by(&other) < self.spectating.hosted_by(&m.target_id) {
            other
        } else {
            m.target_id.clone()
        };
        let sid = self.new_session_id();
        let deadline = now + self.config.negotiation_timeout;
        self.timers.insert((deadline, sid.clone()));
        self.spectating.sessions.insert(
            sid.clone(),
            SpectatorSession {
                id: sid.clone(),
                match_id: match_id.clone(),
                watcher: sender.to_owned(),
                host: host.clone(),
                connected: false,
                reported: [false; 2],
                deadline: Some(deadline),
            },
        );
        self.spectating
            .by_watcher
            .insert(sender.to_owned(), sid.clone());
        self.touch_player(sender, now);
        let host_name = self.name_of(&host);
        let watcher_name = self.name_of(sender);
        self.send_player(
            sender,
            ServerMessage::WatchStarted(WatchStarted {
                session_id: sid.clone(),
                match_session_id: match_id.clone(),
                host_id: host.clone(),
                host_name,
            }),
        );
        self.send_player(
            &host,
            ServerMessage::SpectatorJoined(SpectatorJoined {
                session_id: sid,
                match_session_id: match_id,
                watcher_id: sender.to_owned(),
                watcher_name,
            }),
        );
        Ok(())
    }

    /// Checks that `sender` is in spectator session `sid`; returns the other member.
    fn spectator_member(
        &self,
        sender: &str,
        sid: &str,
        receiver: Option<&str>,
    ) -> Result<&SpectatorSession, Refusal> {
        let Some(s) = self.spectating.sessions.get(sid) else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown session").in_session(sid));
        };
        if s.watcher != sender && s.host != sender {
            return Err(Refusal::new(ErrorCode::Forbidden, "not your session").in_session(sid));
        }
        if receiver.is_some_and(|r| r != s.other(sender)) {
            return Err(
                Refusal::new(ErrorCode::Forbidden, "receiver is not your peer").in_session(sid),
            );
        }
        Ok(s)
    }

    fn spectator_sdp(&mut self, sender: &str, m: SdpRelay, offer: bool) -> Handled {
        require_self(sender, &m.sender_id)?;
        let s = self.spectator_member(sender, &m.session_id, Some(&m.receiver_id))?;
        if s.connected {
            return Err(conflict("spectator session already connected", &s.id));
        }
        let to = s.other(sender).to_owned();
        self.forward_sdp(&to, m, offer);
        Ok(())
    }

    fn spectator_ice(&mut self, sender: &str, m: IceRelay) -> Handled {
        require_self(sender, &m.sender_id)?;
        let to = self
            .spectator_member(sender, &m.session_id, Some(&m.receiver_id))?
            .other(sender)
            .to_owned();
        self.send_player(
            &to,
            ServerMessage::IceCandidateReceived(IceCandidateReceived {
                sender_id: m.sender_id,
                candidate: m.candidate,
                session_id: m.session_id,
            }),
        );
        Ok(())
    }

    fn spectator_report(&mut self, sender: &str, m: ReportConnection, now: Instant) -> Handled {
        if sender != m.player_id {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "id field does not match the authenticated identity",
            ));
        }
        let s = self.spectator_member(sender, &m.session_id, None)?;
        if s.connected {
            return Err(conflict("spectator session already connected", &s.id));
        }
        if m.state == ConnectionState::Relay {
            return Err(conflict("no relay for spectator sessions", &s.id));
        }
        if m.state == ConnectionState::Failed {
            self.fail_spectator(&m.session_id, FailReason::ConnectionFailed, now);
            return Ok(());
        }
        if let Some(s) = self.spectating.sessions.get_mut(&m.session_id) {
            let slot = usize::from(s.host == sender);
            if let Some(r) = s.reported.get_mut(slot) {
                *r = true;
            }
            if s.reported == [true, true] {
                s.connected = true;
                if let Some(d) = s.deadline.take() {
                    self.timers.remove(&(d, m.session_id.clone()));
                }
            }
        }
        Ok(())
    }

    fn spectator_end(&mut self, sender: &str, m: EndMatch, now: Instant) -> Handled {
        if sender != m.player_id {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "id field does not match the authenticated identity",
            ));
        }
        self.spectator_member(sender, &m.session_id, None)?;
        self.end_spectator(&m.session_id, EndReason::Ended, Some(sender), now);
        Ok(())
    }

    /// Removes a spectator session; returns it.
    fn remove_spectator(&mut self, sid: &str, now: Instant) -> Option<SpectatorSession> {
        let s = self.spectating.sessions.remove(sid)?;
        if let Some(d) = s.deadline {
            self.timers.remove(&(d, sid.to_owned()));
        }
        if self
            .spectating
            .by_watcher
            .get(&s.watcher)
            .map(String::as_str)
            == Some(sid)
        {
            self.spectating.by_watcher.remove(&s.watcher);
        }
        self.touch_player(&s.watcher, now);
        Some(s)
    }

    /// Ends a spectator session with `match_ended` to both members (except `skip`).
    fn end_spectator(&mut self, sid: &str, reason: EndReason, skip: Option<&str>, now: Instant) {
        let Some(s) = self.remove_spectator(sid, now) else {
            return;
        };
        for member in [&s.watcher, &s.host] {
            if Some(member.as_str()) != skip {
                self.send_player(
                    member,
                    ServerMessage::MatchEnded(MatchEnded {
                        session_id: s.id.clone(),
                        reason,
                    }),
                );
            }
        }
    }

    /// Fails a negotiating spectator session with `match_failed` to both members.
    fn fail_spectator(&mut self, sid: &str, reason: FailReason, now: Instant) {
        let Some(s) = self.remove_spectator(sid, now) else {
            return;
        };
        for member in [&s.watcher, &s.host] {
            self.send_player(
                member,
                ServerMessage::MatchFailed(MatchFailed {
                    session_id: s.id.clone(),
                    reason,
                }),
            );
        }
    }

    /// A timer fired for `sid`, which is not a match session: a spectator negotiation that
    /// did not finish in time fails.
    pub(super) fn spectator_timeout(&mut self, sid: &str, at: Instant, now: Instant) {
        let due = self
            .spectating
            .sessions
            .get(sid)
            .is_some_and(|s| s.deadline == Some(at));
        if due {
            self.fail_spectator(sid, FailReason::Timeout, now);
        }
    }

    /// The watched match `match_id` ended or failed: its spectator sessions end.
    pub(super) fn end_spectators_of_match(&mut self, match_id: &str, now: Instant) {
        let ids: Vec<String> = self
            .spectating
            .sessions
            .values()
            .filter(|s| s.match_id == match_id)
            .map(|s| s.id.clone())
            .collect();
        for sid in ids {
            self.end_spectator(&sid, EndReason::Ended, None, now);
        }
    }

    /// `player_id` disconnected: its spectator sessions (as watcher or host) end.
    pub(super) fn spectator_disconnected(&mut self, player_id: &str, now: Instant) {
        let ids: Vec<String> = self
            .spectating
            .sessions
            .values()
            .filter(|s| s.watcher == player_id || s.host == player_id)
            .map(|s| s.id.clone())
            .collect();
        for sid in ids {
            self.end_spectator(&sid, EndReason::PeerDisconnected, Some(player_id), now);
        }
    }

    /// Invariants of the spectator sessions (part of [`Hub::check_invariants`]).
    pub(super) fn check_spectating(&self) -> Result<(), String> {
        let mut per_match: BTreeMap<&str, usize> = BTreeMap::new();
        for (sid, s) in &self.spectating.sessions {
            if self.sessions.contains_key(sid) {
                return Err(format!("{sid} is both a match and a spectator session"));
            }
            let Some(m) = self.sessions.get(&s.match_id) else {
                return Err(format!("spectator session {sid} outlived its match"));
            };
            if !m.has_member(&s.host) || s.watcher == s.host || m.has_member(&s.watcher) {
                return Err(format!("spectator session {sid} has the wrong members"));
            }
            for member in [&s.watcher, &s.host] {
                if !self.players.contains_key(member) {
                    return Err(format!("spectator session {sid} names a gone player"));
                }
            }
            if self.spectating.by_watcher.get(&s.watcher) != Some(sid) {
                return Err(format!("watcher of {sid} does not point at it"));
            }
            if s.connected == s.deadline.is_some() {
                return Err(format!("spectator session {sid}: deadline disagrees"));
            }
            let n = per_match.entry(s.match_id.as_str()).or_default();
            *n += 1;
            if *n > MAX_SPECTATORS_PER_MATCH {
                return Err(format!("match {} has too many spectators", s.match_id));
            }
        }
        if self.spectating.by_watcher.len() != self.spectating.sessions.len() {
            return Err("watcher index drifted".into());
        }
        Ok(())
    }
}
