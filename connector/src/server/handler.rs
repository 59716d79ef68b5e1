//! The handler API of the reference server: one closure per msgId, called with a
//! [`RequestContext`] and the packet; it returns an [`Outcome`].

use std::sync::Arc;

use crate::packet::Packet;

use super::session::SessionHandle;
use super::ServerHandle;

/// Error code the server answers with for a request whose msgId has no handler.
pub const ERROR_UNHANDLED_MSG_ID: u16 = 404;
/// Error code for a request to a new stage when [`ServerConfig::max_stages`] stages exist,
/// or to a stage that already has [`ServerConfig::max_stage_members`] members.
///
/// [`ServerConfig::max_stages`]: super::ServerConfig::max_stages
/// [`ServerConfig::max_stage_members`]: super::ServerConfig::max_stage_members
pub const ERROR_STAGE_FULL: u16 = 503;

/// A message handler.
pub type Handler = Arc<dyn Fn(&RequestContext, Packet) -> Outcome + Send + Sync>;

/// What a handler wants done with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Reply with this packet (error code 0). Ignored for one-way sends (seq 0).
    Reply(Packet),
    /// Reply with the conventional reply msgId, an empty payload and this error code.
    Error(u16),
    /// Do not reply now (the handler may call [`RequestContext::reply`] later, or never).
    NoReply,
}

/// The reply msgId for a request msgId: a trailing `Request` becomes `Reply`, otherwise
/// `Reply` is appended.
pub fn reply_msg_id(request_msg_id: &str) -> String {
    match request_msg_id.strip_suffix("Request") {
        Some(stem) => format!("{stem}Reply"),
        None => format!("{request_msg_id}Reply"),
    }
}

/// Everything a handler knows about one incoming packet.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) session: SessionHandle,
    pub(crate) server: ServerHandle,
    pub(crate) msg_id: String,
    pub(crate) seq: u16,
    pub(crate) stage_id: i64,
    pub(crate) is_auth: bool,
}

impl RequestContext {
    /// The session the packet came from.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// The server (for broadcasts and statistics).
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// The request's msgId.
    pub fn msg_id(&self) -> &str {
        &self.msg_id
    }

    /// The request's seq (0 = one-way send).
    pub fn seq(&self) -> u16 {
        self.seq
    }

    /// The request's stage id (0 = none).
    pub fn stage_id(&self) -> i64 {
        self.stage_id
    }

    /// The conventional reply msgId for this request.
    pub fn reply_msg_id(&self) -> String {
        reply_msg_id(&self.msg_id)
    }

    /// Replies (now or later) with `packet`, echoing seq and stage id.
    pub fn reply(&self, packet: Packet) -> bool {
        self.reply_with_code(packet, 0)
    }

    /// Replies with an error code, the conventional reply msgId and an empty payload.
    pub fn reply_error(&self, error_code: u16) -> bool {
        self.reply_with_code(Packet::empty(self.reply_msg_id()), error_code)
    }

    /// Replies with `packet` **and** a non-zero header error code (PlayHouse answers a failed
    /// authentication this way: the reply message plus the code).
    pub fn reply_with_error(&self, packet: Packet, error_code: u16) -> bool {
        self.reply_with_code(packet, error_code)
    }

    fn reply_with_code(&self, packet: Packet, error_code: u16) -> bool {
        if self.seq == 0 {
            return false;
        }
        if self.is_auth && error_code == 0 {
            self.session.mark_authenticated();
        }
        self.session
            .write(&packet, self.seq, self.stage_id, error_code)
    }

    pub(crate) fn apply(&self, outcome: Outcome) {
        match outcome {
            Outcome::Reply(packet) => {
                self.reply(packet);
            }
            Outcome::Error(code) => {
                self.reply_error(code);
            }
            Outcome::NoReply => {}
        }
    }
}
