//! Wire types of the signaling protocol (`docs/spec/signaling.md` in the repository).
//!
//! Every frame is one JSON object `{"type": "<snake_case name>", "payload": {...}}` with
//! camelCase payload fields. Unknown extra fields are ignored when parsing. SDP is an opaque
//! string and ICE candidates are relayed verbatim as JSON values: this crate never looks
//! inside them.

use serde::{Deserialize, Serialize};

mod client_payloads;
mod resume_payloads;
mod server_payloads;
mod spectate_payloads;

pub use client_payloads::*;
pub use resume_payloads::*;
pub use server_payloads::*;
pub use spectate_payloads::*;

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Enter the lobby (or rename when already in it).
    JoinLobby(JoinLobby),
    /// Leave the lobby; cancels the player's pending requests.
    LeaveLobby(LeaveLobby),
    /// Ask another lobby member for a match.
    RequestMatch(RequestMatch),
    /// Accept a match request (target only).
    AcceptMatch(AcceptMatch),
    /// Decline a match request (target only).
    DeclineMatch(DeclineMatch),
    /// Withdraw one's own pending request (requester only).
    CancelMatchRequest(CancelMatchRequest),
    /// Relay an SDP offer to the opponent.
    SendSdpOffer(SdpRelay),
    /// Relay an SDP answer to the opponent.
    SendSdpAnswer(SdpRelay),
    /// Relay an ICE candidate to the opponent.
    SendIceCandidate(IceRelay),
    /// Tell the server whether the peer-to-peer connection came up.
    ReportConnection(ReportConnection),
    /// Finish a running match; both players become available again.
    EndMatch(EndMatch),
    /// Renegotiate the link of a running or interrupted match in the same session.
    ResumeMatch(ResumeMatch),
    /// Watch the running match of another player (a spectator session).
    WatchMatch(WatchMatch),
}

impl ClientMessage {
    /// The wire name of this message (`"join_lobby"`, ...), used for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::JoinLobby(_) => "join_lobby",
            Self::LeaveLobby(_) => "leave_lobby",
            Self::RequestMatch(_) => "request_match",
            Self::AcceptMatch(_) => "accept_match",
            Self::DeclineMatch(_) => "decline_match",
            Self::CancelMatchRequest(_) => "cancel_match_request",
            Self::SendSdpOffer(_) => "send_sdp_offer",
            Self::SendSdpAnswer(_) => "send_sdp_answer",
            Self::SendIceCandidate(_) => "send_ice_candidate",
            Self::ReportConnection(_) => "report_connection",
            Self::EndMatch(_) => "end_match",
            Self::ResumeMatch(_) => "resume_match",
            Self::WatchMatch(_) => "watch_match",
        }
    }

    /// Parses one text frame. Errors carry a short human-readable reason.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection: identity and ICE servers.
    Welcome(Welcome),
    /// Snapshot of the lobby (debounced and coalesced).
    LobbyUpdate(LobbyUpdate),
    /// Changes to the lobby since the previous version (delta mode).
    LobbyDelta(LobbyDelta),
    /// To the requester: the request exists and has this session id.
    MatchRequestSent(MatchRequestSent),
    /// To the target: someone asks for a match.
    MatchRequestReceived(MatchRequestReceived),
    /// To the requester: the target accepted.
    MatchRequestAccepted(MatchRequestAccepted),
    /// To the requester: declined, expired, or the target became busy.
    MatchRequestDeclined(MatchRequestDeclined),
    /// To the target: the requester withdrew (or left, or became busy, or it expired).
    MatchRequestCancelled(MatchRequestCancelled),
    /// Relayed SDP offer.
    SdpOfferReceived(SdpReceived),
    /// Relayed SDP answer.
    SdpAnswerReceived(SdpReceived),
    /// Relayed ICE candidate.
    IceCandidateReceived(IceCandidateReceived),
    /// To both: both peers reported `connected`.
    MatchStarted(MatchStarted),
    /// To both: the negotiation failed or timed out.
    MatchFailed(MatchFailed),
    /// To the opponent: the running match ended.
    MatchEnded(MatchEnded),
    /// To the sender of an offending message.
    Error(ErrorPayload),
    /// To both: the running match is interrupted (link or WebSocket down).
    MatchInterrupted(MatchInterrupted),
    /// To both: the interrupted match runs again.
    MatchResumed(MatchResumed),
    /// To a watcher: its spectator session, and the host to negotiate with.
    WatchStarted(WatchStarted),
    /// To a host: a watcher will negotiate a spectator session with it.
    SpectatorJoined(SpectatorJoined),
}

