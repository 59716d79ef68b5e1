//! The in-window lobby screen (online without `--challenge` / `--accept`), without a
//! window: [`LobbyScreen`] takes what the network thread reports (our id, the lobby's
//! players, incoming challenges, how a match started or ended) and the user's keys, and
//! gives back the [`LobbyAction`]s to send and the lines to draw ([`LobbyScreen::panel`]).
//! [`LobbyScript`] drives the same screen with scripted keys (`--lobby-script`), so the
//! window tests go through the path a person takes.
//!
//! ```text
//!   Connecting ──(in the lobby)──> Browsing ──(Enter on a player)──> Challenging
//!        ^                          │  ^                                   │
//!        │              (challenge) v  │ (N / Esc)                (accepted)
//!        │                         Prompt ──(Enter / Y)──> Starting ─────┤
//!        │                                                               v
//!        └──────────(match over, failed, declined, cancelled: reconnect)── InMatch
//! ```

use std::collections::VecDeque;

use signal::protocol::{LobbyPlayer, MatchRequestReceived, PlayerStatus};

/// Incoming challenges kept while one is on screen; more are declined at once.
pub const MAX_QUEUED_CHALLENGES: usize = 4;
/// Notices (match ended, declined ...) kept on screen.
pub const MAX_NOTICES: usize = 3;
/// Players listed at once (the list scrolls with the selection).
pub const VISIBLE_PLAYERS: usize = 8;

/// The keys the lobby screen understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LobbyKey {
    /// Arrow up: previous player.
    Up,
    /// Arrow down: next player.
    Down,
    /// Enter: challenge the selected player, or accept the challenge on screen.
    Enter,
    /// Y: accept the challenge on screen.
    Yes,
    /// N: decline the challenge on screen.
    No,
    /// Esc: decline the challenge on screen, or withdraw ours.
    Escape,
    /// Q: leave the lobby (quit).
    Quit,
}

/// What the screen asks the network thread (or the app) to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobbyAction {
    /// Challenge this player id.
    Challenge(String),
    /// Withdraw our challenge.
    CancelChallenge,
    /// Accept this request.
    Accept(MatchRequestReceived),
    /// Decline this request.
    Decline(MatchRequestReceived),
    /// Leave the lobby and end the program.
    Quit,
}

/// Where the screen is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobbyState {
    /// Connecting to the lobby (at start and after every match).
    Connecting,
    /// Looking at the list of players.
    Browsing,
    /// Our challenge is out; waiting for the answer.
    Challenging {
        /// The player challenged.
        target: String,
    },
    /// Someone challenged us: accept or decline.
    Prompt {
        /// The request on screen.
        request: MatchRequestReceived,
    },
    /// A challenge was accepted; the connection is being negotiated.
    Starting {
        /// The opponent's display name.
        opponent: String,
    },
    /// The match runs (the screen is hidden).
    InMatch,
}

/// The lobby screen's state. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct LobbyScreen {
    me: Option<String>,
    players: Vec<LobbyPlayer>,
    /// The selected player's id (kept across lobby updates).
    selected: Option<String>,
    state: LobbyState,
    queued: VecDeque<MatchRequestReceived>,
    notices: VecDeque<String>,
    matches: u32,
    returns: u32,
    /// Left the lobby (a match or an attempt) and not back yet.
    away: bool,
}

impl Default for LobbyScreen {
    fn default() -> Self {
        Self::new()
    }
}

impl LobbyScreen {
    /// A screen that is connecting.
    pub fn new() -> Self {
        Self {
            me: None,
            players: Vec::new(),
            selected: None,
            state: LobbyState::Connecting,
            queued: VecDeque::new(),
            notices: VecDeque::new(),
            matches: 0,
            returns: 0,
            away: false,
        }
    }

    /// Where the screen is.
    pub fn state(&self) -> &LobbyState {
        &self.state
    }

    /// The other players, sorted by id.
    pub fn players(&self) -> &[LobbyPlayer] {
        &self.players
    }

    /// The selected player's id.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// Matches started from this screen.
    pub fn matches(&self) -> u32 {
        self.matches
    }

