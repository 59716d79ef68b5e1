//! Payloads of server → client messages.

use serde::{Deserialize, Serialize};

/// `welcome` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    /// The authenticated identity (the token's `sub`).
    pub player_id: String,
    /// STUN/TURN servers for the client's RTCPeerConnection.
    pub ice_servers: Vec<IceServer>,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    /// `stun:host:port` / `turn:host:port` URLs.
    pub urls: Vec<String>,
    /// TURN username, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Lobby status of a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayerStatus {
    /// Free to be asked for a match.
    Available,
    /// In an accepted, negotiating or running match.
    InMatch,
    /// Watching another match as a spectator.
    Watching,
}

/// One row of a lobby snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LobbyPlayer {
    /// Player id.
    pub player_id: String,
    /// Display name.
    pub player_name: String,
    /// `available`, `in_match` or `watching`.
    pub status: PlayerStatus,
}

/// `lobby_update` payload: the whole lobby.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LobbyUpdate {
    /// The lobby's name (delta mode only; absent in snapshot mode, as in the seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lobby: Option<String>,
    /// The version this snapshot is at (delta mode only): the next `lobby_delta` has
    /// `version + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Every lobby member, sorted by player id.
    pub players: Vec<LobbyPlayer>,
}

/// `lobby_delta` payload: what changed since `version - 1` (delta mode only). A player id
/// appears in at most one of the three lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LobbyDelta {
    /// The lobby's name.
    pub lobby: String,
    /// Exactly one more than the version of the previous update of this lobby.
    pub version: u64,
    /// Players who entered, sorted by player id.
    #[serde(default)]
    pub added: Vec<LobbyPlayer>,
    /// Ids of players who left, sorted.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Players whose name or status changed (the whole new row), sorted by player id.
    #[serde(default)]
    pub changed: Vec<LobbyPlayer>,
}

impl LobbyDelta {
    /// True when the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// `match_request_sent` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequestSent {
    /// Who was asked.
    pub target_id: String,
    /// The new session.
    pub session_id: String,
}

/// `match_request_received` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequestReceived {
    /// Who asks.
    pub requester_id: String,
    /// Their display name.
    pub requester_name: String,
    /// The new session.
    pub session_id: String,
}

/// `match_request_accepted` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequestAccepted {
    /// Who accepted.
    pub accepter_id: String,
    /// Their display name.
    pub accepter_name: String,
    /// The session.
    pub session_id: String,
}

/// Why a request did not lead to a match (sent to the requester).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// The target declined (or left the lobby).
    Declined,
    /// Nobody answered in time.
    Expired,
    /// The target accepted another match.
    Busy,
}

/// `match_request_declined` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequestDeclined {
    /// The target of the request.
    pub decliner_id: String,
    /// Their display name.
    pub decliner_name: String,
    /// The session.
    pub session_id: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DeclineReason>,
}

/// Why a request was withdrawn (sent to the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The requester cancelled it.
    Cancelled,
    /// The requester left the lobby or disconnected.
    RequesterLeft,
    /// The requester accepted another match.
    Busy,
    /// Nobody answered in time.
    Expired,
}

/// `match_request_cancelled` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequestCancelled {
    /// Who had asked.
    pub requester_id: String,
    /// The session.
    pub session_id: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CancelReason>,
}

/// `sdp_offer_received` / `sdp_answer_received` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SdpReceived {
    /// The opponent.
    pub sender_id: String,
    /// Opaque SDP text.
    pub sdp: String,
    /// The session.
    pub session_id: String,
}

/// `ice_candidate_received` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateReceived {
    /// The opponent.
    pub sender_id: String,
    /// The `RTCIceCandidateInit` object as the opponent sent it.
    pub candidate: serde_json::Value,
    /// The session.
    pub session_id: String,
}

/// `match_started` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchStarted {
    /// The other player.
    pub opponent_id: String,
    /// Their display name.
    pub opponent_name: String,
    /// The session.
    pub session_id: String,
}

/// Why a negotiation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// Not connected within the negotiation timeout.
    Timeout,
    /// The opponent disconnected.
    PeerDisconnected,
    /// A player reported `failed`.
    ConnectionFailed,
}

/// `match_failed` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchFailed {
    /// The session.
    pub session_id: String,
    /// Why.
    pub reason: FailReason,
}

/// Why a running match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The opponent sent `end_match`.
    Ended,
    /// The opponent disconnected.
    PeerDisconnected,
}

/// `match_ended` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchEnded {
    /// The session.
    pub session_id: String,
    /// Why.
    pub reason: EndReason,
}

/// `error` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// One of [`super::ErrorCode`] as a number (400, 403, 404, 409, 413, 429, 500).
    pub code: u16,
    /// Human-readable reason.
    pub message: String,
    /// The session the offending message named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}
