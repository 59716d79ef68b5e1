//! [`run_watched`]: a two-player match on the simulator with spectators joining mid-match,
//! all on the virtual clock.
//!
//! The driver is [`crate::botmatch::run_pair`]'s (one virtual tick per player, each
//! scheduled by its runner's [`crate::P2PRunner::frame_interval`]) plus one tick per frame
//! for the spectators. Player `host` runs a [`SpectatorHost`]: after each of its frames
//! the confirmed steps go in, spectators whose join frame has come get the latest
//! confirmed state, and queued messages move into each spectator's [`SimPipe`] (a
//! reliable, ordered, bounded pipe; a spectator that never reads fills it, then its queue
//! fills and it is cut). Each spectator tick reads its pipe into a [`SpectatorFollower`].

use std::time::{Duration, Instant};

use ggrs::Frame;

use super::{
    FollowerConfig, FollowerStats, SpectatorFollower, SpectatorHost, SpectatorHostConfig,
    SpectatorHostStats,
};
use crate::botmatch::{MatchError, PairConfig, VIRTUAL_BUDGET_PER_FRAME};
use crate::clock::VirtualClock;
use crate::game::Game;
use crate::netsim::{SimNetwork, SimPipe};
use crate::session::{P2PRunner, RunnerError, RunnerOptions};
use crate::stats::RollbackStats;

/// Default one-way latency of a spectator's pipe.
pub const DEFAULT_SPECTATOR_LATENCY: Duration = Duration::from_millis(40);
/// Default capacity of a spectator's pipe, in messages (the transport's send buffer).
pub const DEFAULT_PIPE_CAPACITY: usize = 64;

/// One spectator of a [`run_watched`] match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectatorPlan {
    /// Joins once the host reached this frame.
    pub join_at: Frame,
    /// When it starts reading its stream after joining (a spectator still loading
    /// builds a backlog to catch up on); `None`: it never reads (a vanished spectator).
    pub reads_after: Option<Duration>,
}

/// Settings of [`run_watched`].
#[derive(Debug, Clone)]
pub struct WatchedConfig {
    /// The players' match (`cut` and `record_interval` are not used).
    pub pair: PairConfig,
    /// The player that hosts the spectators (0 or 1).
    pub host: usize,
    /// The spectators.
    pub spectators: Vec<SpectatorPlan>,
    /// One-way latency of every spectator pipe.
    pub spectator_latency: Duration,
    /// Capacity of every spectator pipe, in messages.
    pub pipe_capacity: usize,
    /// The host's limits.
    pub host_config: SpectatorHostConfig,
    /// The spectators' settings.
    pub follower: FollowerConfig,
}

impl WatchedConfig {
    /// `pair` watched by `spectators`, with the default host, pipes and followers.
    pub fn new(pair: PairConfig, spectators: Vec<SpectatorPlan>) -> Self {
        Self {
            pair,
            host: 0,
            spectators,
            spectator_latency: DEFAULT_SPECTATOR_LATENCY,
            pipe_capacity: DEFAULT_PIPE_CAPACITY,
            host_config: SpectatorHostConfig::default(),
            follower: FollowerConfig::default(),
        }
    }
}

/// What happened to one spectator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpectatorOutcome {
    /// Whether the host accepted it.
    pub joined: bool,
    /// Whether the host cut it (full queue or a gap).
    pub cut: bool,
    /// Whether it reached the players' final frame.
    pub finished: bool,
    /// Its last frame.
    pub frame: Frame,
    /// Its checksum at that frame.
    pub checksum: Option<u128>,
    /// Why it stopped following, if it failed.
    pub error: Option<String>,
    /// Its figures.
    pub stats: FollowerStats,
}

/// Result of [`run_watched`].
#[derive(Debug, Clone)]
pub struct WatchedOutcome {
    /// Each player's checksum of the final frame.
    pub final_checksums: [Option<u128>; 2],
    /// Each player's statistics when both had confirmed the final frame (the players
    /// keep running after it until the spectators are done).
    pub stats: [RollbackStats; 2],
    /// The spectators, in plan order.
    pub spectators: Vec<SpectatorOutcome>,
    /// The host's spectator counters.
    pub host: SpectatorHostStats,
    /// Steps the host's feed lost.
    pub feed_lost: u64,
    /// Wall time both players spent in `advance` / `poll`.
    pub players_time: Duration,
    /// Wall time the host spent on its spectators (feed, queues, pipes).
    pub host_spectator_time: Duration,
    /// Virtual time elapsed.
    pub virtual_time: Duration,
    /// Wall time elapsed.
    pub wall_time: Duration,
}

struct Watcher<G: Game> {
    plan: SpectatorPlan,
    pipe: SimPipe,
    follower: SpectatorFollower<G>,
    joined: Option<Duration>,
    cut: bool,
    error: Option<String>,
}

impl<G: Game> Watcher<G> {
    fn done(&self) -> bool {
        self.cut
            || self.error.is_some()
            || self.plan.reads_after.is_none()
            || self.follower.is_finished()
    }
}

