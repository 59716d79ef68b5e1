//! One node's copy of the cluster's hub (sans-IO).
//!
//! Every node applies the same log entries in the same order to a hub seeded with the same
//! value, so every replica holds the same players, lobbies and sessions and makes the same
//! decisions: a transition that touches two players (accept, busy, newest connection
//! wins) is decided once, at the entry's place in the log, even when two nodes append
//! competing entries at the same moment. Time is the log's time (the stream entry id's
//! milliseconds, from the Redis clock), so deadlines fire at the same place in every
//! replica, when the first `Tick` entry past them is applied. A node delivers only the
//! output addressed to its own connections.

use std::time::{Duration, Instant};

use super::entry::{node_of, LogEntry};
use crate::hub::{ConnId, Hub, HubConfig, HubOutput, Membership};

/// Log times are clamped to this far past the epoch's start (about 30 years).
const MAX_LOG_SPAN_MS: u64 = 30 * 365 * 24 * 3600 * 1000;

/// What applying an entry means for the node itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The entry declared this node down: its connections were removed from the shared
    /// state and must be re-announced (with their lobby memberships, listed here).
    pub lost_self: Option<Vec<(ConnId, Option<Membership>)>>,
}

/// The replicated hub plus the mapping from log milliseconds to hub instants.
#[derive(Debug)]
pub struct Replica {
    hub: Hub,
    node: u64,
    anchor: Instant,
    origin_ms: u64,
}

impl Replica {
    /// A replica for node `node` of the epoch that started at `origin_ms` (log clock) and
    /// seeds its session ids with `seed`.
    pub fn new(config: HubConfig, seed: u64, node: u64, origin_ms: u64) -> Self {
        Self {
            hub: Hub::with_seed(config, seed),
            node,
            anchor: Instant::now(),
            origin_ms,
        }
    }

    /// The hub (read-only).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// This node's number.
    pub fn node(&self) -> u64 {
        self.node
    }

    fn instant(&self, ms: u64) -> Instant {
        // Log times beyond the horizon (only a corrupt entry has them) are clamped, so
        // that no instant arithmetic can overflow.
        let since = ms.saturating_sub(self.origin_ms).min(MAX_LOG_SPAN_MS);
        self.anchor + Duration::from_millis(since)
    }

