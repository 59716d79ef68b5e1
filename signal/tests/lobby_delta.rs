//! Property test of delta-mode lobbies: random joins, moves between lobbies, renames, mode
//! switches, matches, disconnects and timer ticks drive a hub; each connection's lobby
//! messages go through a [`LobbyMailbox`] with a tiny backlog (so coalescing and resyncs are
//! forced often) and are read at random moments by a client [`LobbyView`]. Every message
//! must apply without a gap, every delta must name an id at most once, and once everything
//! is delivered each client's view equals the lobby's content exactly.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use signal::hub::{Hub, HubConfig, HubOutput, LobbyMailbox, Pushed};
use signal::protocol::*;
use signal::LobbyView;

const N: usize = 6;
const LOBBIES: [&str; 3] = ["main", "arena-1", "x.y_z"];
const MAX_LOBBY: usize = 5;

#[derive(Debug, Clone)]
enum Action {
    Join(usize, usize, bool),
    Rename(usize, u8),
    Leave(usize),
    Request(usize, usize),
    Accept(usize, usize),
    Fail(usize),
    Reconnect(usize),
    Read(usize),
    Tick(u64),
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..N;
    prop_oneof![
        6 => (p.clone(), 0..LOBBIES.len(), any::<bool>()).prop_map(|(p, l, d)| Action::Join(p, l, d)),
        2 => (p.clone(), 0..3u8).prop_map(|(p, n)| Action::Rename(p, n)),
        2 => p.clone().prop_map(Action::Leave),
        3 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Request(a, b)),
        3 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Accept(a, b)),
        1 => p.clone().prop_map(Action::Fail),
        1 => p.clone().prop_map(Action::Reconnect),
        6 => p.clone().prop_map(Action::Read),
        5 => prop_oneof![Just(50u64), Just(100), Just(250)].prop_map(Action::Tick),
    ]
}

fn pid(i: usize) -> String {
    format!("p{i}")
}

/// One client: its connection, its mailbox on the server side and its view.
struct Client {
    conn: u64,
    mailbox: LobbyMailbox<ServerMessage>,
    view: LobbyView,
    lobby: Option<usize>,
    delta: bool,
    name: u8,
}

struct World {
    hub: Hub,
    now: Instant,
    clients: Vec<Client>,
    next_conn: u64,
    backlog: usize,
    resyncs: usize,
}

impl World {
    fn new(backlog: usize) -> Self {
        let cfg = HubConfig {
            lobby_debounce: Duration::from_millis(100),
            max_lobby_size: MAX_LOBBY,
            ..HubConfig::default()
        };
        let mut w = World {
            hub: Hub::with_seed(cfg, 9),
            now: Instant::now(),
            clients: Vec::new(),
            next_conn: 1,
            backlog,
            resyncs: 0,
        };
        for p in 0..N {
            let c = w.fresh_client(p);
            w.clients.push(c);
        }
        w
    }

    fn fresh_client(&mut self, p: usize) -> Client {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.hub.connect(conn, &pid(p), &pid(p), self.now);
        Client {
            conn,
            mailbox: LobbyMailbox::new(self.backlog),
            view: LobbyView::default(),
            lobby: None,
            delta: false,
            name: 0,
        }
    }

    fn send(&mut self, p: usize, msg: ClientMessage) -> bool {
        let conn = self.clients[p].conn;
        self.hub.handle_message(conn, msg, self.now).is_ok()
    }

    fn join(&mut self, p: usize, l: usize, delta: bool, name: u8) {
        let updates = if delta {
            LobbyUpdates::Delta
        } else {
            LobbyUpdates::Snapshot
        };
        let msg = JoinLobby::new(pid(p), format!("P{p}-{name}"))
            .in_lobby(LOBBIES[l])
            .with_updates(updates);
        if self.send(p, ClientMessage::JoinLobby(msg)) {
            let c = &mut self.clients[p];
            c.lobby = Some(l);
            c.delta = delta;
            c.name = name;
        }
    }

