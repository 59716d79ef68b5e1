//! `fighter`: the reference fighting game.
//!
//! Two fighters on a flat stage, integers only (positions/velocities in 1/256 px). They walk,
//! jump, crouch, block, and throw light and heavy attacks whose startup / active / recovery
//! frames, damage, stun and pushback come from the [`moves::MOVES`] table. Hitboxes are
//! checked against hurtboxes; hits cause hitstun and pushback, blocks cause blockstun and chip
//! damage. A round ends on KO or when the round timer runs out; the first to win
//! [`FighterConfig::rounds_to_win`] rounds wins the match. Heavy attacks roll a little extra
//! damage from a seeded PRNG stored in the state, so the state is the whole truth.

pub mod moves;
mod sim;
mod snapshot;

use std::fmt::Write as _;

use ggrs::InputStatus;
use serde::{Deserialize, Serialize};

use crate::game::{Game, StateHasher};
pub use moves::{MoveData, MoveKind, Rect, MOVES, SUBPX};

/// Default round length: 60 seconds at 60 fps.
pub const DEFAULT_ROUND_FRAMES: u32 = 60 * 60;
/// Default starting health.
pub const DEFAULT_MAX_HEALTH: i32 = 1000;
/// Default number of round wins needed to win the match.
pub const DEFAULT_ROUNDS_TO_WIN: u8 = 2;
/// Default pause between rounds, in frames.
pub const DEFAULT_ROUND_BREAK_FRAMES: u32 = 60;
/// Stage width in pixels.
pub const STAGE_WIDTH: i32 = 800;
/// Longest round (and round break) a replay may ask for: 99 minutes at 60 fps.
pub const MAX_ROUND_FRAMES: u32 = 99 * 60 * 60;
/// Highest starting health a replay may ask for.
pub const MAX_HEALTH: i32 = 1_000_000;
/// The fighter's [`Game::game_id`] in replays.
pub const FIGHTER_GAME_ID: &str = "netplay-fighter";
/// Revision of the simulation code, part of [`Game::version_hash`]: bump it whenever a
/// change to `sim` changes what a given input sequence produces.
pub const FIGHTER_SIM_REVISION: u32 = 1;

/// One player's buttons for one frame (a bit set, 1 byte on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct FighterInput(pub u8);

impl FighterInput {
    /// Walk / hold left.
    pub const LEFT: u8 = 1;
    /// Walk / hold right.
    pub const RIGHT: u8 = 1 << 1;
    /// Jump.
    pub const UP: u8 = 1 << 2;
    /// Crouch.
    pub const DOWN: u8 = 1 << 3;
    /// Light attack.
    pub const LIGHT: u8 = 1 << 4;
    /// Heavy attack.
    pub const HEAVY: u8 = 1 << 5;
    /// Block.
    pub const BLOCK: u8 = 1 << 6;
    /// Every defined button.
    pub const ALL: u8 = 0x7f;

    /// An input with the given button bits (undefined bits are dropped).
    pub fn new(bits: u8) -> Self {
        Self(bits & Self::ALL)
    }

    /// Whether `button` is held.
    pub fn has(self, button: u8) -> bool {
        self.0 & button != 0
    }

    /// This input with `button` added.
    pub fn with(self, button: u8) -> Self {
        Self::new(self.0 | button)
    }
}

/// What a fighter is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum Action {
    /// Standing still.
    Idle = 0,
    /// Walking.
    Walk = 1,
    /// Crouching.
    Crouch = 2,
    /// In the air.
    Jump = 3,
    /// Holding block.
    Block = 4,
    /// Performing [`Fighter::attack`].
    Attack = 5,
    /// Reeling from a hit.
    Hitstun = 6,
    /// Recovering from a blocked hit.
    Blockstun = 7,
    /// Knocked out.
    Ko = 8,
}

/// One fighter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fighter {
    /// Horizontal position, 1/256 px.
    pub x: i32,
    /// Height above the ground, 1/256 px.
    pub y: i32,
    /// Horizontal velocity, 1/256 px per frame.
    pub vx: i32,
    /// Vertical velocity, 1/256 px per frame.
    pub vy: i32,
    /// +1 facing right, -1 facing left.
    pub facing: i32,
    /// Remaining health.
    pub health: i32,
    /// Current action.
    pub action: Action,
    /// Frames spent in the current action.
    pub action_frame: u16,
    /// Remaining stun frames (hitstun/blockstun).
    pub stun: u16,
    /// The attack in progress when `action == Attack`.
    pub attack: MoveKind,
    /// Whether the current attack already connected.
    pub attack_connected: bool,
    /// Whether the fighter was crouching when the attack started.
    pub crouching: bool,
}

impl Fighter {
    fn spawn(x_px: i32, facing: i32, health: i32) -> Self {
        Self {
            x: x_px * SUBPX,
            y: 0,
            vx: 0,
            vy: 0,
            facing,
            health,
            action: Action::Idle,
            action_frame: 0,
            stun: 0,
            attack: MoveKind::StandLight,
            attack_connected: false,
            crouching: false,
        }
    }

