//! The per-connection coalescing buffer of lobby messages (sans-IO; the server keeps one per
//! connection, the tests drive it directly).
//!
//! A full `lobby_update` replaces everything unsent: it is newer than all of it. Deltas queue
//! behind it up to a bound; a connection that falls further behind gets the lobby's current
//! full update instead of the queue, at the version of the newest delta, so a client never
//! sees a gap.

use std::collections::VecDeque;

/// Default bound of queued deltas per connection before a resync replaces them.
pub const DEFAULT_LOBBY_DELTA_BACKLOG: usize = 8;

/// What a push did to the unsent messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued behind what was there.
    Queued,
    /// Replaced unsent messages (coalesced) with the new full update.
    Replaced,
    /// The delta did not fit: everything unsent was replaced by a full update (resync).
    Resynced,
}

/// Unsent lobby messages of one connection. `T` is what the driver writes (for example the
/// serialized frame).
#[derive(Debug)]
pub struct LobbyMailbox<T> {
    pending: VecDeque<T>,
    max_deltas: usize,
}

impl<T> LobbyMailbox<T> {
    /// An empty mailbox that queues at most `max_deltas` deltas (at least 1).
    pub fn new(max_deltas: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            max_deltas: max_deltas.max(1),
        }
    }

    /// A full update: replaces everything unsent.
    pub fn push_full(&mut self, update: T) -> Pushed {
        let replaced = !self.pending.is_empty();
        self.pending.clear();
        self.pending.push_back(update);
        if replaced {
            Pushed::Replaced
        } else {
            Pushed::Queued
        }
    }

    /// A delta: queued when it fits, otherwise everything unsent is replaced by `resync()`,
    /// the lobby's full update at the delta's version. A `resync` of `None` (the lobby is
    /// gone) just clears the queue.
    pub fn push_delta(&mut self, delta: T, resync: impl FnOnce() -> Option<T>) -> Pushed {
        if self.pending.len() < self.max_deltas {
            self.pending.push_back(delta);
            return Pushed::Queued;
        }
        self.pending.clear();
        if let Some(full) = resync() {
            self.pending.push_back(full);
        }
        Pushed::Resynced
    }

    /// Takes everything unsent, oldest first.
    pub fn take(&mut self) -> VecDeque<T> {
        std::mem::take(&mut self.pending)
    }

    /// Number of unsent messages.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is unsent.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_update_replaces_everything_unsent() {
        let mut m = LobbyMailbox::new(4);
        assert_eq!(m.push_delta("d1", || None), Pushed::Queued);
        assert_eq!(m.push_full("s2"), Pushed::Replaced);
        assert_eq!(m.push_delta("d3", || None), Pushed::Queued);
        assert_eq!(m.take(), ["s2", "d3"]);
        assert!(m.is_empty());
        assert_eq!(m.push_full("s4"), Pushed::Queued);
    }

    #[test]
    fn deltas_beyond_the_bound_become_one_resync() {
        let mut m = LobbyMailbox::new(2);
        m.push_delta("d1", || None);
        m.push_delta("d2", || None);
        assert_eq!(m.push_delta("d3", || Some("s3")), Pushed::Resynced);
        assert_eq!(m.len(), 1);
        assert_eq!(m.push_delta("d4", || None), Pushed::Queued);
        assert_eq!(m.take(), ["s3", "d4"]);
    }
}
