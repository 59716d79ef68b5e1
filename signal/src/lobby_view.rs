//! The client's copy of its lobby, kept current from `lobby_update` and `lobby_delta`
//! (sans-IO: the [`crate::SignalClient`] feeds it, and so can any other client).
//!
//! A full `lobby_update` replaces the view (and sets its version in delta mode). A
//! `lobby_delta` applies only on top of the version just before it: rows in `removed` are
//! dropped, rows in `added` inserted and rows in `changed` replaced. The server never leaves
//! a gap (a client that falls behind is sent a fresh full update), so a delta that does not
//! fit is a protocol violation: the view reports it and marks itself stale until the next
//! full update.
//!
//! The view takes parsed [`ServerMessage`]s, so it does not care how they arrived: a
//! client that connected with `?lobby_compression=deflate` inflates the binary frames with
//! [`crate::lobby_deflate::LobbyInflater`] first (the [`crate::SignalClient`] does).

use std::collections::BTreeMap;

use crate::protocol::{LobbyDelta, LobbyPlayer, LobbyUpdate, ServerMessage};

/// Why a `lobby_delta` could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LobbyViewError {
    /// The delta is not for the version after the view's (or the view has no version yet).
    #[error("lobby_delta version {got} does not follow {have:?}")]
    Gap {
        /// The view's version.
        have: Option<u64>,
        /// The delta's version.
        got: u64,
    },
    /// The delta is for another lobby than the view's.
    #[error("lobby_delta for lobby {0:?} does not match the view")]
    WrongLobby(String),
    /// The delta adds a present id, or removes / changes an absent one.
    #[error("lobby_delta does not fit the view at player {0:?}")]
    Inconsistent(String),
}

/// A client's view of its lobby.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LobbyView {
    lobby: Option<String>,
    version: Option<u64>,
    players: BTreeMap<String, LobbyPlayer>,
}

impl LobbyView {
    /// Applies a lobby message; returns `Ok(false)` for any other message.
    pub fn apply(&mut self, msg: &ServerMessage) -> Result<bool, LobbyViewError> {
        match msg {
            ServerMessage::LobbyUpdate(u) => {
                self.apply_update(u);
                Ok(true)
            }
            ServerMessage::LobbyDelta(d) => self.apply_delta(d).map(|()| true),
            _ => Ok(false),
        }
    }

    /// Replaces the view with a full update.
    pub fn apply_update(&mut self, update: &LobbyUpdate) {
        self.lobby.clone_from(&update.lobby);
        self.version = update.version;
        self.players = update
            .players
            .iter()
            .map(|p| (p.player_id.clone(), p.clone()))
            .collect();
    }

    /// Applies a delta on top of the version before it. On error the view is unchanged
    /// except that it is marked stale (no version) until the next full update.
    pub fn apply_delta(&mut self, delta: &LobbyDelta) -> Result<(), LobbyViewError> {
        let result = self.try_apply_delta(delta);
        if result.is_err() {
            self.version = None;
        }
        result
    }

    fn try_apply_delta(&mut self, delta: &LobbyDelta) -> Result<(), LobbyViewError> {
        if self.lobby.as_deref() != Some(delta.lobby.as_str()) {
            return Err(LobbyViewError::WrongLobby(delta.lobby.clone()));
        }
        if self.version.and_then(|v| v.checked_add(1)) != Some(delta.version) {
            return Err(LobbyViewError::Gap {
                have: self.version,
                got: delta.version,
            });
        }
        let mut next = self.players.clone();
        for id in &delta.removed {
            next.remove(id)
                .ok_or_else(|| LobbyViewError::Inconsistent(id.clone()))?;
        }
        for row in &delta.added {
            if next.insert(row.player_id.clone(), row.clone()).is_some() {
                return Err(LobbyViewError::Inconsistent(row.player_id.clone()));
            }
        }
        for row in &delta.changed {
            match next.get_mut(&row.player_id) {
                Some(old) => *old = row.clone(),
                None => return Err(LobbyViewError::Inconsistent(row.player_id.clone())),
            }
        }
        self.players = next;
        self.version = Some(delta.version);
        Ok(())
    }

    /// The lobby's name (delta mode; `None` in snapshot mode or before the first update).
    pub fn lobby(&self) -> Option<&str> {
        self.lobby.as_deref()
    }

    /// The version the view is at (delta mode only).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The members, sorted by player id.
    pub fn players(&self) -> impl Iterator<Item = &LobbyPlayer> {
        self.players.values()
    }

    /// One member.
    pub fn player(&self, player_id: &str) -> Option<&LobbyPlayer> {
        self.players.get(player_id)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.players.len()
    }

    /// True when the lobby is empty (or no update arrived yet).
    pub fn is_empty(&self) -> bool {
        self.players.is_empty()
    }

    /// The members as a snapshot-format `lobby_update` (no name, no version).
    pub fn to_update(&self) -> LobbyUpdate {
        LobbyUpdate {
            lobby: None,
            version: None,
            players: self.players.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PlayerStatus;

    fn row(id: &str, status: PlayerStatus) -> LobbyPlayer {
        LobbyPlayer {
            player_id: id.into(),
            player_name: id.to_uppercase(),
            status,
        }
    }

    #[test]
    fn deltas_apply_on_top_of_the_previous_version_only() {
        let mut view = LobbyView::default();
        view.apply_update(&LobbyUpdate {
            lobby: Some("main".into()),
            version: Some(3),
            players: vec![row("a", PlayerStatus::Available)],
        });
        let delta = LobbyDelta {
            lobby: "main".into(),
            version: 4,
            added: vec![row("b", PlayerStatus::Available)],
            removed: vec![],
            changed: vec![row("a", PlayerStatus::InMatch)],
        };
        view.apply_delta(&delta).unwrap();
        assert_eq!(view.version(), Some(4));
        assert_eq!(view.player("a").unwrap().status, PlayerStatus::InMatch);
        assert_eq!(view.len(), 2);
        assert_eq!(
            view.apply_delta(&delta),
            Err(LobbyViewError::Gap {
                have: Some(4),
                got: 4
            })
        );
        assert_eq!(view.version(), None, "stale after a gap");
        assert_eq!(view.len(), 2, "rows unchanged by a refused delta");
    }

    #[test]
    fn inconsistent_deltas_are_refused_whole() {
        let mut view = LobbyView::default();
        view.apply_update(&LobbyUpdate {
            lobby: Some("x".into()),
            version: Some(0),
            players: vec![],
        });
        let bad = LobbyDelta {
            lobby: "x".into(),
            version: 1,
            added: vec![row("a", PlayerStatus::Available)],
            removed: vec!["zed".into()],
            changed: vec![],
        };
        assert!(matches!(
            view.apply_delta(&bad),
            Err(LobbyViewError::Inconsistent(_))
        ));
        assert!(view.is_empty());
        let other = LobbyDelta {
            lobby: "y".into(),
            version: 1,
            ..LobbyDelta::default()
        };
        assert!(matches!(
            view.apply_delta(&other),
            Err(LobbyViewError::WrongLobby(_))
        ));
    }
}
