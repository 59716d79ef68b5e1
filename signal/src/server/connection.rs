//! One task per WebSocket: writes `welcome`, registers with the hub, then pumps frames both
//! ways until the client leaves, the hub kicks it, it idles out or the server shuts down.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, MissedTickBehavior};

use super::fast_relay::IceFrame;
use super::hub_driver::{
    CloseRequest, HubCommand, LobbySlot, Outbound, Outbox, CLOSE_GOING_AWAY, CLOSE_POLICY,
};
use super::route::{Direct, RouteCell};
use super::Shared;
use crate::auth::{turn_credentials, Identity};
use crate::hub::ConnId;
use crate::lobby_deflate::LobbyCompression;
use crate::protocol::{ClientMessage, ErrorCode, IceServer, ServerMessage, Welcome};
use crate::ratelimit::{RateDecision, RateLimiter};

/// How long a closing connection waits for the client's close reply.
const CLOSE_REPLY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the pump stopped: `Some` = send this close frame, `None` = the socket is gone.
type PumpEnd = Option<CloseRequest>;

/// Most queued messages written into the WebSocket buffer before one flush.
const WRITE_BATCH: usize = 64;

/// Drives one upgraded connection to its end.
pub(crate) async fn run_connection(
    mut socket: WebSocket,
    identity: Identity,
    compression: LobbyCompression,
    shared: Arc<Shared>,
) {
    let conn = shared
        .next_conn
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared.metrics.connections.inc();
    let welcome = ServerMessage::Welcome(Welcome {
        player_id: identity.player_id.clone(),
        ice_servers: ice_servers_for(&shared, &identity.player_id),
    });
    if write(&mut socket, &shared, &welcome).await.is_ok() {
        serve(socket, conn, identity, compression, &shared).await;
    }
    shared.metrics.connections.dec();
    shared
        .active
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn serve(
    mut socket: WebSocket,
    conn: ConnId,
    identity: Identity,
    compression: LobbyCompression,
    shared: &Arc<Shared>,
) {
    let (queue_tx, mut queue_rx) = mpsc::channel(shared.config.outbound_queue);
    let lobby = Arc::new(LobbySlot::new(
        shared.config.lobby_delta_backlog,
        compression,
    ));
    let (kick_tx, mut kick_rx) = oneshot::channel();
    let route = Arc::new(RouteCell::default());
    let outbox = Outbox {
        queue: queue_tx,
        lobby: lobby.clone(),
        kick: Some(kick_tx),
        route: route.clone(),
    };
    let register = HubCommand::Register {
        conn,
        player_id: identity.player_id,
        name: identity.name,
        outbox,
    };
    if shared.hub_tx.send(register).await.is_err() {
        return;
    }
    let end = tokio::select! {
        biased;
        kicked = &mut kick_rx => Some(kicked.unwrap_or((CLOSE_GOING_AWAY, "server shutting down"))),
        _ = shared.shutdown.cancelled() => Some((CLOSE_GOING_AWAY, "server shutting down")),
        end = pump(&mut socket, conn, shared, &mut queue_rx, &lobby, &route) => end,
    };
    let _ = shared.hub_tx.send(HubCommand::Unregister { conn }).await;
    if let Some((code, reason)) = end {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let sent = tokio::time::timeout(
            shared.config.close_timeout,
            socket.send(Message::Close(Some(frame))),
        )
        .await;
        if matches!(sent, Ok(Ok(()))) {
            // Briefly wait for the client's close reply so the frame is not lost to a reset.
            let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
                while let Some(Ok(_)) = socket.recv().await {}
            })
            .await;
        }
    }
}

async fn pump(
    socket: &mut WebSocket,
    conn: ConnId,
    shared: &Arc<Shared>,
    queue_rx: &mut mpsc::Receiver<Outbound>,
    lobby: &LobbySlot,
    route: &RouteCell,
) -> PumpEnd {
    let config = &shared.config;
    let start = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(start + config.ping_interval, config.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = start;
    let idle = sleep_until(start + config.idle_timeout);
    tokio::pin!(idle);
    // One waiter on the lobby slot, re-armed only when it fires (creating one per loop
    // turn would lock the `Notify` twice for every relayed message).
    let lobby_ready = lobby.notify.notified();
    tokio::pin!(lobby_ready);
    let mut limiter = RateLimiter::new(
        config.rate_per_sec,
        config.rate_burst,
        config.rate_abuse_threshold,
        Instant::now(),
    );
    let mut relay = Relay { route, sent: 0 };
    loop {
        tokio::select! {
            out = queue_rx.recv() => match out {
                Some(Outbound::Close(close)) => return Some(close),
                Some(first) => {
                    if let Some(end) = write_queued(socket, shared, first, queue_rx).await.ok()? {
                        return Some(end);
                    }
                }
                None => return Some((CLOSE_GOING_AWAY, "server shutting down")),
            },
            _ = &mut lobby_ready => {
                lobby_ready.set(lobby.notify.notified());
                for (kind, frames) in lobby.take() {
                    // One flush per frame: the write buffer never holds more than one
                    // (compressed messages come in bounded chunks).
                    for frame in frames.iter() {
                        socket.send(frame.clone()).await.ok()?;
                    }
                    shared.metrics.message_out(kind, None);
                }
            }
            frame = socket.recv() => {
                let frame = frame?.ok()?;
                last_seen = tokio::time::Instant::now();
                if let Some(end) = inbound(socket, conn, shared, &mut limiter, &mut relay, frame).await {
                    return end;
                }
            }
            _ = ping.tick() => socket.send(Message::Ping(Default::default())).await.ok()?,
            _ = &mut idle => {
                let due = last_seen + config.idle_timeout;
                if tokio::time::Instant::now() >= due {
                    return Some((CLOSE_GOING_AWAY, "idle timeout"));
                }
                idle.as_mut().reset(due);
            }
        }
    }
}

/// The sending side of this connection's direct route (see `server/route.rs`).
struct Relay<'a> {
    route: &'a RouteCell,
    /// Commands sent to the hub so far.
    sent: u64,
}

