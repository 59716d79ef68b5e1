//! One client connection as a sans-IO state machine (the quinn-proto shape): bytes and the
//! current time go in, frames to write, events and the next deadline come out. It owns the
//! request tracker, the heartbeat/idle schedule, the authentication gate and the read
//! buffer; it never touches a socket, a clock or a task.
//!
//! The driving loop (what [`Connector`](crate::Connector)'s one driver task does):
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use connector::codec;
//! use connector::connection::{Connection, ConnectionConfig, ConnectionEvent};
//! use connector::Packet;
//!
//! let now = Instant::now();
//! let mut conn = Connection::new(now, ConnectionConfig::default());
//! let seq = conn.send_request(now, 7, &Packet::new("EchoRequest", vec![1])).unwrap();
//! while let Some(frame) = conn.poll_transmit() {
//!     // write `frame` to the socket; here the "server" answers it directly
//!     let mut buf = BytesMut::from(&frame[..]);
//!     let req = codec::decode_client(&mut buf, &Default::default()).unwrap().unwrap();
//!     let mut reply = BytesMut::new();
//!     codec::encode_server("EchoReply", req.seq, req.stage_id, 0, &req.payload, None, &mut reply).unwrap();
//!     conn.handle_bytes(now, &reply); // bytes read from the socket
//! }
//! match conn.poll_event() {
//!     Some(ConnectionEvent::Reply { seq: s, packet, .. }) => {
//!         assert_eq!((s, packet.msg_id()), (seq, "EchoReply"))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // sleep until `conn.poll_timeout()`, then call `conn.handle_timeout(now)`
//! assert!(conn.poll_timeout().is_some());
//! ```
//!
//! ## Bounds
//! - Frames waiting to be written: at most [`ConnectionConfig::max_queued_transmit_bytes`];
//!   a request or send that does not fit fails with [`LocalError::TransmitQueueFull`]
//!   (nothing is queued), a heartbeat that does not fit is skipped.
//! - Requests in flight: 65,535 (the sequence space); one more fails with
//!   [`LocalError::TooManyRequests`].
//! - The read buffer holds at most one partial frame: [`poll_event`](Connection::poll_event)
//!   decodes lazily, one packet at a time, so the driver drains events after each
//!   [`handle_bytes`](Connection::handle_bytes) and before reading more.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use crate::client::config::ConnectorConfig;
use crate::client::liveness::{Liveness, LivenessAction};
use crate::codec::{self, CodecLimits, DecodeError, EncodeError, HEARTBEAT_MSG_ID};
use crate::error::ConnectorErrorCode;
use crate::packet::{Packet, ReceivedHeader};
use crate::tracker::RequestTracker;

/// A request's sequence number (1..=65535; 0 is a one-way send or a push).
pub type Seq = u16;

/// Default bound on bytes queued for writing: 8 MiB (four maximum-size packets).
pub const DEFAULT_MAX_QUEUED_TRANSMIT_BYTES: usize = 8 * 1024 * 1024;

