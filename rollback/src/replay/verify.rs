//! Verification (re-simulate and compare every recorded checksum) and the diff of two
//! peers' replays of one match.

use ggrs::InputStatus;
use serde::Serialize;

use super::codec::{check_game, ReplayError};
use super::format::{ChunkDamage, Replay};
use crate::desync::{diff_states, FieldDiff};
use crate::game::Game;

/// The initial state of `replay`, rebuilt by the game (after checking id and version).
pub fn initial_state<G: Game>(replay: &Replay<G::Input>) -> Result<G, ReplayError> {
    check_game::<G>(&replay.header)?;
    G::from_initial_bytes(&replay.header.initial_state).ok_or(ReplayError::BadInitialState)
}

/// Steps `game` through the inputs of frames `from..to` of `replay` (stops early where
/// inputs are missing). `buf` is scratch space; returns the frame reached.
pub(crate) fn run_frames<G: Game>(
    game: &mut G,
    replay: &Replay<G::Input>,
    from: u32,
    to: u32,
    buf: &mut Vec<(G::Input, InputStatus)>,
) -> u32 {
    for f in from..to {
        let Some(inputs) = replay.inputs_at(f) else {
            return f;
        };
        buf.clear();
        buf.extend(inputs.iter().map(|i| (*i, InputStatus::Confirmed)));
        game.step(buf);
    }
    to
}

/// The state at `frame`, re-simulated from the replay's inputs.
pub fn simulate_to<G: Game>(replay: &Replay<G::Input>, frame: u32) -> Result<G, ReplayError> {
    let mut game = initial_state::<G>(replay)?;
    let mut buf = Vec::with_capacity(replay.players());
    run_frames(&mut game, replay, 0, frame.min(replay.frames()), &mut buf);
    Ok(game)
}

fn describe_inputs<I: std::fmt::Debug>(inputs: Option<&[I]>) -> Vec<String> {
    inputs
        .unwrap_or_default()
        .iter()
        .map(|i| format!("{i:?}"))
        .collect()
}

/// The first recorded checksum that re-simulation did not reproduce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumMismatch {
    /// The frame (state at its start).
    pub frame: u32,
    /// Checksum in the replay (hex).
    pub recorded: String,
    /// Checksum re-simulated (hex).
    pub computed: String,
    /// The frame whose inputs led into `frame` (`frame - 1`), if any.
    pub input_frame: Option<u32>,
    /// Those inputs, one per player (`Debug` form).
    pub inputs: Vec<String>,
    /// Differing fields between the state the replay recorded at `frame` and the
    /// re-simulated one (`left` = recorded); empty if the replay holds no state there.
    pub fields: Vec<FieldDiff>,
    /// Whether the replay recorded the state at `frame` (so `fields` is meaningful).
    pub recorded_state: bool,
    /// The re-simulated state at `frame`, field by field.
    pub state: Vec<(String, String)>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Frames in the replay.
    pub frames: u32,
    /// Frames re-simulated (fewer if inputs are missing after a damaged chunk).
    pub simulated: u32,
    /// Recorded checksums compared.
    pub checked: u32,
    /// Checksum of the state re-simulation reached.
    #[serde(serialize_with = "hex128")]
    pub final_checksum: u128,
    /// The replay's recorded final checksum.
    #[serde(serialize_with = "hex128")]
    pub recorded_final_checksum: u128,
    /// The first mismatch, if any.
    pub first_mismatch: Option<ChecksumMismatch>,
    /// Chunks that failed their integrity check.
    pub damage: Vec<ChunkDamage>,
}

fn hex128<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:032x}"))
}

impl VerifyReport {
    /// Whether every frame was re-simulated, every checksum matched and no chunk is
    /// damaged.
    pub fn ok(&self) -> bool {
        self.first_mismatch.is_none() && self.damage.is_empty() && self.simulated == self.frames
    }
}

