//! Redis I/O of a node: the start-up handshake, the appender, the stream reader and the
//! heartbeat. Each loop reports to the node task through one bounded channel and retries
//! with backoff; none of them holds cluster state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamReadReply;
use redis::{AsyncCommands, Client, Script};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::entry::{decode_stream_pack, packed_field, LogEntry, MAX_PACKED};
use super::{ClusterConfig, ClusterError};
use crate::hub::ConnId;

/// Entries read per `XREAD`.
const READ_COUNT: usize = 1024;
/// `XREAD BLOCK` milliseconds.
const READ_BLOCK_MS: u64 = 1000;
/// Entries appended per pipeline at most.
const WRITE_BATCH: usize = 512;
/// Bytes of log entries packed into one stream entry at most.
const PACK_MAX_BYTES: usize = 256 * 1024;
/// Retry delays after a Redis error.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Creates the epoch if there is none; returns the current one (`seed:origin_ms`). A new
/// epoch's log is created with it (first entry: a tick with the id `<origin_ms>-1`, which
/// tells a reader that the log still starts where the epoch started), because nodes append with
/// `XADD NOMKSTREAM`: after Redis lost its data, the old epoch's log does not exist, so a
/// node that has not yet noticed the new epoch cannot write where nobody reads (its appends
/// fail and are answered 503). KEYS: epoch. ARGV: seed, log key prefix.
const EPOCH_SCRIPT: &str = r#"
local e = redis.call('GET', KEYS[1])
if e then return e end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
e = ARGV[1] .. ':' .. ms
redis.call('SET', KEYS[1], e)
redis.call('XADD', ARGV[2] .. e, ms .. '-1', 'e', '{"k":"tick"}')
return e
"#;

/// Ends the epoch `ARGV[1]` if it is still the current one (a node found that it cannot
/// replay its log); the next `EPOCH_SCRIPT` starts a new one. KEYS: epoch.
const END_EPOCH_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"#;

/// Heartbeat: refreshes this node's key and records the id of the last log entry it
/// applied, then declares every registered node whose key expired dead, exactly once
/// (removal from the set and the `node_down` entry happen in one atomic script), and trims
/// the log when it is longer than the limit: to the smallest applied id of the live nodes
/// (`XTRIM MINID` keeps that entry and removes the older ones), so no live node loses an
/// entry it has not applied. A node that was not registered (declared dead, or new) and
/// whose position (the one recorded when it was declared dead, else the one it reports)
/// lies before the trim point cannot replay the log: the script ends the epoch. Returns
/// the live node numbers, or `{-1}` when the epoch changed (or was ended).
/// KEYS: epoch, node set, log, applied ids (hash), trim point, positions of nodes declared
/// dead (hash). ARGV: epoch, node number,
/// node id, ttl ms, heartbeat key prefix, applied id, trim length (0: never).
const HEARTBEAT_SCRIPT: &str = r#"
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as = tonumber(am) or 0, tonumber(as) or 0
  bm, bs = tonumber(bm) or 0, tonumber(bs) or 0
  return am < bm or (am == bm and as < bs)
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
redis.call('SET', ARGV[5] .. ARGV[2], ARGV[3], 'PX', ARGV[4])
local trimmed = redis.call('GET', KEYS[5])
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then
  local p = redis.call('HGET', KEYS[6], ARGV[2]) or ARGV[6]
  redis.call('HDEL', KEYS[6], ARGV[2])
  if trimmed and before(p, trimmed) then
    redis.call('SREM', KEYS[2], ARGV[2])
    redis.call('DEL', KEYS[1])
    return {-1}
  end
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[6])
local live = {}
local min = nil
for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[5] .. n) == 1 then
    table.insert(live, tonumber(n))
    local a = redis.call('HGET', KEYS[4], n) or '0-0'
    if min == nil or before(a, min) then min = a end
  else
    redis.call('SREM', KEYS[2], n)
    local p = redis.call('HGET', KEYS[4], n)
    if p then redis.call('HSET', KEYS[6], n, p) end
    redis.call('HDEL', KEYS[4], n)
    redis.call('XADD', KEYS[3], '*', 'e', '{"k":"node_down","node":' .. n .. '}')
  end
