//! The async driver of one connection: connects the transport, then loops over commands from
//! the [`Connector`](crate::Connector) handle, received bytes and timers. It owns the request
//! tracker and the liveness schedule; every pending request completes exactly once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::ConnectorConfig;
use super::events::{Event, EventQueue, ReplyCallback};
use super::liveness::{Liveness, LivenessAction};
use crate::codec::{self, CodecLimits, ServerPacket, HEARTBEAT_MSG_ID};
use crate::error::{ConnectorError, DISCONNECTED, REQUEST_TIMEOUT};
use crate::packet::{Packet, ReceivedHeader};
use crate::tracker::RequestTracker;
use crate::transport::{TcpTransport, Transport, TransportError, TransportRead, WsTransport};

/// How long a closing connection may take to flush what was queued.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// How a request reports its outcome.
pub(crate) enum Completion {
    Callback(ReplyCallback),
    Async(oneshot::Sender<Result<Packet, ConnectorError>>),
    /// Like `Async`, but a server error code is returned as `Ok(reply)` (header included).
    AsyncRaw(oneshot::Sender<Result<Packet, ConnectorError>>),
}

/// A request on its way to the driver: the encoded frame (seq still 0) and its bookkeeping.
pub(crate) struct OutgoingRequest {
    pub(crate) frame: BytesMut,
    pub(crate) request: Packet,
    pub(crate) stage_id: i64,
    pub(crate) completion: Completion,
    pub(crate) is_auth: bool,
}

/// Commands from the handle to the driver.
pub(crate) enum Command {
    Send(Bytes),
    Request(Box<OutgoingRequest>),
    ClearCache,
    Close,
}

pub(crate) struct ActiveLink {
    pub(crate) generation: u64,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) connected: bool,
    pub(crate) authenticated: bool,
}

#[derive(Default)]
pub(crate) struct LinkState {
    pub(crate) auth_msg_id: Option<String>,
    pub(crate) active: Option<ActiveLink>,
    pub(crate) next_generation: u64,
}

/// State shared by the handle and the drivers.
pub(crate) struct Shared {
    pub(crate) config: ConnectorConfig,
    pub(crate) events: EventQueue,
    pub(crate) link: Mutex<LinkState>,
}

impl Shared {
    pub(crate) fn lock_link(&self) -> MutexGuard<'_, LinkState> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the active link if it is still generation `generation`.
    fn with_current<R>(&self, generation: u64, f: impl FnOnce(&mut ActiveLink) -> R) -> Option<R> {
        let mut state = self.lock_link();
        state
            .active
            .as_mut()
            .filter(|l| l.generation == generation)
            .map(f)
    }
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

/// Fails every command still queued for a link that is gone.
fn drain_commands(events: &EventQueue, commands: &mut mpsc::UnboundedReceiver<Command>) {
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        if let Command::Request(req) = cmd {
            let req = *req;
            complete(
                events,
                req.completion,
                req.stage_id,
                req.request,
                Err(DISCONNECTED),
            );
        }
    }
}

/// Connects, then drives the connection until it closes.
pub(crate) async fn run_link(
    shared: Arc<Shared>,
    generation: u64,
    mut commands: mpsc::UnboundedReceiver<Command>,
    debug_mode: bool,
    connected_tx: Option<oneshot::Sender<bool>>,
) {
    let cfg = shared.config.clone();
    let timeout = Duration::from_millis(cfg.connect_timeout_ms);
    let mut connected_tx = connected_tx;
    let timed_out = || TransportError::Io(std::io::ErrorKind::TimedOut.into());
    let failure = if cfg.use_websocket {
        let connecting =
            WsTransport::connect(&cfg.host, cfg.port, &cfg.ws_path, cfg.max_packet_len);
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(t)) => {
                let tx = connected_tx.take();
                drive(&shared, generation, t, &mut commands, debug_mode, tx).await;
                None
            }
            Ok(Err(e)) => Some(e),
            Err(_) => Some(timed_out()),
        }
    } else {
        match tokio::time::timeout(timeout, TcpTransport::connect(&cfg.host, cfg.port)).await {
            Ok(Ok(t)) => {
                let tx = connected_tx.take();
                drive(&shared, generation, t, &mut commands, debug_mode, tx).await;
                None
            }
            Ok(Err(e)) => Some(e),
            Err(_) => Some(timed_out()),
        }
    };
    if let Some(e) = failure {
        tracing::warn!(host = %cfg.host, port = cfg.port, error = %e, "connect failed");
        {
            let mut state = shared.lock_link();
            if state
                .active
                .as_ref()
                .is_some_and(|l| l.generation == generation)
            {
                state.active = None;
            }
        }
        shared.events.push(Event::Connected(false));
        if let Some(tx) = connected_tx {
            let _ = tx.send(false);
        }
    }
    drain_commands(&shared.events, &mut commands);
}