    /// The attack's hitbox this frame in world pixels `(x0, y0, x1, y1)` (y up from the
    /// ground), exactly as the simulation checks it: `None` unless an attack is active and
    /// has not connected yet. Read-only, for renderers and tools.
    pub fn hitbox(&self) -> Option<(i32, i32, i32, i32)> {
        sim::hitbox(self)
    }

    /// The hurtbox this frame in world pixels `(x0, y0, x1, y1)`, as the simulation checks
    /// it (standing, crouching or airborne height).
    pub fn hurtbox(&self) -> (i32, i32, i32, i32) {
        sim::hurtbox(self)
    }

    fn hash_into(&self, h: &mut StateHasher) {
        h.write_i32(self.x);
        h.write_i32(self.y);
        h.write_i32(self.vx);
        h.write_i32(self.vy);
        h.write_i32(self.facing);
        h.write_i32(self.health);
        h.write_u8(self.action as u8);
        h.write_u16(self.action_frame);
        h.write_u16(self.stun);
        h.write_u8(self.attack as u8);
        h.write_bool(self.attack_connected);
        h.write_bool(self.crouching);
    }

    fn describe_into(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        let mut put = |k: &str, v: String| out.push((format!("{prefix}.{k}"), v));
        put("x", self.x.to_string());
        put("y", self.y.to_string());
        put("vx", self.vx.to_string());
        put("vy", self.vy.to_string());
        put("facing", self.facing.to_string());
        put("health", self.health.to_string());
        put("action", format!("{:?}", self.action));
        put("action_frame", self.action_frame.to_string());
        put("stun", self.stun.to_string());
        put("attack", format!("{:?}", self.attack));
        put("attack_connected", self.attack_connected.to_string());
        put("crouching", self.crouching.to_string());
    }
}

/// Rules of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FighterConfig {
    /// Round length in frames.
    pub round_frames: u32,
    /// Starting health.
    pub max_health: i32,
    /// Round wins needed to win the match.
    pub rounds_to_win: u8,
    /// Pause between rounds in frames.
    pub round_break_frames: u32,
}

impl Default for FighterConfig {
    fn default() -> Self {
        Self {
            round_frames: DEFAULT_ROUND_FRAMES,
            max_health: DEFAULT_MAX_HEALTH,
            rounds_to_win: DEFAULT_ROUNDS_TO_WIN,
            round_break_frames: DEFAULT_ROUND_BREAK_FRAMES,
        }
    }
}

/// Outcome of a round or match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Winner {
    /// Player 0 or 1 won.
    Player(u8),
    /// Nobody won.
    Draw,
}

/// The whole game state: two fighters, the round timer and score, a seeded PRNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FighterGame {
    /// Rules.
    pub config: FighterConfig,
    /// Frames simulated since the start.
    pub frame: u32,
    /// Current round number (0-based).
    pub round: u8,
    /// Frames left in the current round.
    pub timer: u32,
    /// Rounds won by each player.
    pub wins: [u8; 2],
    /// Winner of the last finished round.
    pub last_round_winner: Option<Winner>,
    /// Frames left in the break after a round ended (`0` while fighting).
    pub round_break: u32,
    /// Set once a player reached `rounds_to_win`; the state no longer changes.
    pub match_winner: Option<Winner>,
    /// The two fighters.
    pub fighters: [Fighter; 2],
    /// PRNG state (xorshift64*), seeded at construction.
    pub rng: u64,
}

impl FighterGame {
    /// A new match with the default rules and the given PRNG seed.
    pub fn new(seed: u64) -> Self {
        Self::with_config(FighterConfig::default(), seed)
    }

    /// A new match with custom rules.
    pub fn with_config(config: FighterConfig, seed: u64) -> Self {
        let mut game = Self {
            config,
            frame: 0,
            round: 0,
            timer: config.round_frames,
            wins: [0, 0],
            last_round_winner: None,
            round_break: 0,
            match_winner: None,
            fighters: [Fighter::spawn(0, 1, 0); 2],
            // xorshift must not be seeded with 0
            rng: seed ^ 0x9e37_79b9_7f4a_7c15 | 1,
        };
        game.reset_round();
        game
    }

    fn reset_round(&mut self) {
        let h = self.config.max_health;
        self.fighters = [
            Fighter::spawn(STAGE_WIDTH / 2 - 150, 1, h),
            Fighter::spawn(STAGE_WIDTH / 2 + 150, -1, h),
        ];
        self.timer = self.config.round_frames;
        self.round_break = 0;
    }

    /// Whether a round is being fought (not in a break, match not over).
    pub fn is_fighting(&self) -> bool {
        self.round_break == 0 && self.match_winner.is_none()
    }

