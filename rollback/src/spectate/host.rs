//! [`SpectatorHost`]: the player side of mid-match spectators (sans-IO).
//!
//! The host encodes each confirmed step once, keeps a short history of them, and appends
//! it to every spectator's bounded queue. The driver moves queued messages into each
//! spectator's transport with [`SpectatorHost::transmit`], which stops at the first
//! message the transport refuses (its send buffer is full). A queue that would grow past
//! [`SpectatorHostConfig::queue_messages`] cuts that spectator: it is removed, counted in
//! [`SpectatorHostStats::cut_slow`], and reported by [`SpectatorHost::take_cut`] so the
//! driver closes its transport. Nothing here ever blocks or slows the players.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use ggrs::Frame;
use serde::{de::DeserializeOwned, Serialize};

use super::snapshot::StateSnapshot;
use super::wire::SpectatorMessage;
use super::SpectateError;
use crate::game::Game;
use crate::session::ConfirmedStep;

/// Default maximum number of spectators per match.
pub const DEFAULT_MAX_SPECTATORS: usize = 8;
/// Default bound of one spectator's queue, in messages (about 4 s of steps at 60 fps).
pub const DEFAULT_QUEUE_MESSAGES: usize = 256;
/// Default number of recent steps kept for spectators that join from an older snapshot.
pub const DEFAULT_HISTORY_FRAMES: usize = 256;

/// Limits of a [`SpectatorHost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectatorHostConfig {
    /// Spectators at once ([`DEFAULT_MAX_SPECTATORS`]).
    pub max_spectators: usize,
    /// Messages one spectator's queue holds before it is cut ([`DEFAULT_QUEUE_MESSAGES`]).
    pub queue_messages: usize,
    /// Recent steps kept ([`DEFAULT_HISTORY_FRAMES`]).
    pub history_frames: usize,
}

impl Default for SpectatorHostConfig {
    fn default() -> Self {
        Self {
            max_spectators: DEFAULT_MAX_SPECTATORS,
            queue_messages: DEFAULT_QUEUE_MESSAGES,
            history_frames: DEFAULT_HISTORY_FRAMES,
        }
    }
}

/// Counters of a [`SpectatorHost`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpectatorHostStats {
    /// Spectators that joined.
    pub joined: u64,
    /// Joins refused (full, duplicate, no snapshot).
    pub refused: u64,
    /// Spectators cut because their queue was full.
    pub cut_slow: u64,
    /// Spectators cut because the feed had a gap.
    pub cut_gap: u64,
    /// Messages handed to transports.
    pub sent_messages: u64,
    /// Bytes handed to transports.
    pub sent_bytes: u64,
    /// Most messages one queue held.
    pub max_queue: u64,
}

/// One spectator's queue.
#[derive(Debug)]
struct Watcher {
    queue: VecDeque<Arc<[u8]>>,
}

/// The host of a match's spectators (see the module docs). `K` names a spectator (the
/// driver's key, e.g. a session id).
#[derive(Debug)]
pub struct SpectatorHost<K> {
    config: SpectatorHostConfig,
    history: VecDeque<(Frame, Arc<[u8]>)>,
    /// The next step frame expected from the feed.
    next_frame: Option<Frame>,
    end: Option<Arc<[u8]>>,
    watchers: BTreeMap<K, Watcher>,
    cut: Vec<K>,
    stats: SpectatorHostStats,
}

