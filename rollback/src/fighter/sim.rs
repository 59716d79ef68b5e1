//! One frame of the fighter simulation: control, physics, pushboxes, hits, round rules.

use super::{Action, Fighter, FighterGame, FighterInput, MoveKind, Winner, STAGE_WIDTH, SUBPX};

/// Walking speed, 1/256 px per frame.
const WALK_SPEED: i32 = 3 * SUBPX;
/// Initial upward speed of a jump.
const JUMP_SPEED: i32 = 14 * SUBPX;
/// Horizontal speed while jumping forward/back.
const AIR_SPEED: i32 = 4 * SUBPX;
/// Gravity per frame.
const GRAVITY: i32 = SUBPX;
/// Ground friction applied to pushback per frame.
const FRICTION: i32 = SUBPX / 4;
/// Minimum distance between the two fighters' centers (pushbox width), pixels.
const PUSHBOX_WIDTH: i32 = 50;
/// Distance from the stage edges a fighter's center must keep, pixels.
const STAGE_MARGIN: i32 = 25;
/// Hurtbox half width, pixels.
const HURT_HALF_WIDTH: i32 = 25;
/// Hurtbox heights: standing, crouching, airborne.
const HURT_STAND: i32 = 100;
const HURT_CROUCH: i32 = 60;
const HURT_AIR: i32 = 80;

/// What a connecting attack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contact {
    Hit,
    Blocked,
}

/// Advances `g` by one frame with both players' inputs.
pub(super) fn step(g: &mut FighterGame, inputs: [FighterInput; 2]) {
    g.frame = g.frame.wrapping_add(1);
    if g.match_winner.is_some() {
        return;
    }
    if g.round_break > 0 {
        g.round_break -= 1;
        if g.round_break == 0 {
            g.round = g.round.saturating_add(1);
            g.reset_round();
        }
        return;
    }
    let [x0, x1] = [g.fighters[0].x, g.fighters[1].x];
    control(&mut g.fighters[0], inputs[0], x1);
    control(&mut g.fighters[1], inputs[1], x0);
    for f in &mut g.fighters {
        physics(f);
    }
    separate(&mut g.fighters);
    // both hits are decided on the same snapshot, so trades are symmetric
    let c0 = contact(&g.fighters[0], &g.fighters[1]);
    let c1 = contact(&g.fighters[1], &g.fighters[0]);
    if let Some(c) = c0 {
        apply_contact(g, 0, c);
    }
    if let Some(c) = c1 {
        apply_contact(g, 1, c);
    }
    g.timer = g.timer.saturating_sub(1);
    check_round_end(g);
}

fn control(f: &mut Fighter, input: FighterInput, opponent_x: i32) {
    match f.action {
        Action::Ko => {}
        Action::Hitstun | Action::Blockstun => {
            f.stun = f.stun.saturating_sub(1);
            if f.stun == 0 && f.y == 0 {
                f.action = Action::Idle;
                f.action_frame = 0;
            }
        }
        Action::Attack => {
            f.action_frame = f.action_frame.saturating_add(1);
            if f.action_frame >= f.attack.data().total() {
                f.action = if f.y > 0 { Action::Jump } else { Action::Idle };
                f.action_frame = 0;
            }
        }
        Action::Jump => {
            if input.has(FighterInput::LIGHT) || input.has(FighterInput::HEAVY) {
                start_attack(f, MoveKind::AirKick);
            }
        }
        Action::Idle | Action::Walk | Action::Crouch | Action::Block => {
            ground_control(f, input, opponent_x)
        }
    }
}

