//! The one driver task of a connection: connects the transport, then owns the sans-IO
//! [`Connection`] and loops over commands from the handle, received bytes, writes and the
//! connection's deadline. Requests reach it through a bounded command queue
//! ([`COMMAND_QUEUE_CAPACITY`]); it completes them (reply, timeout, close).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::config::ConnectorConfig;
use super::events::{Event, EventQueue};
use super::requests::{complete, Completion, Pending};
use crate::connection::{CloseReason, Connection, ConnectionConfig, ConnectionEvent, Seq};
use crate::error::DISCONNECTED;
use crate::packet::Packet;
use crate::transport::{
    TcpTransport, Transport, TransportError, TransportRead, TransportWrite, WsTransport,
};

/// How long a closing connection may take to flush what was queued.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of the command queue from the handle to the driver: the sequence space, so a
/// burst of requests that the tracker could hold never fails on the queue. A command that
/// does not fit fails at once with `BACKPRESSURE` (60205).
pub const COMMAND_QUEUE_CAPACITY: usize = 65_536;
/// Commands handled per wake-up before the driver writes and reads again.
const COMMANDS_PER_TURN: usize = 256;
/// Frames moved from the connection to the writer at a time.
const FRAMES_PER_WRITE: usize = 256;

/// Commands from the handle to the driver.
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
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) close: CancellationToken,
    /// Set once the transport is connected.
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

/// What the driver task needs besides the transport.
pub(crate) struct LinkStart {
    pub(crate) shared: Arc<Shared>,
    pub(crate) generation: u64,
    pub(crate) commands: mpsc::Receiver<Command>,
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
    fail_queued(&start.shared.events, &mut start.commands);
}

/// Fails every command still queued (the connection is gone).
fn fail_queued(events: &EventQueue, commands: &mut mpsc::Receiver<Command>) {
    commands.close();
    while let Ok(cmd) = commands.try_recv() {
        cmd.fail(events, DISCONNECTED);
    }
}

/// The per-connection loop state.
struct LinkDriver {
    shared: Arc<Shared>,
    generation: u64,
    conn: Connection,
    pending: BTreeMap<Seq, Pending>,
    out: VecDeque<Bytes>,
    closed: Option<CloseReason>,
}

async fn drive<T: Transport>(mut start: LinkStart, transport: T) {
    let (mut reader, mut writer) = transport.split();
    let shared = Arc::clone(&start.shared);
    let auth = shared.lock_link().auth_msg_id.clone();
    let current = shared
        .with_current(start.generation, |l| l.connected = true)
        .is_some();
    shared.events.push(Event::Connected(current));
    if let Some(tx) = start.connected_tx.take() {
        let _ = tx.send(current);
    }
    if !current {
        fail_queued(&shared.events, &mut start.commands);
        writer.close().await;
        return;
    }
    let config = ConnectionConfig::from_connector(&shared.config, auth, start.debug_mode);
    let mut link = LinkDriver {
        shared,
        generation: start.generation,
        conn: Connection::new(Instant::now(), config),
        pending: BTreeMap::new(),
        out: VecDeque::new(),
        closed: None,
    };
    link.run(&mut reader, &mut writer, &mut start.commands, &start.close)
        .await;
    link.finish(&mut writer, &mut start.commands).await;
}