impl ServerMessage {
    /// The wire name of this message (`"lobby_update"`, ...), used for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Welcome(_) => "welcome",
            Self::LobbyUpdate(_) => "lobby_update",
            Self::LobbyDelta(_) => "lobby_delta",
            Self::MatchRequestSent(_) => "match_request_sent",
            Self::MatchRequestReceived(_) => "match_request_received",
            Self::MatchRequestAccepted(_) => "match_request_accepted",
            Self::MatchRequestDeclined(_) => "match_request_declined",
            Self::MatchRequestCancelled(_) => "match_request_cancelled",
            Self::SdpOfferReceived(_) => "sdp_offer_received",
            Self::SdpAnswerReceived(_) => "sdp_answer_received",
            Self::IceCandidateReceived(_) => "ice_candidate_received",
            Self::MatchStarted(_) => "match_started",
            Self::MatchFailed(_) => "match_failed",
            Self::MatchEnded(_) => "match_ended",
            Self::Error(_) => "error",
            Self::MatchInterrupted(_) => "match_interrupted",
            Self::MatchResumed(_) => "match_resumed",
            Self::WatchStarted(_) => "watch_started",
            Self::SpectatorJoined(_) => "spectator_joined",
        }
    }

    /// The session this message is about, if any.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::Welcome(_) | Self::LobbyUpdate(_) | Self::LobbyDelta(_) => None,
            Self::MatchRequestSent(m) => Some(&m.session_id),
            Self::MatchRequestReceived(m) => Some(&m.session_id),
            Self::MatchRequestAccepted(m) => Some(&m.session_id),
            Self::MatchRequestDeclined(m) => Some(&m.session_id),
            Self::MatchRequestCancelled(m) => Some(&m.session_id),
            Self::SdpOfferReceived(m) | Self::SdpAnswerReceived(m) => Some(&m.session_id),
            Self::IceCandidateReceived(m) => Some(&m.session_id),
            Self::MatchStarted(m) => Some(&m.session_id),
            Self::MatchFailed(m) => Some(&m.session_id),
            Self::MatchEnded(m) => Some(&m.session_id),
            Self::Error(e) => e.session_id.as_deref(),
            Self::MatchInterrupted(m) => Some(&m.session_id),
            Self::MatchResumed(m) => Some(&m.session_id),
            Self::WatchStarted(m) => Some(&m.session_id),
            Self::SpectatorJoined(m) => Some(&m.session_id),
        }
    }
}

/// The wire error codes, in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 400: not JSON, unknown type, missing or ill-typed field, bad name.
    BadRequest,
    /// 403: an id that is not the sender's, or a session the sender is not in.
    Forbidden,
    /// 404: unknown player, or unknown / finished session.
    NotFound,
    /// 409: transition not allowed, target busy, replaced connection.
    Conflict,
    /// 413: message over the size limit.
    TooLarge,
    /// 429: over the per-connection rate limit.
    RateLimited,
    /// 500: internal error.
    Internal,
    /// 503: cluster mode only; the node lost Redis, so nothing that needs the cluster
    /// can be done until it reconnects.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for metrics and tests.
    pub const ALL: [ErrorCode; 8] = [
        Self::BadRequest,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::TooLarge,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The numeric code sent on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// Builds the `error` message for this code.
    pub fn message(self, text: impl Into<String>, session_id: Option<String>) -> ServerMessage {
        ServerMessage::Error(ErrorPayload {
            code: self.as_u16(),
            message: text.into(),
            session_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_message_uses_spec_names_and_camel_case() {
        let msg = ClientMessage::AcceptMatch(AcceptMatch {
            accepter_id: "b".into(),
            requester_id: "a".into(),
            session_id: None,
        });
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            text,
            r#"{"type":"accept_match","payload":{"accepterId":"b","requesterId":"a"}}"#
        );
    }

    #[test]
    fn unknown_extra_fields_are_ignored() {
        let text = r#"{"type":"join_lobby","extra":1,"payload":{"playerId":"a","playerName":"A","x":[1]}}"#;
        let msg = ClientMessage::parse(text).unwrap();
        assert_eq!(msg.kind(), "join_lobby");
    }

    #[test]
    fn wrong_field_types_and_unknown_types_are_errors() {
        assert!(ClientMessage::parse(
            r#"{"type":"join_lobby","payload":{"playerId":1,"playerName":"A"}}"#
        )
        .is_err());
        assert!(ClientMessage::parse(r#"{"type":"fly","payload":{}}"#).is_err());
        assert!(ClientMessage::parse("not json").is_err());
    }

    #[test]
    fn server_messages_round_trip() {
        let msg = ServerMessage::MatchRequestDeclined(MatchRequestDeclined {
            decliner_id: "b".into(),
            decliner_name: "B".into(),
            session_id: "s".into(),
            reason: Some(DeclineReason::Expired),
        });
        let text = serde_json::to_string(&msg).unwrap();
        assert!(text.contains(r#""reason":"expired""#), "{text}");
        assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), msg);
    }

    #[test]
    fn ice_candidate_is_relayed_verbatim() {
        let text = r#"{"type":"send_ice_candidate","payload":{"senderId":"a","receiverId":"b","sessionId":"s","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}}}"#;
        let ClientMessage::SendIceCandidate(relay) = ClientMessage::parse(text).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(relay.candidate["sdpMLineIndex"], 0);
        assert!(relay.candidate["usernameFragment"].is_null());
    }
}
