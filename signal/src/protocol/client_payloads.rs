//! Payloads of client → server messages.

use serde::{Deserialize, Serialize};

/// `join_lobby` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinLobby {
    /// Must equal the authenticated identity.
    pub player_id: String,
    /// Display name; trimmed, 1–32 characters.
    pub player_name: String,
}

/// `leave_lobby` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaveLobby {
    /// Must equal the authenticated identity.
    pub player_id: String,
}

/// `request_match` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMatch {
    /// Must equal the authenticated identity.
    pub requester_id: String,
    /// An `available` lobby member.
    pub target_id: String,
}

/// `accept_match` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptMatch {
    /// Must equal the authenticated identity (the target of the request).
    pub accepter_id: String,
    /// Who asked.
    pub requester_id: String,
    /// Optional; when given it must name the pending request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `decline_match` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclineMatch {
    /// Must equal the authenticated identity (the target of the request).
    pub decliner_id: String,
    /// Who asked.
    pub requester_id: String,
    /// Optional; when given it must name the pending request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `cancel_match_request` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelMatchRequest {
    /// Must equal the authenticated identity.
    pub requester_id: String,
    /// The target of the pending request.
    pub target_id: String,
    /// The pending request.
    pub session_id: String,
}

/// `send_sdp_offer` / `send_sdp_answer` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SdpRelay {
    /// Must equal the authenticated identity.
    pub sender_id: String,
    /// The opponent in the session.
    pub receiver_id: String,
    /// Opaque SDP text.
    pub sdp: String,
    /// The match session.
    pub session_id: String,
}

/// `send_ice_candidate` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceRelay {
    /// Must equal the authenticated identity.
    pub sender_id: String,
    /// The opponent in the session.
    pub receiver_id: String,
    /// An `RTCIceCandidateInit` object, relayed verbatim.
    pub candidate: serde_json::Value,
    /// The match session.
    pub session_id: String,
}

/// Outcome of the peer-to-peer connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// The data channel is open.
    Connected,
    /// The connection could not be established.
    Failed,
}

/// `report_connection` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportConnection {
    /// Must equal the authenticated identity.
    pub player_id: String,
    /// The match session.
    pub session_id: String,
    /// `connected` or `failed`.
    pub state: ConnectionState,
}

/// `end_match` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndMatch {
    /// Must equal the authenticated identity.
    pub player_id: String,
    /// The running match.
    pub session_id: String,
}
