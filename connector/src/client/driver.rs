//! The one driver task of a connection: connects the transport, then drives the sans-IO
//! [`Connection`] (held in a [`LinkCore`] with the requests in flight) over received bytes,
//! writes that would block, queued commands and the connection's deadline; it completes
//! requests (reply, timeout, close).
//!
//! The handle runs a command itself, under the core's lock, when the lock is free and no
//! earlier command waits in the queue (the fast path): it steps the `Connection` and, on TCP,
//! writes the frame with a non-blocking write while the driver holds no unwritten bytes, so an
//! uncontended request costs no task hop. Otherwise the command goes through the bounded
//! command queue ([`COMMAND_QUEUE_CAPACITY`]) to the driver, which runs queued commands under
//! the same lock, so commands from one thread always run in the order they were issued.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::config::ConnectorConfig;
use super::events::{Event, EventQueue};
use super::requests::{complete, Completion, Pending};
use crate::connection::{CloseReason, Connection, ConnectionConfig, ConnectionEvent, Seq};
use crate::error::{BACKPRESSURE, DISCONNECTED};
use crate::packet::Packet;
use crate::transport::{
    DirectWrite, TcpTransport, Transport, TransportError, TransportRead, TransportWrite,
    WsTransport,
};

/// How long a closing connection may take to flush what was queued.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of the command queue from the handle to the driver: the sequence space, so a
/// burst of requests that the tracker could hold never fails on the queue. A command that
/// does not fit fails at once with `BACKPRESSURE` (60205).
pub const COMMAND_QUEUE_CAPACITY: usize = 65_536;
/// Queued commands handled per wake-up before the driver writes and reads again.
const COMMANDS_PER_TURN: usize = 256;
/// Frames moved from the connection to the writer at a time.
const FRAMES_PER_WRITE: usize = 256;

/// What the handle asks of the connection (run by the handle itself or by the driver).
pub(crate) enum Command {
    Request {
        stage_id: i64,
        packet: Packet,
        completion: Completion,
        is_auth: bool,
    },
    Send {
        stage_id: i64,
        packet: Packet,
        /// `None`: report a failure through `on_error`.
        result: Option<oneshot::Sender<Result<(), u16>>>,
    },
    SetAuth(Option<String>),
    /// Forget pending callback-style requests (`clear_cache`).
    ForgetCallbacks,
}

impl Command {
    /// Completes a command that never reached the connection with `code`.
    pub(crate) fn fail(self, events: &EventQueue, code: u16) {
        match self {
            Command::Request {
                stage_id,
                packet,
                completion,
                ..
            } => complete(events, completion, stage_id, packet, Err(code)),
            Command::Send {
                stage_id,
                packet,
                result,
            } => match result {
                Some(tx) => {
                    let _ = tx.send(Err(code));
                }
                None => events.push(Event::Error(stage_id, code, packet)),
            },
            Command::SetAuth(_) | Command::ForgetCallbacks => {}
        }
    }
}

pub(crate) struct ActiveLink {
    pub(crate) generation: u64,
    pub(crate) close: CancellationToken,
    /// Set once the transport is connected, together with `core`.
    pub(crate) connected: bool,
    pub(crate) authenticated: bool,
    /// The open connection; `None` until the transport is connected.
    pub(crate) core: Option<Arc<LinkCore>>,
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

    /// Forgets the active link if it is still generation `generation`; true if it was.
    fn clear_current(&self, generation: u64) -> bool {
        let mut state = self.lock_link();
        let current = state
            .active
            .as_ref()
            .is_some_and(|l| l.generation == generation);
        if current {
            state.active = None;
        }
        current
    }
}

/// Work that wakes other threads (completions, events); collected under the core's lock
/// and run after it is released.
enum Done {
    Finish(Pending, Result<Packet, u16>),
    Sent(oneshot::Sender<Result<(), u16>>, Result<(), u16>),
    Event(Event),
    Authenticated,
}