/// Re-simulates `replay` headless from its initial state and compares every recorded
/// checksum (and the final one). Errors only if the replay is of another game or build.
pub fn verify<G: Game>(replay: &Replay<G::Input>) -> Result<VerifyReport, ReplayError> {
    let mut game = initial_state::<G>(replay)?;
    let checks = replay.all_checksums();
    let frames = replay.frames().min(replay.end.frames);
    let mut buf = Vec::with_capacity(replay.players());
    let mut first_mismatch = None;
    let mut checked = 0u32;
    let mut at = 0u32;
    for &(frame, recorded) in &checks {
        if frame > frames {
            break;
        }
        if run_frames(&mut game, replay, at, frame, &mut buf) != frame {
            break;
        }
        at = frame;
        checked += 1;
        let computed = game.checksum();
        if computed != recorded && first_mismatch.is_none() {
            first_mismatch = Some(mismatch(replay, &game, frame, recorded, computed));
        }
    }
    at = run_frames(&mut game, replay, at, frames, &mut buf);
    Ok(VerifyReport {
        frames: replay.end.frames,
        simulated: at,
        checked,
        final_checksum: game.checksum(),
        recorded_final_checksum: replay.end.final_checksum,
        first_mismatch,
        damage: replay.damage.clone(),
    })
}

fn mismatch<G: Game>(
    replay: &Replay<G::Input>,
    game: &G,
    frame: u32,
    recorded: u128,
    computed: u128,
) -> ChecksumMismatch {
    let input_frame = frame.checked_sub(1);
    let recorded_state = replay.described_at(frame);
    let state = game.describe();
    let fields = recorded_state
        .map(|d| diff_fields(&d.fields, &state))
        .unwrap_or_default();
    ChecksumMismatch {
        frame,
        recorded: format!("{recorded:032x}"),
        computed: format!("{computed:032x}"),
        input_frame,
        inputs: describe_inputs(input_frame.and_then(|f| replay.inputs_at(f))),
        fields,
        recorded_state: recorded_state.is_some(),
        state,
    }
}

/// Differing fields of two described states (`left` = `a`).
pub fn diff_fields(a: &[(String, String)], b: &[(String, String)]) -> Vec<FieldDiff> {
    let missing = || "<missing>".to_owned();
    let mut out = Vec::new();
    for (k, va) in a {
        let vb = b.iter().find(|(kb, _)| kb == k).map(|(_, v)| v);
        if vb != Some(va) {
            out.push(FieldDiff {
                field: k.clone(),
                left: va.clone(),
                right: vb.cloned().unwrap_or_else(missing),
            });
        }
    }
    for (k, vb) in b {
        if !a.iter().any(|(ka, _)| ka == k) {
            out.push(FieldDiff {
                field: k.clone(),
                left: missing(),
                right: vb.clone(),
            });
        }
    }
    out
}

/// The first frame whose inputs differ between the two replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDivergence {
    /// The frame.
    pub frame: u32,
    /// Inputs of the frame in replay A.
    pub a: Vec<String>,
    /// Inputs of the frame in replay B.
    pub b: Vec<String>,
}

/// The first frame whose recorded checksums differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksumDivergence {
    /// The frame.
    pub frame: u32,
    /// The last earlier frame where both recorded the same checksum.
    pub last_agreeing: Option<u32>,
    /// Checksum in A (hex).
    pub a: String,
    /// Checksum in B (hex).
    pub b: String,
}

/// Where the states of a [`ReplayDiff`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateSource {
    /// Both replays recorded the state at that frame (the live values).
    Recorded,
    /// Re-simulated from each replay's inputs.
    Resimulated,
}

/// What [`diff`] found between two peers' replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayDiff {
    /// Why the two are not replays of the same match (`None` if they are).
    pub not_same_match: Option<String>,
    /// Frames compared (the shorter replay's length).
    pub compared_frames: u32,
    /// First input disagreement.
    pub input_divergence: Option<InputDivergence>,
    /// First checksum disagreement (before any input disagreement).
    pub checksum_divergence: Option<ChecksumDivergence>,
    /// The frame whose two states are diffed.
    pub state_frame: Option<u32>,
    /// Where those states come from.
    pub state_source: Option<StateSource>,
    /// Differing fields (`left` = A, `right` = B).
    pub fields: Vec<FieldDiff>,
    /// When re-simulated: whether the re-simulated state matches the checksum each
    /// replay recorded at `state_frame` (tells which peer diverged from its own inputs).
    pub resimulation_matches: Option<[Option<bool>; 2]>,
}

