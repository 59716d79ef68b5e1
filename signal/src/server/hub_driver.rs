//! The task that owns the [`Hub`]: it applies commands from the connections, fires the
//! hub's deadlines and routes the hub's output into per-connection queues without ever
//! waiting on a connection (a full queue means a slow consumer, which is cut off).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::fast_relay::IceFrame;
use super::metrics::Metrics;
use super::route::{RouteCell, Routes};
use crate::hub::{ConnId, Hub, HubOutput, LobbyMailbox, Pushed, DEFAULT_LOBBY_DELTA_BACKLOG};
use crate::lobby_deflate::{self, LobbyCompression};
use crate::protocol::{ClientMessage, ServerMessage};

/// Close code for policy violations (slow consumer, rate abuse).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code when the server goes away.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// A close the hub asks a connection to perform.
pub(crate) type CloseRequest = (u16, &'static str);

/// Something queued for one connection (never dropped).
#[derive(Debug)]
pub(crate) enum Outbound {
    Message(ServerMessage),
    /// An already serialized message and its wire name (relayed ICE candidates).
    Text(&'static str, Utf8Bytes),
    Close(CloseRequest),
}

/// A serialized lobby message and its wire name (for metrics): one text frame, or the
/// binary frames of its compressed form (shared by every recipient).
pub(crate) type LobbyFrame = (&'static str, Arc<[Message]>);

/// The unsent lobby messages of one connection (coalescing, see [`LobbyMailbox`]).
#[derive(Debug)]
pub(crate) struct LobbySlot {
    mailbox: Mutex<LobbyMailbox<LobbyFrame>>,
    pub(crate) notify: Notify,
    /// How this connection wants its lobby messages (fixed at connect).
    compression: LobbyCompression,
}

impl Default for LobbySlot {
    fn default() -> Self {
        Self::new(DEFAULT_LOBBY_DELTA_BACKLOG, LobbyCompression::None)
    }
}

impl LobbySlot {
    pub(crate) fn new(max_deltas: usize, compression: LobbyCompression) -> Self {
        Self {
            mailbox: Mutex::new(LobbyMailbox::new(max_deltas)),
            notify: Notify::new(),
            compression,
        }
    }

    /// Takes the unsent messages, oldest first.
    pub(crate) fn take(&self) -> VecDeque<LobbyFrame> {
        self.mailbox
            .lock()
            .map(|mut m| m.take())
            .unwrap_or_default()
    }

    /// Stores a full update (replacing anything unsent).
    fn put_full(&self, frame: LobbyFrame) -> Pushed {
        let pushed = match self.mailbox.lock() {
            Ok(mut m) => m.push_full(frame),
            Err(_) => Pushed::Queued,
        };
        self.notify.notify_one();
        pushed
    }

    /// Queues a delta, or the resync full update when the connection is too far behind.
    fn put_delta(&self, frame: LobbyFrame, resync: impl FnOnce() -> Option<LobbyFrame>) -> Pushed {
        let pushed = match self.mailbox.lock() {
            Ok(mut m) => m.push_delta(frame, resync),
            Err(_) => Pushed::Queued,
        };
        self.notify.notify_one();
        pushed
    }
}

/// The hub task's handle on one connection.
#[derive(Debug)]
pub(crate) struct Outbox {
    pub(crate) queue: mpsc::Sender<Outbound>,
    pub(crate) lobby: Arc<LobbySlot>,
    pub(crate) kick: Option<oneshot::Sender<CloseRequest>>,
    /// This connection's direct relay route (granted by the single-node hub task only).
    pub(crate) route: Arc<RouteCell>,
}

/// Commands from connection tasks.
#[derive(Debug)]
pub(crate) enum HubCommand {
    Register {
        conn: ConnId,
        player_id: String,
        name: String,
        outbox: Outbox,
    },
    Message {
        conn: ConnId,
        msg: ClientMessage,
    },
    /// A `send_ice_candidate` parsed by the fast path (see [`IceFrame`]).
    Ice {
        conn: ConnId,
        frame: IceFrame,
    },
    Unregister {
        conn: ConnId,
    },
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    r#type: &'static str,
    payload: &'a T,
}

/// One lobby message, serialized once and compressed at most once, in the encodings its
/// recipients asked for.
struct Encoded {
    kind: &'static str,
    text: Utf8Bytes,
    plain: Option<Arc<[Message]>>,
    deflated: Option<Arc<[Message]>>,
}

impl Encoded {
    fn new<T: Serialize>(kind: &'static str, payload: &T) -> Option<Self> {
        let text = serde_json::to_string(&Envelope {
            r#type: kind,
            payload,
        })
        .ok()?;
        Some(Self {
            kind,
            text: Utf8Bytes::from(text),
            plain: None,
            deflated: None,
        })
    }

    /// The frames for a connection that wants `compression`.
    fn frames(&mut self, compression: LobbyCompression) -> LobbyFrame {
        let deflate = compression == LobbyCompression::Deflate
            && self.text.len() >= lobby_deflate::MIN_DEFLATE_LEN;
        let frames = if deflate {
            let text = &self.text;
            self.deflated.get_or_insert_with(|| {
                lobby_deflate::deflate_chunks(text.as_str().as_bytes(), lobby_deflate::MAX_CHUNK)
                    .into_iter()
                    .map(|chunk| Message::Binary(chunk.into()))
                    .collect()
            })
        } else {
            let text = &self.text;
            self.plain
                .get_or_insert_with(|| Arc::from([Message::Text(text.clone())]))
        };
        (self.kind, frames.clone())
    }
}

/// Upper bound of commands applied before routing output and checking timers.
const BATCH: usize = 256;

/// Runs the hub until the command channel closes or `shutdown` fires.
pub(crate) async fn run_hub(
    mut hub: Hub,
    mut rx: mpsc::Receiver<HubCommand>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut outboxes: HashMap<ConnId, Outbox> = HashMap::new();
    let mut routes = Routes::default();
    loop {
        let mut full = false;
        let deadline = hub.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                apply(&mut hub, &mut outboxes, &mut routes, &metrics, cmd, now);
                full = true;
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok(cmd) => apply(&mut hub, &mut outboxes, &mut routes, &metrics, cmd, now),
                        Err(_) => {
                            full = false;
                            break;
                        }
                    }
                }
            }
            _ = sleep => {
                hub.handle_timeout(Instant::now());
                routes.revalidate(&hub, &outboxes);
            }
        }
        route_output_routed(&mut hub, &mut outboxes, &mut routes, &metrics, false);
        metrics.set_hub_stats(&hub.stats());
        if full {
            // More commands are waiting: let the connection tasks drain their queues
            // before the next batch. Otherwise, under overload, the hub keeps the worker
            // for its whole coop budget (up to ~128 batches), fills healthy clients'
            // outbound queues faster than their tasks can write and cuts them off as
            // slow consumers.
            tokio::task::yield_now().await;
        }
    }
}

