//! Bot matches between two [`P2PRunner`]s on a [`SimNetwork`], in virtual time.
//!
//! [`run_pair`] is the generic driver (any [`Game`], any input function);
//! [`run_match`] plays the fighter with two [`Bot`]s and returns a [`MatchReport`].
//!
//! The driver keeps one virtual tick per peer: at each tick it sets the virtual clock,
//! polls the runner (packets whose delivery time has passed arrive), advances one frame if
//! running, and schedules the peer's next tick [`P2PRunner::frame_interval`] later. Ticks
//! continue while a peer is stalled, so in-flight packets keep arriving and the runner's
//! retransmission timer (on the same virtual clock) fires. Confirmed-frame checksums of
//! both peers are compared as soon as both have them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use thiserror::Error;

use crate::bot::{Bot, RandomBot, ReactiveBot, ScriptedBot};
use crate::clock::VirtualClock;
use crate::desync;
use crate::fighter::{FighterConfig, FighterGame, Winner};
use crate::game::Game;
use crate::netsim::{LinkConditions, LinkStats, NetsimError, SimNetwork};
use crate::replay::{RecordSettings, Replay};
use crate::session::{EndReason, P2PRunner, RunnerConfig, RunnerError, RunnerOptions};
use crate::stats::{physical_limit_depth, RollbackStats};

mod report;
pub use report::{LinkReport, MatchReport, PeerReport};

/// Default match length in frames (one minute at 60 fps).
pub const DEFAULT_MATCH_FRAMES: u32 = 3600;
/// ggrs disconnect timeout used on the virtual clock (wall clock; set high on purpose).
pub const VIRTUAL_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Virtual-time budget per frame before a match is aborted as stuck.
pub const VIRTUAL_BUDGET_PER_FRAME: Duration = Duration::from_millis(200);

/// Errors of a simulated match.
#[derive(Debug, Error)]
pub enum MatchError {
    /// Runner failure.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// Bad link conditions.
    #[error(transparent)]
    Netsim(#[from] NetsimError),
    /// The match did not finish within its virtual-time budget.
    #[error("match stuck: confirmed frames {confirmed:?} after {virtual_seconds:.1} virtual s")]
    Stuck {
        /// Confirmed frame of each peer.
        confirmed: [i32; 2],
        /// Virtual time elapsed.
        virtual_seconds: f64,
    },
    /// Writing the desync diff failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Settings of a generic simulated pair.
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// Frames to confirm on both peers.
    pub frames: u32,
    /// Conditions from peer 0 to peer 1.
    pub link: LinkConditions,
    /// Conditions from peer 1 to peer 0 (default: same as `link`).
    pub reverse_link: Option<LinkConditions>,
    /// Runner settings for both peers.
    pub runner: RunnerConfig,
    /// Seed of the network (and of the tick offset).
    pub seed: u64,
    /// Where to write the diff of the first desync.
    pub diff_dir: Option<PathBuf>,
    /// Record both peers' replays with this checksum interval (`None`: no recording).
    /// At the first desync both recordings also get the described state of that frame.
    pub record_interval: Option<u32>,
    /// Cut both directions of the link for a while (virtual time), then restore it.
    pub cut: Option<LinkCut>,
}

/// A cut of all traffic between the two peers, on the virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCut {
    /// When the cut starts (virtual time since the start of the match).
    pub at: Duration,
    /// How long nothing gets through.
    pub duration: Duration,
}

/// The first confirmed frame whose checksums differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesyncInfo {
    /// Frame.
    pub frame: i32,
    /// Peer 0's checksum (hex).
    pub checksum_p0: String,
    /// Peer 1's checksum (hex).
    pub checksum_p1: String,
    /// Diff file, if one was written.
    pub diff_file: Option<PathBuf>,
}

/// Result of [`run_pair`].
#[derive(Debug, Clone)]
pub struct PairOutcome<G: Game> {
    /// Frames compared.
    pub frames: u32,
    /// Confirmed frames whose checksums differ.
    pub desyncs: u64,
    /// The first of them.
    pub first_desync: Option<DesyncInfo>,
    /// Desyncs reported by ggrs's own detection (both peers).
    pub ggrs_desyncs: u64,
    /// Checksum of frame `frames` on each peer.
    pub final_checksums: [Option<u128>; 2],
    /// Confirmed state at frame `frames` on each peer (if still in the ring).
    pub final_states: [Option<G>; 2],
    /// Statistics of each peer.
    pub stats: [RollbackStats; 2],
    /// Measured link statistics (0→1, 1→0).
    pub links: [LinkStats; 2],
    /// Virtual time elapsed.
    pub virtual_time: Duration,
    /// Wall time elapsed.
    pub wall_time: Duration,
    /// Each peer's replay, when [`PairConfig::record_interval`] is set.
    pub replays: [Option<Replay<G::Input>>; 2],
    /// The first peer whose runner ended the match early, and why.
    pub ended_early: Option<(usize, EndReason)>,
}

