//! The render mapping: from a [`SceneView`] (the game state plus what the window shows
//! around it) to a flat list of [`Shape`]s. Pure and window-free, so it is unit-tested
//! without a display; [`super::draw`] hands the shapes to macroquad.
//!
//! Rendering only reads the state. Everything shown is derived from the state of the frame
//! being drawn (predicted frames included): the pose from the action and its frame, the hit
//! spark from the attacker's connected attack and the defender's remaining stun, the boxes
//! from [`Fighter::hitbox`] / [`Fighter::hurtbox`], the same functions the simulation uses.

use rollback::fighter::{Action, Fighter, FighterGame, MoveKind, Winner, STAGE_WIDTH, SUBPX};

use super::overlay::OverlayView;

/// Window width in pixels.
pub const WINDOW_WIDTH: u32 = 960;
/// Window height in pixels.
pub const WINDOW_HEIGHT: u32 = 540;
/// Screen x of the stage's left edge (world x = 0).
pub const STAGE_X: f32 = 80.0;
/// Screen y of the ground (world y = 0).
pub const GROUND_Y: f32 = 450.0;

/// A colour, 8 bits per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self(r, g, b, 255)
    }

    /// This colour with alpha `a`.
    pub const fn alpha(self, a: u8) -> Self {
        Self(self.0, self.1, self.2, a)
    }

    /// This colour mixed towards white by `t` / 255.
    pub fn lighten(self, t: u8) -> Self {
        let mix = |c: u8| c + (((255 - u16::from(c)) * u16::from(t)) / 255) as u8;
        Self(mix(self.0), mix(self.1), mix(self.2), self.3)
    }

    /// This colour darkened to `t` / 255 of its brightness.
    pub fn darken(self, t: u8) -> Self {
        let mix = |c: u8| ((u16::from(c) * u16::from(t)) / 255) as u8;
        Self(mix(self.0), mix(self.1), mix(self.2), self.3)
    }
}

/// Palette.
pub mod palette {
    use super::Rgba;
    /// Sky, top band.
    pub const SKY_TOP: Rgba = Rgba::rgb(28, 30, 58);
    /// Sky, bottom band.
    pub const SKY_BOTTOM: Rgba = Rgba::rgb(64, 52, 96);
    /// Floor.
    pub const FLOOR: Rgba = Rgba::rgb(70, 58, 48);
    /// Floor edge line.
    pub const FLOOR_EDGE: Rgba = Rgba::rgb(150, 120, 90);
    /// Stage walls.
    pub const WALL: Rgba = Rgba::rgb(120, 120, 135);
    /// Player 1 (index 0).
    pub const P1: Rgba = Rgba::rgb(214, 72, 58);
    /// Player 2 (index 1).
    pub const P2: Rgba = Rgba::rgb(58, 118, 222);
    /// Heads.
    pub const SKIN: Rgba = Rgba::rgb(238, 196, 150);
    /// Shadow under the fighters.
    pub const SHADOW: Rgba = Rgba(0, 0, 0, 90);
    /// Health, full.
    pub const HEALTH: Rgba = Rgba::rgb(80, 210, 90);
    /// Health, low.
    pub const HEALTH_LOW: Rgba = Rgba::rgb(235, 200, 40);
    /// Health bar background (lost health).
    pub const HEALTH_LOST: Rgba = Rgba::rgb(120, 24, 24);
    /// Text.
    pub const TEXT: Rgba = Rgba::rgb(245, 245, 245);
    /// Dim text.
    pub const TEXT_DIM: Rgba = Rgba::rgb(170, 170, 185);
    /// Banner text.
    pub const BANNER: Rgba = Rgba::rgb(255, 214, 64);
    /// Hit spark.
    pub const SPARK_HIT: Rgba = Rgba::rgb(255, 170, 30);
    /// Block spark.
    pub const SPARK_BLOCK: Rgba = Rgba::rgb(140, 220, 255);
    /// Hitbox (F2).
    pub const HITBOX: Rgba = Rgba(255, 40, 40, 150);
    /// Hurtbox (F2).
    pub const HURTBOX: Rgba = Rgba(60, 255, 90, 220);
    /// Panels (help, overlay, pause).
    pub const PANEL: Rgba = Rgba(10, 10, 20, 200);
    /// Alarm (desyncs).
    pub const ALARM: Rgba = Rgba::rgb(255, 50, 50);
    /// Good figures.
    pub const GOOD: Rgba = Rgba::rgb(120, 230, 120);
}

