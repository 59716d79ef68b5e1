//! The relay stage of the reference server (`connector_server --relay-secret S`): two
//! members, each admitted by a ticket, and every `RelayPacket` one sends is pushed unchanged
//! to the other. The wire contract is in [`crate::relay`] and docs/spec/connector.md.
//!
//! Limits: exactly two members per stage (a third is refused with `StageFull`), payloads up
//! to [`RelayConfig::max_packet`] (larger ones are dropped and counted), at most
//! [`RelayConfig::max_queued_bytes_per_member`] waiting for a member's socket (a member that
//! stops reading is cut and the other one gets `RelayPeerLeft {reason: "cut"}`), at most
//! [`RelayConfig::max_stages`] stages. A stage closes when both members have left or when
//! no packet went through it for [`RelayConfig::idle_timeout`] (its members get
//! `RelayPeerLeft {reason: "idle"}` and are disconnected).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Outcome, PlayServerBuilder, RequestContext, ServerHandle, SessionHandle};
use crate::packet::Packet;
use crate::relay::{
    verify_ticket, RelayJoinReply, RelayJoinRequest, RelayPeerJoined, RelayPeerLeft, RelayRefusal,
    DEFAULT_MAX_RELAY_PACKET, JOIN_REQUEST, RELAY_PACKET,
};

/// Default idle timeout of a relay stage.
pub const DEFAULT_RELAY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on bytes waiting for one member's socket.
pub const DEFAULT_MAX_QUEUED_BYTES_PER_MEMBER: usize = 256 * 1024;
/// Default limit on relay stages alive at once.
pub const DEFAULT_MAX_RELAY_STAGES: usize = 4096;

/// Settings of the relay stage.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The HS256 secret shared with the signaling server.
    pub secret: Vec<u8>,
    /// Largest forwarded payload ([`DEFAULT_MAX_RELAY_PACKET`]).
    pub max_packet: usize,
    /// Bytes that may wait for one member's socket ([`DEFAULT_MAX_QUEUED_BYTES_PER_MEMBER`]).
    pub max_queued_bytes_per_member: usize,
    /// A stage with no packet for this long closes ([`DEFAULT_RELAY_IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// Stages alive at once ([`DEFAULT_MAX_RELAY_STAGES`]).
    pub max_stages: usize,
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("secret", &"<redacted>")
            .field("max_packet", &self.max_packet)
            .field(
                "max_queued_bytes_per_member",
                &self.max_queued_bytes_per_member,
            )
            .field("idle_timeout", &self.idle_timeout)
            .field("max_stages", &self.max_stages)
            .finish()
    }
}

impl RelayConfig {
    /// Defaults with `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
            max_packet: DEFAULT_MAX_RELAY_PACKET,
            max_queued_bytes_per_member: DEFAULT_MAX_QUEUED_BYTES_PER_MEMBER,
            idle_timeout: DEFAULT_RELAY_IDLE_TIMEOUT,
            max_stages: DEFAULT_MAX_RELAY_STAGES,
        }
    }
}

/// Counters of the relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets forwarded.
    pub forwarded: AtomicU64,
    /// Packets dropped: too large, from a non-member, or no other member.
    pub dropped: AtomicU64,
    /// Members cut for not reading.
    pub cut: AtomicU64,
    /// Joins refused.
    pub refused: AtomicU64,
}

struct Member {
    session: SessionHandle,
    sub: String,
}

struct Stage {
    members: [Option<Member>; 2],
    last_activity: Instant,
}

impl Stage {
    fn is_empty(&self) -> bool {
        self.members.iter().all(Option::is_none)
    }
}

/// The relay stages of one server.
pub struct RelayState {
    config: RelayConfig,
    stages: Mutex<BTreeMap<i64, Stage>>,
    /// session id → stage id, for members.
    member_of: Mutex<BTreeMap<u64, i64>>,
    sweeper: AtomicBool,
    /// Counters.
    pub stats: RelayStats,
}

