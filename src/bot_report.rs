//! The `bot` example's report: the match's facts plus the [`PlayOutcome`] flattened into
//! one JSON object. Every key appears once (strict JSON parsers reject duplicates; the
//! outcome's `completed` is the only one).

use crate::netmatch::PlayOutcome;

/// What `bot --json` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BotReport {
    /// Whether the match started.
    pub connected: bool,
    /// How the game packets travelled: `p2p` or `relay` (a play-server relay stage).
    pub link: peer::LinkKind,
    /// Our player id.
    pub player_id: String,
    /// The opponent's player id.
    pub opponent_id: String,
    /// The opponent's display name.
    pub opponent_name: String,
    /// Offerer or answerer.
    pub role: peer::Role,
    /// Time from acceptance to `match_started`, ms.
    pub time_to_connect_ms: f64,
    /// Frames asked for.
    pub frames: u32,
    /// Desyncs ggrs detected (the same as the outcome's `ggrs_desyncs`).
    pub desyncs: u64,
    /// How the match went (`completed`, `checksum`, ...), flattened into the report.
    #[serde(flatten)]
    pub outcome: PlayOutcome,
}