fn apply(
    hub: &mut Hub,
    outboxes: &mut HashMap<ConnId, Outbox>,
    routes: &mut Routes,
    metrics: &Metrics,
    cmd: HubCommand,
    now: Instant,
) {
    match cmd {
        HubCommand::Register {
            conn,
            player_id,
            name,
            outbox,
        } => {
            outboxes.insert(conn, outbox);
            hub.connect(conn, &player_id, &name, now);
        }
        HubCommand::Message { conn, msg } => {
            let _ = hub.handle_message(conn, msg, now);
            // Whatever it changed, the routes from and to its sender are re-granted by
            // the next relay the hub makes (server/route.rs).
            routes.revoke_touching(outboxes, conn);
        }
        HubCommand::Ice { conn, frame } => {
            let route = hub.ice_route(
                conn,
                frame.sender_id(),
                frame.receiver_id(),
                frame.session_id(),
            );
            // Only to a connection of this process; anything else (a refusal, a player
            // the hub reaches another way) takes the hub's normal path.
            match route.filter(|to| outboxes.contains_key(to)) {
                Some(to) => {
                    // What the hub queued before this relay goes out first.
                    route_output_routed(hub, outboxes, routes, metrics, false);
                    let text = frame.relayed();
                    deliver(
                        hub,
                        outboxes,
                        routes,
                        metrics,
                        to,
                        Outbound::Text("ice_candidate_received", text),
                        false,
                    );
                    // Later candidates of this route go straight to `to`.
                    routes.grant(outboxes, conn, to, &frame);
                }
                None => match frame.into_message() {
                    Ok(msg) => {
                        let _ = hub.handle_message(conn, msg, now);
                    }
                    Err(e) => {
                        let refusal = format!("bad message: {e}");
                        let err = crate::protocol::ErrorCode::BadRequest.message(refusal, None);
                        let out = Outbound::Message(err);
                        deliver(hub, outboxes, routes, metrics, conn, out, false);
                    }
                },
            }
        }
        HubCommand::Unregister { conn } => {
            routes.revoke_touching(outboxes, conn);
            outboxes.remove(&conn);
            hub.disconnect(conn, now);
        }
    }
}

/// Delivers the hub's output to the connections in `outboxes` (others are skipped). A
/// `replicated` hub (cluster mode) is not told about a slow consumer here: the kicked
/// connection's own `Unregister` reaches it through the cluster log.
pub(crate) fn route_output(
    hub: &mut Hub,
    outboxes: &mut HashMap<ConnId, Outbox>,
    metrics: &Metrics,
    replicated: bool,
) {
    route_output_routed(hub, outboxes, &mut Routes::default(), metrics, replicated);
}