/// Horizontal text alignment around the given x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text starts at x.
    Left,
    /// Text is centred on x.
    Center,
    /// Text ends at x.
    Right,
}

/// One thing to draw, in screen pixels (y down).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A filled rectangle.
    Rect {
        /// Left.
        x: f32,
        /// Top.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
        /// Fill.
        color: Rgba,
    },
    /// A rectangle outline.
    Outline {
        /// Left.
        x: f32,
        /// Top.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
        /// Line thickness.
        thickness: f32,
        /// Colour.
        color: Rgba,
    },
    /// A filled circle.
    Circle {
        /// Centre x.
        x: f32,
        /// Centre y.
        y: f32,
        /// Radius.
        r: f32,
        /// Fill.
        color: Rgba,
    },
    /// A line segment.
    Line {
        /// Start x.
        x0: f32,
        /// Start y.
        y0: f32,
        /// End x.
        x1: f32,
        /// End y.
        y1: f32,
        /// Thickness.
        thickness: f32,
        /// Colour.
        color: Rgba,
    },
    /// Text; `y` is the baseline.
    Text {
        /// Anchor x (see `align`).
        x: f32,
        /// Baseline y.
        y: f32,
        /// Font size in pixels.
        size: f32,
        /// Alignment around `x`.
        align: Align,
        /// Colour.
        color: Rgba,
        /// The text.
        text: String,
    },
}

impl Shape {
    /// The shape's colour.
    pub fn color(&self) -> Rgba {
        match self {
            Shape::Rect { color, .. }
            | Shape::Outline { color, .. }
            | Shape::Circle { color, .. }
            | Shape::Line { color, .. }
            | Shape::Text { color, .. } => *color,
        }
    }
}

/// Phase of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackPhase {
    /// Before the hitbox appears.
    Startup,
    /// Hitbox out.
    Active,
    /// After the hitbox.
    Recovery,
}

/// The drawn pose of a fighter, derived from its state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pose {
    /// Standing still.
    Idle,
    /// Walking; the stride alternates every 8 frames.
    Walk {
        /// Which leg is in front.
        stride: bool,
    },
    /// In the air.
    Jump,
    /// Crouching.
    Crouch,
    /// Guarding, standing or crouching.
    Block {
        /// Crouching guard.
        low: bool,
    },
    /// An attack in one of its phases.
    Attack {
        /// Which attack.
        kind: MoveKind,
        /// Which phase.
        phase: AttackPhase,
    },
    /// Reeling from a hit.
    Hitstun,
    /// Pushed back while guarding.
    Blockstun,
    /// Knocked out, lying on the floor.
    Ko,
}

/// The pose of `f` this frame.
pub fn pose(f: &Fighter) -> Pose {
    match f.action {
        Action::Idle => Pose::Idle,
        Action::Walk => Pose::Walk {
            stride: (f.action_frame / 8) % 2 == 1,
        },
        Action::Jump => Pose::Jump,
        Action::Crouch => Pose::Crouch,
        Action::Block => Pose::Block { low: f.crouching },
        Action::Attack => {
            let data = f.attack.data();
            let phase = if f.action_frame < data.startup {
                AttackPhase::Startup
            } else if data.is_active(f.action_frame) {
                AttackPhase::Active
            } else {
                AttackPhase::Recovery
            };
            Pose::Attack {
                kind: f.attack,
                phase,
            }
        }
        Action::Hitstun => Pose::Hitstun,
        Action::Blockstun => Pose::Blockstun,
        Action::Ko => Pose::Ko,
    }
}

