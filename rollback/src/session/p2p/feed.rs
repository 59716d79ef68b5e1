//! The host side of mid-match spectators on a [`P2PRunner`]: the confirmed-input feed and
//! the latest confirmed state (see [`crate::spectate`]).

use std::fmt::Debug;
use std::hash::Hash;

use ggrs::Frame;

use super::P2PRunner;
use crate::game::Game;
use crate::session::feed::{ConfirmedFeed, ConfirmedStep, DEFAULT_FEED_CAPACITY};

impl<G, A> P2PRunner<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + Debug + 'static,
{
    /// Starts the feed of [`ConfirmedStep`]s for spectators that join mid-match. Call it
    /// before the first frame (a step whose inputs were simulated before the feed started
    /// is lost), then [`drain_confirmed`](Self::drain_confirmed) after every frame.
    pub fn start_confirmed_feed(&mut self) {
        let next = self.core.log.next_frame().max(0);
        let ring = self.core.ring_len();
        self.core.feed = Some(ConfirmedFeed::new(ring, DEFAULT_FEED_CAPACITY, next));
    }

    /// The confirmed steps since the last call, oldest first (empty without a feed).
    pub fn drain_confirmed(&mut self) -> Vec<ConfirmedStep<G::Input>> {
        match &mut self.core.feed {
            Some(feed) => feed.drain().collect(),
            None => Vec::new(),
        }
    }

    /// Confirmed steps the feed lost (queue full, or inputs no longer in the ring).
    pub fn confirmed_feed_lost(&self) -> u64 {
        self.core.feed.as_ref().map_or(0, |f| f.lost)
    }

    /// The latest confirmed frame whose state is still saved, and that state: what a
    /// spectator joining now starts from.
    pub fn latest_confirmed_state(&self) -> Option<(Frame, &G)> {
        let (frame, _) = self.core.log.last()?;
        self.core.state_at(frame).map(|g| (frame, g))
    }
}
