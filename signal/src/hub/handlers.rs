//! One handler per client message. Each validates everything first (identity → 403,
//! lookup → 404, membership → 403, state → 409) and only then changes state, so a refused
//! message changes nothing.

use std::time::Instant;

use super::{Hub, MatchSession, Refusal, SessionState, MAX_NAME_CHARS};
use crate::protocol::{
    is_valid_lobby_name, AcceptMatch, CancelMatchRequest, CancelReason, ClientMessage,
    ConnectionState, DeclineMatch, DeclineReason, EndMatch, EndReason, ErrorCode, FailReason,
    IceCandidateReceived, IceRelay, JoinLobby, LeaveLobby, LinkKind, MatchEnded,
    MatchRequestAccepted, MatchRequestCancelled, MatchRequestDeclined, MatchRequestReceived,
    MatchRequestSent, MatchStarted, ReportConnection, RequestMatch, SdpReceived, SdpRelay,
    ServerMessage, MAX_LOBBY_NAME_CHARS,
};

pub(super) type Handled = Result<(), Refusal>;

pub(super) fn require_self(sender: &str, claimed: &str) -> Handled {
    if sender == claimed {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::Forbidden,
            "id field does not match the authenticated identity",
        ))
    }
}

pub(super) fn conflict(message: &str, sid: &str) -> Refusal {
    Refusal::new(ErrorCode::Conflict, message).in_session(sid)
}