fn deliver(done: &mut Vec<Done>, shared: &Shared, generation: u64) {
    for d in done.drain(..) {
        match d {
            Done::Finish(p, result) => p.finish(&shared.events, result),
            Done::Sent(tx, result) => {
                let _ = tx.send(result);
            }
            Done::Event(e) => shared.events.push(e),
            Done::Authenticated => {
                shared.with_current(generation, |l| l.authenticated = true);
            }
        }
    }
}

/// One open connection: the sans-IO [`Connection`] and the requests in flight behind one
/// lock, used by the handle's fast path and by the driver task.
pub(crate) struct LinkCore {
    generation: u64,
    state: Mutex<CoreState>,
    /// Commands the handle could not run itself (bounded); the driver runs them under
    /// `state`'s lock.
    commands: mpsc::Sender<Command>,
    /// Wakes the driver: commands were queued, frames wait to be written, or the next
    /// deadline moved earlier.
    wake: Notify,
    /// Non-blocking writes from the caller's thread (TCP); `None`: only the driver writes.
    direct: Option<Arc<dyn DirectWrite>>,
}

struct CoreState {
    conn: Connection,
    pending: BTreeMap<Seq, Pending>,
    /// The driver holds bytes not yet written: only it may write now (keeps frame order).
    writing: bool,
    /// What a direct write could not write; the driver writes it before anything else.
    leftover: Option<Bytes>,
    /// The deadline the driver's timer is armed for.
    armed: Option<Instant>,
    trace: bool,
    log_rtt: bool,
}

impl LinkCore {
    fn lock(&self) -> MutexGuard<'_, CoreState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `cmd` on this connection: on the calling thread when the state is not locked and
    /// no earlier command waits in the queue, otherwise through the bounded queue (full:
    /// 60205; driver gone: 60201).
    pub(crate) fn submit(&self, cmd: Command, shared: &Shared) {
        let guard = match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        // a command still queued was issued earlier: this one must run after it
        let idle = self.commands.capacity() == self.commands.max_capacity();
        match guard.filter(|_| idle) {
            Some(mut st) => {
                let mut done = Vec::new();
                self.run_here(&mut st, cmd, &mut done);
                drop(st);
                deliver(&mut done, shared, self.generation);
            }
            None => match self.commands.try_send(cmd) {
                Ok(()) => self.wake.notify_one(),
                Err(mpsc::error::TrySendError::Full(cmd)) => cmd.fail(&shared.events, BACKPRESSURE),
                Err(mpsc::error::TrySendError::Closed(cmd)) => {
                    cmd.fail(&shared.events, DISCONNECTED)
                }
            },
        }
    }

    /// The fast path: steps the connection, then writes its frames from this thread when the
    /// driver holds no unwritten bytes and (for a request) no other request is in flight;
    /// requests issued while others are in flight are left to the driver, which writes them
    /// together.
    fn run_here(&self, st: &mut CoreState, cmd: Command, done: &mut Vec<Done>) {
        let may_write = match &cmd {
            Command::Request { .. } => st.conn.pending_requests() == 0,
            Command::Send { .. } => true,
            Command::SetAuth(_) | Command::ForgetCallbacks => return st.run(cmd, done),
        };
        st.run(cmd, done);
        let mut wake = st
            .conn
            .poll_timeout()
            .is_some_and(|d| st.armed.is_none_or(|a| d < a));
        match self.direct.as_ref().filter(|_| may_write && !st.writing) {
            Some(direct) => wake |= st.write_direct(direct.as_ref()),
            None => wake = true,
        }
        if wake {
            self.wake.notify_one();
        }
    }
}

