//! Spectators of an online reference-fighter match, over `peer`'s spectator links.
//!
//! - Host side: [`SpectatorFeed`] runs rollback's [`SpectatorHost`] from the runner's
//!   confirmed feed and hands each spectator's messages to its [`SpectatorSender`]
//!   (non-blocking: a spectator whose sender is full keeps its messages in the host's
//!   bounded queue, and is cut when that is full). [`crate::netmatch::play`] drives it
//!   once per frame when [`crate::netmatch::PlayConfig::spectators`] is on.
//! - Watcher side: [`follow`] reads a [`Watch`] into a [`SpectatorFollower`] until the
//!   players' final frame, and reports its frame and checksum ([`WatchOutcome`]).
//!
//! ```no_run
//! # async fn example(peer: peer::Peer) -> Result<(), Box<dyn std::error::Error>> {
//! // the watcher: the live match of player "alice", to its end, as fast as it streams
//! let mut watch = peer.watch("alice").await?;
//! let outcome = netplay::spectate::follow(&mut watch, false, std::time::Duration::from_secs(600)).await;
//! watch.finish().await;
//! println!("frame {} checksum {:?}", outcome.frames, outcome.checksum);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ggrs::Frame;
use peer::machine::SpectatorKey;
use peer::{MatchLink, SpectatorEvent, SpectatorSender, Watch, WatchRead};
use rollback::fighter::{FighterGame, FighterInput};
use rollback::session::P2PRunner;
use rollback::spectate::{
    FollowerConfig, FollowerStats, SpectatorFollower, SpectatorHost, SpectatorHostConfig,
};

/// What the host side did, for the report (`spectators` in `bot --json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpectatorServeStats {
    /// Spectators whose stream started (snapshot queued).
    pub joined: u64,
    /// Spectators whose link closed (they left, or were cut).
    pub left: u64,
    /// Spectators cut because their queue was full (a watcher not reading).
    pub cut: u64,
    /// Spectators refused (no snapshot possible, 8 already).
    pub refused: u64,
    /// Messages handed to the spectator links.
    pub sent_messages: u64,
    /// Most messages queued for one spectator.
    pub max_queue: u64,
}

/// The host side of a match's spectators (see the module docs).
#[derive(Debug)]
pub struct SpectatorFeed {
    host: SpectatorHost<SpectatorKey>,
    senders: BTreeMap<SpectatorKey, SpectatorSender>,
    /// Joined links waiting for the first confirmed state.
    waiting: Vec<SpectatorSender>,
    stats: SpectatorServeStats,
}

impl Default for SpectatorFeed {
    fn default() -> Self {
        Self::new(SpectatorHostConfig::default())
    }
}

impl SpectatorFeed {
    /// A feed with no spectators (start the runner's confirmed feed too:
    /// [`P2PRunner::start_confirmed_feed`]).
    pub fn new(config: SpectatorHostConfig) -> Self {
        Self {
            host: SpectatorHost::new(config),
            senders: BTreeMap::new(),
            waiting: Vec::new(),
            stats: SpectatorServeStats::default(),
        }
    }

    /// Figures so far.
    pub fn stats(&self) -> SpectatorServeStats {
        let host = self.host.stats();
        SpectatorServeStats {
            sent_messages: host.sent_messages,
            max_queue: host.max_queue,
            ..self.stats
        }
    }

    /// Spectators streamed to now.
    pub fn spectators(&self) -> usize {
        self.senders.len()
    }