fn ground_control(f: &mut Fighter, input: FighterInput, opponent_x: i32) {
    f.facing = if opponent_x >= f.x { 1 } else { -1 };
    let down = input.has(FighterInput::DOWN);
    f.crouching = down;
    let dir = i32::from(input.has(FighterInput::RIGHT)) - i32::from(input.has(FighterInput::LEFT));
    if input.has(FighterInput::LIGHT) || input.has(FighterInput::HEAVY) {
        let heavy = input.has(FighterInput::HEAVY);
        let kind = match (down, heavy) {
            (false, false) => MoveKind::StandLight,
            (false, true) => MoveKind::StandHeavy,
            (true, false) => MoveKind::CrouchLight,
            (true, true) => MoveKind::CrouchHeavy,
        };
        f.vx = 0;
        start_attack(f, kind);
    } else if input.has(FighterInput::UP) {
        f.vx = dir * AIR_SPEED;
        f.vy = JUMP_SPEED;
        f.crouching = false;
        set_action(f, Action::Jump);
    } else if input.has(FighterInput::BLOCK) {
        f.vx = 0;
        set_action(f, Action::Block);
    } else if down {
        f.vx = 0;
        set_action(f, Action::Crouch);
    } else if dir != 0 {
        f.vx = dir * WALK_SPEED;
        set_action(f, Action::Walk);
    } else {
        f.vx = 0;
        set_action(f, Action::Idle);
    }
}

fn set_action(f: &mut Fighter, action: Action) {
    if f.action == action {
        f.action_frame = f.action_frame.saturating_add(1);
    } else {
        f.action = action;
        f.action_frame = 0;
    }
}

fn start_attack(f: &mut Fighter, kind: MoveKind) {
    f.action = Action::Attack;
    f.attack = kind;
    f.action_frame = 0;
    f.attack_connected = false;
}

fn physics(f: &mut Fighter) {
    f.x += f.vx;
    f.y += f.vy;
    if f.y > 0 {
        f.vy -= GRAVITY;
    } else {
        f.y = 0;
        if f.vy < 0 {
            // landing
            f.vy = 0;
            let airborne_action = f.action == Action::Jump
                || (f.action == Action::Attack && f.attack == MoveKind::AirKick);
            if airborne_action {
                f.action = Action::Idle;
                f.action_frame = 0;
                f.vx = 0;
            }
        }
        if matches!(f.action, Action::Hitstun | Action::Blockstun | Action::Ko) {
            f.vx = approach_zero(f.vx, FRICTION);
        }
    }
    let lo = STAGE_MARGIN * SUBPX;
    let hi = (STAGE_WIDTH - STAGE_MARGIN) * SUBPX;
    f.x = f.x.clamp(lo, hi);
}

fn approach_zero(v: i32, by: i32) -> i32 {
    if v > by {
        v - by
    } else if v < -by {
        v + by
    } else {
        0
    }
}

fn separate(fighters: &mut [Fighter; 2]) {
    let [a, b] = fighters;
    let min = PUSHBOX_WIDTH * SUBPX;
    let dx = b.x - a.x;
    if dx.abs() >= min {
        return;
    }
    // the fighter on the left (player 0 on a tie) goes left
    let sign = if dx >= 0 { 1 } else { -1 };
    let overlap = min - dx.abs();
    let half = overlap / 2;
    a.x -= sign * half;
    b.x += sign * (overlap - half);
    let lo = STAGE_MARGIN * SUBPX;
    let hi = (STAGE_WIDTH - STAGE_MARGIN) * SUBPX;
    // if one is pinned against a wall, push the other one instead
    for _ in 0..2 {
        if a.x < lo || a.x > hi || b.x < lo || b.x > hi {
            let (ca, cb) = (a.x.clamp(lo, hi), b.x.clamp(lo, hi));
            let (da, db) = (ca - a.x, cb - b.x);
            a.x = ca + db;
            b.x = cb + da;
        }
    }
    a.x = a.x.clamp(lo, hi);
    b.x = b.x.clamp(lo, hi);
}

/// World-space box `(x0, y0, x1, y1)` in pixels.
type WorldBox = (i32, i32, i32, i32);