end
local limit = tonumber(ARGV[7]) or 0
if min and limit > 0 and (not trimmed or before(trimmed, min))
   and redis.call('XLEN', KEYS[3]) > limit then
  redis.call('XTRIM', KEYS[3], 'MINID', min)
  redis.call('SET', KEYS[5], min)
end
return live
"#;

/// One epoch of the cluster state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Epoch {
    /// The value in Redis (`seed:origin_ms`).
    pub(crate) id: String,
    /// Seed of the replicas' session ids.
    pub(crate) seed: u64,
    /// Log time at which the epoch started.
    pub(crate) origin_ms: u64,
}

impl Epoch {
    /// Id of the epoch's first log entry (written with the epoch).
    pub(crate) fn genesis_id(&self) -> String {
        format!("{}-1", self.origin_ms)
    }

    fn parse(id: String) -> Option<Self> {
        let (seed, ms) = id.split_once(':')?;
        Some(Self {
            seed: seed.parse().ok()?,
            origin_ms: ms.parse().ok()?,
            id,
        })
    }
}

/// Redis key names.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    fn epoch(&self) -> String {
        format!("{}:epoch", self.prefix)
    }
    fn node_seq(&self) -> String {
        format!("{}:nodeseq", self.prefix)
    }
    fn heartbeat_prefix(&self) -> String {
        format!("{}:hb:", self.prefix)
    }
    fn log_prefix(&self) -> String {
        format!("{}:log:", self.prefix)
    }
    fn nodes(&self, epoch: &Epoch) -> String {
        format!("{}:nodes:{}", self.prefix, epoch.id)
    }
    fn applied(&self, epoch: &Epoch) -> String {
        format!("{}:applied:{}", self.prefix, epoch.id)
    }
    fn dead_positions(&self, epoch: &Epoch) -> String {
        format!("{}:deadpos:{}", self.prefix, epoch.id)
    }
    /// The id below which the epoch's log was trimmed.
    pub(crate) fn trimmed(&self, epoch: &Epoch) -> String {
        format!("{}:trimmed:{}", self.prefix, epoch.id)
    }
    pub(crate) fn log(&self, epoch: &Epoch) -> Arc<str> {
        format!("{}{}", self.log_prefix(), epoch.id).into()
    }
}

/// Maps log milliseconds to this process's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisClock {
    base_ms: u64,
    base: Instant,
}

impl RedisClock {
    /// The Redis clock now (estimated).
    pub(crate) fn now_ms(&self) -> u64 {
        let since = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base_ms.saturating_add(since)
    }

    /// When the Redis clock reaches `ms` (estimated).
    pub(crate) fn instant_of(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms.saturating_sub(self.base_ms))
    }
}

