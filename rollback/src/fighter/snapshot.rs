//! The fighter's state bytes for spectator snapshots ([`crate::game::Game::state_bytes`]).
//!
//! The layout is the canonical byte order of `hash_state` (little-endian, field by field),
//! so the encoding is as stable as the checksum. Decoding reads untrusted bytes: it checks
//! the exact length first, every enum code, and that positions, speeds and counters are in
//! ranges the simulation steps without overflowing.

use super::{
    Action, Fighter, FighterConfig, FighterGame, MoveKind, Winner, MAX_HEALTH, MAX_ROUND_FRAMES,
    STAGE_WIDTH, SUBPX,
};

/// Bytes of one fighter.
const FIGHTER_BYTES: usize = 6 * 4 + 1 + 2 + 2 + 1 + 1 + 1;
/// Bytes of the whole state.
pub(super) const STATE_BYTES: usize =
    4 + 4 + 1 + 4 + 4 + 1 + 4 + 1 + 1 + 1 + 4 + 1 + 2 * FIGHTER_BYTES + 8;
/// Highest (or lowest) height and speed a decoded state may hold, in 1/256 px.
const MAX_ABS_POS: i32 = 4 * STAGE_WIDTH * SUBPX;
/// Largest speed a decoded state may hold, 1/256 px per frame.
const MAX_ABS_SPEED: i32 = 64 * SUBPX;

/// Appends the canonical bytes of `g` to `out`.
pub(super) fn encode(g: &FighterGame, out: &mut Vec<u8>) {
    let c = &g.config;
    out.extend_from_slice(&c.round_frames.to_le_bytes());
    out.extend_from_slice(&c.max_health.to_le_bytes());
    out.push(c.rounds_to_win);
    out.extend_from_slice(&c.round_break_frames.to_le_bytes());
    out.extend_from_slice(&g.frame.to_le_bytes());
    out.push(g.round);
    out.extend_from_slice(&g.timer.to_le_bytes());
    out.push(g.wins[0]);
    out.push(g.wins[1]);
    out.push(super::winner_code(g.last_round_winner));
    out.extend_from_slice(&g.round_break.to_le_bytes());
    out.push(super::winner_code(g.match_winner));
    for f in &g.fighters {
        for v in [f.x, f.y, f.vx, f.vy, f.facing, f.health] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(f.action as u8);
        out.extend_from_slice(&f.action_frame.to_le_bytes());
        out.extend_from_slice(&f.stun.to_le_bytes());
        out.push(f.attack as u8);
        out.push(u8::from(f.attack_connected));
        out.push(u8::from(f.crouching));
    }
    out.extend_from_slice(&g.rng.to_le_bytes());
}

/// A cursor over untrusted bytes; every read is checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

fn winner_from_code(code: u8) -> Option<Option<Winner>> {
    match code {
        0 => Some(None),
        1 | 2 => Some(Some(Winner::Player(code - 1))),
        9 => Some(Some(Winner::Draw)),
        _ => None,
    }
}

fn action_from_code(code: u8) -> Option<Action> {
    Some(match code {
        0 => Action::Idle,
        1 => Action::Walk,
        2 => Action::Crouch,
        3 => Action::Jump,
        4 => Action::Block,
        5 => Action::Attack,
        6 => Action::Hitstun,
        7 => Action::Blockstun,
        8 => Action::Ko,
        _ => return None,
    })
}

fn fighter(r: &mut Reader<'_>, max_health: i32) -> Option<Fighter> {
    let f = Fighter {
        x: r.i32()?,
        y: r.i32()?,
        vx: r.i32()?,
        vy: r.i32()?,
        facing: r.i32()?,
        health: r.i32()?,
        action: action_from_code(r.u8()?)?,
        action_frame: r.u16()?,
        stun: r.u16()?,
        attack: *MoveKind::ALL.get(usize::from(r.u8()?))?,
        attack_connected: r.bool()?,
        crouching: r.bool()?,
    };
    // Ranges, not `abs()`: `i32::MIN.abs()` overflows (found by the spectate_decode fuzzer).
    let sane = (-MAX_ABS_POS..=MAX_ABS_POS).contains(&f.x)
        && (-MAX_ABS_POS..=MAX_ABS_POS).contains(&f.y)
        && (-MAX_ABS_SPEED..=MAX_ABS_SPEED).contains(&f.vx)
        && (-MAX_ABS_SPEED..=MAX_ABS_SPEED).contains(&f.vy)
        && (f.facing == 1 || f.facing == -1)
        && (-max_health..=max_health).contains(&f.health);
    sane.then_some(f)
}

/// Reads a state written by [`encode`]; `None` unless every field is valid.
pub(super) fn decode(bytes: &[u8]) -> Option<FighterGame> {
    if bytes.len() != STATE_BYTES {
        return None;
    }
    let mut r = Reader(bytes);
    let config = FighterConfig {
        round_frames: r.u32()?,
        max_health: r.i32()?,
        rounds_to_win: r.u8()?,
        round_break_frames: r.u32()?,
    };
    let sane_config = (1..=MAX_ROUND_FRAMES).contains(&config.round_frames)
        && (1..=MAX_HEALTH).contains(&config.max_health)
        && (1..=9).contains(&config.rounds_to_win)
        && config.round_break_frames <= MAX_ROUND_FRAMES;
    if !sane_config {
        return None;
    }
    let frame = r.u32()?;
    let round = r.u8()?;
    let timer = r.u32()?;
    let wins = [r.u8()?, r.u8()?];
    let last_round_winner = winner_from_code(r.u8()?)?;
    let round_break = r.u32()?;
    let match_winner = winner_from_code(r.u8()?)?;
    let fighters = [
        fighter(&mut r, config.max_health)?,
        fighter(&mut r, config.max_health)?,
    ];
    let rng = r.u64()?;
    let sane = timer <= config.round_frames
        && round_break <= config.round_break_frames
        && wins.iter().all(|w| *w <= config.rounds_to_win)
        && rng != 0
        && r.0.is_empty();
    sane.then_some(FighterGame {
        config,
        frame,
        round,
        timer,
        wins,
        last_round_winner,
        round_break,
        match_winner,
        fighters,
        rng,
    })
}
