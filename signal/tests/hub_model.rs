//! Model-based property test of the sans-IO hub: random action sequences from several
//! players are applied to the hub and to a simple reference model of the spec; results,
//! error codes and resulting states must agree, and the invariants must hold (no player in
//! two live sessions, lobby statuses agree with sessions, refused actions change nothing,
//! every session is live or gone). Players move between two named lobbies, one of which
//! can fill up (`--max-lobby-size`), and requests work only within a lobby. Players also
//! ask to watch a running match (`watch_match`): spectator sessions are negotiated with
//! the same relay messages, end with their match, and show the watcher as `watching`. Half
//! the runs have a relay fallback configured: then a failed or timed-out negotiation moves
//! the session to `relaying`, and `report_connection relay` asks for it at once. A
//! running match is `interrupted` by `resume_match`, a `failed` report or a player's
//! reconnect, resumes once both report `connected`, and ends at the resume timeout (its
//! spectators stay while it is interrupted); a relayed match ignores `failed` and refuses
//! `resume_match`. The requester may withdraw (`cancel_match_request`) until the match
//! runs: after an accept too, which ends the negotiation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use signal::hub::{Hub, HubConfig, HubOutput, RelayConfig, SessionState};
use signal::protocol::*;

const N: usize = 4;
/// Lobby size limit: with 4 players, one lobby can be full.
const MAX_LOBBY: usize = 3;
const LOBBIES: [&str; 2] = ["main", "side.2"];
const REQUEST_TIMEOUT: u64 = 30;
const NEGOTIATION_TIMEOUT: u64 = 20;
const RESUME_TIMEOUT: u64 = 20;

#[derive(Debug, Clone)]
enum Action {
    Join(usize, usize, bool),
    Leave(usize),
    Request(usize, usize),
    Accept(usize, usize, Option<usize>),
    Decline(usize, usize, Option<usize>),
    Cancel(usize, usize, usize),
    Offer(usize, usize, usize),
    Answer(usize, usize, usize),
    Ice(usize, usize, usize),
    Report(usize, usize, ConnectionState),
    End(usize, usize),
    Resume(usize, usize),
    Spoof(usize, usize),
    Reconnect(usize),
    Tick(u64),
    Watch(usize, usize),
    /// A whole happy path (request, accept, offer, answer, both reports), so that matches
    /// run often enough to be watched.
    Play(usize, usize),
    /// `watch_match`, then the spectator negotiation (offer, answer, both reports).
    WatchFlow(usize, usize),
    /// The lobby race: request, accept, (an offer,) then the requester withdraws.
    Withdraw(usize, usize, bool),
}

fn action() -> impl Strategy<Value = Action> {
    let p = 0..N;
    let k = 0..6usize;
    prop_oneof![
        3 => (p.clone(), 0..LOBBIES.len(), any::<bool>()).prop_map(|(p, l, d)| Action::Join(p, l, d)),
        1 => p.clone().prop_map(Action::Leave),
        4 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Request(a, b)),
        4 => (p.clone(), p.clone(), proptest::option::of(k.clone())).prop_map(|(a, b, s)| Action::Accept(a, b, s)),
        1 => (p.clone(), p.clone(), proptest::option::of(k.clone())).prop_map(|(a, b, s)| Action::Decline(a, b, s)),
        1 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Cancel(a, b, s)),
        3 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Offer(a, b, s)),
        3 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Answer(a, b, s)),
        2 => (p.clone(), p.clone(), k.clone()).prop_map(|(a, b, s)| Action::Ice(a, b, s)),
        4 => (p.clone(), k.clone(), report_state()).prop_map(|(a, s, c)| Action::Report(a, s, c)),
        2 => (p.clone(), k.clone()).prop_map(|(a, s)| Action::End(a, s)),
        2 => (p.clone(), k.clone()).prop_map(|(a, s)| Action::Resume(a, s)),
        1 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Spoof(a, b)),
        1 => p.clone().prop_map(Action::Reconnect),
        1 => prop_oneof![Just(1u64), Just(19), Just(21), Just(31)].prop_map(Action::Tick),
        3 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Watch(a, b)),
        2 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::Play(a, b)),
        2 => (p.clone(), p.clone()).prop_map(|(a, b)| Action::WatchFlow(a, b)),
        1 => (p.clone(), p.clone(), any::<bool>()).prop_map(|(a, b, o)| Action::Withdraw(a, b, o)),
    ]
}