/// [`route_output`] that also revokes the direct routes (server/route.rs) from and to every
/// connection the hub sends a message or a close: a session change reaches its players
/// that way, and no candidate may be relayed directly past it.
fn route_output_routed(
    hub: &mut Hub,
    outboxes: &mut HashMap<ConnId, Outbox>,
    routes: &mut Routes,
    metrics: &Metrics,
    replicated: bool,
) {
    while let Some(out) = hub.poll_output() {
        match out {
            HubOutput::Send { conn, msg } => {
                routes.revoke_touching(outboxes, conn);
                deliver(
                    hub,
                    outboxes,
                    routes,
                    metrics,
                    conn,
                    Outbound::Message(msg),
                    replicated,
                );
            }
            HubOutput::Close { conn, code, reason } => {
                routes.revoke_touching(outboxes, conn);
                if let Some(outbox) = outboxes.get_mut(&conn) {
                    if outbox
                        .queue
                        .try_send(Outbound::Close((code, reason)))
                        .is_err()
                    {
                        kick(outbox, (code, reason));
                    }
                }
            }
            HubOutput::Lobby { update, recipients } => {
                let Some(mut full) = Encoded::new("lobby_update", &*update) else {
                    continue;
                };
                for conn in recipients {
                    if let Some(outbox) = outboxes.get(&conn) {
                        let frames = full.frames(outbox.lobby.compression);
                        if outbox.lobby.put_full(frames) == Pushed::Replaced {
                            metrics.lobby_updates_dropped.inc();
                        }
                    }
                }
            }
            HubOutput::LobbyDelta { delta, recipients } => {
                let Some(mut encoded) = Encoded::new("lobby_delta", &*delta) else {
                    continue;
                };
                // Serialized at most once, and only if some connection fell behind.
                let mut resync: Option<Option<Encoded>> = None;
                for conn in recipients {
                    let Some(outbox) = outboxes.get(&conn) else {
                        continue;
                    };
                    let compression = outbox.lobby.compression;
                    let pushed = outbox.lobby.put_delta(encoded.frames(compression), || {
                        resync
                            .get_or_insert_with(|| {
                                let update = hub.published_lobby(&delta.lobby)?;
                                Encoded::new("lobby_update", &update)
                            })
                            .as_mut()
                            .map(|full| full.frames(compression))
                    });
                    if pushed == Pushed::Resynced {
                        metrics.lobby_resyncs.inc();
                        metrics.lobby_updates_dropped.inc();
                    }
                }
            }
        }
    }
}

/// Queues `out` for `conn`; a full queue cuts the connection off as a slow consumer (a
/// `replicated` hub learns of it through the cluster log instead, see [`route_output`]).
fn deliver(
    hub: &mut Hub,
    outboxes: &mut HashMap<ConnId, Outbox>,
    routes: &mut Routes,
    metrics: &Metrics,
    conn: ConnId,
    out: Outbound,
    replicated: bool,
) {
    let Some(outbox) = outboxes.get_mut(&conn) else {
        return;
    };
    if outbox.kick.is_none() {
        return;
    }
    match outbox.queue.try_send(out) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics.slow_consumers.inc();
            tracing::info!(conn, "slow consumer disconnected");
            kick(outbox, (CLOSE_POLICY, "slow consumer"));
            routes.revoke_touching(outboxes, conn);
            if !replicated {
                hub.disconnect(conn, Instant::now());
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

fn kick(outbox: &mut Outbox, close: CloseRequest) {
    if let Some(tx) = outbox.kick.take() {
        let _ = tx.send(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lobby_slot_keeps_only_the_newest_snapshot() {
        let slot = LobbySlot::default();
        let f = |t: &'static str| -> LobbyFrame {
            (
                "lobby_update",
                Arc::from([Message::Text(Utf8Bytes::from_static(t))]),
            )
        };
        assert_eq!(slot.put_full(f("one")), Pushed::Queued);
        assert_eq!(slot.put_full(f("two")), Pushed::Replaced);
        assert_eq!(slot.take(), [f("two")]);
        assert!(slot.take().is_empty());
        assert_eq!(slot.put_full(f("three")), Pushed::Queued);
    }

    #[test]
    fn a_full_queue_kicks_the_slow_consumer_and_frees_its_opponent() {
        let metrics = Metrics::new();
        let mut hub = Hub::with_seed(crate::hub::HubConfig::default(), 3);
        let mut outboxes = HashMap::new();
        let now = Instant::now();
        let (tx, _rx) = mpsc::channel(1);
        let (kick_tx, mut kick_rx) = oneshot::channel();
        outboxes.insert(
            1,
            Outbox {
                queue: tx,
                lobby: Arc::default(),
                kick: Some(kick_tx),
                route: Arc::default(),
            },
        );
        hub.connect(1, "slow", "slow", now);
        for _ in 0..2 {
            let _ = hub.handle_text(1, "junk", now);
        }
        route_output(&mut hub, &mut outboxes, &metrics, false);
        assert_eq!(
            kick_rx.try_recv().ok(),
            Some((CLOSE_POLICY, "slow consumer"))
        );
        assert_eq!(metrics.slow_consumers.get(), 1);
        assert_eq!(hub.stats().players, 0);
    }
}