    /// Times the screen came back to the lobby after a match or a failed attempt.
    pub fn returns(&self) -> u32 {
        self.returns
    }

    /// The notices on screen, oldest first.
    pub fn notices(&self) -> impl Iterator<Item = &str> {
        self.notices.iter().map(String::as_str)
    }

    /// Whether the player list is on screen (in the lobby, nothing pending).
    pub fn is_browsing(&self) -> bool {
        self.state == LobbyState::Browsing
    }

    fn notice(&mut self, text: String) {
        if self.notices.len() == MAX_NOTICES {
            self.notices.pop_front();
        }
        self.notices.push_back(text);
    }

    /// We are in the lobby as `me` (at start, and again after every match). Returns
    /// whether this is a return (a match or an attempt came before).
    pub fn connected(&mut self, me: &str) -> bool {
        self.me = Some(me.to_owned());
        self.players.retain(|p| p.player_id != me);
        let returned = self.state == LobbyState::Connecting && self.away;
        if self.state == LobbyState::Connecting {
            self.state = LobbyState::Browsing;
        }
        if returned {
            self.away = false;
            self.returns = self.returns.saturating_add(1);
        }
        self.fix_selection();
        returned
    }

    /// A new list of lobby members (ourselves included or not).
    pub fn set_players(&mut self, players: Vec<LobbyPlayer>) {
        let me = self.me.clone();
        self.players = players
            .into_iter()
            .filter(|p| Some(&p.player_id) != me.as_ref())
            .collect();
        self.players.sort_by(|a, b| a.player_id.cmp(&b.player_id));
        self.fix_selection();
    }

    fn fix_selection(&mut self) {
        let present = self
            .selected
            .as_ref()
            .is_some_and(|id| self.players.iter().any(|p| &p.player_id == id));
        if !present {
            self.selected = self.players.first().map(|p| p.player_id.clone());
        }
    }

    fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.players.iter().position(|p| &p.player_id == id)
    }

    /// Someone challenges us. Returns the action to take at once (a decline when the
    /// screen cannot take it).
    pub fn incoming(&mut self, request: MatchRequestReceived) -> Option<LobbyAction> {
        match self.state {
            LobbyState::Browsing => {
                self.state = LobbyState::Prompt { request };
                None
            }
            LobbyState::Prompt { .. } if self.queued.len() < MAX_QUEUED_CHALLENGES => {
                self.queued.push_back(request);
                None
            }
            _ => Some(LobbyAction::Decline(request)),
        }
    }

    /// A challenge to us was withdrawn (by session id).
    pub fn cancelled(&mut self, session_id: &str) {
        self.queued.retain(|r| r.session_id != session_id);
        if let LobbyState::Prompt { request } = &self.state {
            if request.session_id == session_id {
                let who = request.requester_name.clone();
                self.notice(format!("{who} withdrew the challenge"));
                self.next_prompt();
            }
        }
    }

    /// Off to reconnect: the network thread comes back with [`LobbyScreen::connected`].
    fn reconnecting(&mut self) {
        self.queued.clear();
        self.away = true;
        self.state = LobbyState::Connecting;
    }

    fn next_prompt(&mut self) {
        self.state = match self.queued.pop_front() {
            Some(request) => LobbyState::Prompt { request },
            None => LobbyState::Browsing,
        };
    }

    /// The match is on (the game takes the window).
    pub fn match_started(&mut self) {
        self.matches = self.matches.saturating_add(1);
        self.queued.clear();
        self.state = LobbyState::InMatch;
    }

    /// Our challenge or our acceptance did not lead to a match (declined, `match_failed`,
    /// timed out): say so; the network thread reconnects to the lobby.
    pub fn no_match(&mut self, reason: &str) {
        match &self.state {
            LobbyState::Challenging { target } => {
                let target = target.clone();
                self.notice(format!("no match with {target}: {reason}"));
            }
            LobbyState::Starting { opponent } => {
                let opponent = opponent.clone();
                self.notice(format!("no match with {opponent}: {reason}"));
            }
            // already explained (we withdrew the challenge)
            _ => return,
        }
        self.reconnecting();
    }

    /// The match is over (`match_ended`, the link closed, we left, `--frames` reached):
    /// say why; the network thread reconnects to the lobby.
    pub fn match_over(&mut self, reason: &str) {
        self.notice(format!("match ended: {reason}"));
        self.reconnecting();
    }

    /// A key; returns what to do.
    pub fn key(&mut self, key: LobbyKey) -> Option<LobbyAction> {
        match (&self.state, key) {
            (LobbyState::Browsing, LobbyKey::Up | LobbyKey::Down) => {
                let n = self.players.len();
                let at = self.selected_index();
                let next = match (at, key) {
                    (_, _) if n == 0 => None,
                    (None, _) => Some(0),
                    (Some(i), LobbyKey::Up) => Some(i.checked_sub(1).unwrap_or(n - 1)),
                    (Some(i), _) => Some((i + 1) % n),
                };
                self.selected = next.map(|i| self.players[i].player_id.clone());
                None
            }
            (LobbyState::Browsing, LobbyKey::Enter) => {
                let i = self.selected_index()?;
                let player = self.players[i].clone();
                if player.status != PlayerStatus::Available {
                    self.notice(format!("{} is in a match", player.player_name));
                    return None;
                }
                self.state = LobbyState::Challenging {
                    target: player.player_id.clone(),
                };
                Some(LobbyAction::Challenge(player.player_id))
            }
            (LobbyState::Browsing, LobbyKey::Quit) => Some(LobbyAction::Quit),
            (LobbyState::Challenging { target }, LobbyKey::Escape) => {
                let target = target.clone();
                self.notice(format!("challenge to {target} withdrawn"));
                self.reconnecting();
                Some(LobbyAction::CancelChallenge)
            }
            (LobbyState::Prompt { request }, LobbyKey::Enter | LobbyKey::Yes) => {
                let request = request.clone();
                self.state = LobbyState::Starting {
                    opponent: request.requester_name.clone(),
                };
                // the others are declined by the server (we are busy now)
                self.queued.clear();
                Some(LobbyAction::Accept(request))
            }
            (LobbyState::Prompt { request }, LobbyKey::No | LobbyKey::Escape) => {
                let request = request.clone();
                self.notice(format!("declined {}", request.requester_name));
                self.next_prompt();
                Some(LobbyAction::Decline(request))
            }
            _ => None,
        }
    }

    /// What to draw: the panel's title and lines (the selected player is marked `>`).
    pub fn panel(&self) -> (String, Vec<String>) {
        let me = self.me.as_deref().unwrap_or("?");
        let mut lines = Vec::new();
        let title = match &self.state {
            LobbyState::Connecting => {
                lines.push("connecting to the lobby ...".to_owned());
                "Lobby".to_owned()
            }
            LobbyState::Browsing => {
                if self.players.is_empty() {
                    lines.push("nobody else is here yet".to_owned());
                }
                let at = self.selected_index().unwrap_or(0);
                let first = (at + 1).saturating_sub(VISIBLE_PLAYERS);
                for p in self.players.iter().skip(first).take(VISIBLE_PLAYERS) {
                    let mark = if Some(&p.player_id) == self.selected.as_ref() {
                        ">"
                    } else {
                        " "
                    };
                    let status = match p.status {
                        PlayerStatus::Available => "available",
                        PlayerStatus::InMatch => "in a match",
                        PlayerStatus::Watching => "watching a match",
                    };
                    lines.push(format!(
                        "{mark} {} ({}) - {status}",
                        p.player_name, p.player_id
                    ));
                }
                lines.push("Up/Down: choose   Enter: challenge   Q: quit".to_owned());
                format!("Lobby - you are {me}")
            }
            LobbyState::Challenging { target } => {
                lines.push(format!("waiting for {target} to answer ..."));
                lines.push("Esc: withdraw the challenge".to_owned());
                "Challenge sent".to_owned()
            }
            LobbyState::Prompt { request } => {
                lines.push(format!(
                    "{} ({}) challenges you",
                    request.requester_name, request.requester_id
                ));
                if !self.queued.is_empty() {
                    lines.push(format!("{} more waiting", self.queued.len()));
                }
                lines.push("Enter / Y: accept   N / Esc: decline".to_owned());
                "Challenge!".to_owned()
            }
            LobbyState::Starting { opponent } => {
                lines.push(format!("connecting to {opponent} ..."));
                "Match starting".to_owned()
            }
            LobbyState::InMatch => "In a match".to_owned(),
        };
        lines.extend(self.notices.iter().cloned());
        (title, lines)
    }
}

