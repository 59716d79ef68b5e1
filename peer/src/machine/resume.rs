//! Resuming a running match: when the game link fails mid-match (ICE failure, the channel
//! or the peer connection closes) the machine asks the server to resume (`resume_match`),
//! builds a fresh peer connection and renegotiates in the same session, with backoff,
//! until [`MachineConfig::resume_timeout`](super::MachineConfig::resume_timeout). The
//! requester offers again; the accepter answers every new offer with a fresh peer
//! connection. The socket handed to the game is not touched: only the channel under it is
//! swapped. The game hears [`MatchEvent::Interrupted`] and [`MatchEvent::Resumed`], or a
//! final [`MatchEvent::Closed`] with [`CloseReason::ResumeTimeout`].
//!
//! A dropped *signaling* connection does not interrupt anything: a peer whose game link is
//! up answers `match_interrupted signaling_lost` with `report_connection connected`.

use std::time::{Duration, Instant};

use signal::protocol::{
    ClientMessage, ConnectionState, EndReason, InterruptReason, ReportConnection, ResumeMatch,
    ServerMessage,
};

use super::{Action, MatchMachine, Phase, Running, MAX_PENDING_CANDIDATES};
use crate::link::{CloseReason, MatchEvent, Role};

/// Default time an interrupted match may take to come back (the server's default too).
pub const DEFAULT_RESUME_TIMEOUT: Duration = Duration::from_secs(20);
/// The requester gives one renegotiation attempt this long before it starts another.
pub const RESUME_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before the second attempt; it doubles per attempt up to [`MAX_RESUME_BACKOFF`].
pub const FIRST_RESUME_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between two attempts.
pub const MAX_RESUME_BACKOFF: Duration = Duration::from_secs(1);

/// The renegotiation in progress while a running match is interrupted.
#[derive(Debug)]
pub(super) struct Resuming {
    started: Instant,
    deadline: Instant,
    attempts: u32,
    /// When the current attempt is given up (requester only).
    attempt_deadline: Option<Instant>,
    /// When the next attempt starts (after a failed one).
    retry_at: Option<Instant>,
    created: bool,
    early_offer: Option<String>,
    remote_described: bool,
    pending_candidates: Vec<serde_json::Value>,
}

impl Resuming {
    fn new(now: Instant, timeout: Duration) -> Self {
        Self {
            started: now,
            deadline: now + timeout,
            attempts: 0,
            attempt_deadline: None,
            retry_at: None,
            created: false,
            early_offer: None,
            remote_described: false,
            pending_candidates: Vec::new(),
        }
    }

    pub(super) fn next_deadline(&self) -> Instant {
        [self.attempt_deadline, self.retry_at]
            .into_iter()
            .flatten()
            .fold(self.deadline, Instant::min)
    }
}

/// Pause before attempt `attempts + 1`: 250 ms, 500 ms, 1 s, 1 s, ...
pub(super) fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RESUME_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_RESUME_BACKOFF)
}

impl MatchMachine {
    fn running_mut(&mut self) -> Option<&mut Running> {
        match &mut self.phase {
            Phase::Running(running) if !running.over => Some(running),
            _ => None,
        }
    }

    fn resuming_mut(&mut self) -> Option<&mut Resuming> {
        self.running_mut()?.resume.as_mut()
    }

    /// Whether the running match is being renegotiated.
    pub fn is_resuming(&self) -> bool {
        matches!(&self.phase, Phase::Running(r) if !r.over && r.resume.is_some())
    }

    /// How many renegotiation attempts the current interruption has made (0 if none).
    pub fn resume_attempts(&self) -> u32 {
        match &self.phase {
            Phase::Running(r) => r.resume.as_ref().map_or(0, |r| r.attempts),
            _ => 0,
        }
    }

    fn role(&self) -> Option<Role> {
        match &self.phase {
            Phase::Running(r) => Some(r.role),
            Phase::Negotiating(n) => Some(n.pairing.role),
            _ => None,
        }
    }

    fn resume_message(&self) -> Option<ClientMessage> {
        let Phase::Running(running) = &self.phase else {
            return None;
        };
        Some(ClientMessage::ResumeMatch(ResumeMatch {
            player_id: self.config.player_id.clone(),
            session_id: running.session_id.clone(),
        }))
    }