    /// One frame of the host's work: new and gone spectators, the newly confirmed steps,
    /// the end once `target` is confirmed, and as much of every queue as the links take.
    pub fn serve<A>(
        &mut self,
        link: &mut MatchLink,
        runner: &mut P2PRunner<FighterGame, A>,
        target: Frame,
    ) where
        A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
    {
        while let Some(event) = link.try_spectator_event() {
            match event {
                SpectatorEvent::Joined(sender) => self.waiting.push(sender),
                SpectatorEvent::Left { key, watcher_id } => {
                    tracing::info!(%watcher_id, "spectator left");
                    self.stats.left = self.stats.left.saturating_add(1);
                    self.host.leave(&key);
                    self.senders.remove(&key);
                    self.waiting.retain(|s| s.key() != key);
                }
            }
        }
        if let Err(error) = self.host.push_steps(runner.drain_confirmed()) {
            tracing::warn!(%error, "spectator stream");
        }
        if !self.waiting.is_empty() {
            if let Some((frame, state)) = runner.latest_confirmed_state() {
                for sender in std::mem::take(&mut self.waiting) {
                    match self.host.join(sender.key(), frame, state) {
                        Ok(()) => {
                            tracing::info!(
                                watcher = sender.watcher_id(),
                                frame,
                                "spectator joined"
                            );
                            self.stats.joined = self.stats.joined.saturating_add(1);
                            self.senders.insert(sender.key(), sender);
                        }
                        Err(error) => {
                            tracing::info!(%error, "spectator refused");
                            self.stats.refused = self.stats.refused.saturating_add(1);
                        }
                    }
                }
            }
        }
        if !self.host.has_ended() {
            if let Some(checksum) = runner.confirmed_checksums().checksum_at(target) {
                if let Err(error) = self.host.end::<FighterInput>(target, checksum) {
                    tracing::warn!(%error, "spectator stream end");
                }
            }
        }
        self.transmit();
    }

    fn transmit(&mut self) {
        for (key, sender) in &self.senders {
            self.host.transmit(key, |bytes| sender.try_send(bytes));
        }
        for key in self.host.take_cut() {
            tracing::info!(key, "spectator cut: it does not keep up");
            self.stats.cut = self.stats.cut.saturating_add(1);
            self.senders.remove(&key);
        }
    }

    /// After the match: hands the spectators what is left (at most `max`), then drops the
    /// senders, which ends their streams (the links flush and close).
    pub async fn finish(&mut self, max: Duration) {
        let until = Instant::now() + max;
        loop {
            self.transmit();
            let drained = self.senders.keys().all(|k| self.host.is_drained(k));
            if drained || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.senders.clear();
        self.waiting.clear();
    }
}

/// How a watch went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WatchOutcome {
    /// Whether it reached the players' final frame with their checksum.
    pub completed: bool,
    /// The frame the spectator's state is at (the players' final frame when completed).
    pub frames: Frame,
    /// Checksum of the spectator's state at `frames` (hex, as the players' report).
    pub checksum: Option<String>,
    /// The frame the snapshot was taken at (where the spectator joined).
    pub joined_at: Frame,
    /// Why it stopped early.
    pub error: Option<String>,
    /// Wall time, s.
    pub seconds: f64,
    /// The follower's figures.
    pub follower: FollowerStats,
}

/// One spectator following a [`Watch`], one poll at a time: the loop of [`follow`], for
/// callers that drive it themselves (the `fighter` window polls it once per 60 Hz tick and
/// draws [`Following::game`]).
///
/// ```no_run
/// # fn example(mut watch: peer::Watch) {
/// let mut following = netplay::spectate::Following::new();
/// loop {
///     // once per 60 Hz tick
///     let poll = following.poll(&mut watch, true);
///     if let Some(game) = following.game() {
///         let _ = game.frame; // draw it (read-only)
///     }
///     if poll.done {
///         break;
///     }
///     std::thread::sleep(std::time::Duration::from_micros(16_667));
/// }
/// let outcome = following.outcome();
/// println!("{} at frame {}: {:?}", outcome.completed, outcome.frames, outcome.checksum);
/// # }
/// ```
#[derive(Debug)]
pub struct Following {
    follower: SpectatorFollower<FighterGame>,
    started: Instant,
    stream_over: Option<String>,
    stopped: Option<Option<String>>,
}

/// What one [`Following::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowPoll {
    /// Messages read from the watch.
    pub received: usize,
    /// Frames the spectator's state advanced.
    pub stepped: u32,
    /// Whether following is over (reached the final frame, or failed): see
    /// [`Following::outcome`].
    pub done: bool,
}

impl Default for Following {
    fn default() -> Self {
        Self::new()
    }
}

impl Following {
    /// A spectator with no state yet (it starts at the stream's snapshot).
    pub fn new() -> Self {
        Self {
            follower: SpectatorFollower::new(FollowerConfig::default()),
            started: Instant::now(),
            stream_over: None,
            stopped: None,
        }
    }

    /// Reads every message `watch` has, then ticks: once when `realtime` (one 60 fps
    /// frame: up to 16 catch-up steps, then a 6-frame delay), else until nothing is left.
    pub fn poll(&mut self, watch: &mut Watch, realtime: bool) -> FollowPoll {
        self.poll_from(|| watch.try_recv(), realtime)
    }