/// One step of `--lobby-script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptStep {
    /// `challenge=ID`: once ID is available, select it with the arrow keys and press Enter.
    Challenge(String),
    /// `accept`: accept the next challenge on screen (Enter).
    Accept,
    /// `decline`: decline the next challenge on screen (N).
    Decline,
    /// `quit`: once back in the player list, leave (Q).
    Quit,
}

/// Scripted lobby keys (`--lobby-script challenge=bob,quit`): each step waits until the
/// screen can take it, then presses the keys a person would, one per frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LobbyScript {
    steps: VecDeque<ScriptStep>,
}

impl std::str::FromStr for LobbyScript {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let steps = s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|step| match step.split_once('=') {
                Some(("challenge", id)) if !id.is_empty() => Ok(ScriptStep::Challenge(id.into())),
                None if step == "accept" => Ok(ScriptStep::Accept),
                None if step == "decline" => Ok(ScriptStep::Decline),
                None if step == "quit" => Ok(ScriptStep::Quit),
                _ => Err(format!(
                    "unknown lobby step {step:?} (challenge=ID, accept, decline, quit)"
                )),
            })
            .collect::<Result<VecDeque<_>, _>>()?;
        if steps.is_empty() {
            return Err("empty lobby script".into());
        }
        Ok(Self { steps })
    }
}

impl LobbyScript {
    /// Steps left.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }

    /// The key to press this frame, if the current step can act on the screen.
    pub fn next_key(&mut self, screen: &LobbyScreen) -> Option<LobbyKey> {
        let step = self.steps.front()?;
        let (key, done) = match (step, screen.state()) {
            (ScriptStep::Challenge(id), LobbyState::Browsing) => {
                let target = screen
                    .players()
                    .iter()
                    .position(|p| &p.player_id == id && p.status == PlayerStatus::Available)?;
                let at = screen
                    .selected()
                    .and_then(|s| screen.players().iter().position(|p| p.player_id == s))
                    .unwrap_or(0);
                match target.cmp(&at) {
                    std::cmp::Ordering::Equal => (LobbyKey::Enter, true),
                    std::cmp::Ordering::Greater => (LobbyKey::Down, false),
                    std::cmp::Ordering::Less => (LobbyKey::Up, false),
                }
            }
            (ScriptStep::Accept, LobbyState::Prompt { .. }) => (LobbyKey::Yes, true),
            (ScriptStep::Decline, LobbyState::Prompt { .. }) => (LobbyKey::No, true),
            (ScriptStep::Quit, LobbyState::Browsing) => (LobbyKey::Quit, true),
            _ => return None,
        };
        if done {
            self.steps.pop_front();
        }
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: &str, status: PlayerStatus) -> LobbyPlayer {
        LobbyPlayer {
            player_id: id.into(),
            player_name: id.to_uppercase(),
            status,
        }
    }

    fn request(id: &str, session: &str) -> MatchRequestReceived {
        MatchRequestReceived {
            requester_id: id.into(),
            requester_name: id.to_uppercase(),
            session_id: session.into(),
        }
    }

    fn lobby() -> LobbyScreen {
        let mut s = LobbyScreen::new();
        assert!(!s.connected("me"), "the first time is not a return");
        s.set_players(vec![
            player("me", PlayerStatus::Available),
            player("carol", PlayerStatus::InMatch),
            player("bob", PlayerStatus::Available),
            player("alice", PlayerStatus::Available),
        ]);
        s
    }

