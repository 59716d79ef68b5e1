//! Fighter rules: a hit lands, a block blocks, KO ends the round, the timer ends the round,
//! and the winner depends on the inputs.

use ggrs::InputStatus;
use rollback::fighter::{Action, FighterConfig, FighterGame, FighterInput, Winner, SUBPX};
use rollback::Game;

fn step(g: &mut FighterGame, a: FighterInput, b: FighterInput) {
    g.step(&[(a, InputStatus::Confirmed), (b, InputStatus::Confirmed)]);
}

/// Two fighters 60 px apart, facing each other.
fn close_range(config: FighterConfig) -> FighterGame {
    let mut g = FighterGame::with_config(config, 3);
    g.fighters[0].x = 300 * SUBPX;
    g.fighters[1].x = 360 * SUBPX;
    g
}

const NONE: FighterInput = FighterInput(0);

#[test]
fn a_light_attack_hits_an_idle_opponent() {
    let mut g = close_range(FighterConfig::default());
    let max = g.config.max_health;
    let mut saw_hitstun = false;
    for f in 0..12 {
        let a = if f == 0 {
            FighterInput::new(FighterInput::LIGHT)
        } else {
            NONE
        };
        step(&mut g, a, NONE);
        saw_hitstun |= g.fighters[1].action == Action::Hitstun;
    }
    assert!(saw_hitstun, "defender never entered hitstun");
    assert_eq!(g.fighters[1].health, max - 40, "stand light deals 40");
    assert_eq!(g.fighters[0].health, max);
    assert!(
        g.fighters[1].x > 360 * SUBPX,
        "pushback moves the defender away"
    );
}

#[test]
fn holding_block_blocks_and_only_takes_chip_damage() {
    let mut g = close_range(FighterConfig::default());
    let max = g.config.max_health;
    let block = FighterInput::new(FighterInput::BLOCK);
    let mut saw_blockstun = false;
    for f in 0..20 {
        let a = if f == 0 {
            FighterInput::new(FighterInput::HEAVY)
        } else {
            NONE
        };
        step(&mut g, a, block);
        assert_ne!(
            g.fighters[1].action,
            Action::Hitstun,
            "frame {f}: block failed"
        );
        saw_blockstun |= g.fighters[1].action == Action::Blockstun;
    }
    assert!(saw_blockstun);
    assert_eq!(g.fighters[1].health, max - 10, "heavy chip is 10");
}

#[test]
fn ko_ends_the_round() {
    let mut g = close_range(FighterConfig::default());
    g.fighters[1].health = 30;
    for f in 0..12 {
        let a = if f == 0 {
            FighterInput::new(FighterInput::LIGHT)
        } else {
            NONE
        };
        step(&mut g, a, NONE);
    }
    assert_eq!(g.fighters[1].health, 0);
    assert_eq!(g.fighters[1].action, Action::Ko);
    assert_eq!(g.last_round_winner, Some(Winner::Player(0)));
    assert_eq!(g.wins, [1, 0]);
    assert!(!g.is_fighting(), "round break after KO");
    // after the break a new round starts with full health
    for _ in 0..g.config.round_break_frames {
        step(&mut g, NONE, NONE);
    }
    assert_eq!(g.round, 1);
    assert_eq!(g.fighters[1].health, g.config.max_health);
    assert!(g.is_fighting());
}

#[test]
fn the_timer_ends_the_round_and_more_health_wins() {
    let config = FighterConfig {
        round_frames: 30,
        ..FighterConfig::default()
    };
    let mut g = FighterGame::with_config(config, 9);
    g.fighters[0].health -= 1;
    for _ in 0..29 {
        step(&mut g, NONE, NONE);
        assert!(g.is_fighting());
    }
    step(&mut g, NONE, NONE);
    assert_eq!(g.timer, 0);
    assert_eq!(g.last_round_winner, Some(Winner::Player(1)));
    assert_eq!(g.wins, [0, 1]);
}

#[test]
fn the_match_ends_after_enough_rounds_and_the_state_freezes() {
    let config = FighterConfig {
        round_frames: 10,
        rounds_to_win: 2,
        round_break_frames: 5,
        ..FighterConfig::default()
    };
    let mut g = FighterGame::with_config(config, 1);
    for _ in 0..200 {
        // player 0 walks away and gets hit by nobody: equal health -> draws
        step(&mut g, NONE, NONE);
        if g.is_fighting() && g.timer == 1 {
            g.fighters[1].health -= 1; // player 0 wins each round on time
        }
    }
    assert_eq!(g.match_winner, Some(Winner::Player(0)));
    let frozen = g.clone();
    step(&mut g, FighterInput::new(FighterInput::RIGHT), NONE);
    assert_eq!(g.fighters, frozen.fighters);
}

#[test]
fn the_winner_depends_on_the_inputs() {
    let run = |attacker: usize| {
        let mut g = close_range(FighterConfig {
            round_frames: 600,
            ..FighterConfig::default()
        });
        for f in 0..600 {
            let jab = if f % 16 == 0 {
                FighterInput::new(FighterInput::LIGHT)
            } else {
                NONE
            };
            let walk = if attacker == 0 {
                FighterInput::new(FighterInput::LEFT)
            } else {
                FighterInput::new(FighterInput::RIGHT)
            };
            // the attacker jabs and walks forward; the other one stands still
            let chase = FighterInput::new(jab.0 | if f % 16 > 8 { walk.0 } else { 0 });
            let inputs = if attacker == 0 {
                [
                    FighterInput::new(
                        chase.0 & !FighterInput::LEFT
                            | if f % 16 > 8 { FighterInput::RIGHT } else { 0 },
                    ),
                    NONE,
                ]
            } else {
                [
                    NONE,
                    FighterInput::new(
                        chase.0 & !FighterInput::RIGHT
                            | if f % 16 > 8 { FighterInput::LEFT } else { 0 },
                    ),
                ]
            };
            step(&mut g, inputs[0], inputs[1]);
        }
        g.leader()
    };
    assert_eq!(run(0), Winner::Player(0));
    assert_eq!(run(1), Winner::Player(1));
}
