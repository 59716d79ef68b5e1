//! Matches over real sockets, on the wall clock: the WebRTC demo path (embedded signal
//! server, two bot peers, the netsim decorator over the peer socket) in both channel modes,
//! and the zero-impairment baselines (ggrs's `UdpNonBlockingSocket` on loopback, our netsim
//! socket, our WebRTC socket), all driven by the rollback crate's `P2PRunner`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ggrs::NonBlockingSocket;
use ggrs::UdpNonBlockingSocket;
use peer::{AcceptRule, ChannelMode, MatchLink, MatchRule, Peer, PeerConfig};
use rollback::bot::{Bot, ReactiveBot};
use rollback::clock::VirtualClock;
use rollback::fighter::FighterGame;
use rollback::netsim::SimNetwork;
use rollback::session::{FrameOutcome, P2PRunner, RunnerConfig};
use serde::Serialize;
use signal::server::{RunningServer, ServerConfig, SignalServer};

use crate::grid::{physical_limit, Cell, MatchFigures};
use crate::netmatch::{play, PlayConfig, PlayOutcome, GAME_SEED};

/// Wall-time limit of one live match beyond its nominal length.
const LIVE_DEADLINE_MARGIN: Duration = Duration::from_secs(60);

/// Result of one live match (both sides pooled).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LiveResult {
    /// What was measured (`webrtc sequenced`, `udp`, ...).
    pub(crate) label: String,
    /// Channel mode, for WebRTC.
    pub(crate) mode: Option<&'static str>,
    /// Impairment, for sample cells.
    pub(crate) cell: Option<Cell>,
    /// Paced at 60 fps (true) or as fast as the link allows.
    pub(crate) realtime: bool,
    /// Frames confirmed and compared.
    pub(crate) frames: u32,
    /// Physical limit of the cell.
    pub(crate) limit: u32,
    /// Pooled figures.
    pub(crate) figures: MatchFigures,
    /// Wall seconds of the match (slower side).
    pub(crate) wall_seconds: f64,
    /// accept → match_started of both peers, ms (WebRTC only).
    pub(crate) accept_to_started_ms: Option<[f64; 2]>,
    /// Packets estimated lost by the receivers (WebRTC only).
    pub(crate) packets_lost: Option<u64>,
    /// Both sides confirmed the target frame with the same checksum.
    pub(crate) checksums_match: bool,
    /// Why the match failed, if it did.
    pub(crate) error: Option<String>,
}

/// One side's counters: (rollbacks, rolled-back frames, max depth, stalls).
type SideCounters = (u64, u64, u32, u64);

struct SideResult {
    counters: SideCounters,
    checksum: Option<u128>,
    ggrs_desyncs: u64,
    seconds: f64,
    completed: bool,
}

fn pooled(
    label: String,
    frames: u32,
    sides: [SideResult; 2],
    realtime: bool,
    cell: Option<Cell>,
    input_delay: usize,
) -> LiveResult {
    let checksums_match = sides.iter().all(|s| s.completed)
        && sides[0].checksum.is_some()
        && sides[0].checksum == sides[1].checksum;
    let desyncs = sides[0].ggrs_desyncs + sides[1].ggrs_desyncs + u64::from(!checksums_match);
    let wall = sides[0].seconds.max(sides[1].seconds);
    LiveResult {
        label,
        mode: None,
        cell,
        realtime,
        frames,
        limit: cell.map_or(0, |c| physical_limit(c.one_way(), input_delay)),
        figures: MatchFigures::from_peers(
            [sides[0].counters, sides[1].counters],
            frames,
            wall,
            desyncs,
        ),
        wall_seconds: wall,
        accept_to_started_ms: None,
        packets_lost: None,
        checksums_match,
        error: None,
    }
}

fn failed(label: String, cell: Option<Cell>, realtime: bool, error: String) -> LiveResult {
    LiveResult {
        label,
        mode: None,
        cell,
        realtime,
        frames: 0,
        limit: 0,
        figures: MatchFigures::default(),
        wall_seconds: 0.0,
        accept_to_started_ms: None,
        packets_lost: None,
        checksums_match: false,
        error: Some(error),
    }
}

/// The embedded signal server of the demo path, with its secret.
pub(crate) struct SignalFixture {
    server: RunningServer,
    secret: String,
    next_pair: u32,
}