    #[test]
    fn lists_the_others_and_moves_the_selection_with_the_arrows() {
        let mut s = lobby();
        let ids: Vec<_> = s.players().iter().map(|p| p.player_id.as_str()).collect();
        assert_eq!(ids, ["alice", "bob", "carol"], "sorted, without ourselves");
        assert_eq!(s.selected(), Some("alice"));
        assert_eq!(s.key(LobbyKey::Down), None);
        assert_eq!(s.selected(), Some("bob"));
        let (title, lines) = s.panel();
        assert_eq!(title, "Lobby - you are me");
        assert_eq!(lines[0], "  ALICE (alice) - available");
        assert_eq!(lines[1], "> BOB (bob) - available");
        assert_eq!(lines[2], "  CAROL (carol) - in a match");
        s.key(LobbyKey::Up);
        s.key(LobbyKey::Up);
        assert_eq!(s.selected(), Some("carol"), "wraps around");
        // the selection follows the player through updates, and falls back when they leave
        s.set_players(vec![
            player("carol", PlayerStatus::InMatch),
            player("bob", PlayerStatus::Available),
        ]);
        assert_eq!(s.selected(), Some("carol"));
        s.set_players(vec![player("bob", PlayerStatus::Available)]);
        assert_eq!(s.selected(), Some("bob"));
    }

    #[test]
    fn enter_challenges_an_available_player_and_esc_withdraws() {
        let mut s = lobby();
        s.key(LobbyKey::Up); // carol, in a match
        assert_eq!(s.key(LobbyKey::Enter), None);
        assert!(s.notices().any(|n| n == "CAROL is in a match"));
        assert!(s.is_browsing());
        s.key(LobbyKey::Down); // alice
        assert_eq!(
            s.key(LobbyKey::Enter),
            Some(LobbyAction::Challenge("alice".into()))
        );
        assert_eq!(
            s.state(),
            &LobbyState::Challenging {
                target: "alice".into()
            }
        );
        // keys meant for the list do nothing now; incoming challenges are declined
        assert_eq!(s.key(LobbyKey::Enter), None);
        let r = request("bob", "s1");
        assert_eq!(s.incoming(r.clone()), Some(LobbyAction::Decline(r)));
        assert_eq!(s.key(LobbyKey::Escape), Some(LobbyAction::CancelChallenge));
        assert_eq!(s.state(), &LobbyState::Connecting);
        // the network thread's "no match" for the withdrawn challenge adds nothing
        let before = s.notices().count();
        s.no_match("cancelled");
        assert_eq!(s.notices().count(), before);
        assert!(s.connected("me"), "back in the lobby after an attempt");
        assert_eq!(s.returns(), 1);
    }

    #[test]
    fn a_declined_challenge_is_shown_and_returns_to_the_lobby() {
        let mut s = lobby();
        s.key(LobbyKey::Enter);
        s.no_match("match request declined: Declined");
        assert_eq!(s.state(), &LobbyState::Connecting);
        let (_, lines) = s.panel();
        assert!(
            lines.contains(&"no match with alice: match request declined: Declined".to_owned()),
            "{lines:?}"
        );
        assert!(s.connected("me"));
        assert!(s.is_browsing());
    }

