//! The async driver of one connection: connects the transport, then loops over received
//! bytes, timers and the close command. Requests are written by the calling thread through
//! [`LinkIo`]; the driver completes them (reply, timeout, close) and runs the heartbeat and
//! idle-timeout schedule.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::ConnectorConfig;
use super::events::{Event, EventQueue};
use super::link::{Completion, LinkIo};
use super::liveness::{Liveness, LivenessAction};
use crate::codec::{self, CodecLimits, ServerPacket, HEARTBEAT_MSG_ID};
use crate::error::REQUEST_TIMEOUT;
use crate::packet::{Packet, ReceivedHeader};
use crate::transport::{
    Outbox, TcpTransport, Transport, TransportError, TransportRead, WsTransport,
};

/// How long a closing connection may take to flush what was queued.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Commands from the handle to the driver.
pub(crate) enum Command {
    Close,
}

pub(crate) struct ActiveLink {
    pub(crate) generation: u64,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// Set once connected.
    pub(crate) io: Option<Arc<LinkIo>>,
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
        shared.clear_current(generation);
        shared.events.push(Event::Connected(false));
        if let Some(tx) = connected_tx {
            let _ = tx.send(false);
        }
    }
}

/// Why a connection loop ended.
#[derive(Debug)]
enum CloseReason {
    /// The application called `disconnect()` (or dropped the connector): no `on_disconnect`.
    Application,
    /// The server closed, the socket failed, a protocol error or the idle timeout.
    Remote(String),
}

/// The per-connection loop state.
struct LinkDriver<'a> {
    shared: &'a Shared,
    generation: u64,
    limits: CodecLimits,
    io: Arc<LinkIo>,
    liveness: Liveness,
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
    let (outbox, mut writer_task) = Outbox::start(writer);
    let io = Arc::new(LinkIo::new(
        outbox,
        cfg.request_timeout_ms,
        cfg.turn_on_trace,
    ));
    let auth_required = shared.lock_link().auth_msg_id.is_some();
    let current = shared
        .with_current(generation, |l| l.io = Some(io.clone()))
        .is_some();
    shared.events.push(Event::Connected(current));
    if let Some(tx) = connected_tx {
        let _ = tx.send(current);
    }
    if !current {
        io.close(&shared.events);
        drop(io);
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer_task).await;
        return;
    }
    let now = Instant::now();
    let mut link = LinkDriver {
        shared,
        generation,
        limits: cfg.limits(),
        io,
        liveness: Liveness::new(
            now,
            cfg.heartbeat_interval_ms,
            cfg.connection_idle_timeout_ms,
            debug_mode,
        ),
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

impl LinkDriver<'_> {
    /// The next wake-up. With request timeouts on, the driver wakes at least once per
    /// timeout period, so a request registered while it sleeps (its deadline is later than
    /// that wake-up) is always noticed in time without waking the driver on every request.
    fn next_deadline(&self) -> Option<Instant> {
        let requests = self.io.request_timeout().map(|t| {
            self.io
                .requests()
                .tracker
                .next_deadline()
                .unwrap_or(Instant::now() + t)
        });
        match (requests, self.liveness.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn run<R: TransportRead>(
        &mut self,
        reader: &mut R,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        writer_task: &mut JoinHandle<Result<(), TransportError>>,
        writer_done: &mut bool,
    ) -> CloseReason {
        let mut buf = BytesMut::with_capacity(crate::transport::READ_CHUNK);
        // One timer, re-armed lazily: it may fire early (the handlers re-check), never late.
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            match (armed, self.next_deadline()) {
                (Some(a), Some(want)) if a <= want => {}
                (_, Some(want)) => {
                    sleep.as_mut().reset(want.into());
                    armed = Some(want);
                }
                (_, None) => armed = None,
            }
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Close) => return CloseReason::Application,
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
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
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
        let cfg = &self.shared.config;
        if cfg.turn_on_trace {
            tracing::debug!(msg_id = %p.msg_id, seq = p.seq, stage = p.stage_id,
                code = p.error_code, len = p.payload.len(), "connector recv");
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
        let pending = self.io.requests().tracker.complete(p.seq);
        let Some(pending) = pending else {
            tracing::debug!(
                seq = p.seq,
                "dropping reply for an unknown or timed-out request"
            );
            return;
        };
        if cfg.enable_logging_response_time {
            let rtt_us = u64::try_from(pending.sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            tracing::info!(msg_id = %pending.request.msg_id(), rtt_us, "response time");
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
        pending.finish(&self.shared.events, result);
    }

    fn on_timer(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let expired = self.io.requests().tracker.expire(now);
        for (_, p) in expired {
            p.finish(&self.shared.events, Err(REQUEST_TIMEOUT));
        }
        match self.liveness.poll(now) {
            LivenessAction::Idle => Ok(()),
            LivenessAction::SendHeartbeat => {
                let mut frame = BytesMut::new();
                if codec::encode_client(HEARTBEAT_MSG_ID, 0, 0, &[], &mut frame).is_ok() {
                    self.io.write(frame.freeze());
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
            io,
            ..
        } = self;
        let still_current = shared.clear_current(generation);
        io.close(&shared.events);
        drop(io);
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