impl SignalFixture {
    /// Starts a signal server on 127.0.0.1:0 with a fresh secret.
    pub(crate) async fn start() -> Result<Self, String> {
        let secret = format!(
            "bench-{:032x}",
            u128::from(std::process::id()) << 64
                | u128::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
                )
        );
        let config = ServerConfig::new(secret.clone().into_bytes())
            .with_listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        let server = SignalServer::start(config)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            server,
            secret,
            next_pair: 0,
        })
    }

    /// Stops the server.
    pub(crate) async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// Two fresh bot peers join the lobby; one challenges the other; both links open.
    async fn connect_pair(&mut self, mode: ChannelMode) -> Result<[MatchLink; 2], String> {
        self.next_pair += 1;
        let ids = [
            format!("bench{}a", self.next_pair),
            format!("bench{}b", self.next_pair),
        ];
        let mut peers = Vec::new();
        for id in &ids {
            let token = signal::auth::mint_token(
                self.secret.as_bytes(),
                id,
                Some(id),
                Duration::from_secs(3600),
            )
            .map_err(|e| e.to_string())?;
            let mut config = PeerConfig::loopback(id.clone());
            config.channel = config.channel.with_mode(mode);
            let peer = Peer::connect(&self.server.url(), &token, config)
                .await
                .map_err(|e| e.to_string())?;
            peers.push(peer);
        }
        let (Some(p1), Some(p0)) = (peers.pop(), peers.pop()) else {
            return Err("peers missing".to_owned());
        };
        let (a, b) = tokio::join!(
            p0.start_match(MatchRule::Challenge(ids[1].clone())),
            p1.start_match(MatchRule::Accept(AcceptRule::Any)),
        );
        Ok([a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?])
    }

    /// One match over the real data channel in `mode`, impaired by `cell` (both directions,
    /// netsim decorator on the peer socket), paced at 60 fps when `realtime`.
    pub(crate) async fn webrtc_match(
        &mut self,
        mode: ChannelMode,
        cell: Option<Cell>,
        frames: u32,
        realtime: bool,
        runner: &RunnerConfig,
    ) -> LiveResult {
        let label = format!("webrtc {}", mode.as_str());
        let links = match self.connect_pair(mode).await {
            Ok(links) => links,
            Err(e) => return failed(label, cell, realtime, format!("connect: {e}")),
        };
        let accept_ms = [&links[0], &links[1]].map(|l| l.info().connect_time.as_secs_f64() * 1e3);
        let mut config = PlayConfig::new(frames);
        config.realtime = realtime;
        config.outbound = cell.map_or_else(Default::default, Cell::link);
        config.runner = runner.clone();
        config.deadline = Duration::from_secs_f64(f64::from(frames) / 60.0) + LIVE_DEADLINE_MARGIN;
        let [mut l0, mut l1] = links;
        let mut config1 = config.clone();
        config1.bot_seed = 2;
        let t0 = tokio::spawn(async move {
            let out = play(&mut l0, 0, &config, |_| {}).await;
            l0.finish().await;
            out
        });
        let t1 = tokio::spawn(async move {
            let out = play(&mut l1, 1, &config1, |_| {}).await;
            l1.finish().await;
            out
        });
        let (o0, o1) = tokio::join!(t0, t1);
        let outcome = |o: Result<Result<PlayOutcome, String>, tokio::task::JoinError>| {
            o.map_err(|e| e.to_string()).and_then(|r| r)
        };
        let (o0, o1) = match (outcome(o0), outcome(o1)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return failed(label, cell, realtime, e),
        };
        let lost = o0.transport.packets_lost + o1.transport.packets_lost;
        let early = o0.ended_early.clone().or_else(|| o1.ended_early.clone());
        let mut result = pooled(
            label,
            frames,
            [side_of(&o0), side_of(&o1)],
            realtime,
            cell,
            runner.input_delay,
        );
        result.mode = Some(mode.as_str());
        result.accept_to_started_ms = Some(accept_ms);
        result.packets_lost = Some(lost);
        result.error = early;
        result
    }
}

fn side_of(o: &PlayOutcome) -> SideResult {
    SideResult {
        counters: (
            o.rollbacks,
            o.rolled_back_frames,
            o.max_rollback_depth,
            o.stalls,
        ),
        checksum: o
            .checksum
            .as_deref()
            .and_then(|c| u128::from_str_radix(c, 16).ok()),
        ggrs_desyncs: o.ggrs_desyncs,
        seconds: o.seconds,
        completed: o.completed,
    }
}

