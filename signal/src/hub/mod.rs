//! The sans-IO hub: lobby, players, match sessions and their state machine.
//!
//! Input: a connection joining ([`Hub::connect`]), a parsed message from it
//! ([`Hub::handle_message`]) or raw text ([`Hub::handle_text`]), a disconnect
//! ([`Hub::disconnect`]) and the passage of time ([`Hub::handle_timeout`]), each with the
//! current `now`. Output: [`HubOutput`]s drained with [`Hub::poll_output`], and the next
//! deadline from [`Hub::poll_timeout`]. The hub never sleeps, spawns or touches a socket,
//! so every transition is unit-testable on virtual time.

mod cluster;
mod fast_relay;
mod handlers;
mod lifecycle;
mod lobby;
mod mailbox;
mod resume;
mod session;
mod spectate;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::protocol::{
    CancelReason, ClientMessage, DeclineReason, ErrorCode, FailReason, LobbyDelta, LobbyUpdate,
    LobbyUpdates, ServerMessage, DEFAULT_LOBBY,
};
pub use cluster::Membership;
use lobby::Lobby;
pub use mailbox::{LobbyMailbox, Pushed, DEFAULT_LOBBY_DELTA_BACKLOG};
pub use session::{MatchSession, SessionState};
pub use spectate::SpectatorSession;

/// Identifies one WebSocket connection (assigned by the driver).
pub type ConnId = u64;

/// A `requested` session expires after this long (`declined`, reason `expired`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An `accepted` / `connecting` session fails after this long (reason `timeout`).
pub const DEFAULT_NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(30);
/// An `interrupted` session ends after this long without resuming (`match_ended
/// peer_disconnected`); zero turns resuming off (a drop ends the match at once).
pub const DEFAULT_RESUME_TIMEOUT: Duration = Duration::from_secs(20);
/// Lobby changes are collected for this long before one snapshot goes out.
pub const DEFAULT_LOBBY_DEBOUNCE: Duration = Duration::from_millis(100);
/// Maximum display-name length in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 32;
/// A lobby holds at most this many players; one more `join_lobby` is `error 409 "lobby full"`.
pub const DEFAULT_MAX_LOBBY_SIZE: usize = 10_000;
/// Close code sent to a connection replaced by a newer one with the same identity.
pub const CLOSE_REPLACED: u16 = 1000;

/// Timeouts and limits of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// See [`DEFAULT_NEGOTIATION_TIMEOUT`].
    pub negotiation_timeout: Duration,
    /// See [`DEFAULT_LOBBY_DEBOUNCE`].
    pub lobby_debounce: Duration,
    /// See [`DEFAULT_MAX_LOBBY_SIZE`].
    pub max_lobby_size: usize,
    /// See [`DEFAULT_RESUME_TIMEOUT`].
    pub resume_timeout: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            negotiation_timeout: DEFAULT_NEGOTIATION_TIMEOUT,
            lobby_debounce: DEFAULT_LOBBY_DEBOUNCE,
            max_lobby_size: DEFAULT_MAX_LOBBY_SIZE,
            resume_timeout: DEFAULT_RESUME_TIMEOUT,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum HubOutput {
    /// Deliver `msg` to `conn` (never dropped; a full queue means a slow consumer).
    Send {
        /// Recipient.
        conn: ConnId,
        /// Message.
        msg: ServerMessage,
    },
    /// Close `conn` after the messages already queued for it.
    Close {
        /// Connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: &'static str,
    },
    /// A full `lobby_update` for some members of one lobby (serialize once; it replaces
    /// whatever lobby message a connection has not sent yet). It carries `lobby` and
    /// `version` when it goes to delta-mode members.
    Lobby {
        /// The snapshot.
        update: Arc<LobbyUpdate>,
        /// Connections of the lobby members.
        recipients: Vec<ConnId>,
    },
    /// A `lobby_delta` for the delta-mode members of one lobby (serialize once, queue per
    /// connection). A connection too far behind to queue it is sent
    /// [`Hub::published_lobby`] instead, which is at the same version.
    LobbyDelta {
        /// The delta.
        delta: Arc<LobbyDelta>,
        /// Connections of the delta-mode members.
        recipients: Vec<ConnId>,
    },
}