    fn step(&mut self, a: &Action) -> Result<(), TestCaseError> {
        match *a {
            Action::Join(p, l, d) => {
                let name = self.clients[p].name;
                self.join(p, l, d, name);
            }
            Action::Rename(p, n) => {
                if let Some(l) = self.clients[p].lobby {
                    let d = self.clients[p].delta;
                    self.join(p, l, d, n);
                }
            }
            Action::Leave(p) => {
                if self.send(
                    p,
                    ClientMessage::LeaveLobby(LeaveLobby { player_id: pid(p) }),
                ) {
                    self.clients[p].lobby = None;
                }
            }
            Action::Request(p, q) => {
                let msg = RequestMatch {
                    requester_id: pid(p),
                    target_id: pid(q),
                };
                self.send(p, ClientMessage::RequestMatch(msg));
            }
            Action::Accept(q, p) => {
                let msg = AcceptMatch {
                    accepter_id: pid(q),
                    requester_id: pid(p),
                    session_id: None,
                };
                self.send(q, ClientMessage::AcceptMatch(msg));
            }
            Action::Fail(p) => {
                if let Some(sid) = self.hub.live_session_of(&pid(p)).map(str::to_owned) {
                    let msg = ReportConnection {
                        player_id: pid(p),
                        session_id: sid,
                        state: ConnectionState::Failed,
                    };
                    self.send(p, ClientMessage::ReportConnection(msg));
                }
            }
            Action::Reconnect(p) => {
                let old = self.clients[p].conn;
                self.hub.disconnect(old, self.now);
                self.clients[p] = self.fresh_client(p);
            }
            Action::Read(p) => self.read(p)?,
            Action::Tick(ms) => {
                self.now += Duration::from_millis(ms);
                self.hub.handle_timeout(self.now);
            }
        }
        self.route()?;
        self.hub
            .check_invariants()
            .map_err(|e| TestCaseError::fail(format!("after {a:?}: {e}")))
    }

    /// Routes the hub's lobby output into the mailboxes, like the server's driver.
    fn route(&mut self) -> Result<(), TestCaseError> {
        let mut outputs = Vec::new();
        while let Some(out) = self.hub.poll_output() {
            outputs.push(out);
        }
        for out in outputs {
            match out {
                HubOutput::Lobby { update, recipients } => {
                    for conn in recipients {
                        if let Some(c) = self.clients.iter_mut().find(|c| c.conn == conn) {
                            let msg = ServerMessage::LobbyUpdate((*update).clone());
                            c.mailbox.push_full(msg);
                        }
                    }
                }
                HubOutput::LobbyDelta { delta, recipients } => {
                    check_delta_lists(&delta)?;
                    let hub = &self.hub;
                    for conn in recipients {
                        let Some(c) = self.clients.iter_mut().find(|c| c.conn == conn) else {
                            continue;
                        };
                        let msg = ServerMessage::LobbyDelta((*delta).clone());
                        let resync = || {
                            hub.published_lobby(&delta.lobby)
                                .map(ServerMessage::LobbyUpdate)
                        };
                        if c.mailbox.push_delta(msg, resync) == Pushed::Resynced {
                            self.resyncs += 1;
                        }
                    }
                }
                HubOutput::Send { .. } | HubOutput::Close { .. } => {}
            }
        }
        Ok(())
    }

    fn read(&mut self, p: usize) -> Result<(), TestCaseError> {
        let c = &mut self.clients[p];
        for msg in c.mailbox.take() {
            if let Err(e) = c.view.apply(&msg) {
                return Err(TestCaseError::fail(format!("p{p}: {e} applying {msg:?}")));
            }
        }
        Ok(())
    }

    /// Flushes timers and mailboxes, then compares every client's view with the hub.
    fn settle_and_compare(&mut self) -> Result<(), TestCaseError> {
        self.step(&Action::Tick(1000))?;
        for p in 0..N {
            self.read(p)?;
            let c = &self.clients[p];
            let Some(l) = c.lobby else { continue };
            let name = LOBBIES[l];
            let content = self.hub.lobby_of(name);
            prop_assert_eq!(
                &c.view.to_update().players,
                &content.players,
                "p{} in {}",
                p,
                name
            );
            if c.delta {
                let published = self.hub.published_lobby(name);
                prop_assert_eq!(c.view.version(), published.and_then(|u| u.version));
                prop_assert_eq!(c.view.lobby(), Some(name));
            }
        }
        Ok(())
    }
}

fn check_delta_lists(delta: &LobbyDelta) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    let ids = delta
        .added
        .iter()
        .map(|r| &r.player_id)
        .chain(&delta.removed)
        .chain(delta.changed.iter().map(|r| &r.player_id));
    for id in ids {
        prop_assert!(seen.insert(id.clone()), "{} twice in {:?}", id, delta);
    }
    prop_assert!(!delta.is_empty(), "empty delta sent");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_deltas_ends_at_the_lobby_content(
        backlog in 1usize..4,
        actions in proptest::collection::vec(action(), 1..120),
    ) {
        let mut w = World::new(backlog);
        for a in &actions {
            w.step(a)?;
        }
        w.settle_and_compare()?;
    }
}

/// A client that never reads while its lobby changes many times is resynced (the
/// forced-coalescing case), and still ends exactly at the lobby's content.
#[test]
fn a_client_that_falls_behind_is_resynced_without_a_gap() {
    let mut w = World::new(1);
    w.join(0, 0, true, 0);
    w.step(&Action::Tick(100)).unwrap();
    w.read(0).unwrap();
    for round in 0..6u8 {
        for p in 1..N.min(MAX_LOBBY) {
            w.join(p, 0, round % 2 == 0, round);
        }
        w.step(&Action::Tick(100)).unwrap();
    }
    assert!(w.resyncs > 0, "the slow client was never resynced");
    w.settle_and_compare().unwrap();
}
