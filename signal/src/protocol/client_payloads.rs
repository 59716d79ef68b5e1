//! Payloads of client → server messages.

use serde::{Deserialize, Serialize};

/// The lobby a `join_lobby` without a `lobby` field enters.
pub const DEFAULT_LOBBY: &str = "main";
/// Maximum length of a lobby name (characters of `[A-Za-z0-9_.-]`).
pub const MAX_LOBBY_NAME_CHARS: usize = 64;

/// True for a valid lobby name: 1–64 characters of `[A-Za-z0-9_.-]`.
pub fn is_valid_lobby_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LOBBY_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// How a lobby member is kept up to date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LobbyUpdates {
    /// A full `lobby_update` after every change (the seed's behaviour, the default).
    #[default]
    Snapshot,
    /// One full `lobby_update` with a version, then `lobby_delta`s.
    Delta,
}

/// `join_lobby` payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinLobby {
    /// Must equal the authenticated identity.
    pub player_id: String,
    /// Display name; trimmed, 1–32 characters.
    pub player_name: String,
    /// The lobby to enter ([`DEFAULT_LOBBY`] when absent); joining another lobby moves the
    /// player there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<String>,
    /// Update mode ([`LobbyUpdates::Snapshot`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<LobbyUpdates>,
}

impl JoinLobby {
    /// Joins the default lobby in snapshot mode.
    pub fn new(player_id: impl Into<String>, player_name: impl Into<String>) -> Self {
        Self {
            player_id: player_id.into(),
            player_name: player_name.into(),
            lobby: None,
            updates: None,
        }
    }

    /// The same request for the named lobby.
    pub fn in_lobby(mut self, lobby: impl Into<String>) -> Self {
        self.lobby = Some(lobby.into());
        self
    }

    /// The same request with the given update mode.
    pub fn with_updates(mut self, updates: LobbyUpdates) -> Self {
        self.updates = Some(updates);
        self
    }

    /// The lobby this request names ([`DEFAULT_LOBBY`] when absent).
    pub fn lobby_name(&self) -> &str {
        self.lobby.as_deref().unwrap_or(DEFAULT_LOBBY)
    }
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
    /// Skip peer-to-peer and use the relay at once (a client that knows UDP is blocked);
    /// 409 when the server has no relay.
    Relay,
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
