//! Keyboard layouts and the controllers that produce each player's input: a human on a
//! keyboard layout, or a bot.

use macroquad::input::KeyCode;
use rollback::bot::{Bot, RandomBot, ReactiveBot, ScriptedBot};
use rollback::fighter::{FighterGame, FighterInput};

/// A set of keys for one player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Keys per button, in the order left, right, up (jump), down (crouch), light, heavy,
    /// block. Each button may have two keys.
    pub keys: [[Option<KeyCode>; 2]; 7],
}

const BUTTONS: [u8; 7] = [
    FighterInput::LEFT,
    FighterInput::RIGHT,
    FighterInput::UP,
    FighterInput::DOWN,
    FighterInput::LIGHT,
    FighterInput::HEAVY,
    FighterInput::BLOCK,
];

impl Layout {
    /// Player 1 on the left of the keyboard: WASD, J light, K heavy, L block.
    pub const LEFT: Layout = Layout {
        keys: [
            [Some(KeyCode::A), None],
            [Some(KeyCode::D), None],
            [Some(KeyCode::W), None],
            [Some(KeyCode::S), None],
            [Some(KeyCode::J), None],
            [Some(KeyCode::K), None],
            [Some(KeyCode::L), None],
        ],
    };
    /// Player 2 on the right: arrows, `,` or keypad 1 light, `.` or keypad 2 heavy, `/` or
    /// keypad 3 block.
    pub const RIGHT: Layout = Layout {
        keys: [
            [Some(KeyCode::Left), None],
            [Some(KeyCode::Right), None],
            [Some(KeyCode::Up), None],
            [Some(KeyCode::Down), None],
            [Some(KeyCode::Comma), Some(KeyCode::Kp1)],
            [Some(KeyCode::Period), Some(KeyCode::Kp2)],
            [Some(KeyCode::Slash), Some(KeyCode::Kp3)],
        ],
    };

    /// The input this layout reads when `down(key)` says which keys are held.
    pub fn read(&self, down: &impl Fn(KeyCode) -> bool) -> FighterInput {
        let mut bits = 0;
        for (keys, bit) in self.keys.iter().zip(BUTTONS) {
            if keys.iter().flatten().any(|k| down(*k)) {
                bits |= bit;
            }
        }
        FighterInput::new(bits)
    }
}

/// The key help shown with F1 and in the README.
pub const HELP: &[&str] = &[
    "Player 1: A/D walk, W jump, S crouch, J light, K heavy, L block",
    "Player 2: arrows, ',' light, '.' heavy, '/' block (or keypad 1 2 3)",
    "vs bot / online: either set of keys plays",
    "F1 this help   F2 hitboxes   F3 netcode overlay",
    "Esc pause (local) / leave match (online)",
    "Enter play again after a match (local)",
    "Lobby: Up/Down choose, Enter challenge or accept, N decline, Q quit",
];

/// Which bot drives a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BotKind {
    /// The reactive AI: blocks, punishes, spaces (rollback's `ReactiveBot`).
    Ai,
    /// Random buttons held for a few frames.
    Random,
    /// A fixed routine of walks, attacks and jumps.
    Routine,
    /// Does nothing.
    Idle,
}

impl BotKind {
    /// A bot of this kind with `seed`.
    pub fn build(self, seed: u64) -> Box<dyn Bot> {
        match self {
            BotKind::Ai => Box::new(ReactiveBot::new(seed)),
            BotKind::Random => Box::new(RandomBot::new(seed)),
            BotKind::Routine => Box::new(ScriptedBot::routine(seed)),
            BotKind::Idle => Box::new(ScriptedBot::new(vec![(FighterInput::default(), 1)])),
        }
    }
}

impl std::str::FromStr for BotKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
            .map_err(|_| format!("unknown bot kind {s:?} (ai, random, routine, idle)"))
    }
}

/// Who produces a player's input.
pub enum Controller {
    /// A human on these layouts (any of them).
    Human(Vec<Layout>),
    /// A bot.
    Bot(Box<dyn Bot>),
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Controller::Human(l) => write!(f, "Human({} layouts)", l.len()),
            Controller::Bot(_) => write!(f, "Bot"),
        }
    }
}

impl Controller {
    /// The input of player `me` for the next frame. `down` reads the keyboard; bots read
    /// the state they see (possibly predicted), exactly as in the headless examples.
    pub fn input(
        &mut self,
        game: &FighterGame,
        me: usize,
        down: &impl Fn(KeyCode) -> bool,
    ) -> FighterInput {
        match self {
            Controller::Human(layouts) => {
                FighterInput::new(layouts.iter().fold(0, |acc, l| acc | l.read(down).0))
            }
            Controller::Bot(bot) => bot.next_input(game, me),
        }
    }

    /// Whether a human plays this side.
    pub fn is_human(&self) -> bool {
        matches!(self, Controller::Human(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_map_keys_to_buttons() {
        let held = [KeyCode::A, KeyCode::W, KeyCode::K];
        let down = |k: KeyCode| held.contains(&k);
        let input = Layout::LEFT.read(&down);
        assert_eq!(
            input.0,
            FighterInput::LEFT | FighterInput::UP | FighterInput::HEAVY
        );
        // the other player's layout ignores these keys
        assert_eq!(Layout::RIGHT.read(&down).0, 0);
        let down = |k: KeyCode| k == KeyCode::Kp3 || k == KeyCode::Right;
        assert_eq!(
            Layout::RIGHT.read(&down).0,
            FighterInput::RIGHT | FighterInput::BLOCK
        );
    }

    #[test]
    fn a_human_on_two_layouts_reads_both() {
        let mut c = Controller::Human(vec![Layout::LEFT, Layout::RIGHT]);
        let down = |k: KeyCode| k == KeyCode::J || k == KeyCode::Down;
        let game = FighterGame::new(1);
        assert_eq!(
            c.input(&game, 0, &down).0,
            FighterInput::LIGHT | FighterInput::DOWN
        );
    }

    #[test]
    fn bot_kinds_parse() {
        assert_eq!("ai".parse::<BotKind>(), Ok(BotKind::Ai));
        assert_eq!("Random".parse::<BotKind>(), Ok(BotKind::Random));
        assert!("nope".parse::<BotKind>().is_err());
    }
}