    /// The running link went down (or an attempt to bring it back failed).
    pub(super) fn running_link_down(&mut self, now: Instant, event: MatchEvent) {
        let resume_on = !self.config.resume_timeout.is_zero();
        let Some(running) = self.running_mut() else {
            return;
        };
        if running.resume.is_some() {
            return self.attempt_failed(now);
        }
        if !resume_on || running.session_gone {
            return self.link_over(event);
        }
        self.start_resuming(now);
    }

    fn start_resuming(&mut self, now: Instant) {
        let timeout = self.config.resume_timeout;
        let Some(running) = self.running_mut() else {
            return;
        };
        tracing::warn!(session = %running.session_id, "game link down: resuming");
        running.resume = Some(Resuming::new(now, timeout));
        self.actions
            .push_back(Action::Emit(MatchEvent::Interrupted));
        if let Some(message) = self.resume_message() {
            self.signal(message);
        }
        self.begin_attempt(now);
    }

    /// A fresh peer connection for the next attempt (the requester then offers).
    fn begin_attempt(&mut self, now: Instant) {
        let offerer = self.role() == Some(Role::Offerer);
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        resume.attempts = resume.attempts.saturating_add(1);
        resume.created = false;
        resume.remote_described = false;
        resume.pending_candidates.clear();
        resume.retry_at = None;
        resume.attempt_deadline = offerer.then(|| now + RESUME_ATTEMPT_TIMEOUT);
        tracing::debug!(attempt = resume.attempts, "resume attempt");
        self.actions.push_back(Action::CloseTransport);
        self.actions.push_back(Action::CreateTransport);
    }

    /// The current attempt failed: close it and try again after the backoff.
    pub(super) fn attempt_failed(&mut self, now: Instant) {
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        if resume.retry_at.is_some() {
            return;
        }
        resume.attempt_deadline = None;
        resume.retry_at = Some(now + backoff(resume.attempts));
        self.actions.push_back(Action::CloseTransport);
    }

    /// Deadlines while running: the resume timeout, the attempt timeout, the next attempt.
    pub(super) fn running_timeout(&mut self, now: Instant) {
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        if now >= resume.deadline {
            tracing::warn!(
                attempts = resume.attempts,
                "the link did not come back in time"
            );
            self.actions.push_back(Action::CloseTransport);
            return self.link_over(MatchEvent::Closed(CloseReason::ResumeTimeout));
        }
        if resume.attempt_deadline.is_some_and(|at| now >= at) {
            return self.attempt_failed(now);
        }
        if resume.retry_at.is_some_and(|at| now >= at) {
            self.begin_attempt(now);
        }
    }

    /// The new peer connection exists: offer (requester) or answer a waiting offer.
    pub(super) fn resume_created(&mut self) {
        let offerer = self.role() == Some(Role::Offerer);
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        resume.created = true;
        if offerer {
            self.actions.push_back(Action::CreateOffer);
        } else if let Some(offer) = resume.early_offer.take() {
            self.actions.push_back(Action::AnswerOffer(offer));
        }
    }

    /// The remote description is set: the candidates kept so far can be added.
    pub(super) fn resume_remote_described(&mut self) {
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        resume.remote_described = true;
        for candidate in std::mem::take(&mut resume.pending_candidates) {
            self.actions.push_back(Action::AddCandidate(candidate));
        }
    }

    /// The channel is open again: tell the server and the game.
    pub(super) fn resume_opened(&mut self, now: Instant) {
        let me = self.config.player_id.clone();
        let Some(running) = self.running_mut() else {
            return;
        };
        let Some(resume) = running.resume.take() else {
            return;
        };
        let after = now.saturating_duration_since(resume.started);
        tracing::info!(?after, attempts = resume.attempts, "game link resumed");
        let report = ReportConnection {
            player_id: me,
            session_id: running.session_id.clone(),
            state: ConnectionState::Connected,
        };
        self.signal(ClientMessage::ReportConnection(report));
        self.actions.push_back(Action::Nudge);
        self.actions
            .push_back(Action::Emit(MatchEvent::Resumed { after }));
    }