impl ReplayDiff {
    /// Whether the two are the same match with no divergence.
    pub fn identical(&self) -> bool {
        self.not_same_match.is_none()
            && self.input_divergence.is_none()
            && self.checksum_divergence.is_none()
    }
}

fn same_match<I>(a: &Replay<I>, b: &Replay<I>) -> Option<String> {
    let (ha, hb) = (&a.header, &b.header);
    let checks = [
        (ha.game_id == hb.game_id, "game ids differ"),
        (
            ha.game_version == hb.game_version,
            "game version hashes differ",
        ),
        (ha.players == hb.players, "player counts differ"),
        (
            ha.initial_state == hb.initial_state,
            "initial states differ",
        ),
        (ha.seed == hb.seed, "seeds differ"),
        (ha.match_id == hb.match_id, "match ids differ"),
    ];
    checks
        .iter()
        .find(|(ok, _)| !ok)
        .map(|(_, why)| (*why).to_owned())
}

/// Compares two peers' replays of the same match: the first frame where their inputs
/// disagree, or else the first frame where their checksums disagree; at that frame, the
/// field-level diff of the two states (recorded ones if both replays hold them, else
/// re-simulated from each replay's inputs).
pub fn diff<G: Game>(
    a: &Replay<G::Input>,
    b: &Replay<G::Input>,
) -> Result<ReplayDiff, ReplayError> {
    check_game::<G>(&a.header)?;
    check_game::<G>(&b.header)?;
    let compared = a.frames().min(b.frames());
    let mut out = ReplayDiff {
        not_same_match: same_match(a, b),
        compared_frames: compared,
        input_divergence: None,
        checksum_divergence: None,
        state_frame: None,
        state_source: None,
        fields: Vec::new(),
        resimulation_matches: None,
    };
    if out.not_same_match.is_some() {
        return Ok(out);
    }
    out.input_divergence = (0..compared)
        .find(|&f| a.inputs_at(f) != b.inputs_at(f))
        .map(|frame| InputDivergence {
            frame,
            a: describe_inputs(a.inputs_at(frame)),
            b: describe_inputs(b.inputs_at(frame)),
        });
    // checksums are compared up to the state the first differing input leads into
    let limit = out.input_divergence.as_ref().map_or(compared, |d| d.frame);
    let ca = a.all_checksums();
    let mut last_agreeing = None;
    for (frame, sum_a) in ca.into_iter().filter(|(f, _)| *f <= limit) {
        let Some(sum_b) = b.checksum_at(frame) else {
            continue;
        };
        if sum_a == sum_b {
            last_agreeing = Some(frame);
        } else {
            out.checksum_divergence = Some(ChecksumDivergence {
                frame,
                last_agreeing,
                a: format!("{sum_a:032x}"),
                b: format!("{sum_b:032x}"),
            });
            break;
        }
    }
    let frame = match (&out.checksum_divergence, &out.input_divergence) {
        (Some(c), _) => c.frame,
        (None, Some(i)) => i.frame + 1,
        (None, None) => return Ok(out),
    };
    out.state_frame = Some(frame);
    if let (Some(da), Some(db)) = (a.described_at(frame), b.described_at(frame)) {
        out.state_source = Some(StateSource::Recorded);
        out.fields = diff_fields(&da.fields, &db.fields);
    } else {
        let sa = simulate_to::<G>(a, frame)?;
        let sb = simulate_to::<G>(b, frame)?;
        out.state_source = Some(StateSource::Resimulated);
        out.fields = diff_states(&sa, &sb);
        out.resimulation_matches = Some([
            a.checksum_at(frame).map(|c| c == sa.checksum()),
            b.checksum_at(frame).map(|c| c == sb.checksum()),
        ]);
    }
    Ok(out)
}
