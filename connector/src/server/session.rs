//! One server-side connection: reads client packets, enforces the auth gate, dispatches to
//! handlers, echoes heartbeats and writes replies and pushes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio_util::sync::CancellationToken;

use super::handler::{RequestContext, ERROR_STAGE_FULL, ERROR_UNHANDLED_MSG_ID};
use super::ServerHandle;
use crate::codec::{self, ClientPacket, CompressionPolicy, HEARTBEAT_MSG_ID};
use crate::packet::Packet;
use crate::transport::{Outbox, Transport, TransportRead};

/// A cheap handle to one connected client session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    id: u64,
    out: Arc<Outbox>,
    closed: CancellationToken,
    authenticated: Arc<AtomicBool>,
    account_id: Arc<std::sync::Mutex<Option<String>>>,
    compression: Option<CompressionPolicy>,
}

impl SessionHandle {
    pub(crate) fn new(
        id: u64,
        out: Arc<Outbox>,
        authenticated: bool,
        compression: Option<CompressionPolicy>,
    ) -> Self {
        Self {
            id,
            out,
            closed: CancellationToken::new(),
            authenticated: Arc::new(AtomicBool::new(authenticated)),
            account_id: Arc::default(),
            compression,
        }
    }

    /// The session's id (unique per server).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the session authenticated (always true when no auth msgId is configured).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// The account id set on authentication (PlayHouse's `ActorLink.AccountId`).
    pub fn account_id(&self) -> Option<String> {
        self.account_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sets the account id (a handler does it while authenticating the session).
    pub fn set_account_id(&self, account_id: impl Into<String>) {
        *self
            .account_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(account_id.into());
    }

    /// Bytes waiting for this session's socket.
    pub fn queued_bytes(&self) -> usize {
        self.out.queued_bytes()
    }

    /// Whether the session is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub(crate) fn mark_authenticated(&self) {
        self.authenticated.store(true, Ordering::Release);
    }

    /// Sends a push (seq 0) to this session. Returns false when the session is gone.
    pub fn push(&self, stage_id: i64, packet: &Packet) -> bool {
        self.write(packet, 0, stage_id, 0)
    }

    /// Closes the session (the client sees the server close the connection).
    pub fn close(&self) {
        self.closed.cancel();
    }

    pub(crate) fn write(&self, packet: &Packet, seq: u16, stage_id: i64, error_code: u16) -> bool {
        let mut frame = BytesMut::new();
        let policy = self.compression;
        let encoded = codec::encode_server(
            packet.msg_id(),
            seq,
            stage_id,
            error_code,
            packet.payload(),
            policy,
            &mut frame,
        );
        match encoded {
            Ok(()) => {
                if self.closed.is_cancelled() {
                    return false;
                }
                let sent = self.out.send(frame.freeze());
                if !sent && self.out.overflowed() {
                    tracing::warn!(
                        session = self.id,
                        "send queue full (the client is not reading), closing the session"
                    );
                    self.close();
                }
                sent
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode server packet");
                false
            }
        }
    }
}

/// Serves one connection until the client leaves, the session is closed or the server
/// shuts down.
pub(crate) async fn serve<T: Transport>(server: ServerHandle, transport: T) {
    let shared = Arc::clone(&server.shared);
    let (mut reader, writer) = transport.split();
    let (outbox, mut writer_task) =
        Outbox::start_bounded(writer, shared.config.max_queued_bytes_per_session);
    let session = shared.register(Arc::new(outbox));
    let mut buf = BytesMut::with_capacity(crate::transport::READ_CHUNK);
    let limits = shared.config.limits();
    let mut writer_done = false;
    let idle_timeout = shared.config.idle_timeout;
    let idle = tokio::time::sleep(idle_timeout.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(idle);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = session.closed.cancelled() => break,
            res = &mut writer_task, if !writer_done => { writer_done = true; let _ = res; break }
            _ = &mut idle, if idle_timeout.is_some() => {
                tracing::info!(session = session.id, "idle timeout, closing the session");
                break;
            }
            read = reader.read_into(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    if let Some(t) = idle_timeout {
                        idle.as_mut().reset(tokio::time::Instant::now() + t);
                    }
                    shared.stats.add_bytes(n);
                    session.out.cork(); // replies to this read go out in one write
                    let keep = drain_packets(&server, &session, &mut buf, &limits);
                    session.out.uncork();
                    if !keep {
                        break;
                    }
                }
                _ => break,
            },
        }
    }
    shared.unregister(session.id);
    let id = session.id;
    drop(session);
    if !writer_done
        && tokio::time::timeout(Duration::from_secs(2), &mut writer_task)
            .await
            .is_err()
    {
        writer_task.abort();
    }
    tracing::debug!(session = id, "session ended");
}

/// Decodes and handles every complete packet in `buf`; false means close the session.
fn drain_packets(
    server: &ServerHandle,
    session: &SessionHandle,
    buf: &mut BytesMut,
    limits: &codec::CodecLimits,
) -> bool {
    loop {
        match codec::decode_client(buf, limits) {
            Ok(Some(packet)) => {
                if !on_packet(server, session, packet) {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                server.shared.stats.protocol_error();
                tracing::info!(session = session.id, error = %e, "protocol error, closing session");
                return false;
            }
        }
    }
}

fn on_packet(server: &ServerHandle, session: &SessionHandle, p: ClientPacket) -> bool {
    let shared = &server.shared;
    shared.stats.packet();
    let is_auth = shared.is_auth_msg(&p.msg_id);
    if !session.is_authenticated() && !is_auth {
        tracing::info!(session = session.id, msg_id = %p.msg_id, "message before authentication, closing");
        shared.stats.auth_violation();
        return false;
    }
    if p.msg_id == HEARTBEAT_MSG_ID {
        if shared.config.echo_heartbeats {
            session.write(&Packet::empty(HEARTBEAT_MSG_ID), 0, 0, 0);
        }
        return true;
    }
    if p.stage_id != 0 && !shared.join_stage(p.stage_id, session.id) {
        tracing::info!(
            session = session.id,
            stage = p.stage_id,
            "stage limit reached"
        );
        let ctx_reply = RequestContext {
            session: session.clone(),
            server: server.clone(),
            msg_id: p.msg_id.clone(),
            seq: p.seq,
            stage_id: p.stage_id,
            is_auth,
        };
        ctx_reply.reply_error(ERROR_STAGE_FULL);
        return true;
    }
    let ctx = RequestContext {
        session: session.clone(),
        server: server.clone(),
        msg_id: p.msg_id.clone(),
        seq: p.seq,
        stage_id: p.stage_id,
        is_auth,
    };
    let handler = shared.handlers.get(&p.msg_id).or(shared.fallback.as_ref());
    match handler {
        Some(h) => ctx.apply(h(&ctx, Packet::new(p.msg_id, p.payload))),
        None if is_auth => {
            ctx.reply(Packet::new(ctx.reply_msg_id(), p.payload));
        }
        None => {
            ctx.reply_error(ERROR_UNHANDLED_MSG_ID);
        }
    }
    true
}