    /// Log milliseconds of a hub instant.
    fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.anchor).as_millis();
        self.origin_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// The local connections' memberships (what a node re-announces).
    pub fn local_memberships(&self) -> Vec<(ConnId, Option<Membership>)> {
        self.hub
            .connections_where(|c| node_of(c) == self.node)
            .into_iter()
            .map(|c| {
                let m = self.hub.player_of(c).and_then(|p| self.hub.membership(p));
                (c, m)
            })
            .collect()
    }

    /// Applies one entry stamped `ms` (log clock).
    pub fn apply(&mut self, ms: u64, entry: LogEntry) -> Applied {
        let now = self.instant(ms);
        let mut applied = Applied::default();
        match entry {
            LogEntry::Connect { conn, player, name } => {
                // A connection announced twice (a retried append) is still the same one. An
                // id that names another player's connection (a node restarted under the same
                // id before its old connections were dropped, or a damaged log) ends that
                // connection first: the newest entry for an id wins.
                match self.hub.player_of(conn) {
                    Some(p) if p == player.as_str() => {}
                    Some(_) => {
                        self.hub.disconnect(conn, now);
                        self.hub.connect(conn, &player, &name, now);
                    }
                    None => self.hub.connect(conn, &player, &name, now),
                }
            }
            LogEntry::Message { conn, msg } => {
                let _ = self.hub.handle_message(conn, msg, now);
            }
            LogEntry::Disconnect { conn } => self.hub.disconnect(conn, now),
            LogEntry::Tick => self.hub.handle_timeout(now),
            LogEntry::NodeDown { node } => {
                if node == self.node {
                    applied.lost_self = Some(self.local_memberships());
                }
                for conn in self.hub.connections_where(|c| node_of(c) == node) {
                    self.hub.disconnect(conn, now);
                }
            }
        }
        applied
    }

    /// The next deadline in log milliseconds (a `Tick` at or after it has work).
    pub fn due_ms(&self) -> Option<u64> {
        self.hub.poll_timeout().map(|at| self.millis(at))
    }

    /// Next output of the hub (the node delivers what concerns its own connections).
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.hub.poll_output()
    }

    /// The hub itself, for the driver's output routing.
    pub(crate) fn hub_mut(&mut self) -> &mut Hub {
        &mut self.hub
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::entry::global_conn;
    use crate::protocol::{AcceptMatch, ClientMessage, JoinLobby, RequestMatch, ServerMessage};

    fn drain(r: &mut Replica) -> Vec<HubOutput> {
        std::iter::from_fn(|| r.poll_output()).collect()
    }

    fn join(conn: ConnId, id: &str) -> LogEntry {
        LogEntry::Message {
            conn,
            msg: ClientMessage::JoinLobby(JoinLobby::new(id, id)),
        }
    }

    fn log() -> Vec<(u64, LogEntry)> {
        let (a, b, c) = (global_conn(1, 1), global_conn(2, 1), global_conn(3, 1));
        let mut log = vec![];
        for (conn, id) in [(a, "alice"), (b, "bob"), (c, "carol")] {
            log.push((
                1_000,
                LogEntry::Connect {
                    conn,
                    player: id.into(),
                    name: id.into(),
                },
            ));
            log.push((1_001, join(conn, id)));
        }
        // alice and carol ask bob at once; bob accepts alice.
        for (conn, id) in [(a, "alice"), (c, "carol")] {
            log.push((
                1_002,
                LogEntry::Message {
                    conn,
                    msg: ClientMessage::RequestMatch(RequestMatch {
                        requester_id: id.into(),
                        target_id: "bob".into(),
                    }),
                },
            ));
        }
        log.push((
            1_003,
            LogEntry::Message {
                conn: b,
                msg: ClientMessage::AcceptMatch(AcceptMatch {
                    accepter_id: "bob".into(),
                    requester_id: "alice".into(),
                    session_id: None,
                }),
            },
        ));
        log.push((1_200, LogEntry::Tick));
        log
    }

    #[test]
    fn replicas_of_one_log_agree_and_each_delivers_its_own_connections() {
        let mut outs = vec![];
        for node in 1..=3 {
            let mut r = Replica::new(HubConfig::default(), 42, node, 1_000);
            for (ms, e) in log() {
                r.apply(ms, e);
                r.hub().check_invariants().unwrap();
            }
            assert_eq!(
                r.hub().live_session_of("alice"),
                r.hub().live_session_of("bob")
            );
            assert!(r.hub().live_session_of("alice").is_some());
            assert!(r.hub().live_session_of("carol").is_none());
            outs.push(drain(&mut r));
        }
        assert_eq!(outs[0], outs[1]);
        assert_eq!(outs[1], outs[2]);
        // carol (node 3) was declined as busy.
        let carol = global_conn(3, 1);
        assert!(outs[2].iter().any(|o| matches!(o,
            HubOutput::Send { conn, msg: ServerMessage::MatchRequestDeclined(_) } if *conn == carol)));
    }

    #[test]
    fn a_dead_node_leaves_and_frees_its_opponents() {
        let mut r = Replica::new(HubConfig::default(), 7, 1, 1_000);
        for (ms, e) in log() {
            r.apply(ms, e);
        }
        drain(&mut r);
        let applied = r.apply(2_000, LogEntry::NodeDown { node: 2 });
        assert_eq!(applied.lost_self, None);
        r.hub().check_invariants().unwrap();
        assert!(r.hub().live_session_of("alice").is_none());
        assert_eq!(r.hub().lobby().players.len(), 2);
        let alice = global_conn(1, 1);
        assert!(drain(&mut r).iter().any(|o| matches!(o,
            HubOutput::Send { conn, msg: ServerMessage::MatchFailed(_) } if *conn == alice)));
        let lost = r.apply(2_001, LogEntry::NodeDown { node: 1 }).lost_self;
        let lost = lost.unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].1.as_ref().map(|m| m.lobby.as_str()), Some("main"));
    }

    #[test]
    fn a_connection_announced_twice_is_not_replaced_by_itself() {
        let mut r = Replica::new(HubConfig::default(), 1, 1, 0);
        let connect = LogEntry::Connect {
            conn: 5,
            player: "a".into(),
            name: "a".into(),
        };
        r.apply(1, connect.clone());
        r.apply(2, join(5, "a"));
        r.apply(3, connect);
        assert!(!drain(&mut r)
            .iter()
            .any(|o| matches!(o, HubOutput::Close { .. })));
        assert_eq!(r.hub().lobby_name_of("a"), Some("main"));
    }

    #[test]
    fn deadlines_map_to_log_time() {
        let mut r = Replica::new(HubConfig::default(), 1, 1, 50_000);
        r.apply(
            50_010,
            LogEntry::Connect {
                conn: 1,
                player: "a".into(),
                name: "a".into(),
            },
        );
        r.apply(50_020, join(1, "a"));
        let debounce = crate::hub::DEFAULT_LOBBY_DEBOUNCE.as_millis() as u64;
        assert_eq!(r.due_ms(), Some(50_020 + debounce));
        r.apply(50_020 + debounce - 1, LogEntry::Tick);
        assert!(r.poll_output().is_none());
        r.apply(50_020 + debounce, LogEntry::Tick);
        assert!(matches!(r.poll_output(), Some(HubOutput::Lobby { .. })));
        assert_eq!(r.due_ms(), None);
    }
}
