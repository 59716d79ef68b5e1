//! Model-based property test of the cluster against a real `redis-server`: players spread
//! over three nodes act at random; in each round the nodes append their players' actions
//! *concurrently* to the Redis stream (Redis decides the order), and three replicas read
//! the stream back and apply it. After every entry, every replica must hold the hub's
//! invariants (no player in two live sessions, statuses agree with sessions, lobbies within
//! their limit); the three replicas must produce the same output; the cluster must behave
//! exactly like one single-node hub fed the same inputs in the log's order (the hub that
//! `hub_model.rs` checks against the spec model); and every session's timeout fires at
//! most once. Nodes also crash (`node_down`) and players reconnect on another node.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use proptest::prelude::*;
use signal::cluster::{global_conn, node_of, LogEntry, Replica, ENTRY_FIELD};
use signal::hub::{Hub, HubConfig, HubOutput};
use signal::protocol::*;

const NODES: u64 = 3;
const PLAYERS: usize = 5;
const LOBBIES: [&str; 2] = ["main", "side"];

#[derive(Debug, Clone)]
enum Action {
    Join(usize, usize, bool),
    Leave(usize),
    Request(usize, usize),
    Accept(usize, usize, usize),
    Decline(usize, usize),
    Cancel(usize, usize, usize),
    Offer(usize, usize, usize),
    Answer(usize, usize, usize),
    Report(usize, usize, bool),
    End(usize, usize),
    Spoof(usize, usize),
    Reconnect(usize),
    Crash(u64),
    Tick(u64),
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..PLAYERS;
    let k = 0..6usize;
    prop_oneof![
        2 => (p.clone(), proptest::bool::weighted(0.2), any::<bool>()).prop_map(|(p, side, d)| Action::Join(p, usize::from(side), d)),
        1 => p.clone().prop_map(Action::Leave),
        6 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Request(a, b)),
        6 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Accept(a, b, s)),
        1 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Decline(a, b)),
        1 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Cancel(a, b, s)),
        2 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Offer(a, b, s)),
        2 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Answer(a, b, s)),
        3 => (p.clone(), k.clone(), proptest::bool::weighted(0.8)).prop_map(|(a, s, c)| Action::Report(a, s, c)),
        1 => (p.clone(), k.clone()).prop_map(|(a, s)| Action::End(a, s)),
        1 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Spoof(a, b)),
        1 => p.clone().prop_map(Action::Reconnect),
        1 => (0..NODES).prop_map(Action::Crash),
        1 => prop_oneof![Just(1u64), Just(21), Just(31)].prop_map(Action::Tick),
    ]
}

fn pid(p: usize) -> String {
    format!("p{p}")
}

struct World {
    conn: redis::aio::MultiplexedConnection,
    stream: String,
    ms: u64,
    last_id: String,
    replicas: Vec<Replica>,
    reference: Hub,
    t0: Instant,
    /// Current connection of each player (node in the high bits).
    conns: [u64; PLAYERS],
    next_local: u64,
    sids: Vec<String>,
    timeouts: BTreeMap<(String, u64), usize>,
    accepted: usize,
    /// Newest request to each target: (requester, session id).
    last_request: BTreeMap<usize, (usize, String)>,
}

fn config() -> HubConfig {
    HubConfig {
        request_timeout: Duration::from_secs(30),
        negotiation_timeout: Duration::from_secs(20),
        lobby_debounce: Duration::from_millis(100),
        max_lobby_size: 4,
        resume_timeout: Duration::from_secs(20),
    }
}