    /// The match winner if decided, otherwise the leader by rounds then by health.
    pub fn leader(&self) -> Winner {
        if let Some(w) = self.match_winner {
            return w;
        }
        let [a, b] = self.wins;
        if a != b {
            return Winner::Player(if a > b { 0 } else { 1 });
        }
        let [f0, f1] = &self.fighters;
        match f0.health.cmp(&f1.health) {
            std::cmp::Ordering::Greater => Winner::Player(0),
            std::cmp::Ordering::Less => Winner::Player(1),
            std::cmp::Ordering::Equal => Winner::Draw,
        }
    }

    /// Next PRNG value (xorshift64*), advancing the state.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// One-line human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let [a, b] = &self.fighters;
        let _ = write!(
            s,
            "frame {} round {} timer {} wins {}-{} hp {}-{}",
            self.frame, self.round, self.timer, self.wins[0], self.wins[1], a.health, b.health
        );
        s
    }
}

impl Game for FighterGame {
    type Input = FighterInput;

    fn step(&mut self, inputs: &[(FighterInput, InputStatus)]) {
        let input = |i: usize| inputs.get(i).map(|(inp, _)| *inp).unwrap_or_default();
        sim::step(self, [input(0), input(1)]);
    }

    fn hash_state(&self, h: &mut StateHasher) {
        h.write_u32(self.config.round_frames);
        h.write_i32(self.config.max_health);
        h.write_u8(self.config.rounds_to_win);
        h.write_u32(self.config.round_break_frames);
        h.write_u32(self.frame);
        h.write_u8(self.round);
        h.write_u32(self.timer);
        h.write_u8(self.wins[0]);
        h.write_u8(self.wins[1]);
        h.write_u8(winner_code(self.last_round_winner));
        h.write_u32(self.round_break);
        h.write_u8(winner_code(self.match_winner));
        for f in &self.fighters {
            f.hash_into(h);
        }
        h.write_u64(self.rng);
    }

    fn game_id() -> String {
        FIGHTER_GAME_ID.to_owned()
    }

    fn version_hash() -> u64 {
        // the rules that the simulation reads from tables, plus a revision bumped by hand
        // whenever `sim` changes behaviour
        let mut h = StateHasher::new();
        h.write_u32(FIGHTER_SIM_REVISION);
        h.write_bytes(format!("{MOVES:?}").as_bytes());
        h.write_i32(STAGE_WIDTH);
        h.write_i32(SUBPX);
        h.finish() as u64
    }

    fn initial_bytes(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = Vec::with_capacity(21);
        out.extend_from_slice(&c.round_frames.to_le_bytes());
        out.extend_from_slice(&c.max_health.to_le_bytes());
        out.push(c.rounds_to_win);
        out.extend_from_slice(&c.round_break_frames.to_le_bytes());
        out.extend_from_slice(&self.rng.to_le_bytes());
        out
    }

    fn from_initial_bytes(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; 21] = bytes.try_into().ok()?;
        let u32_at = |i: usize| b.get(i..i + 4)?.try_into().ok().map(u32::from_le_bytes);
        let config = FighterConfig {
            round_frames: u32_at(0)?,
            max_health: u32_at(4)? as i32,
            rounds_to_win: b[8],
            round_break_frames: u32_at(9)?,
        };
        let rng = u64::from_le_bytes(b.get(13..21)?.try_into().ok()?);
        // untrusted bytes: only rules the simulation is built for
        let sane = (1..=MAX_ROUND_FRAMES).contains(&config.round_frames)
            && (1..=MAX_HEALTH).contains(&config.max_health)
            && (1..=9).contains(&config.rounds_to_win)
            && config.round_break_frames <= MAX_ROUND_FRAMES
            && rng != 0; // xorshift must not be seeded with 0
        if !sane {
            return None;
        }
        let mut game = Self::with_config(config, 0);
        game.rng = rng;
        Some(game)
    }

    fn state_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(snapshot::STATE_BYTES);
        snapshot::encode(self, &mut out);
        Some(out)
    }

    fn from_state_bytes(bytes: &[u8]) -> Option<Self> {
        snapshot::decode(bytes)
    }

    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("frame".to_owned(), self.frame.to_string()),
            ("round".to_owned(), self.round.to_string()),
            ("timer".to_owned(), self.timer.to_string()),
            ("wins".to_owned(), format!("{:?}", self.wins)),
            (
                "last_round_winner".to_owned(),
                format!("{:?}", self.last_round_winner),
            ),
            ("round_break".to_owned(), self.round_break.to_string()),
            (
                "match_winner".to_owned(),
                format!("{:?}", self.match_winner),
            ),
            ("rng".to_owned(), format!("{:#018x}", self.rng)),
        ];
        for (i, f) in self.fighters.iter().enumerate() {
            f.describe_into(&format!("p{i}"), &mut out);
        }
        out
    }
}

fn winner_code(w: Option<Winner>) -> u8 {
    match w {
        None => 0,
        Some(Winner::Player(p)) => 1 + p,
        Some(Winner::Draw) => 9,
    }
}