/// Why a connection loop ended.
#[derive(Debug)]
enum CloseReason {
    /// The application called `disconnect()` (or dropped the connector): no `on_disconnect`.
    Application,
    /// The server closed, the socket failed, a protocol error or the idle timeout.
    Remote(String),
}

struct Pending {
    request: Packet,
    stage_id: i64,
    completion: Completion,
    is_auth: bool,
    sent_at: Instant,
}

/// The per-connection loop state.
struct LinkDriver<'a> {
    shared: &'a Shared,
    generation: u64,
    limits: CodecLimits,
    tracker: RequestTracker<Pending>,
    liveness: Liveness,
    out: mpsc::UnboundedSender<Bytes>,
    request_timeout: Option<Duration>,
}

async fn drive<T: Transport>(
    shared: &Shared,
    generation: u64,
    transport: T,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    debug_mode: bool,
    connected_tx: Option<oneshot::Sender<bool>>,
) {
    let (mut reader, writer) = transport.split();
    let cfg = &shared.config;
    let auth_required = shared.lock_link().auth_msg_id.is_some();
    let current = shared
        .with_current(generation, |l| l.connected = true)
        .is_some();
    let (out, out_rx) = mpsc::unbounded_channel();
    let mut writer_task = tokio::spawn(crate::transport::write_loop(writer, out_rx));
    shared.events.push(Event::Connected(current));
    if let Some(tx) = connected_tx {
        let _ = tx.send(current);
    }
    if !current {
        drop(out);
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer_task).await;
        return;
    }
    let now = Instant::now();
    let mut link = LinkDriver {
        shared,
        generation,
        limits: cfg.limits(),
        tracker: RequestTracker::new(),
        liveness: Liveness::new(
            now,
            cfg.heartbeat_interval_ms,
            cfg.connection_idle_timeout_ms,
            debug_mode,
        ),
        out,
        request_timeout: (cfg.request_timeout_ms > 0)
            .then(|| Duration::from_millis(cfg.request_timeout_ms)),
    };
    if !auth_required {
        link.liveness.start_heartbeats(now);
    }
    let mut writer_done = false;
    let reason = link
        .run(&mut reader, commands, &mut writer_task, &mut writer_done)
        .await;
    link.finish(reason, (!writer_done).then_some(writer_task))
        .await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl LinkDriver<'_> {
    async fn run<R: TransportRead>(
        &mut self,
        reader: &mut R,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        writer_task: &mut JoinHandle<Result<(), TransportError>>,
        writer_done: &mut bool,
    ) -> CloseReason {
        let mut buf = BytesMut::with_capacity(crate::transport::READ_CHUNK);
        loop {
            let deadline = match (self.tracker.next_deadline(), self.liveness.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Close) => return CloseReason::Application,
                    Some(cmd) => self.on_command(cmd),
                },
                read = reader.read_into(&mut buf) => match read {
                    Ok(0) => return CloseReason::Remote("closed by server".into()),
                    Ok(_) => {
                        if let Err(e) = self.on_bytes(&mut buf) {
                            return CloseReason::Remote(e);
                        }
                    }
                    Err(e) => return CloseReason::Remote(e.to_string()),
                },
                _ = sleep_until(deadline) => {
                    if let Err(e) = self.on_timer() {
                        return CloseReason::Remote(e);
                    }
                }
                res = &mut *writer_task, if !*writer_done => {
                    *writer_done = true;
                    return CloseReason::Remote(format!("write failed: {res:?}"));
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Send(frame) => self.write(frame),
            Command::Request(req) => self.on_request(*req),
            Command::ClearCache => self
                .tracker
                .retain(|p| !matches!(p.completion, Completion::Callback(_))),
            Command::Close => {}
        }
    }

    fn write(&self, frame: Bytes) {
        if self.shared.config.turn_on_trace {
            tracing::debug!(len = frame.len(), "connector send");
        }
        let _ = self.out.send(frame);
    }

    fn on_request(&mut self, req: OutgoingRequest) {
        let now = Instant::now();
        let deadline = self
            .request_timeout
            .map_or(now + Duration::from_secs(365 * 24 * 3600), |t| now + t);
        let OutgoingRequest {
            mut frame,
            request,
            stage_id,
            completion,
            is_auth,
        } = req;
        let seq_at = codec::LEN_PREFIX + 1 + request.msg_id().len();
        let pending = Pending {
            request,
            stage_id,
            completion,
            is_auth,
            sent_at: now,
        };
        match self.tracker.insert(deadline, pending) {
            Ok(seq) => {
                if let Some(slot) = frame.get_mut(seq_at..seq_at + 2) {
                    slot.copy_from_slice(&seq.to_le_bytes());
                }
                self.write(frame.freeze());
            }
            Err(p) => complete(
                &self.shared.events,
                p.completion,
                p.stage_id,
                p.request,
                Err(DISCONNECTED),
            ),
        }
    }

    fn on_bytes(&mut self, buf: &mut BytesMut) -> Result<(), String> {
        self.liveness.on_received(Instant::now());
        loop {
            match codec::decode_server(buf, &self.limits) {
                Ok(Some(packet)) => self.on_packet(packet),
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "protocol error from server");
                    return Err(format!("protocol error: {e}"));
                }
            }
        }
    }

    fn on_packet(&mut self, p: ServerPacket) {
        if self.shared.config.turn_on_trace {
            tracing::debug!(msg_id = %p.msg_id, seq = p.seq, stage = p.stage_id, code = p.error_code, len = p.payload.len(), "connector recv");
        }
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
            self.shared.events.push(Event::Received(p.stage_id, packet));
            return;
        }
        let Some(pending) = self.tracker.complete(p.seq) else {
            tracing::debug!(
                seq = p.seq,
                "dropping reply for an unknown or timed-out request"
            );
            return;
        };
        if self.shared.config.enable_logging_response_time {
            tracing::info!(msg_id = %pending.request.msg_id(), rtt_us = pending.sent_at.elapsed().as_micros() as u64, "response time");
        }
        let raw = matches!(pending.completion, Completion::AsyncRaw(_));
        let result = if p.error_code == 0 || raw {
            if pending.is_auth && p.error_code == 0 {
                self.shared
                    .with_current(self.generation, |l| l.authenticated = true);
                self.liveness.start_heartbeats(Instant::now());
            }
            Ok(packet)
        } else {
            Err(p.error_code)
        };
        complete(
            &self.shared.events,
            pending.completion,
            pending.stage_id,
            pending.request,
            result,
        );
    }

    fn on_timer(&mut self) -> Result<(), String> {
        let now = Instant::now();
        for (_, p) in self.tracker.expire(now) {
            complete(
                &self.shared.events,
                p.completion,
                p.stage_id,
                p.request,
                Err(REQUEST_TIMEOUT),
            );
        }
        match self.liveness.poll(now) {
            LivenessAction::Idle => Ok(()),
            LivenessAction::SendHeartbeat => {
                let mut frame = BytesMut::new();
                if codec::encode_client(HEARTBEAT_MSG_ID, 0, 0, &[], &mut frame).is_ok() {
                    self.write(frame.freeze());
                }
                Ok(())
            }
            LivenessAction::TimedOut => Err("idle timeout: nothing received".into()),
        }
    }

    async fn finish(
        self,
        reason: CloseReason,
        writer_task: Option<JoinHandle<Result<(), TransportError>>>,
    ) {
        if let CloseReason::Remote(why) = &reason {
            tracing::info!(%why, "connection closed");
        }
        let LinkDriver {
            shared,
            generation,
            mut tracker,
            out,
            ..
        } = self;
        drop(out);
        let still_current = {
            let mut state = shared.lock_link();
            let current = state
                .active
                .as_ref()
                .is_some_and(|l| l.generation == generation);
            if current {
                state.active = None;
            }
            current
        };
        for (_, p) in tracker.drain() {
            complete(
                &shared.events,
                p.completion,
                p.stage_id,
                p.request,
                Err(DISCONNECTED),
            );
        }
        if still_current && matches!(reason, CloseReason::Remote(_)) {
            shared.events.push(Event::Disconnected);
        }
        if let Some(mut writer_task) = writer_task {
            if tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, &mut writer_task)
                .await
                .is_err()
            {
                writer_task.abort();
            }
        }
    }
}