impl<K: Ord + Clone> SpectatorHost<K> {
    /// A host with no spectators.
    pub fn new(config: SpectatorHostConfig) -> Self {
        Self {
            config,
            history: VecDeque::new(),
            next_frame: None,
            end: None,
            watchers: BTreeMap::new(),
            cut: Vec::new(),
            stats: SpectatorHostStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &SpectatorHostStats {
        &self.stats
    }

    /// Spectators watching now.
    pub fn spectators(&self) -> usize {
        self.watchers.len()
    }

    /// Whether `key` is watching.
    pub fn is_watching(&self, key: &K) -> bool {
        self.watchers.contains_key(key)
    }

    /// Adds spectator `key`, starting from `state` at confirmed `frame` (normally
    /// [`crate::P2PRunner::latest_confirmed_state`]): its queue gets the snapshot, the
    /// confirmed steps since `frame`, and the end if the match already ended.
    pub fn join<G: Game>(&mut self, key: K, frame: Frame, state: &G) -> Result<(), SpectateError>
    where
        G::Input: Serialize + DeserializeOwned,
    {
        let refused = |host: &mut Self, e| {
            host.stats.refused = host.stats.refused.saturating_add(1);
            Err(e)
        };
        if self.watchers.len() >= self.config.max_spectators {
            return refused(self, SpectateError::Full(self.config.max_spectators));
        }
        if self.watchers.contains_key(&key) {
            return refused(self, SpectateError::Duplicate);
        }
        // the steps from `frame` on must all be here
        let first_kept = self.history.front().map(|(f, _)| *f);
        let covered = match (self.next_frame, first_kept) {
            (None, _) => true,
            (Some(next), _) if frame >= next => true,
            (Some(_), Some(first)) => frame >= first,
            (Some(_), None) => false,
        };
        if !covered {
            return refused(self, SpectateError::SnapshotTooOld(frame));
        }
        let snapshot = match StateSnapshot::of(frame, state) {
            Ok(s) => s,
            Err(e) => return refused(self, e),
        };
        let bytes = SpectatorMessage::<G::Input>::Snapshot(snapshot).encode()?;
        let mut queue = VecDeque::with_capacity(self.config.queue_messages.min(64));
        queue.push_back(Arc::from(bytes));
        queue.extend(
            self.history
                .iter()
                .filter(|(f, _)| *f >= frame)
                .map(|(_, b)| b.clone()),
        );
        queue.extend(self.end.clone());
        self.watchers.insert(key, Watcher { queue });
        self.stats.joined = self.stats.joined.saturating_add(1);
        Ok(())
    }

    /// Removes spectator `key` (it left or its transport closed).
    pub fn leave(&mut self, key: &K) {
        self.watchers.remove(key);
    }

    /// Appends the confirmed steps drained from the runner
    /// ([`crate::P2PRunner::drain_confirmed`]) to the history and to every queue.
    pub fn push_steps<I: Serialize + DeserializeOwned + Clone>(
        &mut self,
        steps: impl IntoIterator<Item = ConfirmedStep<I>>,
    ) -> Result<(), SpectateError> {
        for step in steps {
            let frame = step.frame;
            if let Some(next) = self.next_frame {
                if frame < next {
                    continue; // already sent
                }
                if frame > next {
                    // a step was lost: nobody can follow across the gap
                    self.history.clear();
                    let keys: Vec<K> = self.watchers.keys().cloned().collect();
                    self.stats.cut_gap = self.stats.cut_gap.saturating_add(keys.len() as u64);
                    self.watchers.clear();
                    self.cut.extend(keys);
                }
            }
            self.next_frame = Some(frame + 1);
            let bytes: Arc<[u8]> = Arc::from(SpectatorMessage::Step(step).encode()?);
            self.history.push_back((frame, bytes.clone()));
            while self.history.len() > self.config.history_frames {
                self.history.pop_front();
            }
            self.enqueue(&bytes);
        }
        Ok(())
    }

    /// The match ended at `frame` with `checksum`: every spectator (and any that joins
    /// later) gets the end after the steps up to it.
    pub fn end<I: Serialize + DeserializeOwned>(
        &mut self,
        frame: Frame,
        checksum: u128,
    ) -> Result<(), SpectateError> {
        if self.end.is_some() {
            return Ok(());
        }
        let frame = u32::try_from(frame).map_err(|_| SpectateError::BadFrame(frame))?;
        let bytes: Arc<[u8]> = Arc::from(SpectatorMessage::<I>::End { frame, checksum }.encode()?);
        self.end = Some(bytes.clone());
        self.enqueue(&bytes);
        Ok(())
    }

    /// Whether [`end`](Self::end) was called.
    pub fn has_ended(&self) -> bool {
        self.end.is_some()
    }

    fn enqueue(&mut self, bytes: &Arc<[u8]>) {
        let limit = self.config.queue_messages.max(1);
        let mut cut = Vec::new();
        for (key, w) in &mut self.watchers {
            if w.queue.len() >= limit {
                cut.push(key.clone());
                continue;
            }
            w.queue.push_back(bytes.clone());
            self.stats.max_queue = self.stats.max_queue.max(w.queue.len() as u64);
        }
        for key in cut {
            self.watchers.remove(&key);
            self.stats.cut_slow = self.stats.cut_slow.saturating_add(1);
            tracing::info!("spectator cut: its queue is full");
            self.cut.push(key);
        }
    }

    /// Hands `key`'s queued messages to `send` in order, until `send` returns `false`
    /// (the transport is full: the message stays queued). Returns the messages sent.
    pub fn transmit(&mut self, key: &K, mut send: impl FnMut(&[u8]) -> bool) -> usize {
        let Some(w) = self.watchers.get_mut(key) else {
            return 0;
        };
        let mut sent = 0;
        while let Some(msg) = w.queue.front() {
            if !send(msg) {
                break;
            }
            self.stats.sent_messages = self.stats.sent_messages.saturating_add(1);
            self.stats.sent_bytes = self.stats.sent_bytes.saturating_add(msg.len() as u64);
            w.queue.pop_front();
            sent += 1;
        }
        sent
    }

    /// Whether `key` has nothing left to send.
    pub fn is_drained(&self, key: &K) -> bool {
        self.watchers.get(key).is_none_or(|w| w.queue.is_empty())
    }

    /// Spectators cut since the last call (close their transports).
    pub fn take_cut(&mut self) -> Vec<K> {
        std::mem::take(&mut self.cut)
    }
}