    #[test]
    fn an_incoming_challenge_prompts_and_queues_the_next_ones() {
        let mut s = lobby();
        assert_eq!(s.incoming(request("bob", "s1")), None);
        assert_eq!(s.incoming(request("alice", "s2")), None);
        let (title, lines) = s.panel();
        assert_eq!(title, "Challenge!");
        assert_eq!(lines[0], "BOB (bob) challenges you");
        assert_eq!(lines[1], "1 more waiting");
        // the queue is bounded: the overflow is declined at once
        for i in 0..MAX_QUEUED_CHALLENGES - 1 {
            assert_eq!(s.incoming(request("x", &format!("q{i}"))), None);
        }
        let over = request("y", "over");
        assert_eq!(s.incoming(over.clone()), Some(LobbyAction::Decline(over)));
        // decline bob: alice's request comes up; alice withdraws: the next one
        assert_eq!(
            s.key(LobbyKey::No),
            Some(LobbyAction::Decline(request("bob", "s1")))
        );
        assert!(matches!(s.state(), LobbyState::Prompt { request } if request.session_id == "s2"));
        s.cancelled("s2");
        assert!(s.notices().any(|n| n == "ALICE withdrew the challenge"));
        assert!(matches!(s.state(), LobbyState::Prompt { request } if request.session_id == "q0"));
        // accept: the match starts, then ends; the screen goes back to the lobby
        assert_eq!(
            s.key(LobbyKey::Enter),
            Some(LobbyAction::Accept(request("x", "q0")))
        );
        assert_eq!(
            s.state(),
            &LobbyState::Starting {
                opponent: "X".into()
            }
        );
        s.match_started();
        assert_eq!(s.state(), &LobbyState::InMatch);
        assert_eq!(s.matches(), 1);
        s.match_over("OpponentEnded");
        assert_eq!(s.state(), &LobbyState::Connecting);
        assert!(s.connected("me"));
        assert!(s.is_browsing());
        let (_, lines) = s.panel();
        assert!(lines.contains(&"match ended: OpponentEnded".to_owned()));
    }

    #[test]
    fn a_failed_negotiation_after_accepting_returns_to_the_lobby() {
        let mut s = lobby();
        s.incoming(request("bob", "s1"));
        s.key(LobbyKey::Yes);
        s.no_match("match failed: Timeout");
        assert!(s
            .notices()
            .any(|n| n == "no match with BOB: match failed: Timeout"));
        assert_eq!(s.state(), &LobbyState::Connecting);
        assert_eq!(s.key(LobbyKey::Enter), None, "no keys while connecting");
    }

    #[test]
    fn notices_are_bounded() {
        let mut s = lobby();
        for i in 0..10 {
            s.match_over(&format!("r{i}"));
        }
        let notices: Vec<_> = s.notices().collect();
        assert_eq!(
            notices,
            ["match ended: r7", "match ended: r8", "match ended: r9"]
        );
    }

    #[test]
    fn the_script_presses_the_keys_a_person_would() {
        let mut script: LobbyScript = "challenge=carol, decline,accept,quit"
            .parse()
            .unwrap_or_default();
        assert_eq!(script.remaining(), 4);
        let mut s = lobby();
        // carol is in a match: the step waits
        assert_eq!(script.next_key(&s), None);
        s.set_players(vec![
            player("alice", PlayerStatus::Available),
            player("bob", PlayerStatus::Available),
            player("carol", PlayerStatus::Available),
        ]);
        let mut actions = Vec::new();
        while let Some(key) = script.next_key(&s) {
            if let Some(a) = s.key(key) {
                actions.push(a);
            }
        }
        assert_eq!(actions, [LobbyAction::Challenge("carol".into())]);
        assert_eq!(s.selected(), Some("carol"));
        // declined: back in the lobby; the next steps answer challenges
        s.no_match("declined");
        assert_eq!(script.next_key(&s), None, "waits while connecting");
        s.connected("me");
        assert_eq!(script.next_key(&s), None, "waits for a challenge");
        s.incoming(request("bob", "s1"));
        let key = script.next_key(&s);
        assert_eq!(key, Some(LobbyKey::No));
        assert!(matches!(s.key(LobbyKey::No), Some(LobbyAction::Decline(_))));
        s.incoming(request("alice", "s2"));
        let key = script.next_key(&s).unwrap_or(LobbyKey::Quit);
        assert_eq!(
            s.key(key),
            Some(LobbyAction::Accept(request("alice", "s2")))
        );
        s.match_started();
        assert_eq!(script.next_key(&s), None, "quit waits for the lobby");
        s.match_over("frames reached");
        s.connected("me");
        let key = script.next_key(&s).unwrap_or(LobbyKey::Up);
        assert_eq!(s.key(key), Some(LobbyAction::Quit));
        assert_eq!(script.remaining(), 0);
    }

    #[test]
    fn bad_scripts_are_refused() {
        for bad in ["", "dance", "challenge=", "accept,jump", "quit=now"] {
            assert!(bad.parse::<LobbyScript>().is_err(), "{bad:?}");
        }
    }
}
