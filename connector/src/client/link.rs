//! The I/O side of one open connection shared by the application threads and the driver:
//! the request table (seq → pending request) and the [`Outbox`]. Requests are registered
//! and written from the calling thread (no task hop on the way out); the driver completes
//! them on replies, timeouts and close. Once closed, the table refuses new requests, so
//! every request completes exactly once.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::events::{Event, EventQueue, ReplyCallback};
use crate::codec;
use crate::error::{ConnectorError, DISCONNECTED};
use crate::packet::Packet;
use crate::tracker::RequestTracker;
use crate::transport::Outbox;

/// How a request reports its outcome.
pub(crate) enum Completion {
    Callback(ReplyCallback),
    Async(oneshot::Sender<Result<Packet, ConnectorError>>),
    /// Like `Async`, but a server error code is returned as `Ok(reply)` (header included).
    AsyncRaw(oneshot::Sender<Result<Packet, ConnectorError>>),
}

/// A request in flight.
pub(crate) struct Pending {
    pub(crate) request: Packet,
    pub(crate) stage_id: i64,
    pub(crate) completion: Completion,
    pub(crate) is_auth: bool,
    pub(crate) sent_at: Instant,
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
        (Completion::Callback(cb), Ok(reply)) => events.push(Event::Reply(cb, reply)),
        (Completion::Callback(_), Err(code)) => events.push(Event::Error(stage_id, code, request)),
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

/// The request table; `closed` once the connection is gone.
pub(crate) struct Requests {
    pub(crate) tracker: RequestTracker<Pending>,
    pub(crate) closed: bool,
}

/// Shared I/O state of one open connection.
pub(crate) struct LinkIo {
    pub(crate) outbox: Outbox,
    requests: Mutex<Requests>,
    request_timeout: Option<Duration>,
    trace: bool,
}

/// Far-future deadline used when request timeouts are disabled.
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl LinkIo {
    pub(crate) fn new(outbox: Outbox, request_timeout_ms: u64, trace: bool) -> Self {
        Self {
            outbox,
            requests: Mutex::new(Requests {
                tracker: RequestTracker::new(),
                closed: false,
            }),
            request_timeout: (request_timeout_ms > 0)
                .then(|| Duration::from_millis(request_timeout_ms)),
            trace,
        }
    }

    pub(crate) fn requests(&self) -> MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Writes one packet; false when the connection is gone. A lone packet is written
    /// directly (latency); while requests are in flight packets go through the writer task
    /// so a burst is coalesced (throughput).
    pub(crate) fn write(&self, frame: Bytes) -> bool {
        let idle = self.requests().tracker.is_empty();
        self.write_with(frame, idle)
    }

    fn write_with(&self, frame: Bytes, direct: bool) -> bool {
        if self.trace {
            tracing::debug!(len = frame.len(), "connector send");
        }
        self.outbox.send_with(frame, direct)
    }

    /// Registers a request (assigning its seq inside `frame`) and writes it.
    pub(crate) fn submit(&self, events: &EventQueue, mut frame: BytesMut, pending: Pending) {
        let now = Instant::now();
        let deadline = now + self.request_timeout.unwrap_or(NO_TIMEOUT);
        let seq_at = codec::LEN_PREFIX + 1 + pending.request.msg_id().len();
        let pending = Pending {
            sent_at: now,
            ..pending
        };
        let mut requests = self.requests();
        if requests.closed {
            drop(requests);
            return pending.finish(events, Err(DISCONNECTED));
        }
        match requests.tracker.insert(deadline, pending) {
            Ok(seq) => {
                let alone = requests.tracker.len() == 1;
                drop(requests);
                if let Some(slot) = frame.get_mut(seq_at..seq_at + 2) {
                    slot.copy_from_slice(&seq.to_le_bytes());
                }
                // a failed write closes the connection; the driver then fails the request
                self.write_with(frame.freeze(), alone);
            }
            Err(pending) => {
                drop(requests);
                pending.finish(events, Err(DISCONNECTED));
            }
        }
    }

    /// Closes the table and fails everything still pending with `DISCONNECTED`.
    pub(crate) fn close(&self, events: &EventQueue) {
        let drained = {
            let mut requests = self.requests();
            requests.closed = true;
            requests.tracker.drain()
        };
        for (_, p) in drained {
            p.finish(events, Err(DISCONNECTED));
        }
    }
}