/// Plays `initial` on two peers over a simulated link until both confirmed `frames`.
/// `input(player, state)` gives each peer's local input from the state it sees.
pub fn run_pair<G: Game>(
    cfg: &PairConfig,
    initial: G,
    mut input: impl FnMut(usize, &G) -> G::Input,
) -> Result<PairOutcome<G>, MatchError> {
    let wall = Instant::now();
    let clock = VirtualClock::new();
    let net = SimNetwork::new(cfg.seed, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    net.set_link(a0, a1, cfg.link)?;
    net.set_link(a1, a0, cfg.reverse_link.unwrap_or(cfg.link))?;
    let options = || RunnerOptions {
        clock: Some(clock.shared()),
        ..RunnerOptions::default()
    };
    let mut runners = [
        P2PRunner::with_options(cfg.runner.clone(), initial.clone(), s0, 0, a1, options())?,
        P2PRunner::with_options(cfg.runner.clone(), initial, s1, 1, a0, options())?,
    ];
    if let Some(interval) = cfg.record_interval {
        for r in &mut runners {
            r.start_recording(RecordSettings {
                checksum_interval: interval,
                seed: cfg.seed,
                player_names: vec!["p0".into(), "p1".into()],
                match_id: format!("sim-{}", cfg.seed),
            })?;
        }
    }
    let frame = cfg.runner.frame_duration();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7469_636b);
    let offset = Duration::from_nanos(rng.gen_range(0..frame.as_nanos().max(1) as u64));
    let mut next_due = [Duration::ZERO, offset];
    let target = cfg.frames as i32;
    let budget = VIRTUAL_BUDGET_PER_FRAME * cfg.frames + Duration::from_secs(60);
    let mut compared = 0i32;
    let mut desyncs = 0u64;
    let mut first_desync = None;
    let mut ended_early = None;
    let mut cut_applied = false;
    loop {
        let i = usize::from(next_due[1] < next_due[0]);
        clock.set(next_due[i]);
        if let Some(cut) = cfg.cut {
            let inside = clock.now() >= cut.at && clock.now() < cut.at + cut.duration;
            if inside != cut_applied {
                apply_cut(&net, [a0, a1], cfg, inside)?;
                cut_applied = inside;
            }
        }
        let r = &mut runners[i];
        if r.is_running() {
            // advance() polls the network itself
            let inp = input(i, r.game());
            r.advance(inp)?;
        } else {
            r.poll();
        }
        next_due[i] += r.frame_interval();
        compare(
            &mut runners,
            &mut compared,
            &mut desyncs,
            &mut first_desync,
            cfg,
        )?;
        let done = runners
            .iter()
            .all(|r| r.confirmed_checksums().next_frame() > target);
        if done && compared > target {
            break;
        }
        if let Some(reason) = runners[i].end_reason() {
            ended_early = Some((i, reason));
            break;
        }
        if clock.now() > budget {
            return Err(MatchError::Stuck {
                confirmed: [runners[0].confirmed_frame(), runners[1].confirmed_frame()],
                virtual_seconds: clock.now().as_secs_f64(),
            });
        }
    }
    let state = |r: &P2PRunner<G, _>| r.state_at(target).cloned();
    let end = match (&first_desync, &ended_early) {
        (Some(d), _) => crate::replay::EndReason::Desync {
            frame: u32::try_from(d.frame).unwrap_or(0),
        },
        (None, Some(_)) => crate::replay::EndReason::Disconnected,
        (None, None) => crate::replay::EndReason::Completed,
    };
    let mut replays = [None, None];
    for (slot, r) in replays.iter_mut().zip(runners.iter_mut()) {
        let final_checksum = r.confirmed_checksums().checksum_at(target);
        *slot = r.take_replay(end).map(|replay| {
            // only where the final checksum is known
            match final_checksum.or_else(|| replay.checksum_at(cfg.frames)) {
                Some(c) => replay.truncated(cfg.frames, c),
                None => replay,
            }
        });
    }
    Ok(PairOutcome {
        frames: cfg.frames,
        desyncs,
        first_desync,
        ggrs_desyncs: runners.iter().map(|r| r.desync_events().len() as u64).sum(),
        final_checksums: [
            runners[0].confirmed_checksums().checksum_at(target),
            runners[1].confirmed_checksums().checksum_at(target),
        ],
        final_states: [state(&runners[0]), state(&runners[1])],
        stats: [runners[0].stats().clone(), runners[1].stats().clone()],
        links: [net.link_stats(a0, a1), net.link_stats(a1, a0)],
        virtual_time: clock.now(),
        wall_time: wall.elapsed(),
        replays,
        ended_early,
    })
}

