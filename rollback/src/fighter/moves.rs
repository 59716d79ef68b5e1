//! Move data: every attack is a row in [`MOVES`], not a branch in code.

use serde::Serialize;

/// Sub-pixel units per pixel: positions and velocities are fixed point `i32` in 1/256 px.
pub const SUBPX: i32 = 256;

/// An axis-aligned box in pixels, relative to a fighter's feet (x forward along `facing`,
/// y up). `x`/`y` is the near-bottom corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rect {
    /// Forward offset from the fighter's origin, in pixels.
    pub x: i32,
    /// Height of the bottom edge above the ground, in pixels.
    pub y: i32,
    /// Width in pixels.
    pub w: i32,
    /// Height in pixels.
    pub h: i32,
}

/// The attacks a fighter can perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum MoveKind {
    /// Fast standing jab.
    StandLight = 0,
    /// Slow, long-reaching standing kick.
    StandHeavy = 1,
    /// Crouching jab.
    CrouchLight = 2,
    /// Crouching sweep.
    CrouchHeavy = 3,
    /// Jump-in kick (any attack button in the air).
    AirKick = 4,
}

impl MoveKind {
    /// All moves, indexed by their discriminant.
    pub const ALL: [MoveKind; 5] = [
        MoveKind::StandLight,
        MoveKind::StandHeavy,
        MoveKind::CrouchLight,
        MoveKind::CrouchHeavy,
        MoveKind::AirKick,
    ];

    /// The move's row in [`MOVES`].
    pub fn data(self) -> &'static MoveData {
        &MOVES[self as usize]
    }

    /// Decodes a discriminant (as stored in the state).
    pub fn from_u8(v: u8) -> Option<MoveKind> {
        Self::ALL.get(usize::from(v)).copied()
    }
}

/// Frame data and geometry of one attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoveData {
    /// Human-readable name.
    pub name: &'static str,
    /// Frames before the hitbox appears.
    pub startup: u16,
    /// Frames the hitbox is out.
    pub active: u16,
    /// Frames after the hitbox disappears until the fighter can act.
    pub recovery: u16,
    /// Health removed on hit.
    pub damage: i32,
    /// Extra random damage on hit: `0..=damage_spread` from the state's PRNG.
    pub damage_spread: u32,
    /// Health removed on block (chip).
    pub chip: i32,
    /// Frames the defender cannot act after being hit.
    pub hitstun: u16,
    /// Frames the defender cannot act after blocking.
    pub blockstun: u16,
    /// Horizontal push given to the defender, in sub-pixels per frame (decays by friction).
    pub pushback: i32,
    /// The hitbox, relative to the attacker.
    pub hitbox: Rect,
}

impl MoveData {
    /// Total frames of the move.
    pub fn total(&self) -> u16 {
        self.startup + self.active + self.recovery
    }

    /// Whether the hitbox is out on `frame` (0-based frame of the move).
    pub fn is_active(&self, frame: u16) -> bool {
        frame >= self.startup && frame < self.startup + self.active
    }
}

/// The move table, indexed by [`MoveKind`].
pub const MOVES: [MoveData; 5] = [
    MoveData {
        name: "stand light",
        startup: 4,
        active: 3,
        recovery: 7,
        damage: 40,
        damage_spread: 0,
        chip: 0,
        hitstun: 14,
        blockstun: 9,
        pushback: 2 * SUBPX,
        hitbox: Rect {
            x: 20,
            y: 60,
            w: 45,
            h: 20,
        },
    },
    MoveData {
        name: "stand heavy",
        startup: 9,
        active: 4,
        recovery: 16,
        damage: 90,
        damage_spread: 20,
        chip: 10,
        hitstun: 20,
        blockstun: 14,
        pushback: 4 * SUBPX,
        hitbox: Rect {
            x: 25,
            y: 45,
            w: 70,
            h: 25,
        },
    },
    MoveData {
        name: "crouch light",
        startup: 5,
        active: 3,
        recovery: 8,
        damage: 35,
        damage_spread: 0,
        chip: 0,
        hitstun: 13,
        blockstun: 9,
        pushback: 2 * SUBPX,
        hitbox: Rect {
            x: 20,
            y: 10,
            w: 45,
            h: 20,
        },
    },
    MoveData {
        name: "crouch heavy",
        startup: 10,
        active: 4,
        recovery: 20,
        damage: 80,
        damage_spread: 20,
        chip: 10,
        hitstun: 22,
        blockstun: 15,
        pushback: 5 * SUBPX,
        hitbox: Rect {
            x: 25,
            y: 0,
            w: 80,
            h: 18,
        },
    },
    MoveData {
        name: "air kick",
        startup: 6,
        active: 8,
        recovery: 4,
        damage: 70,
        damage_spread: 10,
        chip: 8,
        hitstun: 18,
        blockstun: 12,
        pushback: 3 * SUBPX,
        hitbox: Rect {
            x: 10,
            y: -10,
            w: 55,
            h: 40,
        },
    },
];
