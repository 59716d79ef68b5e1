//! Several `signal serve` nodes sharing one cluster state through Redis.
//!
//! # Design
//!
//! The cluster state is the ordinary sans-IO [`Hub`](crate::hub::Hub), replicated: every
//! input that changes it (a connection opening or closing, a client message, the passage
//! of time, a node dying) is one [`LogEntry`] appended to a Redis stream, and every node
//! applies the stream, in order, to its own [`Replica`]. Each node delivers only the
//! output addressed to its own WebSocket connections. So:
//!
//! - every protocol feature works across nodes exactly as on one node (lobbies in both
//!   update modes, requests, SDP/ICE relay, reports, `end_match`, 403 identity binding,
//!   newest-connection-wins, busy handling, `--max-lobby-size` cluster-wide);
//! - a transition that touches two players is decided at one place in the log: two nodes
//!   acting at once append two entries, Redis orders them atomically (`XADD`), and every
//!   replica decides the same way, so no player is ever in two live sessions;
//! - time is the log's time (entry ids carry the Redis clock's milliseconds); a session
//!   deadline fires in every replica at the first `Tick` entry past it, and `Tick`s are
//!   appended by one node (the live node with the smallest number), so each timeout
//!   fires exactly once;
//! - each node heartbeats a key with a TTL through a Lua script that also finds nodes
//!   whose key expired and appends one `NodeDown` for each, atomically: all of a dead
//!   node's connections then disconnect in every replica (lobby updates, cancelled
//!   requests, `match_failed` / `match_ended` with `peer_disconnected`);
//! - the log is trimmed: each heartbeat reports the id of the last entry its node applied,
//!   and once the log is longer than [`ClusterConfig::log_trim_len`] the heartbeat script
//!   trims it (`XTRIM MINID`) to the smallest id any live node has applied, so no live
//!   node ever loses an entry it has not applied. A node that cannot replay the log (one
//!   that joins after a trim, whose first read does not start at the epoch's first entry,
//!   or one that was declared dead and whose position was trimmed past) does not go on
//!   with a partial state: it ends the epoch, and every node starts a new one (below);
//! - the state belongs to an *epoch* (a random seed and start time in Redis). When Redis
//!   comes back empty, the nodes start a new epoch and re-announce their connections and
//!   lobby memberships; while Redis is unreachable, messages are answered `error 503` and
//!   `/healthz` says `degraded`.
//!
//! The driver (`node.rs`) is a thin async layer: one task owns the replica and the
//! connections' outboxes, one appends entries (what is queued is packed into one stream
//! entry per `XADD`, pipelined), one reads the stream (blocking `XREAD`), one heartbeats
//! (and trims the log).
//!
//! # Driving loop (sans-IO)
//!
//! What every node does with the entries it reads, here with two replicas of one log:
//!
//! ```
//! use signal::cluster::{global_conn, LogEntry, Replica};
//! use signal::hub::{HubConfig, HubOutput};
//! use signal::protocol::{ClientMessage, JoinLobby};
//!
//! let alice = global_conn(1, 1); // connection 1 of node 1
//! let log = vec![
//!     (1_000, LogEntry::Connect { conn: alice, player: "alice".into(), name: "Alice".into() }),
//!     (1_001, LogEntry::Message {
//!         conn: alice,
//!         msg: ClientMessage::JoinLobby(JoinLobby::new("alice", "Alice")),
//!     }),
//! ];
//! let mut nodes = [1, 2].map(|node| Replica::new(HubConfig::default(), 7, node, 1_000));
//! for replica in &mut nodes {
//!     for (ms, entry) in log.clone() {
//!         replica.apply(ms, entry);
//!     }
//!     // Deadlines (here the lobby debounce) fire at the first `Tick` past them.
//!     let due = replica.due_ms().expect("a lobby update is due");
//!     replica.apply(due, LogEntry::Tick);
//!     let out: Vec<HubOutput> = std::iter::from_fn(|| replica.poll_output()).collect();
//!     // Both replicas produce the same output; only node 1 holds alice's socket.
//!     assert!(matches!(&out[..], [HubOutput::Lobby { recipients, .. }] if recipients == &[alice]));
//! }
//! ```

mod entry;
mod metrics;
mod node;
mod redis_io;
mod replica;

use std::time::Duration;

pub use entry::{
    decode_stream_entry, decode_stream_pack, fuzz_stream_entries, global_conn, id_millis, node_of,
    packed_field, EntryError, LogEntry, ENTRY_FIELD, LOCAL_CONN_BITS, MAX_ENTRY_BYTES, MAX_PACKED,
};
pub use metrics::ClusterMetrics;
pub(crate) use node::run_node;
pub(crate) use redis_io::connect;
pub use replica::{Applied, Replica};

/// Heartbeat period of a node.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A node whose heartbeat is older than this is declared dead (its players leave).
pub const DEFAULT_HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// Prefix of every Redis key the cluster uses.
pub const DEFAULT_KEY_PREFIX: &str = "netplay";
/// The log is trimmed once it holds more stream entries than this (see [`ClusterConfig::log_trim_len`]).
pub const DEFAULT_LOG_TRIM_LEN: u64 = 10_000;
/// How long the start-up connection to Redis may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How a node joins the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub redis_url: String,
    /// This node's name (logs and the heartbeat key's value).
    pub node_id: String,
    /// [`DEFAULT_HEARTBEAT_INTERVAL`].
    pub heartbeat_interval: Duration,
    /// [`DEFAULT_HEARTBEAT_TTL`].
    pub heartbeat_ttl: Duration,
    /// [`DEFAULT_KEY_PREFIX`].
    pub key_prefix: String,
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// When the epoch's log holds more stream entries than this, a heartbeat trims it up
    /// to the oldest entry some live node has not applied yet (never further); 0 never
    /// trims. [`DEFAULT_LOG_TRIM_LEN`].
    pub log_trim_len: u64,
}

impl ClusterConfig {
    /// Defaults for a node named `node_id` of the cluster at `redis_url`.
    pub fn new(redis_url: impl Into<String>, node_id: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_id: node_id.into(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_ttl: DEFAULT_HEARTBEAT_TTL,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            log_trim_len: DEFAULT_LOG_TRIM_LEN,
        }
    }

    /// Checks the values once.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() || self.heartbeat_ttl <= self.heartbeat_interval {
            return Err("heartbeat_ttl must exceed a positive heartbeat_interval".into());
        }
        if self.node_id.is_empty() || self.key_prefix.is_empty() {
            return Err("node_id and key_prefix must not be empty".into());
        }
        Ok(())
    }
}

/// Cluster start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The URL is not a Redis URL.
    #[error("bad redis url {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Redis did not answer.
    #[error("redis at {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}
