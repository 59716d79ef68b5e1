//! Named lobbies: membership, versions, and the update each member is owed.
//!
//! Every change to a member's row (join, leave, rename, status) marks the player id dirty in
//! its lobby. When the debounce timer fires, each dirty lobby compares the rows of its dirty
//! ids with the rows it last published and turns the differences into one
//! [`LobbyDelta`] with the next version. Snapshot-mode members get the whole lobby (the
//! seed's format); delta-mode members get the delta, except those that just entered, which
//! get the whole lobby at the new version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use super::{ConnId, Hub, HubOutput};
use crate::protocol::{LobbyDelta, LobbyPlayer, LobbyUpdate, LobbyUpdates, PlayerStatus};

/// One named lobby.
#[derive(Debug, Default)]
pub(super) struct Lobby {
    /// Player ids of the members.
    pub(super) members: BTreeSet<String>,
    /// The rows as of `version` (what delta-mode members hold).
    published: BTreeMap<String, LobbyPlayer>,
    /// Version of `published`; the next delta has `version + 1`.
    version: u64,
    /// Player ids whose row may differ from `published`.
    dirty: BTreeSet<String>,
    /// Members owed a full update at the next emission (they just entered).
    fresh: BTreeSet<String>,
}

impl Lobby {
    fn is_unused(&self) -> bool {
        self.members.is_empty() && self.published.is_empty() && self.dirty.is_empty()
    }

    fn published_update(&self, name: &str) -> LobbyUpdate {
        LobbyUpdate {
            lobby: Some(name.to_owned()),
            version: Some(self.version),
            players: self.published.values().cloned().collect(),
        }
    }
}

/// Who gets what from one emission of one lobby.
#[derive(Default)]
struct Recipients {
    snapshot: Vec<ConnId>,
    full: Vec<ConnId>,
    delta: Vec<ConnId>,
}

impl Hub {
    /// The lobby `name` as it is now (snapshot format, sorted by player id; empty when the
    /// lobby does not exist).
    pub fn lobby_of(&self, name: &str) -> LobbyUpdate {
        let players = self
            .lobbies
            .get(name)
            .map(|l| l.members.iter().filter_map(|id| self.row_of(id)).collect())
            .unwrap_or_default();
        LobbyUpdate {
            lobby: None,
            version: None,
            players,
        }
    }

    /// The lobby `name` as last published, with its name and version: the full
    /// `lobby_update` a delta-mode connection that fell behind is sent instead of the
    /// deltas it missed.
    pub fn published_lobby(&self, name: &str) -> Option<LobbyUpdate> {
        self.lobbies.get(name).map(|l| l.published_update(name))
    }

    /// The lobby a player is in.
    pub fn lobby_name_of(&self, player_id: &str) -> Option<&str> {
        self.player(player_id)?.lobby.as_deref()
    }

    /// Members of lobby `name` (0 when it does not exist).
    pub fn lobby_len(&self, name: &str) -> usize {
        self.lobbies.get(name).map_or(0, |l| l.members.len())
    }

    pub(super) fn row_of(&self, id: &str) -> Option<LobbyPlayer> {
        let p = self.player(id)?;
        Some(LobbyPlayer {
            player_id: id.to_owned(),
            player_name: p.name.clone(),
            status: if p.live_session.is_some() {
                PlayerStatus::InMatch
            } else if self.watching_of(id).is_some() {
                PlayerStatus::Watching
            } else {
                PlayerStatus::Available
            },
        })
    }

    /// Puts a player (already validated) into lobby `name`; it is owed a full update.
    pub(super) fn enter_lobby(&mut self, player_id: &str, name: &str, now: Instant) {
        let lobby = self.lobbies.entry(name.to_owned()).or_default();
        if lobby.members.insert(player_id.to_owned()) {
            self.lobby_size += 1;
        }
        lobby.fresh.insert(player_id.to_owned());
        if let Some(p) = self.players.get_mut(player_id) {
            p.lobby = Some(name.to_owned());
        }
        self.touch_player(player_id, now);
    }

    /// Takes a player out of its lobby (no-op when it is in none).
    pub(super) fn exit_lobby(&mut self, player_id: &str, now: Instant) {
        self.touch_player(player_id, now);
        let Some(name) = self.player_mut(player_id).and_then(|p| p.lobby.take()) else {
            return;
        };
        if let Some(lobby) = self.lobbies.get_mut(&name) {
            if lobby.members.remove(player_id) {
                self.lobby_size -= 1;
            }
            lobby.fresh.remove(player_id);
        }
    }

