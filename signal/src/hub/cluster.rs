//! What the cluster layer reads from a hub replica: the connections of one node and the
//! membership a node re-announces after the cluster state was lost. Nothing here changes
//! the hub; cluster inputs are the ordinary hub inputs, applied in log order.

use super::{ConnId, Hub};
use crate::protocol::LobbyUpdates;

/// A player's place in a lobby, as a node re-announces it after a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The lobby.
    pub lobby: String,
    /// The display name in use.
    pub name: String,
    /// The update mode the player asked for.
    pub updates: LobbyUpdates,
}

impl Hub {
    /// Connections whose id satisfies `pred`, in ascending order (deterministic).
    pub fn connections_where(&self, pred: impl Fn(ConnId) -> bool) -> Vec<ConnId> {
        let mut conns: Vec<ConnId> = self.conns.keys().copied().filter(|c| pred(*c)).collect();
        conns.sort_unstable();
        conns
    }

    /// The player a connection belongs to (while it is the player's current one).
    pub fn player_of(&self, conn: ConnId) -> Option<&str> {
        let id = self.conns.get(&conn)?;
        (self.player(id)?.conn == conn).then_some(id.as_str())
    }

    /// The lobby, name and update mode of a player who is in a lobby.
    pub fn membership(&self, player_id: &str) -> Option<Membership> {
        let p = self.player(player_id)?;
        Some(Membership {
            lobby: p.lobby.clone()?,
            name: p.name.clone(),
            updates: p.updates,
        })
    }
}
