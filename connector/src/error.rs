//! Error codes (one table) and the typed error of the async API.

use thiserror::Error;

/// Local error codes of the connector (the seed's `ConnectorErrorCode`). Any other non-zero
/// code comes from the server header and is passed through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ConnectorErrorCode {
    /// Not connected, or the connection closed while the request was pending.
    Disconnected = 60201,
    /// No reply within `request_timeout_ms`.
    RequestTimeout = 60202,
    /// An authenticate msgId is set and this message is not it, before authentication.
    Unauthenticated = 60203,
    /// Extension of this crate: the packet cannot be encoded (msgId empty or longer than 255
    /// bytes, or packet larger than the configured maximum). Nothing is written.
    InvalidPacket = 60204,
    /// Extension of this crate: the connection's bounded send queue is full (the socket is
    /// not draining). Nothing is written; retry later.
    Backpressure = 60205,
}

impl ConnectorErrorCode {
    /// The numeric code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The local code for `code`, or `None` for a server-defined code.
    pub fn from_code(code: u16) -> Option<Self> {
        [
            Self::Disconnected,
            Self::RequestTimeout,
            Self::Unauthenticated,
            Self::InvalidPacket,
            Self::Backpressure,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// `DISCONNECTED` (60201).
pub const DISCONNECTED: u16 = ConnectorErrorCode::Disconnected.code();
/// `REQUEST_TIMEOUT` (60202).
pub const REQUEST_TIMEOUT: u16 = ConnectorErrorCode::RequestTimeout.code();
/// `UNAUTHENTICATED` (60203).
pub const UNAUTHENTICATED: u16 = ConnectorErrorCode::Unauthenticated.code();
/// `INVALID_PACKET` (60204, an extension of this crate).
pub const INVALID_PACKET: u16 = ConnectorErrorCode::InvalidPacket.code();

/// `BACKPRESSURE` (60205, an extension of this crate).
pub const BACKPRESSURE: u16 = ConnectorErrorCode::Backpressure.code();

/// A failed request of the async API (the seed's `ConnectorException`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("request {msg_id} (stage {stage_id}) failed with error code {error_code}")]
pub struct ConnectorError {
    /// Stage the request was sent to (0 = none).
    pub stage_id: i64,
    /// A [`ConnectorErrorCode`] or a server-defined code.
    pub error_code: u16,
    /// MsgId of the original request.
    pub msg_id: String,
}

impl ConnectorError {
    /// The local code, if this is not a server-defined error.
    pub fn local_code(&self) -> Option<ConnectorErrorCode> {
        ConnectorErrorCode::from_code(self.error_code)
    }
}