impl World {
    async fn new(redis: &RedisServer, case: u64) -> Self {
        let client = redis::Client::open(redis.url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut w = World {
            conn,
            stream: format!("model:{case}"),
            ms: 1_000,
            last_id: "0".into(),
            replicas: (1..=NODES)
                .map(|n| Replica::new(config(), 9, n, 0))
                .collect(),
            reference: Hub::with_seed(config(), 9),
            t0: Instant::now(),
            conns: [0; PLAYERS],
            next_local: 1,
            sids: Vec::new(),
            timeouts: BTreeMap::new(),
            accepted: 0,
            last_request: BTreeMap::new(),
        };
        let connects: Vec<LogEntry> = (0..PLAYERS)
            .map(|p| w.connect(p, p as u64 % NODES + 1))
            .collect();
        w.round(connects.into_iter().map(Some).collect())
            .await
            .unwrap();
        // Everyone tries the main lobby at once (one of five finds it full).
        let joins: Vec<LogEntry> = (0..PLAYERS)
            .flat_map(|p| w.entries(&Action::Join(p, 0, p % 2 == 0)))
            .collect();
        w.round(joins.into_iter().map(Some).collect())
            .await
            .unwrap();
        w
    }

    fn connect(&mut self, p: usize, node: u64) -> LogEntry {
        self.conns[p] = global_conn(node, self.next_local);
        self.next_local += 1;
        LogEntry::Connect {
            conn: self.conns[p],
            player: pid(p),
            name: pid(p),
        }
    }

    fn sid(&self, k: usize) -> String {
        if self.sids.is_empty() {
            "00000000-0000-4000-8000-000000000000".into()
        } else {
            self.sids[k % self.sids.len()].clone()
        }
    }

    /// The entries one action appends (a reconnect is a connect on the next node).
    fn entries(&mut self, a: &Action) -> Vec<LogEntry> {
        let msg = |w: &World, p: usize, m: ClientMessage| LogEntry::Message {
            conn: w.conns[p],
            msg: m,
        };
        let relay = |p: usize, q: usize, sid: String| SdpRelay {
            sender_id: pid(p),
            receiver_id: pid(q),
            sdp: "v=0".into(),
            session_id: sid,
        };
        match *a {
            Action::Join(p, l, delta) => vec![msg(
                self,
                p,
                ClientMessage::JoinLobby(JoinLobby {
                    player_id: pid(p),
                    player_name: pid(p),
                    lobby: Some(LOBBIES[l].into()),
                    updates: Some(if delta {
                        LobbyUpdates::Delta
                    } else {
                        LobbyUpdates::Snapshot
                    }),
                }),
            )],
            Action::Leave(p) => vec![msg(
                self,
                p,
                ClientMessage::LeaveLobby(LeaveLobby { player_id: pid(p) }),
            )],
            Action::Request(p, q) => vec![msg(
                self,
                p,
                ClientMessage::RequestMatch(RequestMatch {
                    requester_id: pid(p),
                    target_id: pid(q),
                }),
            )],
            Action::Accept(p, q, k) => {
                // Mostly answer a request that was actually made (by its target).
                let pending: Vec<(usize, (usize, String))> = self
                    .last_request
                    .iter()
                    .map(|(t, r)| (*t, r.clone()))
                    .collect();
                let (p, q, sid) = match pending.get(k % pending.len().max(1)) {
                    Some((t, (r, sid))) if k % 3 != 0 => (*t, *r, Some(sid.clone())),
                    _ => (p, q, (k % 2 == 0).then(|| self.sid(k))),
                };
                vec![msg(
                    self,
                    p,
                    ClientMessage::AcceptMatch(AcceptMatch {
                        accepter_id: pid(p),
                        requester_id: pid(q),
                        session_id: sid,
                    }),
                )]
            }
            Action::Decline(p, q) => vec![msg(
                self,
                p,
                ClientMessage::DeclineMatch(DeclineMatch {
                    decliner_id: pid(p),
                    requester_id: pid(q),
                    session_id: None,
                }),
            )],
            Action::Cancel(p, q, k) => vec![msg(
                self,
                p,
                ClientMessage::CancelMatchRequest(CancelMatchRequest {
                    requester_id: pid(p),
                    target_id: pid(q),
                    session_id: self.sid(k),
                }),
            )],
            Action::Offer(p, q, k) => vec![msg(
                self,
                p,
                ClientMessage::SendSdpOffer(relay(p, q, self.sid(k))),
            )],
            Action::Answer(p, q, k) => vec![msg(
                self,
                p,
                ClientMessage::SendSdpAnswer(relay(p, q, self.sid(k))),
            )],
            Action::Report(p, k, ok) => vec![msg(
                self,
                p,
                ClientMessage::ReportConnection(ReportConnection {
                    player_id: pid(p),
                    session_id: self.sid(k),
                    state: if ok {
                        ConnectionState::Connected
                    } else {
                        ConnectionState::Failed
                    },
                }),
            )],
            Action::End(p, k) => vec![msg(
                self,
                p,
                ClientMessage::EndMatch(EndMatch {
                    player_id: pid(p),
                    session_id: self.sid(k),
                }),
            )],
            Action::Spoof(p, q) => vec![msg(
                self,
                p,
                ClientMessage::LeaveLobby(LeaveLobby { player_id: pid(q) }),
            )],
            Action::Reconnect(p) => {
                let node = node_of(self.conns[p]) % NODES + 1;
                vec![self.connect(p, node)]
            }
            Action::Crash(n) => {
                let node = n + 1;
                // The node's players come back on the next node after it is declared dead.
                let mut v = vec![LogEntry::NodeDown { node }];
                for p in 0..PLAYERS {
                    if node_of(self.conns[p]) == node {
                        v.push(self.connect(p, node % NODES + 1));
                    }
                }
                v
            }
            Action::Tick(_) => vec![LogEntry::Tick],
        }
    }

    /// Appends one batch per node concurrently, then applies what the stream holds.
    async fn round(&mut self, batches: Vec<Option<LogEntry>>) -> Result<(), String> {
        let ms = self.ms;
        let appends = batches.into_iter().flatten().map(|e| {
            let mut c = self.conn.clone();
            let stream = self.stream.clone();
            async move {
                redis::cmd("XADD")
                    .arg(&stream)
                    .arg(format!("{ms}-*"))
                    .arg(ENTRY_FIELD)
                    .arg(e.encode())
                    .query_async::<String>(&mut c)
                    .await
                    .unwrap()
            }
        });
        futures_util::future::join_all(appends).await;
        let read: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(if self.last_id == "0" {
                "-".to_owned()
            } else {
                format!("({}", self.last_id)
            })
            .arg("+")
            .query_async(&mut self.conn)
            .await
            .unwrap();
        for id in read.ids {
            self.last_id = id.id.clone();
            let (ms, entry) = signal::cluster::decode_stream_entry(&id.id, id.map.get(ENTRY_FIELD))
                .map_err(|e| e.to_string())?;
            self.apply(ms, entry)?;
        }
        Ok(())
    }

    fn apply(&mut self, ms: u64, entry: LogEntry) -> Result<(), String> {
        let mut outs = Vec::new();
        for r in &mut self.replicas {
            r.apply(ms, entry.clone());
            r.hub().check_invariants()?;
            outs.push(std::iter::from_fn(|| r.poll_output()).collect::<Vec<_>>());
        }
        let now = self.t0 + Duration::from_millis(ms);
        match entry {
            LogEntry::Connect { conn, player, name } => {
                self.reference.connect(conn, &player, &name, now)
            }
            LogEntry::Message { conn, msg } => {
                let _ = self.reference.handle_message(conn, msg, now);
            }
            LogEntry::Disconnect { conn } => self.reference.disconnect(conn, now),
            LogEntry::Tick => self.reference.handle_timeout(now),
            LogEntry::NodeDown { node } => {
                for c in self.reference.connections_where(|c| node_of(c) == node) {
                    self.reference.disconnect(c, now);
                }
            }
        }
        let reference: Vec<HubOutput> =
            std::iter::from_fn(|| self.reference.poll_output()).collect();
        if outs.iter().any(|o| *o != reference) {
            return Err("a replica diverged from the single-node hub".into());
        }
        for out in reference {
            if let HubOutput::Send { conn, msg } = out {
                match msg {
                    ServerMessage::MatchRequestSent(s) => {
                        let requester = self.conns.iter().position(|c| *c == conn);
                        let target = s.target_id.trim_start_matches('p').parse::<usize>();
                        if let (Some(r), Ok(t)) = (requester, target) {
                            self.last_request.insert(t, (r, s.session_id.clone()));
                        }
                        self.sids.push(s.session_id);
                    }
                    ServerMessage::MatchRequestAccepted(_) => self.accepted += 1,
                    ServerMessage::MatchFailed(f) if f.reason == FailReason::Timeout => {
                        *self.timeouts.entry((f.session_id, conn)).or_default() += 1;
                    }
                    ServerMessage::MatchRequestDeclined(d)
                        if d.reason == Some(DeclineReason::Expired) =>
                    {
                        *self.timeouts.entry((d.session_id, conn)).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        if let Some(((sid, _), n)) = self.timeouts.iter().find(|(_, n)| **n > 1) {
            return Err(format!("timeout of {sid} fired {n} times"));
        }
        Ok(())
    }
}

#[test]
fn three_nodes_keep_the_single_node_invariants() {
    use proptest::test_runner::{Config, TestRunner};
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let case = std::cell::Cell::new(0u64);
    let accepted = std::cell::Cell::new(0usize);
    let strategy = proptest::collection::vec(proptest::collection::vec(action(), 1..=3), 1..40);
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |rounds| {
        case.set(case.get() + 1);
        match rt.block_on(run_case(&redis, case.get(), &rounds)) {
            Ok(n) => {
                accepted.set(accepted.get() + n);
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(e)),
        }
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // The generator reaches the interesting states (two-player transitions) at all.
    assert!(accepted.get() > 0, "no case ever accepted a match");
}

/// One case: rounds of up to three racing actions, then a tick past every deadline.
async fn run_case(redis: &RedisServer, case: u64, rounds: &[Vec<Action>]) -> Result<usize, String> {
    let mut w = World::new(redis, case).await;
    for actions in rounds {
        let mut batches = Vec::new();
        for a in actions {
            if let Action::Tick(secs) = a {
                w.ms += secs * 1000;
            }
            batches.extend(w.entries(a).into_iter().map(Some));
        }
        w.round(batches).await?;
        w.ms += 1;
    }
    // Liveness: after the longest timeout, every unconnected session is gone.
    w.ms += 31_000;
    w.round(vec![Some(LogEntry::Tick)]).await?;
    for sid in &w.sids {
        if let Some(s) = w.reference.session(sid) {
            if s.state != signal::hub::SessionState::Connected {
                return Err(format!("{sid} never timed out"));
            }
        }
    }
    Ok(w.accepted)
}