/// Cuts (`cut`) or restores both directions of the pair's link.
fn apply_cut(
    net: &SimNetwork,
    [a0, a1]: [crate::netsim::SimAddr; 2],
    cfg: &PairConfig,
    cut: bool,
) -> Result<(), NetsimError> {
    let dead = |c: LinkConditions| LinkConditions { loss: 1.0, ..c };
    let forward = cfg.link;
    let reverse = cfg.reverse_link.unwrap_or(cfg.link);
    if cut {
        tracing::info!("netsim: link cut");
        net.set_link(a0, a1, dead(forward))?;
        net.set_link(a1, a0, dead(reverse))
    } else {
        tracing::info!("netsim: link restored");
        net.set_link(a0, a1, forward)?;
        net.set_link(a1, a0, reverse)
    }
}

fn compare<G: Game, A>(
    runners: &mut [P2PRunner<G, A>; 2],
    compared: &mut i32,
    desyncs: &mut u64,
    first: &mut Option<DesyncInfo>,
    cfg: &PairConfig,
) -> Result<(), MatchError>
where
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + fmt::Debug + 'static,
{
    let [r0, r1] = runners;
    #[allow(clippy::while_let_loop)]
    while let (Some(c0), Some(c1)) = (
        r0.confirmed_checksums().checksum_at(*compared),
        r1.confirmed_checksums().checksum_at(*compared),
    ) {
        if c0 != c1 {
            *desyncs += 1;
            if first.is_none() {
                let diff_file = match (
                    &cfg.diff_dir,
                    r0.state_at(*compared),
                    r1.state_at(*compared),
                ) {
                    (Some(dir), Some(s0), Some(s1)) => Some(desync::write_diff(
                        dir,
                        *compared,
                        ("peer0", s0),
                        ("peer1", s1),
                    )?),
                    _ => None,
                };
                tracing::error!(frame = *compared, "confirmed checksums differ");
                r0.note_recorded_state(*compared);
                r1.note_recorded_state(*compared);
                *first = Some(DesyncInfo {
                    frame: *compared,
                    checksum_p0: format!("{c0:032x}"),
                    checksum_p1: format!("{c1:032x}"),
                    diff_file,
                });
            }
        }
        *compared += 1;
    }
    Ok(())
}

/// Which bot plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BotKind {
    /// [`ReactiveBot`].
    Ai,
    /// [`RandomBot`].
    Random,
    /// [`ScriptedBot::routine`].
    Scripted,
}

impl FromStr for BotKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ai" | "reactive" => Ok(Self::Ai),
            "random" => Ok(Self::Random),
            "scripted" | "script" => Ok(Self::Scripted),
            other => Err(format!(
                "unknown bot '{other}' (expected ai, random or scripted)"
            )),
        }
    }
}

impl fmt::Display for BotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ai => "ai",
            Self::Random => "random",
            Self::Scripted => "scripted",
        })
    }
}

/// A bot of the given kind.
pub fn make_bot(kind: BotKind, seed: u64) -> Box<dyn Bot> {
    match kind {
        BotKind::Ai => Box::new(ReactiveBot::new(seed)),
        BotKind::Random => Box::new(RandomBot::new(seed)),
        BotKind::Scripted => Box::new(ScriptedBot::routine(seed)),
    }
}

/// Settings of a fighter bot match.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    /// Frames to play (and confirm).
    pub frames: u32,
    /// Link conditions, both directions.
    pub link: LinkConditions,
    /// Input delay (with `auto_input_delay`: the fallback when nothing was measured).
    pub input_delay: usize,
    /// Pick the delay at sync from the measured RTT ([`crate::session::InputDelay::Auto`]).
    pub auto_input_delay: bool,
    /// Prediction window.
    pub max_prediction: usize,
    /// Seed for the network, the bots and the game's PRNG.
    pub seed: u64,
    /// Bot of each player.
    pub bots: [BotKind; 2],
    /// ggrs desync-detection interval.
    pub desync_interval: u32,
    /// Game rules.
    pub fighter: FighterConfig,
    /// Where to write the first desync's diff.
    pub diff_dir: Option<PathBuf>,
    /// Record both peers' replays with this checksum interval (`None`: off); they end up
    /// in [`MatchReport::replays`].
    pub record_interval: Option<u32>,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            frames: DEFAULT_MATCH_FRAMES,
            link: LinkConditions::ideal(),
            input_delay: crate::session::DEFAULT_INPUT_DELAY,
            auto_input_delay: false,
            max_prediction: crate::session::DEFAULT_MAX_PREDICTION,
            seed: 1,
            bots: [BotKind::Ai, BotKind::Random],
            desync_interval: crate::session::DEFAULT_DESYNC_INTERVAL,
            fighter: FighterConfig::default(),
            diff_dir: None,
            record_interval: None,
        }
    }
}

