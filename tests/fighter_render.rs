//! The fighter's render mapping, without a window: from a game state to the list of shapes.

use ggrs::InputStatus;
use netplay::fighter_app::overlay::OverlayView;
use netplay::fighter_app::render::{
    palette, pose, scene, spark_at, to_screen, AttackPhase, Pose, SceneView, Shape, WINDOW_HEIGHT,
    WINDOW_WIDTH,
};
use rollback::fighter::{Action, FighterGame, FighterInput, MoveKind, Winner, SUBPX};
use rollback::Game;

fn view(game: &FighterGame) -> SceneView<'_> {
    SceneView {
        game: Some(game),
        names: ["P1", "P2"],
        status: "status",
        ..SceneView::default()
    }
}

fn step(game: &mut FighterGame, a: u8, b: u8) {
    game.step(&[
        (FighterInput::new(a), InputStatus::Confirmed),
        (FighterInput::new(b), InputStatus::Confirmed),
    ]);
}

/// The shapes drawn in a player's colour family (body, limbs), which make up its pose.
fn fighter_shapes(shapes: &[Shape], base: palette_color::C) -> Vec<Shape> {
    shapes
        .iter()
        .filter(|s| palette_color::belongs(s, base))
        .cloned()
        .collect()
}

mod palette_color {
    use super::*;
    pub type C = netplay::fighter_app::render::Rgba;
    /// Body colours are the base, its lightened / darkened variants: same hue order.
    pub fn belongs(s: &Shape, base: C) -> bool {
        let c = s.color();
        let red = base.0 > base.2;
        matches!(s, Shape::Rect { .. })
            && c != palette::SKIN
            && if red {
                i32::from(c.0) > i32::from(c.2) + 40
            } else {
                i32::from(c.2) > i32::from(c.0) + 40
            }
            && c.3 == 255
            && !(c == palette::HEALTH || c == palette::HEALTH_LOST || c == palette::HEALTH_LOW)
    }
}