/// What the window shows apart from the game: set by the app, read by [`scene`].
#[derive(Debug, Clone, Default)]
pub struct SceneView<'a> {
    /// The state to draw (`None` while connecting or in a lobby screen).
    pub game: Option<&'a FighterGame>,
    /// The players' labels (player 1, player 2).
    pub names: [&'a str; 2],
    /// F2: hitboxes and hurtboxes.
    pub show_boxes: bool,
    /// F1: the key help.
    pub show_help: bool,
    /// F3: the netcode overlay.
    pub overlay: Option<&'a OverlayView>,
    /// A modal panel (pause, leave prompt, connection status, errors), title then lines.
    pub panel: Option<(&'a str, &'a [String])>,
    /// The line under the winner banner ("press Enter to play again").
    pub winner_hint: Option<&'a str>,
    /// The bottom status line.
    pub status: &'a str,
    /// Help lines (F1).
    pub help: &'a [&'a str],
}

/// World pixels (x right from the stage's left edge, y up from the ground) to screen.
pub fn to_screen(x: i32, y: i32) -> (f32, f32) {
    (STAGE_X + x as f32, GROUND_Y - y as f32)
}

/// Maps the view to shapes, back to front.
pub fn scene(view: &SceneView<'_>) -> Vec<Shape> {
    let mut out = Vec::with_capacity(128);
    stage(&mut out);
    if let Some(game) = view.game {
        for (i, f) in game.fighters.iter().enumerate() {
            fighter(&mut out, f, if i == 0 { palette::P1 } else { palette::P2 });
        }
        for i in 0..2 {
            spark(&mut out, game, i);
        }
        if view.show_boxes {
            boxes(&mut out, game);
        }
        hud(&mut out, game, view.names);
        banners(&mut out, game, view.winner_hint);
    }
    if let Some(overlay) = view.overlay {
        super::overlay::shapes(&mut out, overlay);
    }
    if view.show_help {
        panel(&mut out, "Keys", view.help.iter().map(|s| s.to_string()));
    }
    if let Some((title, lines)) = view.panel {
        panel(&mut out, title, lines.iter().cloned());
    }
    text(
        &mut out,
        12.0,
        WINDOW_HEIGHT as f32 - 12.0,
        16.0,
        Align::Left,
        palette::TEXT_DIM,
        view.status,
    );
    out
}

fn rect(out: &mut Vec<Shape>, x: f32, y: f32, w: f32, h: f32, color: Rgba) {
    out.push(Shape::Rect { x, y, w, h, color });
}

fn text(out: &mut Vec<Shape>, x: f32, y: f32, size: f32, align: Align, color: Rgba, s: &str) {
    if s.is_empty() {
        return;
    }
    out.push(Shape::Text {
        x,
        y,
        size,
        align,
        color,
        text: s.to_owned(),
    });
}

fn stage(out: &mut Vec<Shape>) {
    let (w, h) = (WINDOW_WIDTH as f32, WINDOW_HEIGHT as f32);
    // sky in four bands from SKY_TOP to SKY_BOTTOM
    let bands = 4u8;
    for i in 0..bands {
        let t = |a: u8, b: u8| {
            (i16::from(a) + (i16::from(b) - i16::from(a)) * i16::from(i) / i16::from(bands - 1))
                as u8
        };
        let c = Rgba::rgb(
            t(palette::SKY_TOP.0, palette::SKY_BOTTOM.0),
            t(palette::SKY_TOP.1, palette::SKY_BOTTOM.1),
            t(palette::SKY_TOP.2, palette::SKY_BOTTOM.2),
        );
        let band = GROUND_Y / f32::from(bands);
        rect(out, 0.0, band * f32::from(i), w, band + 1.0, c);
    }
    rect(out, 0.0, GROUND_Y, w, h - GROUND_Y, palette::FLOOR);
    let (x0, _) = to_screen(0, 0);
    let (x1, _) = to_screen(STAGE_WIDTH, 0);
    rect(out, x0, GROUND_Y, x1 - x0, 4.0, palette::FLOOR_EDGE);
    // the stage bounds: two walls
    for x in [x0 - 8.0, x1] {
        rect(out, x, GROUND_Y - 220.0, 8.0, 224.0, palette::WALL);
    }
}