/// Why a message was refused (also sent to the sender as `error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Wire error code.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
    /// The session the message named, if any.
    pub session_id: Option<String>,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            session_id: None,
        }
    }

    pub(crate) fn in_session(mut self, session_id: &str) -> Self {
        self.session_id = Some(session_id.to_owned());
        self
    }
}

#[derive(Debug, Clone)]
struct Player {
    conn: ConnId,
    name: String,
    lobby: Option<String>,
    updates: LobbyUpdates,
    live_session: Option<String>,
    outgoing: Option<String>,
    incoming: BTreeSet<String>,
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Connected, authenticated players.
    pub players: usize,
    /// Lobby members (all lobbies).
    pub lobby_size: usize,
    /// Lobbies with members.
    pub lobbies: usize,
    /// Sessions per state, indexed like [`SessionState::ALL`].
    pub sessions: [usize; SessionState::COUNT],
}

/// The lobby and match state machine (sans-IO).
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    conns: HashMap<ConnId, String>,
    players: BTreeMap<String, Player>,
    sessions: HashMap<String, MatchSession>,
    timers: BTreeSet<(Instant, String)>,
    lobbies: BTreeMap<String, Lobby>,
    dirty_lobbies: BTreeSet<String>,
    lobby_due: Option<Instant>,
    lobby_size: usize,
    state_counts: [usize; SessionState::COUNT],
    resume: resume::Away,
    out: VecDeque<HubOutput>,
    rng: StdRng,
    spectating: spectate::Spectating,
}

impl Hub {
    /// A hub whose session ids come from the operating system's randomness.
    pub fn new(config: HubConfig) -> Self {
        Self::with_rng(config, StdRng::from_entropy())
    }

    /// A hub with reproducible session ids (tests, fuzzing, benchmarks).
    pub fn with_seed(config: HubConfig, seed: u64) -> Self {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: HubConfig, rng: StdRng) -> Self {
        Self {
            config,
            conns: HashMap::new(),
            players: BTreeMap::new(),
            sessions: HashMap::new(),
            timers: BTreeSet::new(),
            lobbies: BTreeMap::new(),
            dirty_lobbies: BTreeSet::new(),
            lobby_due: None,
            lobby_size: 0,
            state_counts: [0; SessionState::COUNT],
            resume: resume::Away::default(),
            out: VecDeque::new(),
            rng,
            spectating: spectate::Spectating::default(),
        }
    }

    /// Registers an authenticated connection. A previous connection with the same player id
    /// gets `error 409 "replaced by a newer connection"`, is closed and cleaned up as if it
    /// had disconnected; the new one starts outside the lobby.
    pub fn connect(&mut self, conn: ConnId, player_id: &str, default_name: &str, now: Instant) {
        if let Some(old) = self.players.get(player_id).map(|p| p.conn) {
            self.send_conn(
                old,
                ErrorCode::Conflict.message("replaced by a newer connection", None),
            );
            self.out.push_back(HubOutput::Close {
                conn: old,
                code: CLOSE_REPLACED,
                reason: "replaced by a newer connection",
            });
            self.disconnect(old, now);
        }
        self.conns.insert(conn, player_id.to_owned());
        self.players.insert(
            player_id.to_owned(),
            Player {
                conn,
                name: default_name.to_owned(),
                lobby: None,
                updates: LobbyUpdates::Snapshot,
                live_session: None,
                outgoing: None,
                incoming: BTreeSet::new(),
            },
        );
        self.rejoin_interrupted(player_id, now);
    }