/// Plays one side over any socket, unpaced, with the same loop as the demo path
/// (poll, advance with the bot's input; sleep 1 ms when stalled, yield otherwise).
/// `tick` runs before every poll (moves the netsim's clock to wall time).
async fn play_socket<S, A>(
    socket: S,
    player: usize,
    remote: A,
    frames: u32,
    runner: RunnerConfig,
    peer_done: [Arc<AtomicBool>; 2],
    tick: impl Fn(),
) -> Result<SideResult, String>
where
    S: NonBlockingSocket<A> + 'static,
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
{
    let margin = i32::try_from(runner.max_prediction).unwrap_or(8) + 2;
    let mut r = P2PRunner::new(runner, FighterGame::new(GAME_SEED), socket, player, remote)
        .map_err(|e| e.to_string())?;
    let mut bot = ReactiveBot::new(player as u64 + 1);
    let target = i32::try_from(frames).map_err(|e| e.to_string())?;
    let deadline = Duration::from_secs_f64(f64::from(frames) / 60.0) + LIVE_DEADLINE_MARGIN;
    let started = Instant::now();
    let [mine, theirs] = peer_done;
    loop {
        let confirmed = r.confirmed_frame();
        let other_done = theirs.load(Ordering::SeqCst);
        if confirmed >= target + margin || (confirmed >= target && other_done) {
            break;
        }
        if started.elapsed() > deadline || r.is_disconnected() {
            break;
        }
        tick();
        r.poll();
        let mut stalled = !r.is_running();
        if r.is_running() {
            let input = bot.next_input(r.game(), player);
            match r.advance(input).map_err(|e| e.to_string())? {
                FrameOutcome::Advanced { .. } => {}
                _ => stalled = true,
            }
        }
        if stalled {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    mine.store(true, Ordering::SeqCst);
    let s = r.stats();
    Ok(SideResult {
        counters: (
            s.rollbacks,
            s.rolled_back_frames,
            s.max_rollback_depth,
            s.stalls,
        ),
        checksum: r.confirmed_checksums().checksum_at(target),
        ggrs_desyncs: s.events.desyncs_detected,
        seconds: started.elapsed().as_secs_f64(),
        completed: r.confirmed_frame() >= target,
    })
}

/// Runs both sides as tokio tasks and pools them.
async fn run_sides<S, A>(
    label: &str,
    sockets: [(S, A); 2],
    frames: u32,
    runner: &RunnerConfig,
    tick: impl Fn() + Clone + Send + 'static,
) -> LiveResult
where
    S: NonBlockingSocket<A> + 'static,
    A: Clone + PartialEq + Eq + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static,
{
    let done = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let [(s0, remote0), (s1, remote1)] = sockets;
    let d0 = [done[0].clone(), done[1].clone()];
    let d1 = [done[1].clone(), done[0].clone()];
    let (r0, r1, tick1) = (runner.clone(), runner.clone(), tick.clone());
    let t0 = tokio::spawn(play_socket(s0, 0, remote0, frames, r0, d0, tick));
    let t1 = tokio::spawn(play_socket(s1, 1, remote1, frames, r1, d1, tick1));
    let (o0, o1) = tokio::join!(t0, t1);
    let flat = |o: Result<Result<SideResult, String>, tokio::task::JoinError>| {
        o.map_err(|e| e.to_string()).and_then(|r| r)
    };
    match (flat(o0), flat(o1)) {
        (Ok(a), Ok(b)) => pooled(label.to_owned(), frames, [a, b], false, None, 0),
        (Err(e), _) | (_, Err(e)) => failed(label.to_owned(), None, false, e),
    }
}

/// A free UDP port on 127.0.0.1 (ggrs's socket binds 0.0.0.0:<port> and does not say
/// which port it got, so the port is picked here first).
fn free_loopback_port() -> Result<u16, String> {
    let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Baseline: ggrs's own `UdpNonBlockingSocket` on loopback, no impairment, unpaced.
pub(crate) async fn udp_baseline(frames: u32, runner: &RunnerConfig) -> LiveResult {
    let label = "ggrs UdpNonBlockingSocket";
    let bind = || -> Result<(UdpNonBlockingSocket, SocketAddr), String> {
        let port = free_loopback_port()?;
        let socket = UdpNonBlockingSocket::bind_to_port(port).map_err(|e| e.to_string())?;
        Ok((socket, SocketAddr::from(([127, 0, 0, 1], port))))
    };
    let ((s0, a0), (s1, a1)) = match (bind(), bind()) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return failed(label.to_owned(), None, false, e),
    };
    run_sides(label, [(s0, a1), (s1, a0)], frames, runner, || {}).await
}

/// Baseline: our netsim socket with an ideal link, its clock following the wall clock,
/// unpaced (the same driver as the other live baselines).
pub(crate) async fn netsim_wall_baseline(frames: u32, runner: &RunnerConfig) -> LiveResult {
    let clock = VirtualClock::new();
    let net = SimNetwork::new(1, clock.clone());
    let (s0, s1) = (net.endpoint(), net.endpoint());
    let (a0, a1) = (s0.addr(), s1.addr());
    let origin = Instant::now();
    let tick = move || clock.set(origin.elapsed());
    run_sides(
        "netsim socket (wall clock)",
        [(s0, a1), (s1, a0)],
        frames,
        runner,
        tick,
    )
    .await
}