/// Draws a box given in fighter-local pixels (`u` forward along `facing`, `v` up from the
/// fighter's feet).
struct Body {
    x: f32,
    y: f32,
    facing: f32,
}

impl Body {
    fn rect(&self, out: &mut Vec<Shape>, u: f32, v: f32, w: f32, h: f32, color: Rgba) {
        let x = if self.facing >= 0.0 {
            self.x + u
        } else {
            self.x - u - w
        };
        rect(out, x, self.y - v - h, w, h, color);
    }

    fn circle(&self, out: &mut Vec<Shape>, u: f32, v: f32, r: f32, color: Rgba) {
        out.push(Shape::Circle {
            x: self.x + u * self.facing,
            y: self.y - v,
            r,
            color,
        });
    }
}

fn fighter(out: &mut Vec<Shape>, f: &Fighter, base: Rgba) {
    let (sx, sy) = to_screen(f.x / SUBPX, f.y / SUBPX);
    let b = Body {
        x: sx,
        y: sy,
        facing: if f.facing >= 0 { 1.0 } else { -1.0 },
    };
    // shadow on the ground, smaller while airborne
    let shadow_w = (60 - (f.y / SUBPX / 4).min(30)) as f32;
    rect(
        out,
        sx - shadow_w / 2.0,
        GROUND_Y - 3.0,
        shadow_w,
        6.0,
        palette::SHADOW,
    );
    let body = base;
    let limb = base.darken(170);
    let pose = pose(f);
    let stand = |out: &mut Vec<Shape>, b: &Body, body: Rgba| {
        b.rect(out, -15.0, 0.0, 10.0, 45.0, limb);
        b.rect(out, 5.0, 0.0, 10.0, 45.0, limb);
        b.rect(out, -16.0, 45.0, 32.0, 40.0, body);
        b.circle(out, 0.0, 96.0, 11.0, palette::SKIN);
    };
    let crouch = |out: &mut Vec<Shape>, b: &Body, body: Rgba| {
        b.rect(out, -18.0, 0.0, 14.0, 20.0, limb);
        b.rect(out, 4.0, 0.0, 14.0, 20.0, limb);
        b.rect(out, -16.0, 20.0, 32.0, 28.0, body);
        b.circle(out, 4.0, 60.0, 11.0, palette::SKIN);
    };
    let airborne = |out: &mut Vec<Shape>, b: &Body, body: Rgba| {
        b.rect(out, -12.0, 8.0, 24.0, 18.0, limb);
        b.rect(out, -16.0, 26.0, 32.0, 36.0, body);
        b.circle(out, 0.0, 74.0, 11.0, palette::SKIN);
    };
    match pose {
        Pose::Idle => {
            stand(out, &b, body);
            b.rect(out, -2.0, 52.0, 8.0, 30.0, limb);
        }
        Pose::Walk { stride } => {
            let s = if stride { 9.0 } else { -9.0 };
            b.rect(out, -5.0 + s, 0.0, 10.0, 45.0, limb);
            b.rect(out, -5.0 - s, 0.0, 10.0, 45.0, limb);
            b.rect(out, -16.0, 45.0, 32.0, 40.0, body);
            b.circle(out, 2.0, 96.0, 11.0, palette::SKIN);
            b.rect(out, -2.0 - s / 2.0, 52.0, 8.0, 30.0, limb);
        }
        Pose::Jump => {
            airborne(out, &b, body);
            b.rect(out, 6.0, 50.0, 8.0, 26.0, limb);
        }
        Pose::Crouch => {
            crouch(out, &b, body);
            b.rect(out, 6.0, 24.0, 8.0, 20.0, limb);
        }
        Pose::Block { low } => {
            if low {
                crouch(out, &b, body);
                b.rect(out, 16.0, 20.0, 10.0, 34.0, limb);
                b.rect(out, 28.0, 2.0, 6.0, 58.0, palette::SPARK_BLOCK.alpha(140));
            } else {
                stand(out, &b, body);
                b.rect(out, 16.0, 52.0, 10.0, 36.0, limb);
                b.rect(out, 28.0, 8.0, 6.0, 92.0, palette::SPARK_BLOCK.alpha(140));
            }
        }
        Pose::Blockstun => {
            let low = f.crouching;
            let bright = palette::SPARK_BLOCK.alpha(230);
            if low {
                crouch(out, &b, body.lighten(60));
                b.rect(out, 14.0, 20.0, 10.0, 34.0, limb);
                b.rect(out, 26.0, 0.0, 8.0, 62.0, bright);
            } else {
                stand(out, &b, body.lighten(60));
                b.rect(out, 14.0, 52.0, 10.0, 36.0, limb);
                b.rect(out, 26.0, 4.0, 8.0, 100.0, bright);
            }
        }
        Pose::Hitstun => {
            // leaning back, arms thrown up, flashing
            let flash = body.lighten(120);
            b.rect(out, -12.0, 0.0, 10.0, 45.0, limb);
            b.rect(out, 4.0, 0.0, 10.0, 42.0, limb);
            b.rect(out, -24.0, 42.0, 32.0, 40.0, flash);
            b.circle(out, -20.0, 92.0, 11.0, palette::SKIN);
            b.rect(out, -30.0, 78.0, 8.0, 26.0, limb);
        }
        Pose::Ko => {
            b.rect(out, -60.0, 0.0, 96.0, 18.0, body.darken(150));
            b.rect(out, 30.0, 0.0, 40.0, 10.0, limb.darken(150));
            b.circle(out, -70.0, 10.0, 11.0, palette::SKIN.darken(200));
        }
        Pose::Attack { kind, phase } => attack(out, &b, kind, phase, body, limb, f.crouching),
    }
}