fn report_state() -> impl Strategy<Value = ConnectionState> {
    prop_oneof![
        8 => Just(ConnectionState::Connected),
        1 => Just(ConnectionState::Failed),
        1 => Just(ConnectionState::Relay),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct MSession {
    req: usize,
    tgt: usize,
    state: SessionState,
    reported: [bool; 2],
    deadline: Option<u64>,
    /// Why an `interrupted` session is interrupted.
    reason: Option<InterruptReason>,
    /// The session went through `relaying` (its match runs over the relay).
    relayed: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct MSpectator {
    watcher: usize,
    host: usize,
    match_sid: String,
    connected: bool,
    reported: [bool; 2],
    deadline: Option<u64>,
}

#[derive(Debug, Default)]
struct Model {
    in_lobby: [Option<usize>; N],
    sessions: BTreeMap<String, MSession>,
    spectators: BTreeMap<String, MSpectator>,
    now: u64,
    relay: bool,
}

fn pid(i: usize) -> String {
    format!("p{i}")
}

impl Model {
    fn live(&self, p: usize) -> bool {
        self.sessions
            .values()
            .any(|s| s.state != SessionState::Requested && (s.req == p || s.tgt == p))
    }
    fn outgoing(&self, p: usize) -> Option<String> {
        self.sessions
            .iter()
            .find(|(_, s)| s.state == SessionState::Requested && s.req == p)
            .map(|(id, _)| id.clone())
    }
    fn drop_requests_of(&mut self, p: usize) {
        self.sessions
            .retain(|_, s| !(s.state == SessionState::Requested && (s.req == p || s.tgt == p)));
    }
    /// Membership checks shared by session messages: 404, 403, 403 (receiver).
    fn member(&self, p: usize, sid: &str, receiver: Option<usize>) -> Result<MSession, u16> {
        let s = self.sessions.get(sid).ok_or(404u16)?;
        if s.req != p && s.tgt != p {
            return Err(403);
        }
        let opp = if s.req == p { s.tgt } else { s.req };
        if receiver.is_some_and(|r| r != opp) {
            return Err(403);
        }
        Ok(s.clone())
    }
    fn find_request(&self, p: usize, r: usize, sid: Option<&str>) -> Result<String, u16> {
        let sid = match sid {
            Some(s) => s.to_owned(),
            None => match self.outgoing(r) {
                Some(s) if self.sessions[&s].tgt == p => s,
                _ => return Err(404),
            },
        };
        let s = self.sessions.get(&sid).ok_or(404u16)?;
        if s.req != p && s.tgt != p {
            return Err(403);
        }
        if s.tgt != p {
            return Err(403);
        }
        if s.req != r {
            return Err(404);
        }
        if s.state != SessionState::Requested {
            return Err(409);
        }
        Ok(sid)
    }
    fn tick(&mut self, secs: u64) {
        self.now += secs;
        let now = self.now;
        let relay = self.relay;
        for s in self.sessions.values_mut() {
            let negotiating = matches!(s.state, SessionState::Accepted | SessionState::Connecting);
            if relay && negotiating && s.deadline.is_some_and(|d| d <= now) {
                s.state = SessionState::Relaying;
                s.relayed = true;
                s.reported = [false; 2];
                s.deadline = Some(now + NEGOTIATION_TIMEOUT);
            }
        }
        self.sessions
            .retain(|_, s| s.deadline.is_none_or(|d| d > now));
        self.spectators
            .retain(|_, s| s.deadline.is_none_or(|d| d > now));
        self.end_orphan_spectators();
    }
    fn watching(&self, p: usize) -> bool {
        self.spectators.values().any(|s| s.watcher == p)
    }
    fn hosted(&self, p: usize) -> usize {
        self.spectators.values().filter(|s| s.host == p).count()
    }
    /// A spectator session lives only while its match runs (or is interrupted).
    fn end_orphan_spectators(&mut self) {
        let sessions = &self.sessions;
        self.spectators.retain(|_, s| {
            sessions.get(&s.match_sid).is_some_and(|m| {
                matches!(m.state, SessionState::Connected | SessionState::Interrupted)
            })
        });
    }
    /// The spec's answer to `watch_match`; `Ok(host)` when accepted.
    fn check_watch(&self, p: usize, q: usize) -> Result<(String, usize), u16> {
        if self.in_lobby[p].is_none() {
            return Err(409);
        }
        if p == q {
            return Err(400);
        }
        if self.live(p) || self.watching(p) {
            return Err(409);
        }
        if self.in_lobby[q] != self.in_lobby[p] {
            return Err(404);
        }
        let (sid, m) = self
            .sessions
            .iter()
            .find(|(_, s)| s.state == SessionState::Connected && (s.req == q || s.tgt == q))
            .ok_or(409u16)?;
        if self
            .spectators
            .values()
            .filter(|s| s.match_sid == *sid)
            .count()
            >= 8
        {
            return Err(409);
        }
        let other = if m.req == q { m.tgt } else { m.req };
        let host = if self.hosted(other) < self.hosted(q) {
            other
        } else {
            q
        };
        Ok((sid.clone(), host))
    }
    /// Relay, report and end messages naming a spectator session.
    fn predict_spectator(&mut self, a: &Action, sid: &str) -> Result<(), u16> {
        let s = self.spectators.get(sid).cloned().ok_or(404u16)?;
        let p = match *a {
            Action::Offer(p, ..) | Action::Answer(p, ..) | Action::Ice(p, ..) => p,
            Action::Report(p, ..) | Action::End(p, _) => p,
            _ => unreachable!("not a session message"),
        };
        if s.watcher != p && s.host != p {
            return Err(403);
        }
        let other = if s.watcher == p { s.host } else { s.watcher };
        match *a {
            Action::Offer(_, r, _) | Action::Answer(_, r, _) | Action::Ice(_, r, _)
                if r != other =>
            {
                Err(403)
            }
            Action::Offer(..) | Action::Answer(..) if s.connected => Err(409),
            Action::Offer(..) | Action::Answer(..) | Action::Ice(..) => Ok(()),
            Action::Report(..) if s.connected => Err(409),
            // No relay fallback for spectator sessions.
            Action::Report(_, _, ConnectionState::Relay) => Err(409),
            Action::Report(_, _, ConnectionState::Failed) | Action::End(..) => {
                self.spectators.remove(sid);
                Ok(())
            }
            _ => {
                if let Some(e) = self.spectators.get_mut(sid) {
                    e.reported[usize::from(e.host == p)] = true;
                    if e.reported == [true, true] {
                        e.connected = true;
                        e.deadline = None;
                    }
                }
                Ok(())
            }
        }
    }

    fn start_relaying(&mut self, sid: &str) {
        let now = self.now;
        if let Some(e) = self.sessions.get_mut(sid) {
            e.state = SessionState::Relaying;
            e.relayed = true;
            e.reported = [false; 2];
            e.deadline = Some(now + NEGOTIATION_TIMEOUT);
        }
    }
}

struct World {
    hub: Hub,
    model: Model,
    t0: Instant,
    conns: [u64; N],
    next_conn: u64,
    known: Vec<String>,
}

impl World {
    fn new(relay: bool) -> Self {
        let cfg = HubConfig {
            request_timeout: Duration::from_secs(REQUEST_TIMEOUT),
            negotiation_timeout: Duration::from_secs(NEGOTIATION_TIMEOUT),
            lobby_debounce: Duration::from_millis(100),
            max_lobby_size: MAX_LOBBY,
            relay: relay.then(|| {
                RelayConfig::new(vec!["tcp://127.0.0.1:34001".to_owned()], b"s".to_vec())
                    .expect("valid relay config")
            }),
            resume_timeout: Duration::from_secs(RESUME_TIMEOUT),
        };
        let mut w = World {
            hub: Hub::with_seed(cfg, 42),
            model: Model {
                relay,
                ..Model::default()
            },
            t0: Instant::now(),
            conns: [0; N],
            next_conn: 1,
            known: Vec::new(),
        };
        for p in 0..N {
            w.connect(p);
        }
        w
    }
    fn now(&self) -> Instant {
        self.t0 + Duration::from_secs(self.model.now)
    }
    fn connect(&mut self, p: usize) {
        self.conns[p] = self.next_conn;
        self.next_conn += 1;
        let now = self.now();
        self.hub.connect(self.conns[p], &pid(p), &pid(p), now);
    }

    fn send(&mut self, p: usize, msg: ClientMessage) -> Result<(), u16> {
        let now = self.now();
        let r = self
            .hub
            .handle_message(self.conns[p], msg, now)
            .map_err(|e| e.code.as_u16());
        while let Some(out) = self.hub.poll_output() {
            match out {
                HubOutput::Send {
                    msg: ServerMessage::MatchRequestSent(s),
                    ..
                } => self.known.push(s.session_id),
                HubOutput::Send {
                    msg: ServerMessage::WatchStarted(s),
                    ..
                } => self.known.push(s.session_id),
                _ => {}
            }
        }
        r
    }

    /// The session id an action names (index into the ids seen so far).
    fn sid_at(&self, k: usize) -> String {
        if self.known.is_empty() {
            "00000000-0000-4000-8000-000000000000".into()
        } else {
            self.known[k % self.known.len()].clone()
        }
    }

    /// Applies one action to both; returns (hub result, model expectation).
    fn step(&mut self, a: &Action) -> (Result<(), u16>, Result<(), u16>) {
        match *a {
            Action::Reconnect(p) => {
                self.model.disconnect(p);
                let now = self.now();
                self.hub.disconnect(self.conns[p], now);
                self.connect(p);
                while self.hub.poll_output().is_some() {}
                (Ok(()), Ok(()))
            }
            Action::Tick(secs) => {
                self.model.tick(secs);
                let now = self.now();
                self.hub.handle_timeout(now);
                while self.hub.poll_output().is_some() {}
                (Ok(()), Ok(()))
            }
            Action::Play(p, q) => self.play(p, q),
            Action::Withdraw(p, q, offer) => self.withdraw(p, q, offer),
            Action::WatchFlow(p, q) => self.watch_flow(p, q),
            _ => self.step_message(a),
        }
    }

    /// [`Action::Play`]: its messages one by one, as long as hub and model agree and
    /// accept them.
    fn play(&mut self, p: usize, q: usize) -> (Result<(), u16>, Result<(), u16>) {
        for who in [p, q] {
            let r = self.step_message(&Action::Join(who, 0, false));
            if r.0 != r.1 {
                return r;
            }
        }
        let first = self.step_message(&Action::Request(p, q));
        if first.0 != first.1 {
            return first;
        }
        if first.0.is_err() {
            return (Ok(()), Ok(())); // the joins may have changed the lobbies
        }
        let k = self.known.len() - 1;
        let rest = [
            Action::Accept(q, p, None),
            Action::Offer(p, q, k),
            Action::Answer(q, p, k),
            Action::Report(p, k, ConnectionState::Connected),
            Action::Report(q, k, ConnectionState::Connected),
        ];
        for a in &rest {
            let r = self.step_message(a);
            if r.0 != r.1 {
                return r;
            }
            if r.0.is_err() {
                break;
            }
        }
        (Ok(()), Ok(()))
    }

    /// [`Action::Withdraw`]: its messages one by one, as long as hub and model agree.
    fn withdraw(&mut self, p: usize, q: usize, offer: bool) -> (Result<(), u16>, Result<(), u16>) {
        let first = self.step_message(&Action::Request(p, q));
        if first.0 != first.1 || first.0.is_err() {
            return first;
        }
        let k = self.known.len() - 1;
        let mut rest = vec![Action::Accept(q, p, Some(k))];
        if offer {
            rest.push(Action::Offer(p, q, k));
        }
        rest.push(Action::Cancel(p, q, k));
        for a in &rest {
            let r = self.step_message(a);
            if r.0 != r.1 || r.0.is_err() {
                return r;
            }
        }
        (Ok(()), Ok(()))
    }

    /// [`Action::WatchFlow`]: watch, then negotiate with the host the hub picked.
    fn watch_flow(&mut self, p: usize, q: usize) -> (Result<(), u16>, Result<(), u16>) {
        let first = self.step_message(&Action::Watch(p, q));
        if first.0 != first.1 || first.0.is_err() {
            return first;
        }
        let k = self.known.len() - 1;
        let Some(host) = self
            .hub
            .spectator_session(&self.known[k])
            .and_then(|s| s.host.strip_prefix('p')?.parse::<usize>().ok())
        else {
            return (Err(0), Ok(()));
        };
        let rest = [
            Action::Offer(p, host, k),
            Action::Answer(host, p, k),
            Action::Ice(p, host, k),
            Action::Report(host, k, ConnectionState::Connected),
            Action::Report(p, k, ConnectionState::Connected),
        ];
        for a in &rest {
            let r = self.step_message(a);
            if r.0 != r.1 {
                return r;
            }
        }
        (Ok(()), Ok(()))
    }

    fn step_message(&mut self, a: &Action) -> (Result<(), u16>, Result<(), u16>) {
        let sid = match *a {
            Action::Accept(_, _, k) | Action::Decline(_, _, k) => k.map(|k| self.sid_at(k)),
            Action::Cancel(_, _, k)
            | Action::Offer(_, _, k)
            | Action::Answer(_, _, k)
            | Action::Ice(_, _, k)
            | Action::Report(_, k, _)
            | Action::End(_, k)
            | Action::Resume(_, k) => Some(self.sid_at(k)),
            _ => None,
        };
        let (sender, msg) = message_for(a, sid.clone());
        let expected = self.model.predict(a, sid.as_deref());
        let before = self.known.len();
        let got = self.send(sender, msg);
        if let (Action::Request(p, q), Ok(())) = (a, &expected) {
            if let Some(new_sid) = self.known.get(before).cloned() {
                self.model.insert_request(new_sid, *p, *q);
            }
        }
        if let (Action::Watch(p, q), Ok(())) = (a, &expected) {
            let new_sid = self.known.get(before).cloned();
            if let (Some(new_sid), Ok((match_sid, host))) =
                (new_sid, self.model.check_watch(*p, *q))
            {
                self.model.spectators.insert(
                    new_sid,
                    MSpectator {
                        watcher: *p,
                        host,
                        match_sid,
                        connected: false,
                        reported: [false; 2],
                        deadline: Some(self.model.now + NEGOTIATION_TIMEOUT),
                    },
                );
            }
        }
        self.model.end_orphan_spectators();
        (got, expected)
    }

    fn snapshot(&self) -> String {
        let sessions: Vec<_> = self
            .known
            .iter()
            .map(|id| self.hub.session(id).map(|s| (s.state, s.reported)))
            .collect();
        let spectators: Vec<_> = self
            .known
            .iter()
            .map(|id| {
                self.hub
                    .spectator_session(id)
                    .map(|s| (s.connected, s.reported))
            })
            .collect();
        let lobbies: Vec<_> = LOBBIES.iter().map(|l| self.hub.lobby_of(l)).collect();
        format!("{lobbies:?} {sessions:?} {spectators:?}")
    }

    fn agree(&self) -> Result<(), String> {
        self.hub.check_invariants()?;
        for id in &self.known {
            let hub = self
                .hub
                .session(id)
                .map(|s| (s.state, s.requester.clone(), s.target.clone(), s.reported));
            let model = self
                .model
                .sessions
                .get(id)
                .map(|s| (s.state, pid(s.req), pid(s.tgt), s.reported));
            if hub != model {
                return Err(format!("session {id}: hub {hub:?} model {model:?}"));
            }
            let hub = self.hub.spectator_session(id).map(|s| {
                (
                    s.watcher.clone(),
                    s.host.clone(),
                    s.match_id.clone(),
                    s.connected,
                )
            });
            let model = self.model.spectators.get(id).map(|s| {
                (
                    pid(s.watcher),
                    pid(s.host),
                    s.match_sid.clone(),
                    s.connected,
                )
            });
            if hub != model {
                return Err(format!(
                    "spectator session {id}: hub {hub:?} model {model:?}"
                ));
            }
        }
        for (l, name) in LOBBIES.iter().enumerate() {
            let lobby = self.hub.lobby_of(name);
            for p in 0..N {
                let row = lobby.players.iter().find(|r| r.player_id == pid(p));
                if row.is_some() != (self.model.in_lobby[p] == Some(l)) {
                    return Err(format!("p{p} membership of {name} differs"));
                }
                if let Some(row) = row {
                    let live = self.model.live(p);
                    if (row.status == PlayerStatus::InMatch) != live {
                        return Err(format!("p{p} status {:?} but live={live}", row.status));
                    }
                    let watching = !live && self.model.watching(p);
                    if (row.status == PlayerStatus::Watching) != watching {
                        return Err(format!(
                            "p{p} status {:?} but watching={watching}",
                            row.status
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The message an action sends, and its sender.
fn message_for(a: &Action, sid: Option<String>) -> (usize, ClientMessage) {
    let sid_or_empty = sid.clone().unwrap_or_default();
    let relay = |p: usize, r: usize| SdpRelay {
        sender_id: pid(p),
        receiver_id: pid(r),
        sdp: "v=0".into(),
        session_id: sid_or_empty.clone(),
    };
    match *a {
        Action::Join(p, l, delta) => {
            let updates = if delta {
                LobbyUpdates::Delta
            } else {
                LobbyUpdates::Snapshot
            };
            let join = JoinLobby::new(pid(p), format!("P{p}")).with_updates(updates);
            // The default lobby is sometimes named, sometimes implied.
            let join = if l == 0 && delta {
                join
            } else {
                join.in_lobby(LOBBIES[l])
            };
            (p, ClientMessage::JoinLobby(join))
        }
        Action::Spoof(p, q) => (
            p,
            ClientMessage::JoinLobby(JoinLobby {
                player_id: pid(q),
                player_name: "x".into(),
                ..JoinLobby::default()
            }),
        ),
        Action::Leave(p) => (
            p,
            ClientMessage::LeaveLobby(LeaveLobby { player_id: pid(p) }),
        ),
        Action::Request(p, q) => (
            p,
            ClientMessage::RequestMatch(RequestMatch {
                requester_id: pid(p),
                target_id: pid(q),
            }),
        ),
        Action::Accept(p, r, _) => (
            p,
            ClientMessage::AcceptMatch(AcceptMatch {
                accepter_id: pid(p),
                requester_id: pid(r),
                session_id: sid,
            }),
        ),
        Action::Decline(p, r, _) => (
            p,
            ClientMessage::DeclineMatch(DeclineMatch {
                decliner_id: pid(p),
                requester_id: pid(r),
                session_id: sid,
            }),
        ),
        Action::Cancel(p, t, _) => (
            p,
            ClientMessage::CancelMatchRequest(CancelMatchRequest {
                requester_id: pid(p),
                target_id: pid(t),
                session_id: sid_or_empty.clone(),
            }),
        ),
        Action::Offer(p, r, _) => (p, ClientMessage::SendSdpOffer(relay(p, r))),
        Action::Answer(p, r, _) => (p, ClientMessage::SendSdpAnswer(relay(p, r))),
        Action::Ice(p, r, _) => (
            p,
            ClientMessage::SendIceCandidate(IceRelay {
                sender_id: pid(p),
                receiver_id: pid(r),
                candidate: serde_json::json!({"candidate": ""}),
                session_id: sid_or_empty.clone(),
            }),
        ),
        Action::Report(p, _, state) => (
            p,
            ClientMessage::ReportConnection(ReportConnection {
                player_id: pid(p),
                session_id: sid_or_empty.clone(),
                state,
            }),
        ),
        Action::End(p, _) => (
            p,
            ClientMessage::EndMatch(EndMatch {
                player_id: pid(p),
                session_id: sid_or_empty.clone(),
            }),
        ),
        Action::Watch(p, q) => (
            p,
            ClientMessage::WatchMatch(WatchMatch {
                player_id: pid(p),
                target_id: pid(q),
            }),
        ),
        Action::Resume(p, _) => (
            p,
            ClientMessage::ResumeMatch(ResumeMatch {
                player_id: pid(p),
                session_id: sid_or_empty.clone(),
            }),
        ),
        Action::Reconnect(_)
        | Action::Tick(_)
        | Action::Play(..)
        | Action::Withdraw(..)
        | Action::WatchFlow(..) => {
            unreachable!("not a message")
        }
    }
}

impl Model {
    /// The spec's answer to an action, applied to the model when accepted (requests are
    /// inserted once the hub has named the session).
    fn predict(&mut self, a: &Action, sid: Option<&str>) -> Result<(), u16> {
        let sid_s = sid.unwrap_or_default();
        let session_message = matches!(
            a,
            Action::Offer(..)
                | Action::Answer(..)
                | Action::Ice(..)
                | Action::Report(..)
                | Action::End(..)
        );
        if session_message && self.spectators.contains_key(sid_s) {
            return self.predict_spectator(a, sid_s);
        }
        match *a {
            Action::Join(p, l, _) => self.join(p, l),
            Action::Spoof(p, q) if p == q => self.join(p, 0),
            Action::Spoof(..) => Err(403),
            Action::Leave(p) => self.leave(p),
            Action::Request(p, q) => self.check_request(p, q),
            Action::Accept(p, r, _) => self.accept(p, r, sid),
            Action::Decline(p, r, _) => {
                let sid = self.find_request(p, r, sid)?;
                self.sessions.remove(&sid);
                Ok(())
            }
            Action::Cancel(p, t, _) => self.cancel(p, t, sid_s),
            Action::Offer(p, r, _) | Action::Answer(p, r, _) | Action::Ice(p, r, _) => {
                self.relay(a, p, r, sid_s)
            }
            Action::Report(p, _, state) => self.report(p, sid_s, state),
            Action::End(p, _) => {
                let s = self.member(p, sid_s, None)?;
                if !matches!(s.state, SessionState::Connected | SessionState::Interrupted) {
                    return Err(409);
                }
                self.sessions.remove(sid_s);
                Ok(())
            }
            Action::Resume(p, _) => self.resume(p, sid_s),
            Action::Watch(p, q) => self.check_watch(p, q).map(|_| ()),
            Action::Reconnect(_)
            | Action::Tick(_)
            | Action::Play(..)
            | Action::Withdraw(..)
            | Action::WatchFlow(..) => Ok(()),
        }
    }

    fn join(&mut self, p: usize, l: usize) -> Result<(), u16> {
        if self.in_lobby[p] == Some(l) {
            return Ok(());
        }
        if self.in_lobby.iter().filter(|x| **x == Some(l)).count() >= MAX_LOBBY {
            return Err(409);
        }
        if self.in_lobby[p].is_some() {
            self.drop_requests_of(p);
        }
        self.in_lobby[p] = Some(l);
        Ok(())
    }

    fn leave(&mut self, p: usize) -> Result<(), u16> {
        if self.in_lobby[p].is_none() {
            return Err(409);
        }
        self.drop_requests_of(p);
        self.in_lobby[p] = None;
        Ok(())
    }

    /// The WebSocket of `p` drops (it reconnects right after): requests and negotiations
    /// end, a running match is interrupted.
    fn disconnect(&mut self, p: usize) {
        let now = self.now;
        self.sessions.retain(|_, s| {
            !(s.req == p || s.tgt == p)
                || matches!(s.state, SessionState::Connected | SessionState::Interrupted)
        });
        for s in self.sessions.values_mut() {
            if s.req != p && s.tgt != p {
                continue;
            }
            if s.state == SessionState::Connected {
                s.state = SessionState::Interrupted;
                s.deadline = Some(now + RESUME_TIMEOUT);
                s.reason = Some(InterruptReason::SignalingLost);
                s.reported = [true, true];
            }
            s.reported[usize::from(s.req != p)] = false;
        }
        self.spectators.retain(|_, s| s.watcher != p && s.host != p);
        self.end_orphan_spectators();
        self.in_lobby[p] = None;
    }

    fn interrupt(&mut self, sid: &str) {
        let now = self.now;
        if let Some(s) = self.sessions.get_mut(sid) {
            if s.state == SessionState::Connected {
                s.state = SessionState::Interrupted;
                s.deadline = Some(now + RESUME_TIMEOUT);
            }
            s.reason = Some(InterruptReason::ConnectionFailed);
            s.reported = [false, false];
        }
    }

    fn resume(&mut self, p: usize, sid: &str) -> Result<(), u16> {
        let s = self.member(p, sid, None)?;
        if s.relayed {
            // A relayed match is not renegotiated.
            return Err(409);
        }
        match (s.state, s.reason) {
            (SessionState::Interrupted, Some(InterruptReason::ConnectionFailed)) => {
                if let Some(e) = self.sessions.get_mut(sid) {
                    e.reported[usize::from(s.req != p)] = false;
                }
            }
            (SessionState::Connected | SessionState::Interrupted, _) => self.interrupt(sid),
            _ => return Err(409),
        }
        Ok(())
    }

    fn check_request(&self, p: usize, q: usize) -> Result<(), u16> {
        if self.in_lobby[p].is_none() {
            Err(409)
        } else if p == q {
            Err(400)
        } else if self.live(p) || self.outgoing(p).is_some() {
            Err(409)
        } else if self.in_lobby[q] != self.in_lobby[p] {
            Err(404)
        } else if self.live(q) {
            Err(409)
        } else {
            Ok(())
        }
    }

    fn insert_request(&mut self, sid: String, p: usize, q: usize) {
        let session = MSession {
            req: p,
            tgt: q,
            state: SessionState::Requested,
            reported: [false; 2],
            deadline: Some(self.now + REQUEST_TIMEOUT),
            reason: None,
            relayed: false,
        };
        self.sessions.insert(sid, session);
    }

    fn accept(&mut self, p: usize, r: usize, sid: Option<&str>) -> Result<(), u16> {
        let sid = self.find_request(p, r, sid)?;
        let now = self.now;
        self.sessions.retain(|id, s| {
            *id == sid
                || !(s.state == SessionState::Requested
                    && [s.req, s.tgt].iter().any(|x| *x == p || *x == r))
        });
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.state = SessionState::Accepted;
            s.deadline = Some(now + NEGOTIATION_TIMEOUT);
        }
        Ok(())
    }

    fn cancel(&mut self, p: usize, t: usize, sid: &str) -> Result<(), u16> {
        match self.sessions.get(sid) {
            None => return Err(404),
            Some(s) if s.req != p && s.tgt != p => return Err(403),
            Some(s) if s.req != p => return Err(403),
            Some(s) if s.tgt != t => return Err(404),
            // the requester may withdraw until the match runs (the race with an accept)
            Some(s)
                if !matches!(
                    s.state,
                    SessionState::Requested
                        | SessionState::Accepted
                        | SessionState::Connecting
                        | SessionState::Relaying
                ) =>
            {
                return Err(409)
            }
            Some(_) => {}
        }
        self.sessions.remove(sid);
        Ok(())
    }

    fn relay(&mut self, a: &Action, p: usize, r: usize, sid: &str) -> Result<(), u16> {
        let s = self.member(p, sid, Some(r))?;
        let allowed = match a {
            Action::Offer(..) => matches!(
                s.state,
                SessionState::Accepted | SessionState::Connecting | SessionState::Interrupted
            ),
            Action::Answer(..) => {
                matches!(
                    s.state,
                    SessionState::Connecting | SessionState::Interrupted
                )
            }
            _ => s.state != SessionState::Requested,
        };
        if !allowed {
            return Err(409);
        }
        if matches!(a, Action::Offer(..)) && s.state == SessionState::Accepted {
            let now = self.now;
            if let Some(e) = self.sessions.get_mut(sid) {
                e.state = SessionState::Connecting;
                e.deadline = Some(now + NEGOTIATION_TIMEOUT);
            }
        }
        Ok(())
    }

    fn report(&mut self, p: usize, sid: &str, state: ConnectionState) -> Result<(), u16> {
        let s = self.member(p, sid, None)?;
        let me = usize::from(s.req != p);
        let relaying = s.state == SessionState::Relaying;
        match (s.state, state) {
            // A relayed match ignores `failed` (a stale peer-to-peer report).
            (SessionState::Connected | SessionState::Interrupted, ConnectionState::Failed)
                if s.relayed =>
            {
                return Ok(());
            }
            (SessionState::Connected, ConnectionState::Failed) => {
                self.interrupt(sid);
                return Ok(());
            }
            (SessionState::Interrupted, ConnectionState::Connected | ConnectionState::Failed) => {
                if let Some(e) = self.sessions.get_mut(sid) {
                    e.reported[me] = state == ConnectionState::Connected;
                    if e.reported == [true, true] {
                        e.state = SessionState::Connected;
                        e.deadline = None;
                        e.reason = None;
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        if !relaying && !matches!(s.state, SessionState::Accepted | SessionState::Connecting) {
            return Err(409);
        }
        match state {
            ConnectionState::Connected => {}
            ConnectionState::Relay | ConnectionState::Failed if relaying => return Ok(()),
            ConnectionState::Relay if !self.relay => return Err(409),
            ConnectionState::Failed if !self.relay => {
                self.sessions.remove(sid);
                return Ok(());
            }
            ConnectionState::Relay | ConnectionState::Failed => {
                self.start_relaying(sid);
                return Ok(());
            }
        }
        if let Some(e) = self.sessions.get_mut(sid) {
            e.reported[usize::from(s.req != p)] = true;
            if e.reported == [true, true] {
                e.state = SessionState::Connected;
                e.deadline = None;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hub_agrees_with_the_model(
        actions in proptest::collection::vec(action(), 1..80),
        relay in any::<bool>(),
    ) {
        let mut w = World::new(relay);
        for a in &actions {
            let before = w.snapshot();
            let (got, expected) = w.step(a);
            prop_assert_eq!(got, expected, "action {:?}", a);
            if got.is_err() {
                prop_assert_eq!(before, w.snapshot(), "refused {:?} changed state", a);
            }
            if let Err(e) = w.agree() {
                prop_assert!(false, "after {:?}: {}", a, e);
            }
        }
        // Liveness: after the longest timeout (twice: a negotiation may first fall back to
        // the relay) every unconnected session is gone.
        let _ = w.step(&Action::Tick(REQUEST_TIMEOUT + 1));
        let _ = w.step(&Action::Tick(REQUEST_TIMEOUT + 1));
        for id in &w.known {
            if let Some(s) = w.hub.session(id) {
                prop_assert_eq!(s.state, SessionState::Connected);
            }
        }
    }
}