impl CoreState {
    /// Runs one command against the connection.
    fn run(&mut self, cmd: Command, done: &mut Vec<Done>) {
        match cmd {
            Command::Request {
                stage_id,
                packet,
                completion,
                is_auth,
            } => {
                let now = Instant::now();
                let sent = if is_auth {
                    self.conn.authenticate(now, &packet)
                } else {
                    self.conn.send_request(now, stage_id, &packet)
                };
                let pending = Pending {
                    request: packet,
                    stage_id,
                    completion,
                };
                match sent {
                    Ok(seq) => {
                        self.pending.insert(seq, pending);
                    }
                    Err(e) => done.push(Done::Finish(pending, Err(e.code().code()))),
                }
            }
            Command::Send {
                stage_id,
                packet,
                result,
            } => {
                let sent = self
                    .conn
                    .send(stage_id, &packet)
                    .map_err(|e| e.code().code());
                match (sent, result) {
                    (r, Some(tx)) => done.push(Done::Sent(tx, r)),
                    (Ok(()), None) => {}
                    (Err(code), None) => {
                        done.push(Done::Event(Event::Error(stage_id, code, packet)))
                    }
                }
            }
            Command::SetAuth(auth) => self.conn.set_auth_msg_id(auth),
            Command::ForgetCallbacks => {
                let conn = &mut self.conn;
                self.pending.retain(|seq, p| {
                    let keep = !matches!(p.completion, Completion::Callback(..));
                    if !keep {
                        conn.forget_request(*seq);
                    }
                    keep
                });
            }
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        let frame = self.conn.poll_transmit()?;
        if self.trace {
            tracing::debug!(len = frame.len(), "connector send");
        }
        Some(frame)
    }

    /// Writes every queued frame with one non-blocking write; what does not fit (or fails)
    /// is left to the driver. True when the driver must be woken.
    fn write_direct(&mut self, direct: &dyn DirectWrite) -> bool {
        let Some(first) = self.next_frame() else {
            return false;
        };
        let bytes = match self.next_frame() {
            None => first,
            Some(second) => {
                let mut buf = BytesMut::with_capacity(first.len() + second.len());
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&second);
                while let Some(f) = self.next_frame() {
                    buf.extend_from_slice(&f);
                }
                buf.freeze()
            }
        };
        let written = match direct.try_write_now(&bytes) {
            Ok(n) => n.min(bytes.len()),
            // WouldBlock, or an error that the driver's own write will report
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => 0,
        };
        if written == bytes.len() {
            return false;
        }
        self.leftover = Some(bytes.slice(written..));
        self.writing = true;
        true
    }

    /// Moves frames to the driver's write queue, what a direct write left over first.
    fn refill(&mut self, out: &mut VecDeque<Bytes>) {
        if let Some(rest) = self.leftover.take() {
            out.push_front(rest);
        }
        while out.len() < FRAMES_PER_WRITE {
            match self.next_frame() {
                Some(frame) => out.push_back(frame),
                None => break,
            }
        }
    }

    /// Turns the connection's events into completions; the close reason once closed.
    fn poll_events(&mut self, done: &mut Vec<Done>) -> Option<CloseReason> {
        let mut closed = None;
        while let Some(event) = self.conn.poll_event() {
            match event {
                ConnectionEvent::Push { stage_id, packet } => {
                    self.trace_recv(&packet);
                    done.push(Done::Event(Event::Received(stage_id, packet)));
                }
                ConnectionEvent::Reply { seq, packet, rtt } => {
                    self.on_reply(seq, packet, rtt, done)
                }
                ConnectionEvent::RequestFailed { seq, code } => {
                    if let Some(p) = self.pending.remove(&seq) {
                        done.push(Done::Finish(p, Err(code.code())));
                    }
                }
                ConnectionEvent::Authenticated => done.push(Done::Authenticated),
                ConnectionEvent::Closed(reason) => closed = Some(reason),
            }
        }
        closed
    }

    fn trace_recv(&self, packet: &Packet) {
        if self.trace {
            let h = packet.received_header().unwrap_or_default();
            tracing::debug!(msg_id = %packet.msg_id(), seq = h.seq, stage = h.stage_id,
                code = h.error_code, len = packet.payload().len(), "connector recv");
        }
    }

    fn on_reply(&mut self, seq: Seq, packet: Packet, rtt: Duration, done: &mut Vec<Done>) {
        self.trace_recv(&packet);
        let Some(pending) = self.pending.remove(&seq) else {
            tracing::debug!(seq, "dropping reply for a forgotten request");
            return;
        };
        if self.log_rtt {
            let rtt_us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
            tracing::info!(msg_id = %pending.request.msg_id(), rtt_us, "response time");
        }
        let error_code = packet.received_header().map_or(0, |h| h.error_code);
        let raw = matches!(pending.completion, Completion::AsyncRaw(_));
        let result = if error_code == 0 || raw {
            Ok(packet)
        } else {
            Err(error_code)
        };
        done.push(Done::Finish(pending, result));
    }
}

