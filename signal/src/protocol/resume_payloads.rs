//! Payloads of the resume messages: a running match whose link or signaling connection
//! dropped is `interrupted`, renegotiated within the same session, and `resumed`.

use serde::{Deserialize, Serialize};

/// `resume_match` payload (client → server): "my game link to the opponent is down, let us
/// renegotiate it in this session". Also sent by a player whose WebSocket came back and
/// whose link is down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeMatch {
    /// Must equal the authenticated identity.
    pub player_id: String,
    /// The running (or interrupted) match.
    pub session_id: String,
}

/// Why a running match is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptReason {
    /// A player reported its game link down (`resume_match`, or `report_connection failed`
    /// while connected): both renegotiate (the requester offers again).
    ConnectionFailed,
    /// A player's WebSocket dropped. The game link may still be up: a player whose link is
    /// up keeps playing and answers `report_connection connected`.
    SignalingLost,
}

/// `match_interrupted` payload (server → both players, and to a player whose WebSocket
/// reconnects while its match is interrupted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchInterrupted {
    /// The session.
    pub session_id: String,
    /// Why.
    pub reason: InterruptReason,
}

/// `match_resumed` payload (server → both players): both reported `connected` again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchResumed {
    /// The session.
    pub session_id: String,
}