    /// Cleans up after a closed connection: the player leaves the lobby, pending requests
    /// are withdrawn and unfinished matches fail / end with `peer_disconnected`.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        let Some(player_id) = self.conns.remove(&conn) else {
            return;
        };
        if self.players.get(&player_id).map(|p| p.conn) != Some(conn) {
            return;
        }
        self.withdraw_requests(&player_id, now);
        if let Some(sid) = self.player(&player_id).and_then(|p| p.live_session.clone()) {
            self.player_dropped(&sid, &player_id, now);
        }
        self.spectator_disconnected(&player_id, now);
        self.exit_lobby(&player_id, now);
        self.players.remove(&player_id);
    }

    /// Parses one text frame and handles it; unparseable input gets `error 400`.
    pub fn handle_text(&mut self, conn: ConnId, text: &str, now: Instant) -> Result<(), Refusal> {
        match ClientMessage::parse(text) {
            Ok(msg) => self.handle_message(conn, msg, now),
            Err(e) => {
                let refusal = Refusal::new(ErrorCode::BadRequest, format!("bad message: {e}"));
                self.refuse(conn, refusal.clone());
                Err(refusal)
            }
        }
    }

    /// Handles one parsed message from `conn`. A refused message changes nothing and its
    /// sender gets an `error`.
    pub fn handle_message(
        &mut self,
        conn: ConnId,
        msg: ClientMessage,
        now: Instant,
    ) -> Result<(), Refusal> {
        let Some(sender) = self.conns.get(&conn).cloned() else {
            return Err(Refusal::new(ErrorCode::Forbidden, "unknown connection"));
        };
        let result = self.dispatch(&sender, msg, now);
        if let Err(refusal) = &result {
            self.refuse(conn, refusal.clone());
        }
        result
    }

    fn refuse(&mut self, conn: ConnId, refusal: Refusal) {
        self.send_conn(
            conn,
            refusal.code.message(refusal.message, refusal.session_id),
        );
    }

    /// The earliest instant at which [`Hub::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|(t, _)| *t);
        match (timer, self.lobby_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires sessions whose deadline passed and emits a due lobby snapshot.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, sid)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, sid.clone()));
            let Some(session) = self.sessions.get(&sid) else {
                self.spectator_timeout(&sid, at, now);
                continue;
            };
            if session.deadline != Some(at) {
                continue;
            }
            if session.state == SessionState::Requested {
                self.end_request(&sid, DeclineReason::Expired, CancelReason::Expired, now);
            } else if session.state == SessionState::Interrupted {
                self.resume_expired(&sid, now);
            } else {
                self.fail_session(&sid, FailReason::Timeout, None, now);
            }
        }
        if self.lobby_due.is_some_and(|due| due <= now) {
            self.lobby_due = None;
            self.emit_lobbies();
        }
    }

    /// Next output for the driver.
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.out.pop_front()
    }

    /// Counts for metrics.
    pub fn stats(&self) -> HubStats {
        HubStats {
            players: self.players.len(),
            lobby_size: self.lobby_size,
            lobbies: self
                .lobbies
                .values()
                .filter(|l| !l.members.is_empty())
                .count(),
            sessions: self.state_counts,
        }
    }

    /// A session by id (inspection for tests and tools).
    pub fn session(&self, session_id: &str) -> Option<&MatchSession> {
        self.sessions.get(session_id)
    }

    /// The default lobby ([`DEFAULT_LOBBY`]) as it would be sent now, sorted by player id.
    pub fn lobby(&self) -> LobbyUpdate {
        self.lobby_of(DEFAULT_LOBBY)
    }

    /// The live (accepted, connecting or connected) session of a player.
    pub fn live_session_of(&self, player_id: &str) -> Option<&str> {
        self.player(player_id)?.live_session.as_deref()
    }

    // ----- internal helpers shared with the handlers -----

    fn player(&self, id: &str) -> Option<&Player> {
        self.players.get(id)
    }

    fn player_mut(&mut self, id: &str) -> Option<&mut Player> {
        self.players.get_mut(id)
    }

    fn name_of(&self, id: &str) -> String {
        self.player(id).map(|p| p.name.clone()).unwrap_or_default()
    }

    fn send_conn(&mut self, conn: ConnId, msg: ServerMessage) {
        self.out.push_back(HubOutput::Send { conn, msg });
    }

    fn send_player(&mut self, player_id: &str, msg: ServerMessage) {
        if let Some(conn) = self.player(player_id).map(|p| p.conn) {
            self.send_conn(conn, msg);
        }
    }

    fn new_session_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

#[cfg(test)]
mod tests;