impl LinkDriver {
    async fn run<R: TransportRead, W: TransportWrite>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        commands: &mut mpsc::Receiver<Command>,
        close: &CancellationToken,
    ) {
        let mut buf = BytesMut::with_capacity(crate::transport::READ_CHUNK);
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        while self.closed.is_none() {
            self.refill_out();
            let deadline = self.conn.poll_timeout();
            if let Some(want) = deadline.filter(|d| armed != Some(*d)) {
                sleep.as_mut().reset(want.into());
                armed = Some(want);
            }
            let can_read = !self.shared.events.is_full();
            let want_write = !self.out.is_empty() || writer.has_staged();
            tokio::select! {
                _ = close.cancelled() => self.conn.close(),
                cmd = commands.recv() => match cmd {
                    None => self.conn.close(),
                    Some(cmd) => {
                        self.on_command(cmd);
                        for _ in 1..COMMANDS_PER_TURN {
                            match commands.try_recv() {
                                Ok(cmd) => self.on_command(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                },
                res = writer.write_some(&mut self.out), if want_write => {
                    if let Err(e) = res {
                        self.conn.handle_transport_closed(format!("write failed: {e}"));
                    }
                }
                read = reader.read_into(&mut buf), if can_read => match read {
                    Ok(0) => self.conn.handle_transport_closed("closed by server"),
                    Ok(_) => {
                        self.conn.handle_bytes(Instant::now(), &buf);
                        buf.clear();
                    }
                    Err(e) => self.conn.handle_transport_closed(e.to_string()),
                },
                _ = self.shared.events.drained(), if !can_read => {}
                _ = &mut sleep, if deadline.is_some() => {
                    armed = None;
                    self.conn.handle_timeout(Instant::now());
                }
            }
            self.drain_events();
        }
    }

    fn refill_out(&mut self) {
        while self.out.len() < FRAMES_PER_WRITE {
            match self.conn.poll_transmit() {
                Some(frame) => {
                    if self.shared.config.turn_on_trace {
                        tracing::debug!(len = frame.len(), "connector send");
                    }
                    self.out.push_back(frame);
                }
                None => break,
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        let events = &self.shared.events;
        match cmd {
            Command::Request {
                stage_id,
                packet,
                completion,
                is_auth,
            } => {
                let sent = if is_auth {
                    self.conn.authenticate(now, &packet)
                } else {
                    self.conn.send_request(now, stage_id, &packet)
                };
                match sent {
                    Ok(seq) => {
                        let pending = Pending {
                            request: packet,
                            stage_id,
                            completion,
                        };
                        self.pending.insert(seq, pending);
                    }
                    Err(e) => complete(events, completion, stage_id, packet, Err(e.code().code())),
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
                    (r, Some(tx)) => {
                        let _ = tx.send(r);
                    }
                    (Ok(()), None) => {}
                    (Err(code), None) => events.push(Event::Error(stage_id, code, packet)),
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

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                ConnectionEvent::Push { stage_id, packet } => {
                    self.trace(&packet);
                    self.shared.events.push(Event::Received(stage_id, packet));
                }
                ConnectionEvent::Reply { seq, packet, rtt } => self.on_reply(seq, packet, rtt),
                ConnectionEvent::RequestFailed { seq, code } => {
                    if let Some(p) = self.pending.remove(&seq) {
                        p.finish(&self.shared.events, Err(code.code()));
                    }
                }
                ConnectionEvent::Authenticated => {
                    self.shared
                        .with_current(self.generation, |l| l.authenticated = true);
                }
                ConnectionEvent::Closed(reason) => self.closed = Some(reason),
            }
        }
    }

    fn trace(&self, packet: &Packet) {
        if self.shared.config.turn_on_trace {
            let h = packet.received_header().unwrap_or_default();
            tracing::debug!(msg_id = %packet.msg_id(), seq = h.seq, stage = h.stage_id,
                code = h.error_code, len = packet.payload().len(), "connector recv");
        }
    }

    fn on_reply(&mut self, seq: Seq, packet: Packet, rtt: Duration) {
        self.trace(&packet);
        let Some(pending) = self.pending.remove(&seq) else {
            tracing::debug!(seq, "dropping reply for a forgotten request");
            return;
        };
        if self.shared.config.enable_logging_response_time {
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
        pending.finish(&self.shared.events, result);
    }

    async fn finish<W: TransportWrite>(
        mut self,
        writer: &mut W,
        commands: &mut mpsc::Receiver<Command>,
    ) {
        let reason = self.closed.take().unwrap_or(CloseReason::Local);
        let still_current = self.shared.clear_current(self.generation);
        fail_queued(&self.shared.events, commands);
        for (_, p) in std::mem::take(&mut self.pending) {
            p.finish(&self.shared.events, Err(DISCONNECTED));
        }
        if reason != CloseReason::Local {
            tracing::info!(why = %reason, "connection closed");
            if still_current {
                self.shared.events.push(Event::Disconnected);
            }
        }
        let flush = async {
            loop {
                self.refill_out();
                if self.out.is_empty() && !writer.has_staged() {
                    break;
                }
                if writer.write_some(&mut self.out).await.is_err() {
                    return;
                }
            }
            writer.close().await;
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, flush).await;
    }
}
