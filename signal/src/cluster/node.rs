//! The node task: it owns the [`Replica`] and the local connections' outboxes, turns
//! connection commands into log appends, applies the log, and appends `Tick`s when it is
//! the cluster's timekeeper.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::entry::{global_conn, node_of, LogEntry};
use super::redis_io::{
    run_heartbeat, run_reader, run_writer, Append, ClusterLink, Epoch, Event, HeartbeatLink, Keys,
    Origin, RedisClock,
};
use super::replica::Replica;
use crate::hub::{ConnId, HubConfig, Membership};
use crate::protocol::{ClientMessage, ErrorCode, JoinLobby};
use crate::server::hub_driver::{route_output, HubCommand, Outbound, Outbox};
use crate::server::Metrics;

/// Capacity of the append queue and of the event channel.
const QUEUE: usize = 8192;
/// Least time between two `Tick`s of this node.
const TICK_SPACING: Duration = Duration::from_millis(10);
/// A `Tick` not seen in the log after this long is sent again.
const TICK_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct LocalConn {
    player: String,
    name: String,
    /// Its `Connect` is in the log (of the current epoch).
    announced: bool,
}

struct Node {
    replica: Replica,
    hub_config: HubConfig,
    epoch: Epoch,
    keys: Keys,
    clock: RedisClock,
    epoch_tx: watch::Sender<Epoch>,
    /// What the heartbeat reports as this node's position in the log.
    applied_tx: watch::Sender<(String, String)>,
    writer: mpsc::Sender<Append>,
    outboxes: HashMap<ConnId, Outbox>,
    local: BTreeMap<ConnId, LocalConn>,
    pending_disconnects: BTreeSet<ConnId>,
    healthy: bool,
    timekeeper: bool,
    tick_sent: Option<Instant>,
    metrics: Arc<Metrics>,
}