/// What the driver task needs besides the transport.
pub(crate) struct LinkStart {
    pub(crate) shared: Arc<Shared>,
    pub(crate) generation: u64,
    pub(crate) close: CancellationToken,
    pub(crate) debug_mode: bool,
    pub(crate) connected_tx: Option<oneshot::Sender<bool>>,
}

/// Connects, then drives the connection until it closes.
pub(crate) async fn run_link(mut start: LinkStart) {
    let cfg = start.shared.config.clone();
    let timeout = Duration::from_millis(cfg.connect_timeout_ms);
    let timed_out = || TransportError::Io(std::io::ErrorKind::TimedOut.into());
    let failure = if cfg.use_websocket {
        let connecting =
            WsTransport::connect(&cfg.host, cfg.port, &cfg.ws_path, cfg.max_packet_len);
        match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(t)) => return drive(start, t).await,
            Ok(Err(e)) => e,
            Err(_) => timed_out(),
        }
    } else {
        match tokio::time::timeout(timeout, TcpTransport::connect(&cfg.host, cfg.port)).await {
            Ok(Ok(t)) => return drive(start, t).await,
            Ok(Err(e)) => e,
            Err(_) => timed_out(),
        }
    };
    tracing::warn!(host = %cfg.host, port = cfg.port, error = %failure, "connect failed");
    start.shared.clear_current(start.generation);
    start.shared.events.push(Event::Connected(false));
    if let Some(tx) = start.connected_tx.take() {
        let _ = tx.send(false);
    }
}

/// Fails every command still queued (the connection is gone).
fn fail_queued(events: &EventQueue, commands: &mut mpsc::Receiver<Command>) {
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        cmd.fail(events, DISCONNECTED);
    }
}

/// What woke the driver.
enum Wake {
    Start,
    Close,
    Commands,
    Wrote(Result<(), TransportError>),
    Read(Result<usize, TransportError>),
    EventsDrained,
    Timer,
}

async fn drive<T: Transport>(mut start: LinkStart, transport: T) {
    let (mut reader, mut writer) = transport.split();
    let shared = Arc::clone(&start.shared);
    let (tx, mut commands) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let generation = start.generation;
    let core = {
        // read the auth msgId and publish the core under one lock, so a concurrent
        // `set_authenticate_message_id` reaches either the config or the core
        let mut state = shared.lock_link();
        let auth = state.auth_msg_id.clone();
        state
            .active
            .as_mut()
            .filter(|l| l.generation == generation)
            .map(|l| {
                let cfg = &shared.config;
                let config = ConnectionConfig::from_connector(cfg, auth, start.debug_mode);
                let core = Arc::new(LinkCore {
                    generation,
                    state: Mutex::new(CoreState {
                        conn: Connection::new(Instant::now(), config),
                        pending: BTreeMap::new(),
                        writing: false,
                        leftover: None,
                        armed: None,
                        trace: cfg.turn_on_trace,
                        log_rtt: cfg.enable_logging_response_time,
                    }),
                    commands: tx,
                    wake: Notify::new(),
                    direct: writer.direct(),
                });
                l.connected = true;
                l.core = Some(Arc::clone(&core));
                core
            })
    };
    shared.events.push(Event::Connected(core.is_some()));
    if let Some(tx) = start.connected_tx.take() {
        let _ = tx.send(core.is_some());
    }
    let Some(core) = core else {
        writer.close().await;
        return;
    };
    let mut out = VecDeque::new();
    let closed = run(
        &core,
        &shared,
        &mut reader,
        &mut writer,
        &mut out,
        &mut commands,
        &start.close,
    )
    .await;
    finish(&core, &shared, closed, &mut writer, &mut out, &mut commands).await;
}