#[allow(clippy::too_many_arguments)]
fn attack(
    out: &mut Vec<Shape>,
    b: &Body,
    kind: MoveKind,
    phase: AttackPhase,
    body: Rgba,
    limb: Rgba,
    crouching: bool,
) {
    // the striking limb: dark in startup, white-hot while active, dim in recovery
    let strike = match phase {
        AttackPhase::Startup => limb,
        AttackPhase::Active => Rgba::rgb(255, 250, 235),
        AttackPhase::Recovery => limb.darken(180),
    };
    let hb = kind.data().hitbox;
    let (hx, hy, hw) = (hb.x as f32, hb.y as f32, hb.w as f32);
    match kind {
        MoveKind::StandLight | MoveKind::CrouchLight => {
            let low = kind == MoveKind::CrouchLight || crouching;
            let shoulder = hy + 4.0;
            if low {
                b.rect(out, -18.0, 0.0, 14.0, 20.0, limb);
                b.rect(out, 4.0, 0.0, 14.0, 20.0, limb);
                b.rect(out, -16.0, 20.0, 32.0, 28.0, body);
                b.circle(out, 6.0, 60.0, 11.0, palette::SKIN);
            } else {
                b.rect(out, -15.0, 0.0, 10.0, 45.0, limb);
                b.rect(out, 5.0, 0.0, 10.0, 45.0, limb);
                b.rect(out, -14.0, 45.0, 32.0, 40.0, body);
                b.circle(out, 4.0, 96.0, 11.0, palette::SKIN);
            }
            match phase {
                AttackPhase::Startup => b.rect(out, -26.0, shoulder, 24.0, 9.0, strike),
                AttackPhase::Active => {
                    b.rect(out, 8.0, shoulder, hx + hw - 18.0, 9.0, strike);
                    b.rect(out, hx + hw - 12.0, shoulder - 3.0, 12.0, 15.0, strike);
                }
                AttackPhase::Recovery => b.rect(out, 8.0, shoulder, hx + hw / 2.0, 8.0, strike),
            }
        }
        MoveKind::StandHeavy => {
            // a kick: one standing leg, the other chambered, extended, retracting
            b.rect(out, -12.0, 0.0, 10.0, 45.0, limb);
            b.rect(out, -18.0, 45.0, 32.0, 40.0, body);
            b.circle(out, -6.0, 96.0, 11.0, palette::SKIN);
            match phase {
                AttackPhase::Startup => b.rect(out, 0.0, 30.0, 22.0, 16.0, strike),
                AttackPhase::Active => b.rect(out, 4.0, hy + 4.0, hx + hw - 4.0, 14.0, strike),
                AttackPhase::Recovery => b.rect(out, 2.0, 22.0, hx, 12.0, strike),
            }
        }
        MoveKind::CrouchHeavy => {
            // a sweep along the floor
            b.rect(out, -20.0, 0.0, 14.0, 20.0, limb);
            b.rect(out, -18.0, 20.0, 32.0, 28.0, body);
            b.circle(out, -4.0, 58.0, 11.0, palette::SKIN);
            match phase {
                AttackPhase::Startup => b.rect(out, -2.0, 0.0, 18.0, 14.0, strike),
                AttackPhase::Active => b.rect(out, 4.0, 2.0, hx + hw - 4.0, 12.0, strike),
                AttackPhase::Recovery => b.rect(out, 4.0, 2.0, hx, 10.0, strike),
            }
        }
        MoveKind::AirKick => {
            b.rect(out, -16.0, 26.0, 32.0, 36.0, body);
            b.circle(out, -2.0, 74.0, 11.0, palette::SKIN);
            b.rect(out, -12.0, 12.0, 14.0, 16.0, limb);
            match phase {
                AttackPhase::Startup => b.rect(out, 0.0, 14.0, 18.0, 14.0, strike),
                AttackPhase::Active => b.rect(out, 6.0, hy.max(0.0), hx + hw - 6.0, 14.0, strike),
                AttackPhase::Recovery => b.rect(out, 2.0, 8.0, 24.0, 12.0, strike),
            }
        }
    }
}