pub(super) fn hitbox(f: &Fighter) -> Option<WorldBox> {
    if f.action != Action::Attack || f.attack_connected {
        return None;
    }
    let data = f.attack.data();
    if !data.is_active(f.action_frame) {
        return None;
    }
    let hb = data.hitbox;
    let (cx, cy) = (f.x / SUBPX, f.y / SUBPX);
    let (x0, x1) = if f.facing >= 0 {
        (cx + hb.x, cx + hb.x + hb.w)
    } else {
        (cx - hb.x - hb.w, cx - hb.x)
    };
    Some((x0, cy + hb.y, x1, cy + hb.y + hb.h))
}

pub(super) fn hurtbox(f: &Fighter) -> WorldBox {
    let (cx, cy) = (f.x / SUBPX, f.y / SUBPX);
    let h = if cy > 0 {
        HURT_AIR
    } else if f.crouching && matches!(f.action, Action::Crouch | Action::Block | Action::Attack) {
        HURT_CROUCH
    } else {
        HURT_STAND
    };
    (cx - HURT_HALF_WIDTH, cy, cx + HURT_HALF_WIDTH, cy + h)
}

fn overlaps(a: WorldBox, b: WorldBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn contact(attacker: &Fighter, defender: &Fighter) -> Option<Contact> {
    if defender.action == Action::Ko {
        return None;
    }
    let hb = hitbox(attacker)?;
    if !overlaps(hb, hurtbox(defender)) {
        return None;
    }
    let guarding = matches!(defender.action, Action::Block | Action::Blockstun) && defender.y == 0;
    let facing_attacker = defender.facing * (attacker.x - defender.x) >= 0;
    Some(if guarding && facing_attacker {
        Contact::Blocked
    } else {
        Contact::Hit
    })
}

fn apply_contact(g: &mut FighterGame, attacker: usize, c: Contact) {
    let defender = 1 - attacker;
    let Some(att) = g.fighters.get(attacker).copied() else {
        return;
    };
    let data = att.attack.data();
    let spread = if c == Contact::Hit && data.damage_spread > 0 {
        (g.next_random() % u64::from(data.damage_spread + 1)) as i32
    } else {
        0
    };
    if let Some(a) = g.fighters.get_mut(attacker) {
        a.attack_connected = true;
    }
    let Some(d) = g.fighters.get_mut(defender) else {
        return;
    };
    d.vx = att.facing * data.pushback;
    d.action_frame = 0;
    match c {
        Contact::Hit => {
            d.health = (d.health - data.damage - spread).max(0);
            d.action = Action::Hitstun;
            d.stun = data.hitstun;
        }
        Contact::Blocked => {
            d.health = (d.health - data.chip).max(0);
            d.action = Action::Blockstun;
            d.stun = data.blockstun;
        }
    }
    if d.health == 0 {
        d.action = Action::Ko;
    }
}

fn check_round_end(g: &mut FighterGame) {
    let ko = [g.fighters[0].health <= 0, g.fighters[1].health <= 0];
    if !ko[0] && !ko[1] && g.timer > 0 {
        return;
    }
    let winner = match ko {
        [true, true] => Winner::Draw,
        [true, false] => Winner::Player(1),
        [false, true] => Winner::Player(0),
        [false, false] => match g.fighters[0].health.cmp(&g.fighters[1].health) {
            std::cmp::Ordering::Greater => Winner::Player(0),
            std::cmp::Ordering::Less => Winner::Player(1),
            std::cmp::Ordering::Equal => Winner::Draw,
        },
    };
    g.last_round_winner = Some(winner);
    if let Winner::Player(p) = winner {
        if let Some(w) = g.wins.get_mut(usize::from(p)) {
            *w = w.saturating_add(1);
            if *w >= g.config.rounds_to_win {
                g.match_winner = Some(winner);
            }
        }
    }
    if g.round == u8::MAX && g.match_winner.is_none() {
        g.match_winner = Some(g.leader());
    }
    g.round_break = g.config.round_break_frames.max(1);
}