/// Handles one frame from the client. `Some(end)` stops the pump.
async fn inbound(
    socket: &mut WebSocket,
    conn: ConnId,
    shared: &Arc<Shared>,
    limiter: &mut RateLimiter,
    relay: &mut Relay<'_>,
    frame: Message,
) -> Option<PumpEnd> {
    let text = match frame {
        Message::Text(text) => Some(text),
        Message::Binary(_) => None,
        Message::Close(_) => return Some(None),
        Message::Ping(_) | Message::Pong(_) => return None,
    };
    match limiter.check(Instant::now()) {
        RateDecision::Allow => {}
        RateDecision::Drop => {
            shared.metrics.message_in(None);
            let err = ErrorCode::RateLimited.message("rate limit exceeded; message dropped", None);
            return write(socket, shared, &err).await.err().map(|_| None);
        }
        RateDecision::Close => return Some(Some((CLOSE_POLICY, "rate limit abuse"))),
    }
    let refusal = match text {
        None => Some((
            ErrorCode::BadRequest,
            "binary frames are not supported".to_owned(),
        )),
        Some(t) if t.len() > shared.config.max_message_size => Some((
            ErrorCode::TooLarge,
            format!(
                "message over {} bytes; dropped",
                shared.config.max_message_size
            ),
        )),
        Some(t) => {
            let seq = relay.sent.saturating_add(1);
            let parsed = match IceFrame::parse(&t) {
                Some(frame) => {
                    let direct = relay.route.relay(&frame, relay.sent);
                    if direct != Direct::Hub {
                        shared.metrics.message_in(Some("send_ice_candidate"));
                        shared.metrics.ice_direct.inc();
                        if direct == Direct::Crowded {
                            tokio::task::yield_now().await;
                        }
                        return None;
                    }
                    let frame = frame.with_seq(seq);
                    Ok(("send_ice_candidate", HubCommand::Ice { conn, frame }))
                }
                None => ClientMessage::parse(t.as_str())
                    .map(|msg| (msg.kind(), HubCommand::Message { conn, msg })),
            };
            match parsed {
                Ok((kind, cmd)) => {
                    shared.metrics.message_in(Some(kind));
                    return match shared.hub_tx.send(cmd).await {
                        Ok(()) => {
                            relay.sent = seq;
                            None
                        }
                        Err(_) => Some(Some((CLOSE_GOING_AWAY, "server shutting down"))),
                    };
                }
                Err(e) => Some((ErrorCode::BadRequest, format!("bad message: {e}"))),
            }
        }
    };
    let (code, message) = refusal?;
    shared.metrics.message_in(None);
    let err = code.message(message, None);
    write(socket, shared, &err).await.err().map(|_| None)
}

/// Writes `first` and what else is already queued (up to [`WRITE_BATCH`]), then flushes
/// once: a burst costs one write syscall instead of one per message. Returns the close the
/// hub queued behind the messages, if it found one.
async fn write_queued(
    socket: &mut WebSocket,
    shared: &Shared,
    first: Outbound,
    queue_rx: &mut mpsc::Receiver<Outbound>,
) -> Result<Option<CloseRequest>, ()> {
    let mut next = Some(first);
    let mut close = None;
    let mut written = 0;
    while let Some(out) = next.take() {
        match out {
            Outbound::Message(msg) => feed(socket, shared, &msg).await?,
            Outbound::Text(kind, text) => {
                socket.feed(Message::Text(text)).await.map_err(|_| ())?;
                shared.metrics.message_out(kind, None);
            }
            Outbound::Close(request) => {
                close = Some(request);
                break;
            }
        }
        written += 1;
        if written < WRITE_BATCH {
            next = queue_rx.try_recv().ok();
        }
    }
    socket.flush().await.map_err(|_| ())?;
    Ok(close)
}

/// Writes one message and flushes it.
async fn write(socket: &mut WebSocket, shared: &Shared, msg: &ServerMessage) -> Result<(), ()> {
    feed(socket, shared, msg).await?;
    socket.flush().await.map_err(|_| ())
}

/// Serializes one message into the WebSocket's write buffer (written out by a flush, or
/// earlier when the buffer passes `ws_write_buffer` bytes).
async fn feed(socket: &mut WebSocket, shared: &Shared, msg: &ServerMessage) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(|_| ())?;
    socket
        .feed(Message::Text(Utf8Bytes::from(text)))
        .await
        .map_err(|_| ())?;
    let code = match msg {
        ServerMessage::Error(e) => Some(e.code),
        _ => None,
    };
    shared.metrics.message_out(msg.kind(), code);
    Ok(())
}

fn ice_servers_for(shared: &Shared, player_id: &str) -> Vec<IceServer> {
    let mut servers = shared.config.ice_servers.clone();
    if let Some(turn) = &shared.config.turn {
        let expiry = crate::auth::now_unix()
            .unwrap_or(0)
            .saturating_add(turn.ttl.as_secs());
        let creds = turn_credentials(&turn.secret, player_id, expiry);
        servers.push(IceServer {
            urls: turn.urls.clone(),
            username: Some(creds.username),
            credential: Some(creds.credential),
        });
    }
    servers
}