/// Far-future deadline used when request timeouts are disabled.
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Settings of one [`Connection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Decoder limits.
    pub limits: CodecLimits,
    /// Fail a request with 60202 after this long (`None`: never).
    pub request_timeout: Option<Duration>,
    /// Heartbeat interval in ms (0 disables).
    pub heartbeat_interval_ms: u64,
    /// Idle timeout in ms (0 disables).
    pub idle_timeout_ms: u64,
    /// Disables heartbeats and the idle timeout.
    pub debug_mode: bool,
    /// The authenticate msgId; until a request with it succeeds, nothing else is sent.
    pub auth_msg_id: Option<String>,
    /// Bound on bytes waiting in [`Connection::poll_transmit`]
    /// ([`DEFAULT_MAX_QUEUED_TRANSMIT_BYTES`]).
    pub max_queued_transmit_bytes: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self::from_connector(&ConnectorConfig::default(), None, false)
    }
}

impl ConnectionConfig {
    /// The connection settings of a [`ConnectorConfig`].
    pub fn from_connector(
        cfg: &ConnectorConfig,
        auth_msg_id: Option<String>,
        debug_mode: bool,
    ) -> Self {
        Self {
            limits: cfg.limits(),
            request_timeout: (cfg.request_timeout_ms > 0)
                .then(|| Duration::from_millis(cfg.request_timeout_ms)),
            heartbeat_interval_ms: cfg.heartbeat_interval_ms,
            idle_timeout_ms: cfg.connection_idle_timeout_ms,
            debug_mode,
            auth_msg_id,
            max_queued_transmit_bytes: DEFAULT_MAX_QUEUED_TRANSMIT_BYTES
                .max(cfg.max_packet_len.saturating_add(codec::LEN_PREFIX)),
        }
    }
}

/// Why the connection refused to send something (nothing was queued).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LocalError {
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// An authenticate msgId is set, this is not it, and authentication has not succeeded.
    #[error("not authenticated")]
    Unauthenticated,
    /// The packet cannot be encoded or exceeds the maximum packet size.
    #[error("invalid packet: {0}")]
    InvalidPacket(#[from] EncodeError),
    /// 65,535 requests are already in flight.
    #[error("too many requests in flight")]
    TooManyRequests,
    /// The write queue is full (the socket is not draining).
    #[error("transmit queue full")]
    TransmitQueueFull,
}

impl LocalError {
    /// The connector error code reported to the application for this failure.
    pub fn code(&self) -> ConnectorErrorCode {
        match self {
            Self::Closed | Self::TooManyRequests => ConnectorErrorCode::Disconnected,
            Self::Unauthenticated => ConnectorErrorCode::Unauthenticated,
            Self::InvalidPacket(_) => ConnectorErrorCode::InvalidPacket,
            Self::TransmitQueueFull => ConnectorErrorCode::Backpressure,
        }
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// [`Connection::close`] was called (the application disconnected).
    Local,
    /// The peer closed the stream or the transport failed.
    Transport(String),
    /// The server sent bytes that are not a valid packet.
    Protocol(DecodeError),
    /// Nothing arrived for the idle timeout.
    IdleTimeout,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("closed by the application"),
            Self::Transport(why) => write!(f, "transport: {why}"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::IdleTimeout => f.write_str("idle timeout: nothing received"),
        }
    }
}

/// What the connection tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A push (seq 0) from the server.
    Push {
        /// Stage id of the push.
        stage_id: i64,
        /// The packet (header included).
        packet: Packet,
    },
    /// The reply to request `seq`; a non-zero server error code is in the packet header.
    Reply {
        /// The request's seq.
        seq: Seq,
        /// The reply (header included).
        packet: Packet,
        /// Time from `send_request` to the reply.
        rtt: Duration,
    },
    /// Request `seq` completed without a reply (timeout, or the connection closed).
    RequestFailed {
        /// The request's seq.
        seq: Seq,
        /// `RequestTimeout` or `Disconnected`.
        code: ConnectorErrorCode,
    },
    /// The authenticate request succeeded (comes right before its `Reply`).
    Authenticated,
    /// The connection is closed; every pending request has been failed before this event.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy)]
struct RequestInfo {
    is_auth: bool,
    sent_at: Instant,
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Replies whose seq was not pending (late, unknown or duplicate), dropped.
    pub unknown_replies: u64,
    /// Heartbeats skipped because the write queue was full.
    pub skipped_heartbeats: u64,
}

/// One client connection, sans-IO. See the [module docs](self) for the driving loop.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    tracker: RequestTracker<RequestInfo>,
    liveness: Liveness,
    authenticated: bool,
    read_buf: BytesMut,
    transmits: VecDeque<Bytes>,
    transmit_bytes: usize,
    events: VecDeque<ConnectionEvent>,
    closed: bool,
    stats: ConnectionStats,
}

impl Connection {
    /// A connection that has just been established at `now`.
    pub fn new(now: Instant, config: ConnectionConfig) -> Self {
        let mut liveness = Liveness::new(
            now,
            config.heartbeat_interval_ms,
            config.idle_timeout_ms,
            config.debug_mode,
        );
        if config.auth_msg_id.is_none() {
            liveness.start_heartbeats(now);
        }
        Self {
            config,
            tracker: RequestTracker::new(),
            liveness,
            authenticated: false,
            read_buf: BytesMut::new(),
            transmits: VecDeque::new(),
            transmit_bytes: 0,
            events: VecDeque::new(),
            closed: false,
            stats: ConnectionStats::default(),
        }
    }

    /// Changes the authenticate msgId (takes effect for the next send).
    pub fn set_auth_msg_id(&mut self, msg_id: Option<String>) {
        self.config.auth_msg_id = msg_id;
    }

    /// Whether an authenticate request succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of requests in flight.
    pub fn pending_requests(&self) -> usize {
        self.tracker.len()
    }

    /// The counters.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    fn admit(&self, msg_id: &str) -> Result<(), LocalError> {
        if self.closed {
            return Err(LocalError::Closed);
        }
        match &self.config.auth_msg_id {
            Some(auth) if !self.authenticated && auth != msg_id => Err(LocalError::Unauthenticated),
            _ => Ok(()),
        }
    }

    /// Checks the limits that [`encode`](Self::encode) checks, in its order, without encoding.
    fn check_frame(&self, packet: &Packet) -> Result<(), LocalError> {
        let id = packet.msg_id().len();
        if !(1..=255).contains(&id) {
            return Err(EncodeError::MsgIdLength(id).into());
        }
        let len = codec::CLIENT_FIXED + id + packet.payload().len();
        let field_max = i32::MAX as usize;
        let max = self.config.limits.max_packet_len;
        if len > field_max {
            return Err(EncodeError::TooLarge {
                len,
                max: field_max,
            }
            .into());
        }
        if len > max {
            return Err(EncodeError::TooLarge { len, max }.into());
        }
        let frame = len + codec::LEN_PREFIX;
        if self.transmit_bytes.saturating_add(frame) > self.config.max_queued_transmit_bytes {
            return Err(LocalError::TransmitQueueFull);
        }
        Ok(())
    }

    fn encode(&self, seq: Seq, stage_id: i64, packet: &Packet) -> Result<Bytes, LocalError> {
        let mut frame = BytesMut::new();
        codec::encode_client(packet.msg_id(), seq, stage_id, packet.payload(), &mut frame)?;
        let len = frame.len() - codec::LEN_PREFIX;
        let max = self.config.limits.max_packet_len;
        if len > max {
            return Err(EncodeError::TooLarge { len, max }.into());
        }
        if self.transmit_bytes.saturating_add(frame.len()) > self.config.max_queued_transmit_bytes {
            return Err(LocalError::TransmitQueueFull);
        }
        Ok(frame.freeze())
    }

    fn queue(&mut self, frame: Bytes) {
        self.transmit_bytes = self.transmit_bytes.saturating_add(frame.len());
        self.transmits.push_back(frame);
    }

    /// Queues a request to `stage_id` (0 = none) and returns its seq. Its outcome arrives as
    /// exactly one `Reply` or `RequestFailed` event with that seq.
    pub fn send_request(
        &mut self,
        now: Instant,
        stage_id: i64,
        packet: &Packet,
    ) -> Result<Seq, LocalError> {
        self.request(now, stage_id, packet, false)
    }

    /// Queues the authenticate request (stage 0); its success unlocks everything else and
    /// starts the heartbeats.
    pub fn authenticate(&mut self, now: Instant, packet: &Packet) -> Result<Seq, LocalError> {
        self.request(now, 0, packet, true)
    }

    fn request(
        &mut self,
        now: Instant,
        stage_id: i64,
        packet: &Packet,
        is_auth: bool,
    ) -> Result<Seq, LocalError> {
        self.admit(packet.msg_id())?;
        // check every limit before taking a seq
        self.check_frame(packet)?;
        let timeout = self.config.request_timeout.unwrap_or(NO_TIMEOUT);
        let info = RequestInfo {
            is_auth,
            sent_at: now,
        };
        let seq = self
            .tracker
            .insert(now + timeout, info)
            .map_err(|_| LocalError::TooManyRequests)?;
        match self.encode(seq, stage_id, packet) {
            Ok(frame) => {
                self.queue(frame);
                Ok(seq)
            }
            Err(e) => {
                self.tracker.complete(seq);
                Err(e)
            }
        }
    }

    /// Queues a one-way message (seq 0) to `stage_id`.
    pub fn send(&mut self, stage_id: i64, packet: &Packet) -> Result<(), LocalError> {
        self.admit(packet.msg_id())?;
        let frame = self.encode(0, stage_id, packet)?;
        self.queue(frame);
        Ok(())
    }

    /// Forgets request `seq` without an event (its reply, if any, is dropped as unknown).
    pub fn forget_request(&mut self, seq: Seq) -> bool {
        self.tracker.complete(seq).is_some()
    }

    /// The next frame to write, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let frame = self.transmits.pop_front()?;
        self.transmit_bytes = self.transmit_bytes.saturating_sub(frame.len());
        Some(frame)
    }

    /// Bytes read from the transport at `now`. Decoding happens in
    /// [`poll_event`](Self::poll_event).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.closed || bytes.is_empty() {
            return;
        }
        self.liveness.on_received(now);
        self.read_buf.extend_from_slice(bytes);
    }

    /// The transport closed or failed.
    pub fn handle_transport_closed(&mut self, why: impl Into<String>) {
        self.close_with(CloseReason::Transport(why.into()));
    }

    /// Closes the connection: pending requests fail with `Disconnected`, then `Closed`.
    /// Frames already queued stay available to [`poll_transmit`](Self::poll_transmit).
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.read_buf = BytesMut::new();
        for (seq, _) in self.tracker.drain() {
            self.events.push_back(ConnectionEvent::RequestFailed {
                seq,
                code: ConnectorErrorCode::Disconnected,
            });
        }
        self.events.push_back(ConnectionEvent::Closed(reason));
    }

    /// The next event, decoding the next buffered packet when none is queued.
    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.closed {
                return None;
            }
            match codec::decode_server(&mut self.read_buf, &self.config.limits) {
                Ok(Some(p)) => self.on_packet(p),
                Ok(None) => return None,
                Err(e) => self.close_with(CloseReason::Protocol(e)),
            }
        }
    }

    fn on_packet(&mut self, p: codec::ServerPacket) {
        if p.msg_id == HEARTBEAT_MSG_ID {
            return;
        }
        let header = ReceivedHeader {
            seq: p.seq,
            stage_id: p.stage_id,
            error_code: p.error_code,
        };
        let packet = Packet::received(p.msg_id, p.payload, header);
        if p.seq == 0 {
            self.events.push_back(ConnectionEvent::Push {
                stage_id: p.stage_id,
                packet,
            });
            return;
        }
        let Some(info) = self.tracker.complete(p.seq) else {
            self.stats.unknown_replies = self.stats.unknown_replies.saturating_add(1);
            return;
        };
        if info.is_auth && p.error_code == 0 && !self.authenticated {
            self.authenticated = true;
            self.liveness
                .start_heartbeats(info.sent_at.max(self.last_now()));
            self.events.push_back(ConnectionEvent::Authenticated);
        }
        self.events.push_back(ConnectionEvent::Reply {
            seq: p.seq,
            packet,
            rtt: self.last_now().saturating_duration_since(info.sent_at),
        });
    }

    fn last_now(&self) -> Instant {
        self.liveness.last_received()
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let requests = self
            .config
            .request_timeout
            .and_then(|_| self.tracker.next_deadline());
        match (requests, self.liveness.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`: request timeouts, heartbeats, the idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.config.request_timeout.is_some() {
            for (seq, _) in self.tracker.expire(now) {
                self.events.push_back(ConnectionEvent::RequestFailed {
                    seq,
                    code: ConnectorErrorCode::RequestTimeout,
                });
            }
        }
        match self.liveness.poll(now) {
            LivenessAction::Idle => {}
            LivenessAction::SendHeartbeat => {
                match self.encode(0, 0, &Packet::empty(HEARTBEAT_MSG_ID)) {
                    Ok(frame) => self.queue(frame),
                    Err(_) => {
                        self.stats.skipped_heartbeats =
                            self.stats.skipped_heartbeats.saturating_add(1);
                    }
                }
            }
            LivenessAction::TimedOut => self.close_with(CloseReason::IdleTimeout),
        }
    }
}

#[cfg(test)]
mod tests;
