//! The crate's error type.

use std::time::Duration;

use signal::protocol::CancelReason;

/// Everything that can go wrong between joining the lobby and the end of a match.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The signaling client failed (connect, handshake, send).
    #[error("signaling: {0}")]
    Signal(#[from] signal::client::ClientError),
    /// The signaling connection closed while it was still needed.
    #[error("signaling connection closed")]
    SignalClosed,
    /// The server refused a message (`error {code, message}`).
    #[error("server error {code}: {message}")]
    Server {
        /// The protocol error code (400, 403, 404, 409, ...).
        code: u16,
        /// The server's message.
        message: String,
    },
    /// Our challenge was declined (`declined`, `expired`, `busy`) or cancelled.
    #[error("match request declined: {0}")]
    Declined(String),
    /// The request we were accepting is gone: its requester withdrew it (cancelled it, even
    /// just after our accept; left the lobby; started another match) or it expired. Arrives
    /// as soon as the server says so (`match_request_cancelled`), not after a timeout.
    #[error("challenge from {requester_id} {}", withdrawal_text(*.reason))]
    RequestWithdrawn {
        /// Who had challenged us.
        requester_id: String,
        /// The withdrawn session.
        session_id: String,
        /// Why, as the server said (`None`: it gave no reason).
        reason: Option<CancelReason>,
    },
    /// The server reported the negotiation failed (`match_failed`) or the opponent left.
    #[error("match failed: {0}")]
    MatchFailed(String),
    /// A phase did not finish in time.
    #[error("{phase} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        phase: &'static str,
        /// The configured limit.
        after: Duration,
    },
    /// The WebRTC stack failed (SDP, ICE, DTLS, SCTP).
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    /// The peer connection failed or closed during negotiation.
    #[error("peer connection {0}")]
    Connection(String),
    /// The remote side sent something that does not fit the protocol (bad candidate JSON...).
    #[error("protocol: {0}")]
    Protocol(String),
    /// Standard ICE found no usable network interface (a host with only loopback).
    #[error(
        "no network interface for standard ICE ({0}): this host seems to have only loopback; \
         use loopback ICE (`--loopback`, `IceConfig::loopback()`) to play on this machine"
    )]
    NoNetwork(String),
    /// The peer's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// What happened to a withdrawn challenge, in words (after "challenge from ID": lobby
/// screens and bots show it).
pub fn withdrawal_text(reason: Option<CancelReason>) -> &'static str {
    match reason {
        Some(CancelReason::Cancelled) | None => "withdrawn",
        Some(CancelReason::RequesterLeft) => "withdrawn: they left the lobby",
        Some(CancelReason::Busy) => "withdrawn: they started another match",
        Some(CancelReason::Expired) => "expired",
    }
}