#[test]
fn the_scene_has_the_stage_both_fighters_and_the_hud() {
    let game = FighterGame::new(7);
    let shapes = scene(&view(&game));
    // the stage fills the window
    assert!(shapes.iter().any(|s| matches!(s, Shape::Rect { x, w, .. }
        if *x == 0.0 && *w == WINDOW_WIDTH as f32)));
    // both fighters: a head (circle) over each fighter's x
    for f in &game.fighters {
        let (fx, _) = to_screen(f.x / SUBPX, 0);
        assert!(
            shapes
                .iter()
                .any(|s| matches!(s, Shape::Circle { x, .. } if (x - fx).abs() < 12.0)),
            "no head at {fx}"
        );
    }
    assert!(!fighter_shapes(&shapes, palette::P1).is_empty());
    assert!(!fighter_shapes(&shapes, palette::P2).is_empty());
    // health bars full, the timer shows 60 s, round 1
    let texts: Vec<&str> = shapes
        .iter()
        .filter_map(|s| match s {
            Shape::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(texts.contains(&"60"), "{texts:?}");
    assert!(texts.contains(&"ROUND 1"), "{texts:?}");
    assert!(texts.contains(&"P1") && texts.contains(&"P2"));
    let full_bars = shapes
        .iter()
        .filter(|s| matches!(s, Shape::Rect { w, color, .. } if *color == palette::HEALTH && *w == 360.0))
        .count();
    assert_eq!(full_bars, 2);
    // every shape is inside the window
    for s in &shapes {
        if let Shape::Rect { x, y, w, h, .. } = s {
            assert!(*x >= -10.0 && x + w <= WINDOW_WIDTH as f32 + 10.0, "{s:?}");
            assert!(*y >= -10.0 && y + h <= WINDOW_HEIGHT as f32 + 10.0, "{s:?}");
        }
    }
}

#[test]
fn health_bars_follow_the_state() {
    let mut game = FighterGame::new(7);
    game.fighters[1].health = game.config.max_health / 2;
    let shapes = scene(&view(&game));
    assert!(shapes
        .iter()
        .any(|s| matches!(s, Shape::Rect { w, color, .. }
        if *color == palette::HEALTH && *w == 180.0)));
    game.fighters[1].health = game.config.max_health / 5;
    let shapes = scene(&view(&game));
    assert!(shapes
        .iter()
        .any(|s| matches!(s, Shape::Rect { w, color, .. }
        if *color == palette::HEALTH_LOW && *w == 72.0)));
}

#[test]
fn every_move_state_has_its_own_pose() {
    let base = FighterGame::new(7);
    let mut cases: Vec<(Pose, FighterGame)> = Vec::new();
    let mut with = |f: &dyn Fn(&mut FighterGame)| {
        let mut g = base.clone();
        f(&mut g);
        cases.push((pose(&g.fighters[0]), g));
    };
    with(&|_| {});
    with(&|g| g.fighters[0].action = Action::Walk);
    with(&|g| {
        g.fighters[0].action = Action::Walk;
        g.fighters[0].action_frame = 8;
    });
    with(&|g| {
        g.fighters[0].action = Action::Jump;
        g.fighters[0].y = 40 * SUBPX;
    });
    with(&|g| {
        g.fighters[0].action = Action::Crouch;
        g.fighters[0].crouching = true;
    });
    with(&|g| g.fighters[0].action = Action::Block);
    with(&|g| g.fighters[0].action = Action::Hitstun);
    with(&|g| g.fighters[0].action = Action::Blockstun);
    with(&|g| g.fighters[0].action = Action::Ko);
    for kind in [MoveKind::StandLight, MoveKind::StandHeavy] {
        let d = kind.data();
        for frame in [0, d.startup, d.startup + d.active] {
            with(&|g| {
                g.fighters[0].action = Action::Attack;
                g.fighters[0].attack = kind;
                g.fighters[0].action_frame = frame;
            });
        }
    }
    // each state maps to a distinct pose, and each pose to distinct shapes
    let poses: Vec<Pose> = cases.iter().map(|(p, _)| *p).collect();
    for (i, a) in poses.iter().enumerate() {
        for b in &poses[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert!(matches!(
        poses[poses.len() - 1],
        Pose::Attack {
            kind: MoveKind::StandHeavy,
            phase: AttackPhase::Recovery
        }
    ));
    let drawn: Vec<Vec<Shape>> = cases
        .iter()
        .map(|(_, g)| {
            // only player 1's shapes, without the shadow
            fighter_shapes(&scene(&view(g)), palette::P1)
        })
        .collect();
    for (i, a) in drawn.iter().enumerate() {
        for (j, b) in drawn.iter().enumerate().skip(i + 1) {
            assert_ne!(
                a, b,
                "poses {:?} and {:?} look the same",
                poses[i], poses[j]
            );
        }
    }
}

#[test]
fn the_active_limb_reaches_the_hitbox() {
    let mut game = FighterGame::new(7);
    let f = &mut game.fighters[0];
    f.action = Action::Attack;
    f.attack = MoveKind::StandLight;
    f.action_frame = MoveKind::StandLight.data().startup;
    let (x0, _, x1, _) = game.fighters[0].hitbox().unwrap_or_default();
    let (sx1, _) = to_screen(x1, 0);
    let (sx0, _) = to_screen(x0, 0);
    let shapes = scene(&view(&game));
    let reach = shapes
        .iter()
        .filter_map(|s| match s {
            Shape::Rect { x, w, color, .. } if color.0 == 255 && color.1 == 250 => Some(x + w),
            _ => None,
        })
        .fold(0.0f32, f32::max);
    assert!(
        (reach - sx1).abs() <= 2.0,
        "fist ends at {reach}, hitbox at {sx1}"
    );
    assert!(sx0 < sx1);
}

#[test]
fn f2_draws_the_games_own_boxes() {
    let mut game = FighterGame::new(7);
    // player 1 throws a light attack until it is active
    let startup = MoveKind::StandLight.data().startup;
    step(&mut game, FighterInput::LIGHT, 0);
    for _ in 0..startup {
        step(&mut game, 0, 0);
    }
    let hitbox = game.fighters[0].hitbox();
    assert!(hitbox.is_some(), "attack should be active");
    let without = scene(&view(&game));
    let with_boxes = scene(&SceneView {
        show_boxes: true,
        ..view(&game)
    });
    assert!(!without.iter().any(|s| s.color() == palette::HITBOX));
    let boxes: Vec<&Shape> = with_boxes
        .iter()
        .filter(|s| s.color() == palette::HITBOX || s.color() == palette::HURTBOX)
        .collect();
    assert_eq!(boxes.len(), 3, "two hurtboxes and one hitbox: {boxes:?}");
    let (x0, y0, x1, y1) = hitbox.unwrap_or_default();
    let (sx0, sy1) = to_screen(x0, y1);
    let (sx1, sy0) = to_screen(x1, y0);
    assert!(with_boxes.contains(&Shape::Rect {
        x: sx0,
        y: sy1,
        w: sx1 - sx0,
        h: sy0 - sy1,
        color: palette::HITBOX
    }));
    for f in &game.fighters {
        let (hx0, _, hx1, hy1) = f.hurtbox();
        let (sx, sy) = to_screen(hx0, hy1);
        assert!(boxes
            .iter()
            .any(|s| matches!(s, Shape::Outline { x, y, w, .. }
            if *x == sx && *y == sy && *w == (hx1 - hx0) as f32)));
    }
}

#[test]
fn sparks_show_on_hit_and_on_block() {
    // player 1 walks in and jabs; player 2 stands (hit) or blocks
    for (defend, blocked) in [(0u8, false), (FighterInput::BLOCK, true)] {
        let mut game = FighterGame::new(7);
        let mut seen = None;
        for frame in 0..400 {
            let a = if frame % 20 == 0 {
                FighterInput::LIGHT
            } else {
                FighterInput::RIGHT
            };
            step(&mut game, a, defend);
            if let Some(s) = spark_at(&game, 1) {
                seen = Some((s, game.clone()));
                break;
            }
        }
        let ((_, _, age, was_blocked), g) = seen.expect("no spark in 400 frames");
        assert_eq!(was_blocked, blocked);
        assert_eq!(age, 0, "the spark starts on the contact frame");
        let colour = if blocked {
            palette::SPARK_BLOCK
        } else {
            palette::SPARK_HIT
        };
        let shapes = scene(&view(&g));
        assert!(shapes.iter().any(
            |s| matches!(s, Shape::Line { color, .. } if color.0 == colour.0 && color.1 == colour.1)
        ));
        assert_eq!(spark_at(&g, 0), None, "the attacker has no spark");
    }
}

#[test]
fn banners_ko_time_up_and_winner_screen() {
    let texts = |g: &FighterGame, hint: Option<&str>| -> Vec<String> {
        scene(&SceneView {
            winner_hint: hint,
            ..view(g)
        })
        .into_iter()
        .filter_map(|s| match s {
            Shape::Text { text, .. } => Some(text),
            _ => None,
        })
        .collect()
    };
    let mut g = FighterGame::new(7);
    g.round_break = 30;
    g.fighters[1].health = 0;
    g.last_round_winner = Some(Winner::Player(0));
    assert!(texts(&g, None).contains(&"K.O.".to_owned()));
    g.fighters[1].health = 10;
    assert!(texts(&g, None).contains(&"TIME UP".to_owned()));
    g.match_winner = Some(Winner::Player(1));
    let t = texts(&g, Some("press Enter to play again"));
    assert!(t.contains(&"PLAYER 2 WINS".to_owned()), "{t:?}");
    assert!(t.contains(&"press Enter to play again".to_owned()));
}

#[test]
fn rendering_reads_the_state_and_the_overlay_shows_desyncs() {
    let game = FighterGame::new(7);
    let before = game.checksum();
    let overlay = OverlayView {
        title: "online".into(),
        desyncs: 2,
        ping_ms: Some(12),
        candidate: Some("host".into()),
        ..OverlayView::default()
    };
    let shapes = scene(&SceneView {
        overlay: Some(&overlay),
        show_help: true,
        help: netplay::fighter_app::input::HELP,
        show_boxes: true,
        ..view(&game)
    });
    assert_eq!(game.checksum(), before);
    let has = |needle: &str, colour: Option<_>| {
        shapes.iter().any(|s| match s {
            Shape::Text { text, color, .. } => {
                text.contains(needle) && colour.is_none_or(|c| *color == c)
            }
            _ => false,
        })
    };
    assert!(has("desyncs 2", Some(palette::ALARM)));
    assert!(has("ping 12 ms", None));
    assert!(has("ice host", None));
    assert!(has("F2 hitboxes", None), "F1 help lists the keys");
}