    /// Marks a player's row as possibly changed in its lobby.
    pub(super) fn touch_player(&mut self, player_id: &str, now: Instant) {
        let Some(name) = self.player(player_id).and_then(|p| p.lobby.clone()) else {
            return;
        };
        if let Some(lobby) = self.lobbies.get_mut(&name) {
            lobby.dirty.insert(player_id.to_owned());
            self.dirty_lobbies.insert(name);
            if self.lobby_due.is_none() {
                self.lobby_due = Some(now + self.config.lobby_debounce);
            }
        }
    }

    /// Emits the updates of every dirty lobby (called when the debounce timer fires).
    pub(super) fn emit_lobbies(&mut self) {
        for name in std::mem::take(&mut self.dirty_lobbies) {
            self.emit_lobby(&name);
        }
    }

    fn emit_lobby(&mut self, name: &str) {
        let Some(mut lobby) = self.lobbies.remove(name) else {
            return;
        };
        let delta = self.diff(name, &mut lobby);
        let changed = !delta.is_empty();
        if changed {
            lobby.version += 1;
        }
        let mut to = Recipients::default();
        for id in &lobby.members {
            let Some(p) = self.player(id) else { continue };
            let fresh = lobby.fresh.contains(id);
            match p.updates {
                LobbyUpdates::Snapshot if changed || fresh => to.snapshot.push(p.conn),
                LobbyUpdates::Delta if fresh => to.full.push(p.conn),
                LobbyUpdates::Delta if changed => to.delta.push(p.conn),
                _ => {}
            }
        }
        lobby.fresh.clear();
        if !to.snapshot.is_empty() {
            let update = LobbyUpdate {
                lobby: None,
                version: None,
                players: lobby.published.values().cloned().collect(),
            };
            self.out.push_back(HubOutput::Lobby {
                update: Arc::new(update),
                recipients: to.snapshot,
            });
        }
        if !to.full.is_empty() {
            self.out.push_back(HubOutput::Lobby {
                update: Arc::new(lobby.published_update(name)),
                recipients: to.full,
            });
        }
        if changed && !to.delta.is_empty() {
            let delta = LobbyDelta {
                version: lobby.version,
                ..delta
            };
            self.out.push_back(HubOutput::LobbyDelta {
                delta: Arc::new(delta),
                recipients: to.delta,
            });
        }
        if !lobby.is_unused() {
            self.lobbies.insert(name.to_owned(), lobby);
        }
    }

    /// Compares the dirty rows with the published ones and updates `published`.
    fn diff(&self, name: &str, lobby: &mut Lobby) -> LobbyDelta {
        let mut delta = LobbyDelta {
            lobby: name.to_owned(),
            ..LobbyDelta::default()
        };
        for id in std::mem::take(&mut lobby.dirty) {
            let now = if lobby.members.contains(&id) {
                self.row_of(&id)
            } else {
                None
            };
            match (lobby.published.get(&id), now) {
                (None, None) => {}
                (Some(_), None) => {
                    lobby.published.remove(&id);
                    delta.removed.push(id);
                }
                (None, Some(row)) => {
                    lobby.published.insert(id, row.clone());
                    delta.added.push(row);
                }
                (Some(old), Some(row)) if *old != row => {
                    lobby.published.insert(id, row.clone());
                    delta.changed.push(row);
                }
                (Some(_), Some(_)) => {}
            }
        }
        delta
    }

    /// Checks the lobby bookkeeping (part of [`Hub::check_invariants`]).
    pub(super) fn check_lobbies(&self) -> Result<(), String> {
        let mut members = 0;
        for (name, lobby) in &self.lobbies {
            for id in &lobby.members {
                if self.player(id).and_then(|p| p.lobby.as_deref()) != Some(name.as_str()) {
                    return Err(format!("{id} is listed in lobby {name} but not in it"));
                }
            }
            members += lobby.members.len();
            if lobby.members.len() > self.config.max_lobby_size {
                return Err(format!("lobby {name} is over its size limit"));
            }
        }
        if members != self.lobby_size {
            return Err("lobby size drifted".into());
        }
        let in_some = self.players.values().filter(|p| p.lobby.is_some()).count();
        if in_some != members {
            return Err("a player's lobby does not list it".into());
        }
        Ok(())
    }
}
