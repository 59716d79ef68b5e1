//! Bots for the fighter, deterministic given a seed.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fighter::{Action, FighterGame, FighterInput, SUBPX};

/// Produces one player's input each frame.
pub trait Bot: Send {
    /// The input of player `me` for the next frame, given the state the player sees.
    fn next_input(&mut self, game: &FighterGame, me: usize) -> FighterInput;
}

/// Default maximum number of frames a [`RandomBot`] holds an input.
pub const DEFAULT_MAX_HOLD: u32 = 12;

/// Random inputs, each held for 1..=`max_hold` frames.
#[derive(Debug, Clone)]
pub struct RandomBot {
    rng: ChaCha8Rng,
    current: FighterInput,
    hold: u32,
    max_hold: u32,
}

impl RandomBot {
    /// A random bot with [`DEFAULT_MAX_HOLD`].
    pub fn new(seed: u64) -> Self {
        Self::with_hold(seed, DEFAULT_MAX_HOLD)
    }

    /// A random bot holding each input for up to `max_hold` frames (`1` = a new input
    /// every frame).
    pub fn with_hold(seed: u64, max_hold: u32) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            current: FighterInput::default(),
            hold: 0,
            max_hold: max_hold.max(1),
        }
    }

    /// A fresh random input (weighted so that all actions happen).
    pub fn random_input(rng: &mut impl Rng) -> FighterInput {
        let mut bits = match rng.gen_range(0..3) {
            0 => 0,
            1 => FighterInput::LEFT,
            _ => FighterInput::RIGHT,
        };
        for (bit, p) in [
            (FighterInput::UP, 0.08),
            (FighterInput::DOWN, 0.2),
            (FighterInput::LIGHT, 0.2),
            (FighterInput::HEAVY, 0.12),
            (FighterInput::BLOCK, 0.15),
        ] {
            if rng.gen_bool(p) {
                bits |= bit;
            }
        }
        FighterInput::new(bits)
    }
}

impl Bot for RandomBot {
    fn next_input(&mut self, _game: &FighterGame, _me: usize) -> FighterInput {
        if self.hold == 0 {
            self.current = Self::random_input(&mut self.rng);
            self.hold = self.rng.gen_range(1..=self.max_hold);
        }
        self.hold -= 1;
        self.current
    }
}

/// Plays a fixed script of `(input, frames)` steps in a loop.
#[derive(Debug, Clone)]
pub struct ScriptedBot {
    script: Vec<(FighterInput, u32)>,
    index: usize,
    left: u32,
}

impl ScriptedBot {
    /// A bot looping over `script` (an empty script plays the default input).
    pub fn new(script: Vec<(FighterInput, u32)>) -> Self {
        let left = script.first().map_or(0, |s| s.1);
        Self {
            script,
            index: 0,
            left,
        }
    }

    /// The built-in routine (walk in, jab, sweep, block, jump in, back off), started at a
    /// seed-dependent step.
    pub fn routine(seed: u64) -> Self {
        use FighterInput as I;
        let fwd = I::RIGHT; // mirrored for player 1 in next_input
        let script = vec![
            (I::new(fwd), 30),
            (I::new(I::LIGHT), 8),
            (I::default(), 4),
            (I::new(I::DOWN | I::HEAVY), 10),
            (I::new(I::BLOCK), 20),
            (I::new(I::UP | fwd), 10),
            (I::new(I::HEAVY), 12),
            (I::new(I::LEFT), 15),
            (I::new(I::DOWN | I::BLOCK), 15),
        ];
        let mut bot = Self::new(script);
        let start = (seed % bot.script.len().max(1) as u64) as usize;
        bot.index = start;
        bot.left = bot.script.get(start).map_or(0, |s| s.1);
        bot
    }
}

fn mirror(input: FighterInput) -> FighterInput {
    let mut bits = input.0 & !(FighterInput::LEFT | FighterInput::RIGHT);
    if input.has(FighterInput::LEFT) {
        bits |= FighterInput::RIGHT;
    }
    if input.has(FighterInput::RIGHT) {
        bits |= FighterInput::LEFT;
    }
    FighterInput::new(bits)
}

impl Bot for ScriptedBot {
    fn next_input(&mut self, game: &FighterGame, me: usize) -> FighterInput {
        if self.script.is_empty() {
            return FighterInput::default();
        }
        while self.left == 0 {
            self.index = (self.index + 1) % self.script.len();
            self.left = self.script.get(self.index).map_or(1, |s| s.1);
        }
        self.left -= 1;
        let input = self
            .script
            .get(self.index)
            .map_or_else(FighterInput::default, |s| s.0);
        // scripts are written facing right
        let facing = game.fighters.get(me).map_or(1, |f| f.facing);
        if facing < 0 {
            mirror(input)
        } else {
            input
        }
    }
}

/// A simple reactive AI: approaches, attacks in range, blocks when attacked, with a
/// seeded reaction delay and some randomness.
#[derive(Debug, Clone)]
pub struct ReactiveBot {
    rng: ChaCha8Rng,
    queue: VecDeque<FighterInput>,
    reaction_frames: usize,
}

/// Default reaction delay of the [`ReactiveBot`] in frames.
pub const DEFAULT_REACTION_FRAMES: usize = 6;

impl ReactiveBot {
    /// A reactive bot with [`DEFAULT_REACTION_FRAMES`].
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: VecDeque::new(),
            reaction_frames: DEFAULT_REACTION_FRAMES,
        }
    }

    fn decide(&mut self, game: &FighterGame, me: usize) -> FighterInput {
        let (Some(f), Some(o)) = (game.fighters.get(me), game.fighters.get(1 - me)) else {
            return FighterInput::default();
        };
        let dist = (o.x - f.x).abs() / SUBPX;
        let toward = if o.x >= f.x {
            FighterInput::RIGHT
        } else {
            FighterInput::LEFT
        };
        let away = toward ^ (FighterInput::RIGHT | FighterInput::LEFT);
        let threatened = o.action == Action::Attack
            && o.action_frame < o.attack.data().startup + o.attack.data().active
            && dist < o.attack.data().hitbox.x + o.attack.data().hitbox.w + 40;
        if threatened && self.rng.gen_bool(0.8) {
            let low = o.attack.data().hitbox.y < 30;
            return FighterInput::new(
                FighterInput::BLOCK | if low { FighterInput::DOWN } else { 0 },
            );
        }
        if f.health < game.config.max_health / 4 && self.rng.gen_bool(0.1) {
            return FighterInput::new(away);
        }
        if dist > 85 {
            if self.rng.gen_bool(0.03) {
                return FighterInput::new(FighterInput::UP | toward);
            }
            return FighterInput::new(toward);
        }
        match self.rng.gen_range(0..100) {
            0..=49 => FighterInput::new(FighterInput::LIGHT),
            50..=69 => FighterInput::new(FighterInput::HEAVY),
            70..=84 => FighterInput::new(FighterInput::DOWN | FighterInput::HEAVY),
            85..=92 => FighterInput::new(FighterInput::BLOCK),
            _ => FighterInput::new(away),
        }
    }
}

impl Bot for ReactiveBot {
    fn next_input(&mut self, game: &FighterGame, me: usize) -> FighterInput {
        // decide now, act after the reaction delay
        let decision = self.decide(game, me);
        self.queue.push_back(decision);
        if self.queue.len() > self.reaction_frames {
            self.queue.pop_front().unwrap_or_default()
        } else {
            FighterInput::default()
        }
    }
}
