//! Payloads of the spectator messages (`watch_match`, `watch_started`, `spectator_joined`).

use serde::{Deserialize, Serialize};

/// Most spectators one match may have; one more `watch_match` is `error 409`.
pub const MAX_SPECTATORS_PER_MATCH: usize = 8;

/// `watch_match` payload: ask to watch the running match of `target_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchMatch {
    /// Must equal the authenticated identity (the watcher).
    pub player_id: String,
    /// A player of the match to watch.
    pub target_id: String,
}

/// `watch_started` payload, to the watcher: negotiate with `host_id` in `session_id` (the
/// watcher sends the SDP offer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStarted {
    /// The spectator session (its own id, not the match's).
    pub session_id: String,
    /// The match being watched.
    pub match_session_id: String,
    /// The player who streams the match to the watcher.
    pub host_id: String,
    /// The host's display name.
    pub host_name: String,
}

/// `spectator_joined` payload, to the host: expect an SDP offer from `watcher_id` in
/// `session_id`, then stream the match to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpectatorJoined {
    /// The spectator session.
    pub session_id: String,
    /// The host's match.
    pub match_session_id: String,
    /// The watcher.
    pub watcher_id: String,
    /// The watcher's display name.
    pub watcher_name: String,
}