/// Frames a hit / block spark stays on screen.
pub const SPARK_FRAMES: u16 = 8;

/// The spark on fighter `defender` this frame, if any: `(x, y, age, blocked)` in screen
/// pixels. Derived from the state: the attacker's attack connected and the defender's stun
/// started less than [`SPARK_FRAMES`] ago.
pub fn spark_at(game: &FighterGame, defender: usize) -> Option<(f32, f32, u16, bool)> {
    let d = game.fighters.get(defender)?;
    let a = game.fighters.get(1 - defender)?;
    if a.action != Action::Attack || !a.attack_connected {
        return None;
    }
    let data = a.attack.data();
    let (blocked, age) = match d.action {
        Action::Hitstun => (false, data.hitstun.saturating_sub(d.stun)),
        Action::Blockstun => (true, data.blockstun.saturating_sub(d.stun)),
        Action::Ko => (false, a.action_frame.saturating_sub(data.startup)),
        _ => return None,
    };
    if age >= SPARK_FRAMES {
        return None;
    }
    // between the attacker's fist and the defender's front edge, at the hitbox's height
    let hb = data.hitbox;
    let (dx, dy) = (d.x / SUBPX, d.y / SUBPX);
    let toward = if a.x >= d.x { 1 } else { -1 };
    let ay = a.y / SUBPX;
    let height = (ay + hb.y + hb.h / 2).clamp(dy + 8, dy + 95);
    let (x, y) = to_screen(dx + toward * 22, height);
    Some((x, y, age, blocked))
}