impl MatchConfig {
    /// The runner settings for virtual time (high wall-clock disconnect timeout).
    pub fn runner_config(&self) -> RunnerConfig {
        RunnerConfig {
            input_delay: self.input_delay,
            auto_input_delay: self.auto_input_delay,
            max_prediction: self.max_prediction,
            desync_interval: self.desync_interval,
            disconnect_timeout: VIRTUAL_DISCONNECT_TIMEOUT,
            disconnect_notify: VIRTUAL_DISCONNECT_TIMEOUT / 2,
            ..RunnerConfig::default()
        }
    }
}

/// Plays one fighter match between two bots on the simulated network.
pub fn run_match(cfg: &MatchConfig) -> Result<MatchReport, MatchError> {
    let pair = PairConfig {
        frames: cfg.frames,
        link: cfg.link,
        reverse_link: None,
        runner: cfg.runner_config(),
        seed: cfg.seed,
        diff_dir: cfg.diff_dir.clone(),
        record_interval: cfg.record_interval,
        cut: None,
    };
    let mut bots = [
        make_bot(cfg.bots[0], cfg.seed.wrapping_mul(31).wrapping_add(1)),
        make_bot(cfg.bots[1], cfg.seed.wrapping_mul(31).wrapping_add(2)),
    ];
    let game = FighterGame::with_config(cfg.fighter, cfg.seed);
    let out = run_pair(&pair, game, |i, g| bots[i].next_input(g, i))?;
    let checksums_match = out.desyncs == 0
        && out.final_checksums[0].is_some()
        && out.final_checksums[0] == out.final_checksums[1];
    let final_state = out.final_states[0].as_ref();
    let winner = match final_state.map(FighterGame::leader) {
        Some(Winner::Player(p)) => format!("p{p}"),
        Some(Winner::Draw) => "draw".to_owned(),
        None => "unknown".to_owned(),
    };
    let peer = |i: usize| PeerReport {
        player: i,
        bot: cfg.bots[i],
        rollbacks: out.stats[i].rollbacks,
        rolled_back_frames: out.stats[i].rolled_back_frames,
        mean_rollback_depth: out.stats[i].mean_rollback_depth(),
        max_rollback_depth: out.stats[i].max_rollback_depth,
        stalls: out.stats[i].stalls,
        final_checksum: out.final_checksums[i].map_or_else(String::new, |c| format!("{c:032x}")),
        stats: out.stats[i].clone(),
    };
    let virtual_seconds = out.virtual_time.as_secs_f64();
    let wall_seconds = out.wall_time.as_secs_f64();
    let peers = [peer(0), peer(1)];
    Ok(MatchReport {
        seed: cfg.seed,
        frames: cfg.frames,
        desyncs: out.desyncs,
        ggrs_desyncs: out.ggrs_desyncs,
        checksums_match,
        first_desync: out.first_desync,
        physical_limit_depth: physical_limit_depth(
            cfg.link.latency,
            out.stats[0].input_delay,
            crate::session::DEFAULT_FPS,
        ),
        latency_ms: cfg.link.latency.as_secs_f64() * 1e3,
        jitter_ms: cfg.link.jitter.as_secs_f64() * 1e3,
        loss: cfg.link.loss,
        input_delay: out.stats[0].input_delay,
        max_prediction: cfg.max_prediction,
        virtual_seconds,
        wall_seconds,
        realtime_factor: if wall_seconds > 0.0 {
            virtual_seconds / wall_seconds
        } else {
            0.0
        },
        winner,
        wins: final_state.map_or([0, 0], |g| g.wins),
        mean_rollback_depth: (peers[0].mean_rollback_depth + peers[1].mean_rollback_depth) / 2.0,
        links: [
            LinkReport::from(&out.links[0]),
            LinkReport::from(&out.links[1]),
        ],
        peers,
        replays: out.replays,
        replay: None,
        replay_p1: None,
    })
}