/// Trims and validates a display name.
pub(crate) fn clean_name(raw: &str) -> Result<String, Refusal> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("playerName must be 1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

impl Hub {
    pub(super) fn dispatch(&mut self, sender: &str, msg: ClientMessage, now: Instant) -> Handled {
        if self.is_spectator_message(&msg) {
            return self.dispatch_spectate(sender, msg, now);
        }
        match msg {
            ClientMessage::JoinLobby(m) => self.join_lobby(sender, m, now),
            ClientMessage::LeaveLobby(m) => self.leave_lobby(sender, m, now),
            ClientMessage::RequestMatch(m) => self.request_match(sender, m, now),
            ClientMessage::AcceptMatch(m) => self.accept_match(sender, m, now),
            ClientMessage::DeclineMatch(m) => self.decline_match(sender, m, now),
            ClientMessage::CancelMatchRequest(m) => self.cancel_request(sender, m, now),
            ClientMessage::SendSdpOffer(m) => self.relay_sdp(sender, m, true, now),
            ClientMessage::SendSdpAnswer(m) => self.relay_sdp(sender, m, false, now),
            ClientMessage::SendIceCandidate(m) => self.relay_ice(sender, m),
            ClientMessage::ReportConnection(m) => self.report_connection(sender, m, now),
            ClientMessage::EndMatch(m) => self.end_match(sender, m, now),
            ClientMessage::ResumeMatch(m) => self.resume_match(sender, m, now),
            msg @ ClientMessage::WatchMatch(_) => self.dispatch_spectate(sender, msg, now),
        }
    }

    fn join_lobby(&mut self, sender: &str, m: JoinLobby, now: Instant) -> Handled {
        require_self(sender, &m.player_id)?;
        let name = clean_name(&m.player_name)?;
        let lobby = m.lobby_name();
        if !is_valid_lobby_name(lobby) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("lobby must be 1-{MAX_LOBBY_NAME_CHARS} characters of [A-Za-z0-9_.-]"),
            ));
        }
        let current = self.lobby_name_of(sender).map(str::to_owned);
        let moving = current.as_deref() != Some(lobby);
        if moving && self.lobby_len(lobby) >= self.config.max_lobby_size {
            return Err(Refusal::new(ErrorCode::Conflict, "lobby full"));
        }
        if moving && current.is_some() {
            // Requests exist only within a lobby: a move withdraws them.
            self.withdraw_requests(sender, now);
            self.exit_lobby(sender, now);
        }
        let updates = m.updates.unwrap_or_default();
        if let Some(p) = self.player_mut(sender) {
            p.name = name;
            p.updates = updates;
        }
        self.enter_lobby(sender, lobby, now);
        Ok(())
    }

    fn leave_lobby(&mut self, sender: &str, m: LeaveLobby, now: Instant) -> Handled {
        require_self(sender, &m.player_id)?;
        if self.lobby_name_of(sender).is_none() {
            return Err(Refusal::new(ErrorCode::Conflict, "not in the lobby"));
        }
        self.withdraw_requests(sender, now);
        self.exit_lobby(sender, now);
        Ok(())
    }

    fn request_match(&mut self, sender: &str, m: RequestMatch, now: Instant) -> Handled {
        require_self(sender, &m.requester_id)?;
        let Some(me) = self.player(sender) else {
            return Err(Refusal::new(ErrorCode::Internal, "sender not registered"));
        };
        let Some(my_lobby) = me.lobby.as_deref() else {
            return Err(Refusal::new(ErrorCode::Conflict, "join the lobby first"));
        };
        if m.target_id == sender {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                "cannot request a match with yourself",
            ));
        }
        if me.live_session.is_some() {
            return Err(Refusal::new(ErrorCode::Conflict, "already in a match"));
        }
        if me.outgoing.is_some() {
            return Err(Refusal::new(
                ErrorCode::Conflict,
                "a request is already pending",
            ));
        }
        let same_lobby = |p: &&super::Player| p.lobby.as_deref() == Some(my_lobby);
        let Some(target) = self.player(&m.target_id).filter(same_lobby) else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown player"));
        };
        if target.live_session.is_some() {
            return Err(Refusal::new(ErrorCode::Conflict, "target is busy"));
        }
        let sid = self.new_session_id();
        self.insert_session(MatchSession {
            id: sid.clone(),
            requester: sender.to_owned(),
            target: m.target_id.clone(),
            state: SessionState::Requested,
            deadline: Some(now + self.config.request_timeout),
            reported: [false; 2],
            link: LinkKind::P2p,
        });
        if let Some(p) = self.player_mut(sender) {
            p.outgoing = Some(sid.clone());
        }
        if let Some(p) = self.player_mut(&m.target_id) {
            p.incoming.insert(sid.clone());
        }
        let requester_name = self.name_of(sender);
        self.send_player(
            sender,
            ServerMessage::MatchRequestSent(MatchRequestSent {
                target_id: m.target_id.clone(),
                session_id: sid.clone(),
            }),
        );
        self.send_player(
            &m.target_id,
            ServerMessage::MatchRequestReceived(MatchRequestReceived {
                requester_id: sender.to_owned(),
                requester_name,
                session_id: sid,
            }),
        );
        Ok(())
    }

    /// Finds the `requested` session that `sender` (the target) answers.
    fn find_request(
        &self,
        sender: &str,
        requester_id: &str,
        session_id: Option<&str>,
    ) -> Result<String, Refusal> {
        let sid = match session_id {
            Some(sid) => sid.to_owned(),
            None => {
                let Some(requester) = self.player(requester_id) else {
                    return Err(Refusal::new(ErrorCode::NotFound, "unknown player"));
                };
                let pending = requester
                    .outgoing
                    .as_ref()
                    .filter(|sid| self.sessions.get(*sid).is_some_and(|s| s.target == sender));
                match pending {
                    Some(sid) => sid.clone(),
                    None => {
                        return Err(Refusal::new(ErrorCode::NotFound, "no pending request"));
                    }
                }
            }
        };
        let Some(s) = self.sessions.get(&sid) else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown session").in_session(&sid));
        };
        if !s.has_member(sender) {
            return Err(Refusal::new(ErrorCode::Forbidden, "not your session").in_session(&sid));
        }
        if s.target != sender {
            return Err(
                Refusal::new(ErrorCode::Forbidden, "only the target may answer").in_session(&sid),
            );
        }
        if s.requester != requester_id {
            return Err(
                Refusal::new(ErrorCode::NotFound, "no such request from requesterId")
                    .in_session(&sid),
            );
        }
        if s.state != SessionState::Requested {
            return Err(conflict("request is no longer pending", &sid));
        }
        Ok(sid)
    }

    fn accept_match(&mut self, sender: &str, m: AcceptMatch, now: Instant) -> Handled {
        require_self(sender, &m.accepter_id)?;
        let sid = self.find_request(sender, &m.requester_id, m.session_id.as_deref())?;
        let busy = [sender, m.requester_id.as_str()]
            .iter()
            .any(|id| self.player(id).is_none_or(|p| p.live_session.is_some()));
        if busy {
            return Err(conflict("already in a match", &sid));
        }
        self.set_state(
            &sid,
            SessionState::Accepted,
            Some(now + self.config.negotiation_timeout),
        );
        for id in [sender, m.requester_id.as_str()] {
            if let Some(p) = self.player_mut(id) {
                if p.outgoing.as_deref() == Some(sid.as_str()) {
                    p.outgoing = None;
                }
                p.incoming.remove(&sid);
                p.live_session = Some(sid.clone());
            }
        }
        self.close_pending_requests(sender, CancelReason::Busy, DeclineReason::Busy, now);
        self.close_pending_requests(
            &m.requester_id,
            CancelReason::Busy,
            DeclineReason::Busy,
            now,
        );
        self.touch_player(sender, now);
        self.touch_player(&m.requester_id, now);
        let accepter_name = self.name_of(sender);
        self.send_player(
            &m.requester_id,
            ServerMessage::MatchRequestAccepted(MatchRequestAccepted {
                accepter_id: sender.to_owned(),
                accepter_name,
                session_id: sid,
            }),
        );
        Ok(())
    }

    fn decline_match(&mut self, sender: &str, m: DeclineMatch, now: Instant) -> Handled {
        require_self(sender, &m.decliner_id)?;
        let sid = self.find_request(sender, &m.requester_id, m.session_id.as_deref())?;
        let Some(s) = self.remove_session(&sid, now) else {
            return Ok(());
        };
        let decliner_name = self.name_of(sender);
        self.send_player(
            &s.requester,
            ServerMessage::MatchRequestDeclined(MatchRequestDeclined {
                decliner_id: sender.to_owned(),
                decliner_name,
                session_id: sid,
                reason: Some(DeclineReason::Declined),
            }),
        );
        Ok(())
    }

    fn cancel_request(&mut self, sender: &str, m: CancelMatchRequest, now: Instant) -> Handled {
        require_self(sender, &m.requester_id)?;
        let sid = m.session_id;
        let Some(s) = self.sessions.get(&sid) else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown session").in_session(&sid));
        };
        if !s.has_member(sender) {
            return Err(Refusal::new(ErrorCode::Forbidden, "not your session").in_session(&sid));
        }
        if s.requester != sender {
            return Err(
                Refusal::new(ErrorCode::Forbidden, "only the requester may cancel")
                    .in_session(&sid),
            );
        }
        if s.target != m.target_id {
            return Err(
                Refusal::new(ErrorCode::NotFound, "no such request to targetId").in_session(&sid),
            );
        }
        // A withdrawal may cross the target's accept on the wire: until the match runs,
        // it ends the session and frees both (the target would otherwise wait for an
        // offer that never comes).
        if !s.state.is_withdrawable() {
            return Err(conflict("the match runs: end it with end_match", &sid));
        }
        if let Some(s) = self.remove_session(&sid, now) {
            self.send_player(
                &s.target,
                ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
                    requester_id: sender.to_owned(),
                    session_id: sid,
                    reason: Some(CancelReason::Cancelled),
                }),
            );
        }
        Ok(())
    }

    /// Common checks of messages about a session: returns its state and the opponent.
    pub(super) fn member_session(
        &self,
        sender: &str,
        session_id: &str,
        receiver_id: Option<&str>,
    ) -> Result<(SessionState, String), Refusal> {
        let Some(s) = self.sessions.get(session_id) else {
            return Err(Refusal::new(ErrorCode::NotFound, "unknown session").in_session(session_id));
        };
        if !s.has_member(sender) {
            return Err(
                Refusal::new(ErrorCode::Forbidden, "not your session").in_session(session_id)
            );
        }
        let opponent = s.opponent_of(sender).to_owned();
        if receiver_id.is_some_and(|r| r != opponent) {
            return Err(
                Refusal::new(ErrorCode::Forbidden, "receiver is not your opponent")
                    .in_session(session_id),
            );
        }
        Ok((s.state, opponent))
    }

    fn relay_sdp(&mut self, sender: &str, m: SdpRelay, offer: bool, now: Instant) -> Handled {
        require_self(sender, &m.sender_id)?;
        let (state, opponent) = self.member_session(sender, &m.session_id, Some(&m.receiver_id))?;
        let allowed = matches!(
            (offer, state),
            (true, SessionState::Accepted | SessionState::Connecting)
                | (false, SessionState::Connecting)
                | (_, SessionState::Interrupted)
        );
        if !allowed {
            let what = if offer { "sdp offer" } else { "sdp answer" };
            return Err(conflict(
                &format!("{what} not allowed in state {}", state.name()),
                &m.session_id,
            ));
        }
        if offer && state == SessionState::Accepted {
            self.set_state(
                &m.session_id,
                SessionState::Connecting,
                Some(now + self.config.negotiation_timeout),
            );
        }
        self.forward_sdp(&opponent, m, offer);
        Ok(())
    }

    /// Sends `m` to player `to` as an `sdp_offer_received` or `sdp_answer_received`: the
    /// relay step shared by match and spectator sessions, after their own checks.
    pub(super) fn forward_sdp(&mut self, to: &str, m: SdpRelay, offer: bool) {
        let relayed = SdpReceived {
            sender_id: m.sender_id,
            sdp: m.sdp,
            session_id: m.session_id,
        };
        let msg = if offer {
            ServerMessage::SdpOfferReceived(relayed)
        } else {
            ServerMessage::SdpAnswerReceived(relayed)
        };
        self.send_player(to, msg);
    }

    fn relay_ice(&mut self, sender: &str, m: IceRelay) -> Handled {
        let opponent = self.ice_target(sender, &m.sender_id, &m.session_id, &m.receiver_id)?;
        self.send_player(
            &opponent,
            ServerMessage::IceCandidateReceived(IceCandidateReceived {
                sender_id: m.sender_id,
                candidate: m.candidate,
                session_id: m.session_id,
            }),
        );
        Ok(())
    }

    /// Checks an ICE relay from `sender` (also used by [`Hub::ice_route`]); returns the
    /// opponent's player id.
    pub(super) fn ice_target(
        &self,
        sender: &str,
        sender_id: &str,
        session_id: &str,
        receiver_id: &str,
    ) -> Result<String, Refusal> {
        require_self(sender, sender_id)?;
        let (state, opponent) = self.member_session(sender, session_id, Some(receiver_id))?;
        if state == SessionState::Requested {
            return Err(conflict("ice candidate before accept", session_id));
        }
        Ok(opponent)
    }

    fn report_connection(&mut self, sender: &str, m: ReportConnection, now: Instant) -> Handled {
        require_self(sender, &m.player_id)?;
        let sid = m.session_id;
        let (state, _) = self.member_session(sender, &sid, None)?;
        if state == SessionState::Relaying {
            self.report_relaying(sender, &sid, m.state);
            return Ok(());
        }
        if matches!(state, SessionState::Connected | SessionState::Interrupted) {
            return self.report_in_match(sender, &sid, state, m.state, now);
        }
        if !matches!(state, SessionState::Accepted | SessionState::Connecting) {
            return Err(conflict(
                &format!("report not allowed in state {}", state.name()),
                &sid,
            ));
        }
        match m.state {
            ConnectionState::Failed => {
                self.relay_or_fail(&sid, FailReason::ConnectionFailed, now);
                return Ok(());
            }
            ConnectionState::Relay => return self.request_relay(&sid, now),
            ConnectionState::Connected => {}
        }
        let both = self
            .sessions
            .get_mut(&sid)
            .is_some_and(|s| s.mark_connected(sender));
        if both {
            self.start_match(&sid);
        }
        Ok(())
    }

    /// Both players reported `connected`: the match runs; both get `match_started`.
    pub(super) fn start_match(&mut self, sid: &str) {
        let Some((requester, target, link)) = self
            .sessions
            .get(sid)
            .map(|s| (s.requester.clone(), s.target.clone(), s.link))
        else {
            return;
        };
        self.set_state(sid, SessionState::Connected, None);
        for (me, other) in [(&requester, &target), (&target, &requester)] {
            let opponent_name = self.name_of(other);
            self.send_player(
                me,
                ServerMessage::MatchStarted(MatchStarted {
                    opponent_id: other.clone(),
                    opponent_name,
                    session_id: sid.to_owned(),
                    link,
                }),
            );
        }
    }

    fn end_match(&mut self, sender: &str, m: EndMatch, now: Instant) -> Handled {
        require_self(sender, &m.player_id)?;
        let sid = m.session_id;
        let (state, opponent) = self.member_session(sender, &sid, None)?;
        if !matches!(state, SessionState::Connected | SessionState::Interrupted) {
            return Err(conflict(
                &format!("end_match not allowed in state {}", state.name()),
                &sid,
            ));
        }
        self.remove_session(&sid, now);
        self.send_player(
            &opponent,
            ServerMessage::MatchEnded(MatchEnded {
                session_id: sid,
                reason: EndReason::Ended,
            }),
        );
        Ok(())
    }
}