/// A node's connection to the cluster, made before the server starts.
pub(crate) struct ClusterLink {
    pub(crate) config: ClusterConfig,
    pub(crate) client: Client,
    pub(crate) conn: ConnectionManager,
    pub(crate) keys: Keys,
    pub(crate) node: u64,
    pub(crate) epoch: Epoch,
    pub(crate) clock: RedisClock,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("node", &self.node)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

fn manager_config(response_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(1)
        .set_max_delay(BACKOFF_MAX)
}

/// Connects, takes a node number and joins (or starts) the current epoch.
pub(crate) async fn connect(config: &ClusterConfig) -> Result<ClusterLink, ClusterError> {
    let url = config.redis_url.clone();
    let client = Client::open(url.as_str()).map_err(|e| ClusterError::Url {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let unreachable = |reason: String| ClusterError::Unreachable {
        url: url.clone(),
        reason,
    };
    let handshake = async {
        let mut conn =
            ConnectionManager::new_with_config(client.clone(), manager_config(BACKOFF_MAX)).await?;
        let keys = Keys {
            prefix: config.key_prefix.clone(),
        };
        let node: u64 = conn.incr(keys.node_seq(), 1u64).await?;
        let epoch = join_epoch(&mut conn, &keys, config, node).await?;
        let clock = redis_clock(&mut conn).await?;
        Ok::<_, redis::RedisError>((conn, keys, node, epoch, clock))
    };
    let (conn, keys, node, epoch, clock) = tokio::time::timeout(config.connect_timeout, handshake)
        .await
        .map_err(|_| unreachable("timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let epoch = epoch.ok_or_else(|| unreachable("malformed epoch key".into()))?;
    Ok(ClusterLink {
        config: config.clone(),
        client,
        conn,
        keys,
        node,
        epoch,
        clock,
    })
}

async fn ensure_epoch(
    conn: &mut ConnectionManager,
    keys: &Keys,
) -> redis::RedisResult<Option<Epoch>> {
    let seed = rand::random::<u64>();
    let id: String = Script::new(EPOCH_SCRIPT)
        .key(keys.epoch())
        .arg(seed)
        .arg(keys.log_prefix())
        .invoke_async(conn)
        .await?;
    Ok(Epoch::parse(id))
}

/// Ends `epoch` (if still current) and starts a new one.
async fn end_epoch(
    conn: &mut ConnectionManager,
    keys: &Keys,
    epoch: &Epoch,
) -> redis::RedisResult<Option<Epoch>> {
    Script::new(END_EPOCH_SCRIPT)
        .key(keys.epoch())
        .arg(&epoch.id)
        .invoke_async::<i64>(conn)
        .await?;
    ensure_epoch(conn, keys).await
}

async fn redis_clock(conn: &mut ConnectionManager) -> redis::RedisResult<RedisClock> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(RedisClock {
        base_ms: secs.saturating_mul(1000).saturating_add(micros / 1000),
        base: Instant::now(),
    })
}

/// Why an entry is appended (what to do when the append fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Connect(ConnId),
    Message(ConnId),
    Disconnect(ConnId),
    Tick,
}

/// One append request.
#[derive(Debug)]
pub(crate) struct Append {
    /// The epoch the entry belongs to.
    pub(crate) epoch: Arc<str>,
    pub(crate) stream: Arc<str>,
    pub(crate) text: String,
    pub(crate) origin: Origin,
}

/// Reports to the node task.
#[derive(Debug)]
pub(crate) enum Event {
    /// Entries of the epoch `epoch`, in log order: (milliseconds, entry).
    Entries {
        epoch: String,
        entries: Vec<(u64, LogEntry)>,
        /// Stream id of the last entry read.
        last_id: String,
    },
    /// These appends (of the epoch named) failed.
    WriteFailed(Vec<(Arc<str>, Origin)>),
    /// A heartbeat succeeded; the live node numbers.
    Healthy(Vec<u64>),
    /// A heartbeat failed.
    Unhealthy,
    /// The epoch changed (Redis lost its state): reset and re-announce.
    NewEpoch(Epoch),
}

/// Splits a batch of appends into packs: consecutive appends to the same stream, at most
/// [`MAX_PACKED`] entries and about [`PACK_MAX_BYTES`] each (one `XADD` per pack).
fn packs(batch: &[Append]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, a) in batch.iter().enumerate() {
        match out.last_mut() {
            Some(r)
                if r.len() < MAX_PACKED
                    && bytes + a.text.len() <= PACK_MAX_BYTES
                    && batch[r.start].stream == a.stream =>
            {
                r.end = i + 1;
                bytes += a.text.len();
            }
            _ => {
                out.push(i..i + 1);
                bytes = a.text.len();
            }
        }
    }
    out
}

/// Appends entries in pipelines, in order: what is queued is packed into as few stream
/// entries as possible (one `XADD` each), so a busy node pays far less than one command
/// per client message.
pub(crate) async fn run_writer(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Append>,
    events: mpsc::Sender<Event>,
    metrics: Arc<crate::server::Metrics>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let packs = packs(&batch);
        let mut pipe = redis::pipe();
        for pack in &packs {
            // NOMKSTREAM: see EPOCH_SCRIPT.
            let cmd = pipe
                .cmd("XADD")
                .arg(&*batch[pack.start].stream)
                .arg("NOMKSTREAM")
                .arg("*");
            for (i, a) in batch[pack.clone()].iter().enumerate() {
                cmd.arg(packed_field(i).as_ref()).arg(&a.text);
            }
        }
        metrics.cluster.redis_round_trips.inc();
        let replies = pipe.query_async::<Vec<Option<String>>>(&mut conn).await;
        let failed: Vec<(Arc<str>, Origin)> = match replies {
            Ok(ids) => {
                let mut failed = Vec::new();
                for (pack, id) in packs
                    .iter()
                    .zip(ids.into_iter().chain(std::iter::repeat(None)))
                {
                    let appends = &batch[pack.clone()];
                    if id.is_some() {
                        metrics
                            .cluster
                            .entries_published
                            .inc_by(appends.len() as u64);
                    } else {
                        failed.extend(appends.iter().map(|a| (a.epoch.clone(), a.origin)));
                    }
                }
                failed
            }
            Err(e) => {
                tracing::warn!(error = %e, entries = batch.len(), "cluster append failed");
                batch.iter().map(|a| (a.epoch.clone(), a.origin)).collect()
            }
        };
        batch.clear();
        if !failed.is_empty() && events.send(Event::WriteFailed(failed)).await.is_err() {
            return;
        }
    }
}

/// Reads the current epoch's log from its start and forwards the entries. When the log no
/// longer starts at the epoch's first entry (it was trimmed before this node read it), the
/// node cannot rebuild the state: the reader ends the epoch and waits for the next one.
pub(crate) async fn run_reader(
    client: Client,
    keys: Keys,
    mut epoch_rx: watch::Receiver<Epoch>,
    events: mpsc::Sender<Event>,
    metrics: Arc<crate::server::Metrics>,
    shutdown: CancellationToken,
) {
    let block = Duration::from_millis(READ_BLOCK_MS);
    let mut conn: Option<ConnectionManager> = None;
    let mut epoch = epoch_rx.borrow_and_update().clone();
    let mut last = "0".to_owned();
    let mut backoff = BACKOFF_MIN;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if epoch_rx.has_changed().unwrap_or(false) {
            epoch = epoch_rx.borrow_and_update().clone();
            last = "0".to_owned();
        }
        let c = match &mut conn {
            Some(c) => c,
            None => {
                let made = ConnectionManager::new_with_config(
                    client.clone(),
                    manager_config(block + BACKOFF_MAX),
                )
                .await;
                match made {
                    Ok(c) => conn.insert(c),
                    Err(_) => {
                        sleep_or_stop(&shutdown, &mut backoff).await;
                        continue;
                    }
                }
            }
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK_MS)
            .arg("STREAMS")
            .arg(&*keys.log(&epoch))
            .arg(&last);
        let read = cmd.query_async::<Option<StreamReadReply>>(c);
        let reply = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = read => r,
        };
        metrics.cluster.redis_round_trips.inc();
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "cluster read failed");
                sleep_or_stop(&shutdown, &mut backoff).await;
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        let keys_read = reply.map(|r| r.keys).unwrap_or_default();
        let first = keys_read.first().and_then(|k| k.ids.first());
        if last == "0" && first.is_some_and(|f| f.id != epoch.genesis_id()) {
            tracing::warn!(epoch = %epoch.id, "the cluster log was trimmed before this node \
                read it; starting a new epoch");
            metrics.cluster.redis_round_trips.inc();
            let event = match end_epoch(c, &keys, &epoch).await {
                Ok(Some(new)) => Event::NewEpoch(new),
                _ => {
                    sleep_or_stop(&shutdown, &mut backoff).await;
                    continue;
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = epoch_rx.changed() => if r.is_err() { return },
            }
            epoch = epoch_rx.borrow_and_update().clone();
            last = "0".to_owned();
            continue;
        }
        let mut entries = Vec::new();
        for key in keys_read {
            for id in key.ids {
                last.clone_from(&id.id);
                for decoded in decode_stream_pack(&id.id, &id.map) {
                    match decoded {
                        Ok(e) => entries.push(e),
                        Err(e) => {
                            metrics.cluster.entries_invalid.inc();
                            tracing::warn!(id = %id.id, error = %e, "skipping a bad cluster entry");
                        }
                    }
                }
            }
        }
        if !entries.is_empty() {
            let event = Event::Entries {
                epoch: epoch.id.clone(),
                entries,
                last_id: last.clone(),
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

async fn sleep_or_stop(shutdown: &CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
}

/// One heartbeat of `node` in `epoch`, reporting `applied_id` as its position (see
/// `HEARTBEAT_SCRIPT`).
async fn heartbeat(
    conn: &mut ConnectionManager,
    keys: &Keys,
    config: &ClusterConfig,
    node: u64,
    epoch: &Epoch,
    applied_id: &str,
) -> redis::RedisResult<Vec<i64>> {
    let ttl_ms = u64::try_from(config.heartbeat_ttl.as_millis()).unwrap_or(u64::MAX);
    Script::new(HEARTBEAT_SCRIPT)
        .key(keys.epoch())
        .key(keys.nodes(epoch))
        .key(&*keys.log(epoch))
        .key(keys.applied(epoch))
        .key(keys.trimmed(epoch))
        .key(keys.dead_positions(epoch))
        .arg(&epoch.id)
        .arg(node)
        .arg(&config.node_id)
        .arg(ttl_ms)
        .arg(keys.heartbeat_prefix())
        .arg(applied_id)
        .arg(config.log_trim_len)
        .invoke_async(conn)
        .await
}

/// Joins the current epoch (starting one if needed) and registers this node in it at log
/// position zero, so that no trim passes what it has not read yet. An epoch whose log was
/// already trimmed cannot be replayed: the heartbeat script ends it and the next attempt
/// starts a new one (every node then re-announces its players there).
async fn join_epoch(
    conn: &mut ConnectionManager,
    keys: &Keys,
    config: &ClusterConfig,
    node: u64,
) -> redis::RedisResult<Option<Epoch>> {
    for _ in 0..3 {
        let Some(epoch) = ensure_epoch(conn, keys).await? else {
            return Ok(None);
        };
        let live = heartbeat(conn, keys, config, node, &epoch, "0-0").await?;
        if live.first() != Some(&-1) {
            return Ok(Some(epoch));
        }
    }
    Ok(None)
}

/// What the heartbeat loop needs.
pub(crate) struct HeartbeatLink {
    pub(crate) conn: ConnectionManager,
    pub(crate) config: ClusterConfig,
    pub(crate) keys: Keys,
    pub(crate) node: u64,
    pub(crate) epoch: Epoch,
    /// (epoch id, id of the last log entry the node applied in it).
    pub(crate) applied: watch::Receiver<(String, String)>,
}

/// Heartbeats, detects dead nodes and epoch changes, trims the log.
pub(crate) async fn run_heartbeat(
    link: HeartbeatLink,
    events: mpsc::Sender<Event>,
    metrics: Arc<crate::server::Metrics>,
    shutdown: CancellationToken,
) {
    let HeartbeatLink {
        mut conn,
        config,
        keys,
        node,
        mut epoch,
        applied,
    } = link;
    let mut ticker = tokio::time::interval(config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        metrics.cluster.redis_round_trips.inc();
        let applied_id = match &*applied.borrow() {
            (e, id) if *e == epoch.id => id.clone(),
            _ => "0-0".to_owned(),
        };
        let beat = heartbeat(&mut conn, &keys, &config, node, &epoch, &applied_id).await;
        let event = match beat {
            Ok(live) if live.first() == Some(&-1) => match ensure_epoch(&mut conn, &keys).await {
                Ok(Some(new)) => {
                    tracing::warn!(epoch = %new.id, "cluster state lost; starting a new epoch");
                    epoch = new.clone();
                    // Register at once, so that the new epoch knows this node.
                    ticker.reset_immediately();
                    Event::NewEpoch(new)
                }
                _ => Event::Unhealthy,
            },
            Ok(live) => Event::Healthy(
                live.into_iter()
                    .filter_map(|n| u64::try_from(n).ok())
                    .collect(),
            ),
            Err(e) => {
                tracing::debug!(error = %e, "cluster heartbeat failed");
                Event::Unhealthy
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}