    fn report_connected(&mut self) {
        let player_id = self.config.player_id.clone();
        let Some(running) = self.running_mut() else {
            return;
        };
        let report = ReportConnection {
            player_id,
            session_id: running.session_id.clone(),
            state: ConnectionState::Connected,
        };
        self.signal(ClientMessage::ReportConnection(report));
    }

    /// The signaling connection is back (a new WebSocket, same identity).
    pub fn handle_signal_reopened(&mut self, _now: Instant) {
        self.signal_alive = true;
        if self.is_resuming() {
            if let Some(message) = self.resume_message() {
                self.signal(message);
            }
        }
    }

    /// Server messages about the running match; returns the ones it does not handle.
    pub(super) fn resume_signal(
        &mut self,
        now: Instant,
        message: ServerMessage,
    ) -> Option<ServerMessage> {
        let role = self.role();
        let resume_on = !self.config.resume_timeout.is_zero();
        let resuming = self.is_resuming();
        match message {
            ServerMessage::SdpOfferReceived(offer) if role == Some(Role::Answerer) => {
                if !resuming {
                    // The opponent renegotiates: our link is down too, or about to be.
                    self.start_resuming(now);
                }
                self.resume_offer(now, offer.sdp);
            }
            ServerMessage::SdpAnswerReceived(answer) if role == Some(Role::Offerer) => {
                if self.resuming_mut().is_some_and(|r| r.created) {
                    self.actions.push_back(Action::AcceptAnswer(answer.sdp));
                    self.resume_remote_described();
                }
            }
            ServerMessage::IceCandidateReceived(candidate) => match self.resuming_mut() {
                Some(resume) if !resume.remote_described => {
                    if resume.pending_candidates.len() < MAX_PENDING_CANDIDATES {
                        resume.pending_candidates.push(candidate.candidate);
                    }
                }
                _ => self
                    .actions
                    .push_back(Action::AddCandidate(candidate.candidate)),
            },
            ServerMessage::MatchInterrupted(interrupted) => match interrupted.reason {
                InterruptReason::ConnectionFailed if !resuming && resume_on => {
                    self.start_resuming(now);
                }
                InterruptReason::SignalingLost if !resuming => self.report_connected(),
                InterruptReason::SignalingLost => {
                    if let Some(message) = self.resume_message() {
                        self.signal(message);
                    }
                }
                InterruptReason::ConnectionFailed => {}
            },
            ServerMessage::MatchResumed(_) => tracing::debug!("the server says the match runs"),
            ServerMessage::MatchEnded(ended) => {
                let reason = match ended.reason {
                    EndReason::Ended => CloseReason::OpponentEnded,
                    EndReason::PeerDisconnected => CloseReason::OpponentDisconnected,
                };
                if ended.reason == EndReason::PeerDisconnected && !resuming && resume_on {
                    // The server gave up on the session, but our game link is up: play on
                    // (the opponent's own link tells if it is really gone).
                    tracing::info!("the server ended the session; the match goes on peer to peer");
                    if let Some(running) = self.running_mut() {
                        running.session_gone = true;
                    }
                    return None;
                }
                if resuming {
                    self.actions.push_back(Action::CloseTransport);
                }
                self.link_over(MatchEvent::Closed(reason));
            }
            ServerMessage::Error(error) if resuming => {
                tracing::warn!(code = error.code, message = %error.message, "resume refused");
                self.actions.push_back(Action::CloseTransport);
                self.link_over(MatchEvent::Closed(CloseReason::ResumeRefused(
                    error.message,
                )));
            }
            other => return Some(other),
        }
        None
    }

    /// An offer from the requester while resuming: answer it on a fresh peer connection.
    fn resume_offer(&mut self, now: Instant, sdp: String) {
        let Some(resume) = self.resuming_mut() else {
            return;
        };
        if resume.created && !resume.remote_described && resume.retry_at.is_none() {
            self.actions.push_back(Action::AnswerOffer(sdp));
            return;
        }
        resume.early_offer = Some(sdp);
        if resume.created || resume.retry_at.is_some() {
            // A new attempt by the requester: start over with a fresh connection.
            self.begin_attempt(now);
        }
    }
}