    /// [`poll`](Self::poll) reading from `next` (the watch's `try_recv`).
    fn poll_from(&mut self, mut next: impl FnMut() -> WatchRead, realtime: bool) -> FollowPoll {
        let mut poll = FollowPoll {
            received: 0,
            stepped: 0,
            done: self.stopped.is_some(),
        };
        if poll.done {
            return poll;
        }
        loop {
            match next() {
                WatchRead::Message(bytes) => {
                    poll.received += 1;
                    if let Err(error) = self.follower.handle(&bytes) {
                        return self.stop(poll, Some(error.to_string()));
                    }
                }
                WatchRead::Empty => break,
                WatchRead::Ended(event) => {
                    self.stream_over.get_or_insert_with(|| format!("{event:?}"));
                    break;
                }
            }
        }
        loop {
            match self.follower.tick() {
                Ok(0) => break,
                Ok(n) => poll.stepped = poll.stepped.saturating_add(n),
                Err(error) => return self.stop(poll, Some(error.to_string())),
            }
            if realtime {
                break;
            }
        }
        if self.follower.is_finished() {
            return self.stop(poll, None);
        }
        if let Some(over) = &self.stream_over {
            // a spectator behind the stream (a slow machine, a window drawing below 60 fps)
            // still has the rest of the match: it follows it to the end while it advances
            let follows_on = self.follower.end().is_some() && poll.stepped > 0;
            if !follows_on {
                let why = format!("the stream ended before the final frame: {over}");
                return self.stop(poll, Some(why));
            }
        }
        poll
    }

    fn stop(&mut self, mut poll: FollowPoll, error: Option<String>) -> FollowPoll {
        self.stopped = Some(error);
        poll.done = true;
        poll
    }

    /// Ends following early (a deadline, the window closed): `why` becomes the error.
    pub fn abandon(&mut self, why: &str) {
        if self.stopped.is_none() {
            self.stopped = Some(Some(why.to_owned()));
        }
    }

    /// The spectator (its state, frame, figures); read-only.
    pub fn follower(&self) -> &SpectatorFollower<FighterGame> {
        &self.follower
    }

    /// The spectator's state, once the snapshot arrived.
    pub fn game(&self) -> Option<&FighterGame> {
        self.follower.game()
    }

    /// How it went so far (final once [`FollowPoll::done`]).
    pub fn outcome(&self) -> WatchOutcome {
        let error = match &self.stopped {
            Some(error) => error.clone(),
            None => Some("still following".to_owned()),
        };
        outcome(&self.follower, self.started, error)
    }
}

/// Follows `watch` into a spectator of the reference fighter until the players' final
/// frame, the end of the stream, or `deadline`. `realtime`: one tick per 60 fps frame
/// (catching up 16 steps per tick, then following at a 6-frame delay); otherwise as fast
/// as the stream comes.
pub async fn follow(watch: &mut Watch, realtime: bool, deadline: Duration) -> WatchOutcome {
    let mut following = Following::new();
    let tick_every = Duration::from_micros(16_667);
    let mut next_tick = tokio::time::Instant::now();
    loop {
        let poll = following.poll(watch, realtime);
        if poll.done {
            break;
        }
        if following.started.elapsed() > deadline {
            following.abandon("deadline");
            break;
        }
        if realtime {
            next_tick += tick_every;
            tokio::time::sleep_until(next_tick).await;
        } else if poll.received == 0 && poll.stepped == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    following.outcome()
}

fn outcome(
    follower: &SpectatorFollower<FighterGame>,
    started: Instant,
    error: Option<String>,
) -> WatchOutcome {
    WatchOutcome {
        completed: error.is_none() && follower.is_finished(),
        frames: follower.current_frame(),
        checksum: follower.checksum().map(|c| format!("{c:032x}")),
        joined_at: follower.stats().joined_at,
        error,
        seconds: started.elapsed().as_secs_f64(),
        follower: *follower.stats(),
    }
}

/// What a watcher prints with `--json` (`bot --spectate`, `fighter --spectate`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SpectateReport {
    /// Whether watching started.
    pub connected: bool,
    /// Our player id.
    pub player_id: String,
    /// The player whose match was watched.
    pub watching: String,
    /// The player streaming to us.
    pub host_id: String,
    /// The spectator session.
    pub session_id: String,
    /// How the watch went (`completed`, `frames`, `checksum`, ...).
    #[serde(flatten)]
    pub outcome: WatchOutcome,
}

