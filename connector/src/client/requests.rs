//! How a request reports its outcome: a queued callback, or a oneshot for the async forms.
//! The driver keeps one [`Pending`] per seq handed out by the [`Connection`](crate::connection::Connection)
//! and completes it exactly once.

use tokio::sync::oneshot;

use super::events::{Event, EventQueue, ReplyCallback};
use crate::error::ConnectorError;
use crate::packet::Packet;

/// How a request reports its outcome.
pub(crate) enum Completion {
    /// A callback for `main_thread_action()`, registered at this event-queue epoch (dropped
    /// if `clear_cache` ran since).
    Callback(ReplyCallback, u64),
    Async(oneshot::Sender<Result<Packet, ConnectorError>>),
    /// Like `Async`, but a server error code is returned as `Ok(reply)` (header included).
    AsyncRaw(oneshot::Sender<Result<Packet, ConnectorError>>),
}

/// A request in flight.
pub(crate) struct Pending {
    pub(crate) request: Packet,
    pub(crate) stage_id: i64,
    pub(crate) completion: Completion,
}

/// Delivers the outcome of a request exactly once.
pub(crate) fn complete(
    events: &EventQueue,
    completion: Completion,
    stage_id: i64,
    request: Packet,
    result: Result<Packet, u16>,
) {
    match (completion, result) {
        (Completion::Callback(cb, epoch), Ok(reply)) => {
            events.push_callback(Event::Reply(cb, reply), epoch)
        }
        (Completion::Callback(_, epoch), Err(code)) => {
            events.push_callback(Event::Error(stage_id, code, request), epoch)
        }
        (Completion::Async(tx) | Completion::AsyncRaw(tx), result) => {
            let _ = tx.send(result.map_err(|error_code| ConnectorError {
                stage_id,
                error_code,
                msg_id: request.msg_id().to_owned(),
            }));
        }
    }
}

impl Pending {
    pub(crate) fn finish(self, events: &EventQueue, result: Result<Packet, u16>) {
        complete(events, self.completion, self.stage_id, self.request, result);
    }
}