/// The driver loop: one critical section per wake-up (apply what woke it, collect
/// completions, move frames to the writer, arm the timer), completions delivered after it.
async fn run<R: TransportRead, W: TransportWrite>(
    core: &LinkCore,
    shared: &Shared,
    reader: &mut R,
    writer: &mut W,
    out: &mut VecDeque<Bytes>,
    commands: &mut mpsc::Receiver<Command>,
    close: &CancellationToken,
) -> CloseReason {
    let mut buf = BytesMut::with_capacity(crate::transport::READ_CHUNK);
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    // long-lived wake-up futures: re-registering a waiter on every turn costs locks
    let cancelled = close.cancelled();
    tokio::pin!(cancelled);
    let notified = core.wake.notified();
    tokio::pin!(notified);
    let mut done = Vec::new();
    let mut wake = Wake::Start;
    loop {
        let (closed, reset, timer_armed) = {
            let mut st = core.lock();
            let now = Instant::now();
            match wake {
                Wake::Start | Wake::EventsDrained | Wake::Wrote(Ok(())) => {}
                Wake::Close => st.conn.close(),
                Wake::Commands => {
                    for _ in 0..COMMANDS_PER_TURN {
                        match commands.try_recv() {
                            Ok(cmd) => st.run(cmd, &mut done),
                            Err(_) => break,
                        }
                    }
                    if !commands.is_empty() {
                        core.wake.notify_one();
                    }
                }
                Wake::Wrote(Err(e)) => st
                    .conn
                    .handle_transport_closed(format!("write failed: {e}")),
                Wake::Read(Ok(0)) => st.conn.handle_transport_closed("closed by server"),
                Wake::Read(Ok(_)) => {
                    st.conn.handle_bytes(now, &buf);
                    buf.clear();
                }
                Wake::Read(Err(e)) => st.conn.handle_transport_closed(e.to_string()),
                Wake::Timer => {
                    st.armed = None;
                    st.conn.handle_timeout(now);
                }
            }
            let closed = st.poll_events(&mut done);
            st.refill(out);
            st.writing = !out.is_empty() || writer.has_staged();
            let reset = st
                .conn
                .poll_timeout()
                .filter(|d| st.armed.is_none_or(|a| *d < a));
            if reset.is_some() {
                st.armed = reset;
            }
            (closed, reset, st.armed.is_some())
        };
        deliver(&mut done, shared, core.generation);
        if let Some(reason) = closed {
            return reason;
        }
        if let Some(at) = reset {
            sleep.as_mut().reset(at.into());
        }
        let can_read = !shared.events.is_full();
        let want_write = !out.is_empty() || writer.has_staged();
        wake = tokio::select! {
            _ = cancelled.as_mut() => Wake::Close,
            _ = notified.as_mut() => {
                notified.set(core.wake.notified());
                Wake::Commands
            }
            res = writer.write_some(out), if want_write => Wake::Wrote(res),
            read = reader.read_into(&mut buf), if can_read => Wake::Read(read),
            _ = shared.events.drained(), if !can_read => Wake::EventsDrained,
            _ = &mut sleep, if timer_armed => Wake::Timer,
        };
    }
}

/// After the connection closed: fails what is left, reports the disconnect, and flushes
/// what was queued (bounded by [`CLOSE_FLUSH_TIMEOUT`]).
async fn finish<W: TransportWrite>(
    core: &LinkCore,
    shared: &Shared,
    reason: CloseReason,
    writer: &mut W,
    out: &mut VecDeque<Bytes>,
    commands: &mut mpsc::Receiver<Command>,
) {
    let still_current = shared.clear_current(core.generation);
    let pending = {
        let mut st = core.lock();
        // nothing may be written past the driver from now on
        st.writing = true;
        fail_queued(&shared.events, commands);
        std::mem::take(&mut st.pending)
    };
    for (_, p) in pending {
        p.finish(&shared.events, Err(DISCONNECTED));
    }
    if reason != CloseReason::Local {
        tracing::info!(why = %reason, "connection closed");
        if still_current {
            shared.events.push(Event::Disconnected);
        }
    }
    let flush = async {
        loop {
            core.lock().refill(out);
            if out.is_empty() && !writer.has_staged() {
                break;
            }
            if writer.write_some(out).await.is_err() {
                return;
            }
        }
        writer.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, flush).await;
}