fn spark(out: &mut Vec<Shape>, game: &FighterGame, defender: usize) {
    let Some((x, y, age, blocked)) = spark_at(game, defender) else {
        return;
    };
    let grow = 10.0 + 3.0 * f32::from(age);
    let fade = 255 - (age * 25).min(200) as u8;
    if blocked {
        let c = palette::SPARK_BLOCK.alpha(fade);
        out.push(Shape::Circle {
            x,
            y,
            r: grow,
            color: c.alpha(fade / 3),
        });
        for k in 0..4 {
            let dy = (k as f32 - 1.5) * 9.0;
            out.push(Shape::Line {
                x0: x,
                y0: y + dy,
                x1: x + grow * 0.9,
                y1: y + dy * 1.6,
                thickness: 3.0,
                color: c,
            });
            out.push(Shape::Line {
                x0: x,
                y0: y + dy,
                x1: x - grow * 0.9,
                y1: y + dy * 1.6,
                thickness: 3.0,
                color: c,
            });
        }
    } else {
        let c = palette::SPARK_HIT.alpha(fade);
        out.push(Shape::Circle {
            x,
            y,
            r: grow * 0.6,
            color: Rgba::rgb(255, 255, 200).alpha(fade),
        });
        // an eight-point star
        let dirs: [(f32, f32); 8] = [
            (1.0, 0.0),
            (0.7, 0.7),
            (0.0, 1.0),
            (-0.7, 0.7),
            (-1.0, 0.0),
            (-0.7, -0.7),
            (0.0, -1.0),
            (0.7, -0.7),
        ];
        for (i, (ux, uy)) in dirs.iter().enumerate() {
            let len = if i % 2 == 0 { grow * 1.6 } else { grow };
            out.push(Shape::Line {
                x0: x,
                y0: y,
                x1: x + ux * len,
                y1: y + uy * len,
                thickness: 4.0,
                color: c,
            });
        }
    }
}

fn world_box(out: &mut Vec<Shape>, (x0, y0, x1, y1): (i32, i32, i32, i32), fill: bool, c: Rgba) {
    let (sx0, sy1) = to_screen(x0, y1);
    let (sx1, sy0) = to_screen(x1, y0);
    let (w, h) = (sx1 - sx0, sy0 - sy1);
    if fill {
        rect(out, sx0, sy1, w, h, c);
    } else {
        out.push(Shape::Outline {
            x: sx0,
            y: sy1,
            w,
            h,
            thickness: 2.0,
            color: c,
        });
    }
}

fn boxes(out: &mut Vec<Shape>, game: &FighterGame) {
    for f in &game.fighters {
        world_box(out, f.hurtbox(), false, palette::HURTBOX);
        if let Some(hb) = f.hitbox() {
            world_box(out, hb, true, palette::HITBOX);
        }
        // the fighter's origin
        let (x, y) = to_screen(f.x / SUBPX, f.y / SUBPX);
        rect(out, x - 2.0, y - 2.0, 4.0, 4.0, palette::TEXT);
    }
}

fn hud(out: &mut Vec<Shape>, game: &FighterGame, names: [&str; 2]) {
    let max = game.config.max_health.max(1);
    let bar_w = 360.0;
    let (bar_y, bar_h) = (22.0, 22.0);
    for (i, f) in game.fighters.iter().enumerate() {
        let x = if i == 0 {
            40.0
        } else {
            WINDOW_WIDTH as f32 - 40.0 - bar_w
        };
        rect(
            out,
            x - 3.0,
            bar_y - 3.0,
            bar_w + 6.0,
            bar_h + 6.0,
            palette::TEXT_DIM,
        );
        rect(out, x, bar_y, bar_w, bar_h, palette::HEALTH_LOST);
        let frac = f.health.clamp(0, max) as f32 / max as f32;
        let fill = bar_w * frac;
        let color = if f.health * 4 <= max {
            palette::HEALTH_LOW
        } else {
            palette::HEALTH
        };
        // player 1's bar drains towards the centre from the left, player 2's mirrored
        let fx = if i == 0 { x + bar_w - fill } else { x };
        rect(out, fx, bar_y, fill, bar_h, color);
        let (nx, align) = if i == 0 {
            (x, Align::Left)
        } else {
            (x + bar_w, Align::Right)
        };
        let color = if i == 0 { palette::P1 } else { palette::P2 };
        text(
            out,
            nx,
            bar_y + bar_h + 22.0,
            20.0,
            align,
            color.lighten(80),
            names.get(i).copied().unwrap_or(""),
        );
        // round wins as pips under the bar, next to the centre
        for w in 0..game.config.rounds_to_win {
            let won = game.wins.get(i).copied().unwrap_or(0) > w;
            let px = if i == 0 {
                x + bar_w - 14.0 - f32::from(w) * 18.0
            } else {
                x + 2.0 + f32::from(w) * 18.0
            };
            let c = if won {
                palette::BANNER
            } else {
                palette::TEXT_DIM.darken(120)
            };
            rect(out, px, bar_y + bar_h + 8.0, 12.0, 12.0, c);
        }
    }
    let seconds = game.timer.div_ceil(60);
    text(
        out,
        WINDOW_WIDTH as f32 / 2.0,
        48.0,
        40.0,
        Align::Center,
        palette::TEXT,
        &format!("{seconds:02}"),
    );
    text(
        out,
        WINDOW_WIDTH as f32 / 2.0,
        72.0,
        18.0,
        Align::Center,
        palette::TEXT_DIM,
        &format!("ROUND {}", u32::from(game.round) + 1),
    );
}