impl std::fmt::Debug for RelayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayState")
            .field("config", &self.config)
            .field("stages", &self.stage_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn left(reason: &str) -> Packet {
    Packet::from_message(&RelayPeerLeft {
        reason: reason.to_owned(),
    })
}

impl RelayState {
    /// Relay stages alive now.
    pub fn stage_count(&self) -> usize {
        lock(&self.stages).len()
    }

    fn join(&self, ctx: &RequestContext, packet: &Packet) -> Result<(u32, bool), RelayRefusal> {
        let req = packet
            .decode::<RelayJoinRequest>()
            .map_err(|_| RelayRefusal::InvalidTicket)?;
        let claims = verify_ticket(&req.ticket, &self.config.secret, ctx.stage_id())?;
        let stage_id = ctx.stage_id();
        let session = ctx.session().clone();
        let mut stages = lock(&self.stages);
        if !stages.contains_key(&stage_id) && stages.len() >= self.config.max_stages {
            return Err(RelayRefusal::TooManyStages);
        }
        let stage = stages.entry(stage_id).or_insert_with(|| Stage {
            members: [None, None],
            last_activity: Instant::now(),
        });
        // a rejoin of the same player replaces its old session
        let slot = stage
            .members
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.sub == claims.sub))
            .or_else(|| stage.members.iter().position(Option::is_none))
            .ok_or(RelayRefusal::StageFull)?;
        let replaced = stage.members.get_mut(slot).and_then(|m| {
            m.replace(Member {
                session: session.clone(),
                sub: claims.sub,
            })
        });
        stage.last_activity = Instant::now();
        let peer = stage
            .members
            .get(1 - slot)
            .and_then(|m| m.as_ref().map(|m| m.session.clone()));
        drop(stages);
        let mut member_of = lock(&self.member_of);
        if let Some(old) = &replaced {
            member_of.remove(&old.session.id());
        }
        member_of.insert(session.id(), stage_id);
        drop(member_of);
        if let Some(old) = replaced {
            old.session.close();
        }
        if let Some(peer) = &peer {
            peer.push(stage_id, &Packet::from_message(&RelayPeerJoined {}));
        }
        Ok((u32::try_from(slot).unwrap_or(0), peer.is_some()))
    }

    fn forward(&self, ctx: &RequestContext, packet: Packet) {
        let stage_id = ctx.stage_id();
        let me = ctx.session().id();
        let drop_one = || {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        };
        if packet.payload().len() > self.config.max_packet {
            return drop_one();
        }
        let peer = {
            let mut stages = lock(&self.stages);
            let Some(stage) = stages.get_mut(&stage_id) else {
                return drop_one();
            };
            let mine = stage
                .members
                .iter()
                .position(|m| m.as_ref().is_some_and(|m| m.session.id() == me));
            let Some(mine) = mine else {
                return drop_one();
            };
            stage.last_activity = Instant::now();
            stage
                .members
                .get(1 - mine)
                .and_then(|m| m.as_ref().map(|m| m.session.clone()))
        };
        let Some(peer) = peer else {
            return drop_one();
        };
        if peer.queued_bytes() > self.config.max_queued_bytes_per_member
            || !peer.push(
                stage_id,
                &Packet::new(RELAY_PACKET, packet.payload().clone()),
            )
        {
            self.cut(stage_id, &peer, ctx.session());
            return drop_one();
        }
        self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Cuts `slow` (it stopped reading) and tells `other`.
    fn cut(&self, stage_id: i64, slow: &SessionHandle, other: &SessionHandle) {
        let removed = self.remove_member(slow.id());
        slow.close();
        if removed.is_some() {
            self.stats.cut.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                stage = stage_id,
                session = slow.id(),
                "relay member not reading: cut"
            );
            other.push(stage_id, &left("cut"));
        }
    }

    /// Removes a member; returns its stage and the other member, if any.
    fn remove_member(&self, session_id: u64) -> Option<(i64, Option<SessionHandle>)> {
        let stage_id = lock(&self.member_of).remove(&session_id)?;
        let mut stages = lock(&self.stages);
        let stage = stages.get_mut(&stage_id)?;
        for m in stage.members.iter_mut() {
            if m.as_ref().is_some_and(|m| m.session.id() == session_id) {
                *m = None;
            }
        }
        let other = stage
            .members
            .iter()
            .flatten()
            .map(|m| m.session.clone())
            .next();
        if stage.is_empty() {
            stages.remove(&stage_id);
        }
        Some((stage_id, other))
    }

    /// A session ended: if it was a member, the other member is told.
    fn on_session_closed(&self, session_id: u64) {
        if let Some((stage_id, Some(other))) = self.remove_member(session_id) {
            other.push(stage_id, &left("left"));
        }
    }

    /// Closes the stages idle since `now - idle_timeout`.
    fn sweep(&self, now: Instant) {
        let stale: Vec<(i64, Stage)> = {
            let mut stages = lock(&self.stages);
            let ids: Vec<i64> = stages
                .iter()
                .filter(|(_, s)| {
                    now.saturating_duration_since(s.last_activity) >= self.config.idle_timeout
                })
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| stages.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (stage_id, stage) in stale {
            tracing::info!(stage = stage_id, "relay stage idle: closing");
            for m in stage.members.into_iter().flatten() {
                lock(&self.member_of).remove(&m.session.id());
                m.session.push(stage_id, &left("idle"));
                m.session.close();
            }
        }
    }

    fn start_sweeper(self: &Arc<Self>, server: &ServerHandle) {
        if self.sweeper.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = Arc::clone(self);
        let shutdown = server.shared.shutdown.clone();
        let tick =
            (self.config.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        server.shared.tasks.spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = interval.tick() => state.sweep(Instant::now()),
                }
            }
        });
    }
}

impl PlayServerBuilder {
    /// Enables the relay stage: `RelayJoinRequest` (which also authenticates the session)
    /// and `RelayPacket`. [`relay_state`](Self::relay_state) gives its counters.
    pub fn relay(mut self, config: RelayConfig) -> Self {
        let state = Arc::new(RelayState {
            config,
            stages: Mutex::new(BTreeMap::new()),
            member_of: Mutex::new(BTreeMap::new()),
            sweeper: AtomicBool::new(false),
            stats: RelayStats::default(),
        });
        self.relay = Some(state.clone());
        self.extra_auth.push(JOIN_REQUEST.to_owned());
        let closed = state.clone();
        self.on_session_closed
            .push(Arc::new(move |id| closed.on_session_closed(id)));
        let joining = state.clone();
        let forwarding = state;
        self.handler(JOIN_REQUEST, move |ctx, packet| {
            match joining.join(ctx, &packet) {
                Ok((member, peer_present)) => {
                    joining.start_sweeper(ctx.server());
                    ctx.reply(Packet::from_message(&RelayJoinReply {
                        member,
                        peer_present,
                    }));
                }
                Err(refusal) => {
                    joining.stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(stage = ctx.stage_id(), ?refusal, "relay join refused");
                    ctx.reply_error(refusal.code());
                }
            }
            Outcome::NoReply
        })
        .handler(RELAY_PACKET, move |ctx, packet| {
            forwarding.forward(ctx, packet);
            Outcome::NoReply
        })
    }

    /// The relay state set by [`relay`](Self::relay) (for its counters).
    pub fn relay_state(&self) -> Option<Arc<RelayState>> {
        self.relay.clone()
    }
}