impl SpectateReport {
    /// The report's one-line human summary, e.g. `bot carol: watched alice to frame 3600,
    /// checksum …`, with `program` as the first word.
    pub fn summary(&self, program: &str) -> String {
        format!(
            "{program} {}: watched {} to frame {}, checksum {}{}",
            self.player_id,
            self.watching,
            self.outcome.frames,
            self.outcome.checksum.as_deref().unwrap_or("-"),
            self.outcome
                .error
                .as_deref()
                .map(|e| format!(", stopped: {e}"))
                .unwrap_or_default()
        )
    }
}

/// Connects to the signal server and starts watching `target`'s match: our player id and
/// the [`Watch`], or why watching could not start (a refusal in the user's terms: no such
/// player, not in a match; or the connection's error).
pub async fn start_watch(
    server: &str,
    token: &str,
    config: peer::PeerConfig,
    target: &str,
) -> Result<(String, Watch), String> {
    let peer = peer::Peer::connect(server, token, config)
        .await
        .map_err(|e| e.to_string())?;
    let player_id = peer.player_id().to_owned();
    let watch = peer
        .watch(target)
        .await
        .map_err(|e| match peer::spectate::watch_refusal(&e) {
            Some(why) => format!("cannot watch {target}: {why} ({e})"),
            None => e.to_string(),
        })?;
    Ok((player_id, watch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ggrs::InputStatus;
    use peer::{CloseReason, MatchEvent};
    use rollback::session::ConfirmedStep;
    use rollback::spectate::SpectatorHostConfig;
    use rollback::Game;

    /// What a host sends one spectator who joined at frame 0 of a `frames`-frame match
    /// (snapshot, steps, and the end when `ended`), in order.
    fn stream(frames: Frame, ended: bool) -> Vec<Vec<u8>> {
        let mut game = FighterGame::new(7);
        let mut host = SpectatorHost::new(SpectatorHostConfig {
            queue_messages: 10_000,
            ..SpectatorHostConfig::default()
        });
        host.join(1u8, 0, &game).expect("join");
        for frame in 0..frames {
            let inputs = vec![FighterInput::new(frame as u8 & 7), FighterInput::new(3)];
            let confirmed: Vec<_> = inputs
                .iter()
                .map(|i| (*i, InputStatus::Confirmed))
                .collect();
            game.step(&confirmed);
            let step = ConfirmedStep {
                frame,
                inputs,
                checksum: game.checksum(),
            };
            host.push_steps([step]).expect("steps");
        }
        if ended {
            host.end::<FighterInput>(frames, game.checksum())
                .expect("end");
        }
        let mut out = Vec::new();
        host.transmit(&1, |bytes| {
            out.push(bytes.to_vec());
            true
        });
        out
    }

    /// Polls in real time (one tick per poll) a watch that delivers `messages` and then
    /// ends, all before the first poll: a spectator far behind when the host closed.
    fn follow_closed_stream(messages: Vec<Vec<u8>>) -> WatchOutcome {
        let mut queue: std::collections::VecDeque<_> = messages.into();
        let mut next = move || match queue.pop_front() {
            Some(bytes) => WatchRead::Message(bytes.into()),
            None => WatchRead::Ended(MatchEvent::Closed(CloseReason::ChannelClosed)),
        };
        let mut following = Following::new();
        for _ in 0..1_000 {
            if following.poll_from(&mut next, true).done {
                break;
            }
        }
        following.outcome()
    }

    #[test]
    fn a_spectator_behind_a_closed_stream_still_plays_it_to_the_final_frame() {
        let outcome = follow_closed_stream(stream(300, true));
        assert!(outcome.completed, "{outcome:?}");
        assert_eq!(outcome.frames, 300);
        assert_eq!(outcome.error, None);
    }

    #[test]
    fn a_stream_closed_without_its_end_is_an_error() {
        let outcome = follow_closed_stream(stream(300, false));
        assert!(!outcome.completed, "{outcome:?}");
        let error = outcome.error.expect("an error");
        assert!(error.contains("ended before the final frame"), "{error}");
    }
}