/// Plays `initial` on two players until both confirmed `cfg.pair.frames` and every
/// reading spectator reached that frame (or failed). `input(player, state)` gives each
/// player's input.
pub fn run_watched<G: Game>(
    cfg: &WatchedConfig,
    initial: G,
    mut input: impl FnMut(usize, &G) -> G::Input,
) -> Result<WatchedOutcome, MatchError> {
    let wall = Instant::now();
    let pair = &cfg.pair;
    let clock = VirtualClock::new();
    let net = SimNetwork::new(pair.seed, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    net.set_link(a0, a1, pair.link)?;
    net.set_link(a1, a0, pair.reverse_link.unwrap_or(pair.link))?;
    let options = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let mut runners = [
        P2PRunner::with_options(pair.runner.clone(), initial.clone(), s0, 0, a1, options())?,
        P2PRunner::with_options(pair.runner.clone(), initial, s1, 1, a0, options())?,
    ];
    let host_idx = cfg.host.min(1);
    runners[host_idx].start_confirmed_feed();
    let mut host = SpectatorHost::<usize>::new(cfg.host_config);
    let mut watchers: Vec<Watcher<G>> = cfg
        .spectators
        .iter()
        .map(|plan| Watcher {
            plan: *plan,
            pipe: SimPipe::new(clock.clone(), cfg.spectator_latency, cfg.pipe_capacity),
            follower: SpectatorFollower::new(cfg.follower),
            joined: None,
            cut: false,
            error: None,
        })
        .collect();
    let frame = pair.runner.frame_duration();
    let target = pair.frames as Frame;
    let budget = VIRTUAL_BUDGET_PER_FRAME * pair.frames + Duration::from_secs(60);
    let mut next_due = [Duration::ZERO, frame / 3];
    let mut spectator_due = frame / 2;
    let (mut players_time, mut host_time) = (Duration::ZERO, Duration::ZERO);
    let mut stats_at_end = None;
    loop {
        let player_next = next_due[0].min(next_due[1]);
        if spectator_due < player_next {
            clock.set(spectator_due);
            spectator_due += frame;
            let now = clock.now();
            for w in watchers
                .iter_mut()
                .filter(|w| w.joined.is_some() && !w.done())
            {
                if let Err(e) = follow(w, now) {
                    w.error = Some(e.to_string());
                }
            }
        } else {
            let i = usize::from(next_due[1] < next_due[0]);
            clock.set(next_due[i]);
            let r = &mut runners[i];
            let t = Instant::now();
            if r.is_running() {
                let inp = input(i, r.game());
                r.advance(inp)?;
            } else {
                r.poll();
            }
            players_time += t.elapsed();
            next_due[i] += r.frame_interval();
            if i == host_idx {
                let t = Instant::now();
                serve(
                    &mut runners[i],
                    &mut host,
                    &mut watchers,
                    target,
                    clock.now(),
                )?;
                host_time += t.elapsed();
            }
        }
        let players_done = runners
            .iter()
            .all(|r| r.confirmed_checksums().next_frame() > target);
        if players_done && stats_at_end.is_none() {
            stats_at_end = Some([runners[0].stats().clone(), runners[1].stats().clone()]);
        }
        if players_done && host.has_ended() && watchers.iter().all(Watcher::done) {
            break;
        }
        if let Some(reason) = runners.iter().find_map(P2PRunner::end_reason) {
            return Err(
                RunnerError::InvalidConfig(format!("a player ended early: {reason:?}")).into(),
            );
        }
        if clock.now() > budget {
            return Err(MatchError::Stuck {
                confirmed: [runners[0].confirmed_frame(), runners[1].confirmed_frame()],
                virtual_seconds: clock.now().as_secs_f64(),
            });
        }
    }
    Ok(WatchedOutcome {
        final_checksums: [
            runners[0].confirmed_checksums().checksum_at(target),
            runners[1].confirmed_checksums().checksum_at(target),
        ],
        stats: stats_at_end
            .unwrap_or_else(|| [runners[0].stats().clone(), runners[1].stats().clone()]),
        spectators: watchers
            .iter()
            .map(|w| SpectatorOutcome {
                joined: w.joined.is_some(),
                cut: w.cut,
                finished: w.follower.is_finished(),
                frame: w.follower.current_frame(),
                checksum: w.follower.checksum(),
                error: w.error.clone(),
                stats: *w.follower.stats(),
            })
            .collect(),
        host: *host.stats(),
        feed_lost: runners[host_idx].confirmed_feed_lost(),
        players_time,
        host_spectator_time: host_time,
        virtual_time: clock.now(),
        wall_time: wall.elapsed(),
    })
}

/// One spectator tick: read everything due, then simulate.
fn follow<G: Game>(w: &mut Watcher<G>, now: Duration) -> Result<(), super::SpectateError> {
    match (w.plan.reads_after, w.joined) {
        (Some(after), Some(joined)) if now >= joined + after => {}
        _ => return Ok(()),
    }
    while let Some(bytes) = w.pipe.recv() {
        w.follower.handle(&bytes)?;
    }
    w.follower.tick()?;
    Ok(())
}

/// The host's work after one of its frames.
fn serve<G: Game, A>(
    runner: &mut P2PRunner<G, A>,
    host: &mut SpectatorHost<usize>,
    watchers: &mut [Watcher<G>],
    target: Frame,
    now: Duration,
) -> Result<(), MatchError>
where
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
{
    let spectate = |e: super::SpectateError| RunnerError::InvalidConfig(e.to_string());
    host.push_steps(runner.drain_confirmed())
        .map_err(spectate)?;
    if !host.has_ended() {
        if let Some(ck) = runner.confirmed_checksums().checksum_at(target) {
            host.end::<G::Input>(target, ck).map_err(spectate)?;
        }
    }
    for (k, w) in watchers.iter_mut().enumerate() {
        if w.joined.is_none() && !w.cut && runner.current_frame() >= w.plan.join_at {
            if let Some((frame, state)) = runner.latest_confirmed_state() {
                match host.join(k, frame, state) {
                    Ok(()) => w.joined = Some(now),
                    Err(e) => {
                        w.error = Some(e.to_string());
                        w.cut = true;
                    }
                }
            }
        }
        host.transmit(&k, |bytes| w.pipe.try_send(bytes));
    }
    for k in host.take_cut() {
        if let Some(w) = watchers.get_mut(k) {
            w.cut = true;
        }
    }
    Ok(())
}