/// Runs one cluster node until `shutdown` fires or the connections' channel closes.
pub(crate) async fn run_node(
    link: ClusterLink,
    hub_config: HubConfig,
    mut rx: mpsc::Receiver<HubCommand>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let ClusterLink {
        config,
        client,
        conn,
        keys,
        node,
        epoch,
        clock,
    } = link;
    tracing::info!(node, node_id = %config.node_id, epoch = %epoch.id, "cluster node started");
    let (events_tx, mut events) = mpsc::channel(QUEUE);
    let (writer_tx, writer_rx) = mpsc::channel(QUEUE);
    let (epoch_tx, epoch_rx) = watch::channel(epoch.clone());
    let (applied_tx, applied_rx) = watch::channel((epoch.id.clone(), "0-0".to_owned()));
    let tasks = [
        tokio::spawn(run_writer(
            conn.clone(),
            writer_rx,
            events_tx.clone(),
            metrics.clone(),
        )),
        tokio::spawn(run_reader(
            client,
            keys.clone(),
            epoch_rx,
            events_tx.clone(),
            metrics.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(run_heartbeat(
            HeartbeatLink {
                conn,
                config,
                keys: keys.clone(),
                node,
                epoch: epoch.clone(),
                applied: applied_rx,
            },
            events_tx,
            metrics.clone(),
            shutdown.clone(),
        )),
    ];
    let mut n = Node {
        replica: Replica::new(hub_config.clone(), epoch.seed, node, epoch.origin_ms),
        hub_config,
        epoch,
        keys,
        clock,
        epoch_tx,
        applied_tx,
        writer: writer_tx,
        outboxes: HashMap::new(),
        local: BTreeMap::new(),
        pending_disconnects: BTreeSet::new(),
        healthy: true,
        timekeeper: true,
        tick_sent: None,
        metrics,
    };
    loop {
        let tick_at = n.tick_at();
        let sleep = async {
            match tick_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            cmd = rx.recv() => match cmd {
                Some(cmd) => n.command(cmd),
                None => break,
            },
            ev = events.recv() => match ev {
                Some(ev) => n.event(ev),
                None => break,
            },
            _ = sleep => {
                n.tick_sent = Some(Instant::now());
                n.append(LogEntry::Tick, Origin::Tick);
            }
        }
    }
    for t in tasks {
        t.abort();
    }
}

impl Node {
    /// When this node should append the next `Tick` (timekeeper only).
    fn tick_at(&self) -> Option<Instant> {
        if !self.timekeeper || !self.healthy {
            return None;
        }
        let due = self.clock.instant_of(self.replica.due_ms()?);
        Some(match self.tick_sent {
            Some(sent) if sent.elapsed() < TICK_RETRY => {
                due.max(sent + TICK_SPACING).max(sent + TICK_RETRY)
            }
            Some(sent) => due.max(sent + TICK_SPACING),
            None => due,
        })
    }

    fn append(&mut self, entry: LogEntry, origin: Origin) {
        let append = Append {
            epoch: self.epoch.id.as_str().into(),
            stream: self.keys.log(&self.epoch),
            text: entry.encode(),
            origin,
        };
        if self.writer.try_send(append).is_err() {
            let epoch = self.epoch.id.as_str().into();
            self.failed(vec![(epoch, origin)]);
        }
    }

    fn unavailable(&mut self, conn: ConnId) {
        self.metrics.cluster.unavailable.inc();
        if let Some(outbox) = self.outboxes.get(&conn) {
            let msg = ErrorCode::Unavailable.message("cluster unavailable, retry later", None);
            let _ = outbox.queue.try_send(Outbound::Message(msg));
        }
    }

    fn command(&mut self, cmd: HubCommand) {
        let node = self.replica.node();
        match cmd {
            HubCommand::Register {
                conn,
                player_id,
                name,
                outbox,
            } => {
                let conn = global_conn(node, conn);
                self.outboxes.insert(conn, outbox);
                self.local.insert(
                    conn,
                    LocalConn {
                        player: player_id.clone(),
                        name: name.clone(),
                        announced: self.healthy,
                    },
                );
                if self.healthy {
                    let entry = LogEntry::Connect {
                        conn,
                        player: player_id,
                        name,
                    };
                    self.append(entry, Origin::Connect(conn));
                }
            }
            HubCommand::Message { conn, msg } => {
                let conn = global_conn(node, conn);
                let announced = self.local.get(&conn).is_some_and(|l| l.announced);
                if self.healthy && announced {
                    self.append(LogEntry::Message { conn, msg }, Origin::Message(conn));
                } else {
                    self.unavailable(conn);
                }
            }
            // The single-node fast path does not apply here: every relay goes through the
            // log, so the candidate is parsed as a whole message.
            HubCommand::Ice { conn, frame } => match frame.into_message() {
                Ok(msg) => self.command(HubCommand::Message { conn, msg }),
                Err(e) => {
                    let conn = global_conn(node, conn);
                    if let Some(outbox) = self.outboxes.get(&conn) {
                        let refusal = format!("bad message: {e}");
                        let msg = ErrorCode::BadRequest.message(refusal, None);
                        let _ = outbox.queue.try_send(Outbound::Message(msg));
                    }
                }
            },
            HubCommand::Unregister { conn } => {
                let conn = global_conn(node, conn);
                self.outboxes.remove(&conn);
                let announced = self.local.remove(&conn).is_some_and(|l| l.announced);
                if announced && self.healthy {
                    self.append(LogEntry::Disconnect { conn }, Origin::Disconnect(conn));
                } else if announced {
                    self.pending_disconnects.insert(conn);
                }
            }
        }
    }

    fn failed(&mut self, origins: Vec<(Arc<str>, Origin)>) {
        if origins.iter().any(|(e, _)| **e == *self.epoch.id) {
            self.set_healthy(false);
        }
        for (epoch, origin) in origins {
            if *epoch != *self.epoch.id {
                // A write of an epoch this node already left: only its sender cares.
                if let Origin::Message(conn) = origin {
                    self.unavailable(conn);
                }
                continue;
            }
            match origin {
                Origin::Message(conn) => self.unavailable(conn),
                Origin::Connect(conn) => {
                    if let Some(l) = self.local.get_mut(&conn) {
                        l.announced = false;
                    }
                }
                Origin::Disconnect(conn) => {
                    self.pending_disconnects.insert(conn);
                }
                Origin::Tick => self.tick_sent = None,
            }
        }
    }

    fn set_healthy(&mut self, healthy: bool) {
        self.healthy = healthy;
        self.metrics.cluster.degraded.set(i64::from(!healthy));
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Entries {
                epoch,
                entries,
                last_id,
            } => {
                if epoch == self.epoch.id {
                    self.apply(entries);
                    self.applied_tx.send_replace((epoch, last_id));
                }
            }
            Event::WriteFailed(origins) => self.failed(origins),
            Event::Unhealthy => self.set_healthy(false),
            Event::Healthy(live) => {
                let node = self.replica.node();
                self.timekeeper = live.iter().min().is_none_or(|&min| min >= node);
                if !self.healthy {
                    tracing::info!("cluster reachable again");
                    self.set_healthy(true);
                    self.recover();
                }
            }
            // The reader and the heartbeat may both report the same new epoch.
            Event::NewEpoch(epoch) if epoch.id == self.epoch.id => {}
            Event::NewEpoch(epoch) => self.reset(epoch),
        }
    }

    fn apply(&mut self, entries: Vec<(u64, LogEntry)>) {
        let me = self.replica.node();
        let now_ms = self.clock.now_ms();
        for (ms, entry) in entries {
            self.metrics.cluster.entries_received.inc();
            match &entry {
                LogEntry::Tick => self.tick_sent = None,
                LogEntry::Message { conn, .. } => {
                    let secs = now_ms.saturating_sub(ms) as f64 / 1000.0;
                    if node_of(*conn) == me {
                        self.metrics.cluster.same_node_latency.observe(secs);
                    } else {
                        self.metrics.cluster.cross_node_latency.observe(secs);
                    }
                }
                _ => {}
            }
            let applied = self.replica.apply(ms, entry);
            if let Some(lost) = applied.lost_self {
                tracing::warn!("this node was declared dead; re-announcing its players");
                self.reannounce(lost);
            }
        }
        route_output(
            self.replica.hub_mut(),
            &mut self.outboxes,
            &self.metrics,
            true,
        );
        self.metrics.set_hub_stats(&self.replica.hub().stats());
    }

    /// Announces again connections whose `Connect` or `Disconnect` failed.
    fn recover(&mut self) {
        for conn in std::mem::take(&mut self.pending_disconnects) {
            self.append(LogEntry::Disconnect { conn }, Origin::Disconnect(conn));
        }
        let missing: Vec<ConnId> = self
            .local
            .iter()
            .filter(|(_, l)| !l.announced)
            .map(|(c, _)| *c)
            .collect();
        for conn in missing {
            self.announce(conn, None);
        }
    }

    /// Puts a local connection (and its lobby membership) into the log.
    fn announce(&mut self, conn: ConnId, membership: Option<Membership>) {
        let Some(l) = self.local.get_mut(&conn) else {
            return;
        };
        l.announced = true;
        let (player, name) = (l.player.clone(), l.name.clone());
        self.append(
            LogEntry::Connect {
                conn,
                player: player.clone(),
                name,
            },
            Origin::Connect(conn),
        );
        if let Some(m) = membership {
            let msg = ClientMessage::JoinLobby(JoinLobby {
                player_id: player,
                player_name: m.name,
                lobby: Some(m.lobby),
                updates: Some(m.updates),
            });
            self.append(LogEntry::Message { conn, msg }, Origin::Message(conn));
        }
    }

    fn reannounce(&mut self, memberships: Vec<(ConnId, Option<Membership>)>) {
        for (conn, m) in memberships {
            self.announce(conn, m);
        }
    }

    /// Redis lost the cluster state: start over in `epoch` with this node's connections.
    fn reset(&mut self, epoch: Epoch) {
        let memberships: BTreeMap<ConnId, Membership> = self
            .replica
            .local_memberships()
            .into_iter()
            .filter_map(|(c, m)| Some((c, m?)))
            .collect();
        self.replica = Replica::new(
            self.hub_config.clone(),
            epoch.seed,
            self.replica.node(),
            epoch.origin_ms,
        );
        self.epoch = epoch.clone();
        let _ = self.epoch_tx.send(epoch);
        self.pending_disconnects.clear();
        self.tick_sent = None;
        self.set_healthy(true);
        let conns: Vec<ConnId> = self.local.keys().copied().collect();
        for conn in conns {
            let m = memberships.get(&conn).cloned();
            self.announce(conn, m);
        }
    }
}