fn banners(out: &mut Vec<Shape>, game: &FighterGame, hint: Option<&str>) {
    let cx = WINDOW_WIDTH as f32 / 2.0;
    let cy = 200.0;
    if let Some(winner) = game.match_winner {
        rect(
            out,
            0.0,
            cy - 70.0,
            WINDOW_WIDTH as f32,
            140.0,
            palette::PANEL,
        );
        let title = match winner {
            Winner::Player(p) => format!("PLAYER {} WINS", u32::from(p) + 1),
            Winner::Draw => "DRAW".to_owned(),
        };
        text(out, cx, cy, 56.0, Align::Center, palette::BANNER, &title);
        if let Some(hint) = hint {
            text(out, cx, cy + 44.0, 24.0, Align::Center, palette::TEXT, hint);
        }
        return;
    }
    if game.round_break > 0 {
        let ko = game.fighters.iter().any(|f| f.health <= 0);
        let title = if ko { "K.O." } else { "TIME UP" };
        text(out, cx, cy, 72.0, Align::Center, palette::BANNER, title);
        let sub = match game.last_round_winner {
            Some(Winner::Player(p)) => format!("player {} takes the round", u32::from(p) + 1),
            Some(Winner::Draw) => "draw".to_owned(),
            None => String::new(),
        };
        text(out, cx, cy + 40.0, 24.0, Align::Center, palette::TEXT, &sub);
        return;
    }
    let fought = game.config.round_frames.saturating_sub(game.timer);
    if fought < 60 {
        let title = if fought < 35 {
            format!("ROUND {}", u32::from(game.round) + 1)
        } else {
            "FIGHT!".to_owned()
        };
        text(out, cx, cy, 64.0, Align::Center, palette::BANNER, &title);
    }
}

/// A centred modal panel with a title and lines.
pub fn panel(out: &mut Vec<Shape>, title: &str, lines: impl Iterator<Item = String>) {
    let lines: Vec<String> = lines.collect();
    let w = 560.0;
    let h = 70.0 + 24.0 * lines.len() as f32;
    let x = (WINDOW_WIDTH as f32 - w) / 2.0;
    let y = ((WINDOW_HEIGHT as f32 - h) / 2.0).max(10.0);
    rect(out, x, y, w, h, palette::PANEL);
    out.push(Shape::Outline {
        x,
        y,
        w,
        h,
        thickness: 2.0,
        color: palette::TEXT_DIM,
    });
    text(
        out,
        x + w / 2.0,
        y + 38.0,
        30.0,
        Align::Center,
        palette::BANNER,
        title,
    );
    for (i, line) in lines.iter().enumerate() {
        text(
            out,
            x + 24.0,
            y + 68.0 + 24.0 * i as f32,
            20.0,
            Align::Left,
            palette::TEXT,
            line,
        );
    }
}
