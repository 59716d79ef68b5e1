//! The window and its loop: fixed-step simulation through a [`FramePacer`], input, drawing,
//! screenshots, the report at exit.

use std::path::PathBuf;

use std::time::{Duration, Instant};

use ggrs::InputStatus;
use macroquad::input::{is_key_down, is_key_pressed, is_quit_requested, prevent_quit, KeyCode};
use macroquad::window::next_frame;
use peer::{MatchEvent, MatchInfo, PeerId, TransportStats};
use rollback::fighter::FighterGame;
use rollback::session::{
    FrameOutcome, FramePacer, InputDelay, P2PRunner, RunnerConfig, SyncTestRunner,
};
use rollback::Game;

use super::cli::{Args, Mode};
use super::input::{BotKind, Controller, Layout, HELP};
use super::lobby::{LobbyAction, LobbyKey, LobbyScreen, LobbyScript};
use super::online::{NetCommand, NetEvent, NetHandle};
use super::overlay::{OverlayStats, OverlayView};
use super::render::{scene, SceneView};
use super::report::{FighterReport, FrameTimes, LobbyReport};
use super::{draw, GAME_SEED};
use crate::netmatch::PlayOutcome;

/// SyncTest check distance: every frame rolls back and re-simulates this many frames.
pub const SYNCTEST_DEPTH: usize = 8;

/// How the app ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The report.
    pub report: FighterReport,
    /// Process exit code (0 ok, 1 failed match / error).
    pub code: u8,
    /// Whether the error was already printed to stderr when it happened.
    pub error_printed: bool,
}

/// Errors reported before any window opens.
#[derive(Debug)]
pub enum StartError {
    /// Bad flags or values (exit 2).
    Usage(String),
    /// No display or the window system failed (exit 1).
    Display(String),
}

/// Whether a display server is reachable by name (`DISPLAY` or `WAYLAND_DISPLAY` set).
pub fn display_available() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// Runs the example: checks flags and display, opens the window, plays, returns the exit
/// code after printing the report.
pub fn run(args: Args) -> u8 {
    let mode = match args.mode() {
        Ok(mode) => mode,
        Err(e) => {
            eprintln!("fighter: {e}");
            return 2;
        }
    };
    if let Some(file) = args.replay.clone() {
        return super::replay::run(&args, &file);
    }
    if let (Some(target), Mode::Online { config, .. }) = (args.spectate.clone(), &mode) {
        return super::spectate::run(&args, config.clone(), target);
    }
    if !display_available() {
        eprintln!("fighter: no display: neither DISPLAY nor WAYLAND_DISPLAY is set (run it in a desktop session or under xvfb-run)");
        return 1;
    }
    let json = args.json;
    // miniquad panics if the X server cannot be opened: report it as one line
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        eprintln!("fighter: window system failed: {msg}");
    }));
    let ended = super::run_window("netplay fighter", async move {
        App::new(args, mode).run().await
    });
    let _ = std::panic::take_hook();
    let result = match ended {
        Ok(result) => result,
        Err(super::WindowEnd::Failed) => return 1,
        Err(super::WindowEnd::Closed) => {
            eprintln!("fighter: the window closed before the game ended");
            return 1;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&result.report).unwrap_or_default()
        );
    } else {
        println!("{}", result.report.summary());
    }
    if let (Some(error), false) = (&result.report.error, result.error_printed) {
        eprintln!("fighter: {error}");
    }
    result.code
}

/// The local simulation: the plain game, or the game under ggrs's SyncTest.
enum LocalRunner {
    Plain(Box<FighterGame>),
    SyncTest(Box<SyncTestRunner<FighterGame>>),
}

fn synctest_runner() -> Result<SyncTestRunner<FighterGame>, String> {
    let config = RunnerConfig {
        check_distance: SYNCTEST_DEPTH,
        max_prediction: SYNCTEST_DEPTH + 1,
        // local players: no delay, as in the plain local game
        input_delay: 0,
        ..RunnerConfig::default()
    };
    SyncTestRunner::new(config, FighterGame::new(GAME_SEED), 2).map_err(|e| e.to_string())
}

struct LocalSim {
    runner: LocalRunner,
    sides: [Controller; 2],
    kinds: [Option<BotKind>; 2],
    recording: Option<super::replay::LocalRecording>,
}

impl LocalSim {
    fn new(
        kinds: [Option<BotKind>; 2],
        synctest: bool,
        record: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let runner = if synctest {
            LocalRunner::SyncTest(Box::new(synctest_runner()?))
        } else {
            LocalRunner::Plain(Box::new(FighterGame::new(GAME_SEED)))
        };
        let humans = kinds.iter().filter(|k| k.is_none()).count();
        let side = |i: usize| -> Controller {
            match kinds[i] {
                // bot seeds as in the headless bot matches: 1 and 2
                Some(kind) => Controller::Bot(kind.build(i as u64 + 1)),
                // one human plays with either set of keys; two share the keyboard
                None if humans == 1 => Controller::Human(vec![Layout::LEFT, Layout::RIGHT]),
                None if i == 0 => Controller::Human(vec![Layout::LEFT]),
                None => Controller::Human(vec![Layout::RIGHT]),
            }
        };
        let name = |i: usize| match kinds[i] {
            Some(kind) => format!("P{} {kind:?} bot", i + 1),
            None => format!("P{} human", i + 1),
        };
        let recording = record.map(|path| {
            super::replay::LocalRecording::new(
                &FighterGame::new(GAME_SEED),
                path,
                [name(0), name(1)],
            )
        });
        Ok(Self {
            runner,
            sides: [side(0), side(1)],
            kinds,
            recording,
        })
    }

    fn game(&self) -> &FighterGame {
        match &self.runner {
            LocalRunner::Plain(g) => g,
            LocalRunner::SyncTest(r) => r.game(),
        }
    }

    /// One frame; returns the rollback depth of the step.
    fn step(&mut self, down: &impl Fn(KeyCode) -> bool) -> Result<u32, String> {
        let game = self.game().clone();
        let [a, b] = &mut self.sides;
        let inputs = [a.input(&game, 0, down), b.input(&game, 1, down)];
        match &mut self.runner {
            LocalRunner::Plain(g) => {
                g.step(&[
                    (inputs[0], InputStatus::Confirmed),
                    (inputs[1], InputStatus::Confirmed),
                ]);
                if let Some(rec) = &mut self.recording {
                    rec.frame(g, inputs);
                }
                Ok(0)
            }
            LocalRunner::SyncTest(r) => {
                let before = r.stats().rolled_back_frames;
                r.advance(&inputs).map_err(|e| e.to_string())?;
                if let Some(rec) = &mut self.recording {
                    rec.frame(r.game(), inputs);
                }
                Ok((r.stats().rolled_back_frames - before) as u32)
            }
        }
    }

    fn restart(&mut self) -> Result<(), String> {
        let synctest = matches!(self.runner, LocalRunner::SyncTest(_));
        let record = self.recording.take().map(|r| r.path().to_path_buf());
        *self = Self::new(self.kinds, synctest, record.as_deref())?;
        Ok(())
    }
}

/// An online match in progress.
struct OnlineSim {
    runner: P2PRunner<FighterGame, PeerId>,
    player: usize,
    controller: Controller,
    info: MatchInfo,
    transport: TransportStats,
    started: Instant,
    lag_sum: i64,
    lag_samples: i64,
}

enum Phase {
    /// Local game.
    Local(Box<LocalSim>),
    /// Online, before the match: status lines.
    Connecting,
    /// Online match.
    Online(Box<OnlineSim>),
}

struct App {
    args: Args,
    mode: Mode,
    phase: Phase,
    net: Option<NetHandle>,
    player_id: Option<String>,
    status_lines: Vec<String>,
    show_help: bool,
    show_boxes: bool,
    show_overlay: bool,
    paused: bool,
    leave_prompt: bool,
    overlay: OverlayStats,
    pacer: FramePacer,
    clock: Instant,
    shots: Vec<(u32, PathBuf)>,
    sim_draw_us: Vec<u32>,
    loop_us: Vec<u32>,
    error: Option<String>,
    error_printed: bool,
    link_closed: Option<String>,
    signaling_lost: bool,
    done: bool,
    started: Instant,
    /// Online without a rule: the lobby screen.
    lobby: Option<LobbyScreen>,
    /// `--lobby-script`.
    script: Option<LobbyScript>,
    /// Lobby screen: the report of the last match played.
    last_report: Option<FighterReport>,
}

/// Most frame-time samples kept (about 4.6 hours at 60 fps).
const MAX_SAMPLES: usize = 1 << 20;

impl App {
    fn new(args: Args, mode: Mode) -> Self {
        let clock = Instant::now();
        let mut error = None;
        let mut net = None;
        let phase = match &mode {
            Mode::Local { sides } => {
                match LocalSim::new(*sides, args.synctest, args.record.as_deref()) {
                    Ok(sim) => Phase::Local(Box::new(sim)),
                    Err(e) => {
                        error = Some(e);
                        Phase::Connecting
                    }
                }
            }
            Mode::Online { config, .. } => {
                match NetHandle::start(config.clone()) {
                    Ok(handle) => net = Some(handle),
                    Err(e) => error = Some(format!("network thread: {e}")),
                }
                Phase::Connecting
            }
        };
        let online = matches!(mode, Mode::Online { .. });
        let (lobby, script) = match &mode {
            Mode::Online { config, script, .. } if config.rule.is_none() => {
                (Some(LobbyScreen::new()), script.clone())
            }
            _ => (None, None),
        };
        let mut shots = args.screenshot_at.clone();
        shots.sort_by_key(|(n, _)| *n);
        Self {
            show_boxes: args.boxes,
            show_overlay: args.overlay || online || args.synctest,
            args,
            mode,
            phase,
            net,
            player_id: None,
            status_lines: Vec::new(),
            show_help: false,
            paused: false,
            leave_prompt: false,
            overlay: OverlayStats::default(),
            pacer: FramePacer::new(Duration::ZERO),
            clock,
            shots,
            sim_draw_us: Vec::new(),
            loop_us: Vec::new(),
            done: error.is_some(),
            error,
            error_printed: false,
            link_closed: None,
            signaling_lost: false,
            started: Instant::now(),
            lobby,
            script,
            last_report: None,
        }
    }

    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    async fn run(mut self) -> RunResult {
        prevent_quit();
        let mut last_loop = Instant::now();
        loop {
            let t0 = Instant::now();
            let quit = is_quit_requested();
            if !quit && !self.done {
                self.keys();
                self.update();
            }
            let finishing = quit || self.done;
            let shapes = self.shapes();
            draw::draw(&shapes);
            let sim_draw = t0.elapsed();
            self.take_screenshots(finishing);
            if finishing {
                break;
            }
            if self.sim_draw_us.len() < MAX_SAMPLES {
                self.sim_draw_us.push(micros(sim_draw));
            }
            self.idle();
            // a second network poll per drawn frame: ggrs's ping and acks do not wait for
            // a slow present
            if let Phase::Online(sim) = &mut self.phase {
                sim.runner.poll();
            }
            next_frame().await;
            let now = Instant::now();
            if self.loop_us.len() < MAX_SAMPLES {
                self.loop_us.push(micros(now - last_loop));
            }
            last_loop = now;
        }
        self.finish()
    }

    /// Sleeps until shortly before the next simulation frame (no busy loop when the
    /// display does not block on vsync, as under Xvfb).
    fn idle(&mut self) {
        if self.args.fast && matches!(self.phase, Phase::Local(_)) {
            return;
        }
        let interval = self.interval();
        let wait = self.pacer.time_to_next(self.now(), interval);
        let wait = wait
            .saturating_sub(Duration::from_millis(2))
            .min(Duration::from_millis(10));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn interval(&self) -> Duration {
        match &self.phase {
            Phase::Online(sim) => sim.runner.frame_interval(),
            _ => RunnerConfig::default().frame_duration(),
        }
    }

    fn keys(&mut self) {
        if is_key_pressed(KeyCode::F1) {
            self.show_help = !self.show_help;
        }
        if is_key_pressed(KeyCode::F2) {
            self.show_boxes = !self.show_boxes;
        }
        if is_key_pressed(KeyCode::F3) {
            self.show_overlay = !self.show_overlay;
        }
        if self.lobby.is_some() && !matches!(self.phase, Phase::Online(_)) {
            return self.lobby_keys();
        }
        let online = matches!(self.mode, Mode::Online { .. });
        if is_key_pressed(KeyCode::Escape) {
            if online {
                self.leave_prompt = !self.leave_prompt;
            } else {
                self.paused = !self.paused;
                self.pacer = FramePacer::new(self.now());
            }
        }
        if self.leave_prompt && is_key_pressed(KeyCode::Enter) {
            self.status_lines.push("you left the match".into());
            if self.lobby.is_some() {
                self.back_to_lobby("you left".into());
            } else {
                self.done = true;
            }
        }
        if self.paused && is_key_pressed(KeyCode::Q) {
            self.done = true;
        }
        if let Phase::Local(sim) = &mut self.phase {
            if sim.game().match_winner.is_some()
                && self.args.frames.is_none()
                && is_key_pressed(KeyCode::Enter)
            {
                if let Err(e) = sim.restart() {
                    self.error = Some(e);
                    self.done = true;
                }
                self.overlay = OverlayStats::default();
            }
        }
    }

    fn update(&mut self) {
        let now = self.now();
        let down = |k: KeyCode| is_key_down(k);
        if let Some(net) = &mut self.net {
            let mut events = Vec::new();
            while let Ok(event) = net.events.try_recv() {
                events.push(event);
            }
            for event in events {
                self.net_event(event);
            }
        }
        match &mut self.phase {
            Phase::Connecting => {}
            Phase::Local(sim) => {
                if self.paused {
                    return;
                }
                let frames = if self.args.fast {
                    1
                } else {
                    let interval = RunnerConfig::default().frame_duration();
                    let mut n = 0;
                    while self.pacer.frame_due(now, interval) {
                        n += 1;
                    }
                    n
                };
                for _ in 0..frames {
                    if self.args.frames.is_some_and(|t| sim.game().frame >= t) {
                        break;
                    }
                    match sim.step(&down) {
                        Ok(depth) => self.overlay.record_depth(depth),
                        Err(e) => {
                            self.error = Some(e);
                            self.done = true;
                            return;
                        }
                    }
                }
                if self.args.frames.is_some_and(|t| sim.game().frame >= t) {
                    self.done = true;
                }
            }
            Phase::Online(sim) => {
                let target = self.args.frames.map(|f| f as i32);
                let margin = RunnerConfig::default().max_prediction as i32 + 2;
                let confirmed = sim.runner.confirmed_frame();
                if let Some(target) = target {
                    if confirmed >= target + margin
                        || (confirmed >= target && self.link_closed.is_some())
                    {
                        if self.lobby.is_some() {
                            self.back_to_lobby(format!("{target} frames played"));
                        } else {
                            self.done = true;
                        }
                        return;
                    }
                }
                if self.link_closed.is_some() {
                    self.end_online();
                    return;
                }
                if let Some(reason) = sim.runner.end_reason() {
                    self.link_ended(reason.to_string());
                    return;
                }
                let unattended = matches!(
                    self.mode,
                    Mode::Online {
                        unattended: true,
                        ..
                    }
                );
                if unattended {
                    if let Some(t) = target {
                        let budget = Duration::from_secs(u64::try_from(t).unwrap_or(0) / 10 + 60);
                        if sim.started.elapsed() > budget {
                            self.link_ended(format!("no result after {} s", budget.as_secs()));
                            return;
                        }
                    }
                }
                sim.runner.poll();
                let interval = sim.runner.frame_interval();
                while self.pacer.frame_due(now, interval) {
                    if !sim.runner.is_running() {
                        break;
                    }
                    let game = sim.runner.game().clone();
                    let input = sim.controller.input(&game, sim.player, &down);
                    match sim.runner.advance(input) {
                        Ok(FrameOutcome::Advanced { rollback_depth, .. }) => {
                            self.overlay.record_depth(rollback_depth);
                            sim.lag_sum += i64::from(
                                sim.runner.current_frame() - sim.runner.confirmed_frame(),
                            );
                            sim.lag_samples += 1;
                        }
                        Ok(FrameOutcome::Stalled { .. } | FrameOutcome::Synchronizing) => {}
                        Ok(FrameOutcome::Ended(reason)) => {
                            self.link_ended(reason.to_string());
                            break;
                        }
                        Err(e) => {
                            self.error = Some(format!("rollback: {e}"));
                            self.done = true;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// The online match is over (opponent left, link failed): show it; an unattended run
    /// ends, a human reads the message and closes the window or presses Enter.
    fn end_online(&mut self) {
        let unattended = matches!(
            self.mode,
            Mode::Online {
                unattended: true,
                ..
            }
        );
        if unattended {
            self.done = true;
        } else if self.lobby.is_some() {
            let reason = self.link_closed.clone().unwrap_or_default();
            self.back_to_lobby(reason);
        } else {
            self.leave_prompt = true;
        }
    }

    /// Lobby screen: the keys of this frame (the script's, then the keyboard's).
    fn lobby_keys(&mut self) {
        if self.error.is_some() {
            return;
        }
        let mut keys = Vec::new();
        if let (Some(script), Some(screen)) = (&mut self.script, &self.lobby) {
            keys.extend(script.next_key(screen));
        }
        for (code, key) in [
            (KeyCode::Up, LobbyKey::Up),
            (KeyCode::Down, LobbyKey::Down),
            (KeyCode::Enter, LobbyKey::Enter),
            (KeyCode::KpEnter, LobbyKey::Enter),
            (KeyCode::Y, LobbyKey::Yes),
            (KeyCode::N, LobbyKey::No),
            (KeyCode::Escape, LobbyKey::Escape),
            (KeyCode::Q, LobbyKey::Quit),
        ] {
            if is_key_pressed(code) {
                keys.push(key);
            }
        }
        for key in keys {
            let action = self.lobby.as_mut().and_then(|screen| screen.key(key));
            if let Some(action) = action {
                self.lobby_action(action);
            }
        }
    }

    /// Lobby screen: carry out what the screen decided.
    fn lobby_action(&mut self, action: LobbyAction) {
        let command = match action {
            LobbyAction::Quit => {
                self.done = true;
                return;
            }
            LobbyAction::Challenge(id) => {
                eprintln!("fighter: challenging {id}");
                NetCommand::Challenge(id)
            }
            LobbyAction::CancelChallenge => NetCommand::CancelChallenge,
            LobbyAction::Accept(request) => {
                eprintln!("fighter: accepting {}", request.requester_id);
                NetCommand::Accept(request)
            }
            LobbyAction::Decline(request) => {
                eprintln!("fighter: declining {}", request.requester_id);
                NetCommand::Decline(request)
            }
        };
        let sent = self.net.as_ref().is_some_and(|net| net.command(command));
        if !sent {
            self.error
                .get_or_insert_with(|| "network thread not answering".into());
        }
    }

    /// Lobby screen: the match is over (frames played, opponent gone, we left). Keep its
    /// report and replay, send `end_match`, show why, and join the lobby again.
    fn back_to_lobby(&mut self, reason: String) {
        if let Phase::Online(sim) = &self.phase {
            self.last_report = Some(self.online_report(sim, None));
        }
        if let Some(Err(e)) = self.save_replay() {
            self.error.get_or_insert(e);
        }
        if let Some(net) = &self.net {
            net.command(NetCommand::EndMatch);
        }
        eprintln!("fighter: match over ({reason}); returning to the lobby");
        if let Some(screen) = &mut self.lobby {
            screen.match_over(&reason);
        }
        self.phase = Phase::Connecting;
        self.link_closed = None;
        self.leave_prompt = false;
        self.signaling_lost = false;
    }

    /// The link is gone: say why (window and stderr), once.
    fn link_ended(&mut self, reason: String) {
        if self.link_closed.is_none() {
            eprintln!("fighter: match ended: {reason}");
            self.status_lines.push(format!("match ended: {reason}"));
            self.link_closed = Some(reason);
        }
    }

    fn net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Status(s) => {
                tracing::info!("{s}");
                self.status_lines.push(s);
            }
            NetEvent::InLobby(id) => {
                if let Some(screen) = &mut self.lobby {
                    if screen.connected(&id) {
                        eprintln!(
                            "fighter: back in the lobby as {id} after {} match(es)",
                            screen.matches()
                        );
                    }
                }
                self.player_id = Some(id);
            }
            NetEvent::Lobby(players) => {
                if let Some(screen) = &mut self.lobby {
                    screen.set_players(players);
                }
            }
            NetEvent::Challenged(request) => {
                let action = self.lobby.as_mut().and_then(|s| s.incoming(request));
                if let Some(action) = action {
                    self.lobby_action(action);
                }
            }
            NetEvent::ChallengeCancelled(session_id) => {
                if let Some(screen) = &mut self.lobby {
                    screen.cancelled(&session_id);
                }
            }
            NetEvent::NoMatch(reason) => {
                eprintln!("fighter: no match: {reason}");
                if let Some(screen) = &mut self.lobby {
                    screen.no_match(&reason);
                }
            }
            NetEvent::Matched {
                socket,
                opponent,
                info,
            } => {
                let player = usize::from(matches!(info.role, peer::Role::Answerer));
                let bot = match &self.mode {
                    Mode::Online { bot, .. } => *bot,
                    Mode::Local { .. } => None,
                };
                // bot seeds as in the `bot` example: 1 for player 0, 2 for player 1
                let controller = match bot {
                    Some(kind) => Controller::Bot(kind.build(if player == 0 { 1 } else { 2 })),
                    None => Controller::Human(vec![Layout::LEFT, Layout::RIGHT]),
                };
                match P2PRunner::new(
                    online_runner_config(),
                    FighterGame::new(GAME_SEED),
                    socket,
                    player,
                    opponent,
                ) {
                    Ok(mut runner) => {
                        if self.args.record.is_some() {
                            if let Err(e) = runner.start_recording(Default::default()) {
                                self.error = Some(format!("recording: {e}"));
                            }
                        }
                        self.status_lines.push(format!(
                            "matched with {} ({}) in {:.0} ms: you are player {}",
                            info.opponent.name,
                            info.opponent.id,
                            info.connect_time.as_secs_f64() * 1e3,
                            player + 1
                        ));
                        self.pacer = FramePacer::new(self.now());
                        if let Some(screen) = &mut self.lobby {
                            screen.match_started();
                            self.overlay = OverlayStats::default();
                            self.link_closed = None;
                        }
                        self.phase = Phase::Online(Box::new(OnlineSim {
                            runner,
                            player,
                            controller,
                            info,
                            transport: TransportStats::default(),
                            started: Instant::now(),
                            lag_sum: 0,
                            lag_samples: 0,
                        }));
                    }
                    Err(e) => {
                        self.error = Some(format!("rollback session: {e}"));
                        self.done = true;
                    }
                }
            }
            NetEvent::Transport(stats) => {
                if let Phase::Online(sim) = &mut self.phase {
                    self.overlay.record_ping(sim.runner.stats().network.ping_ms);
                    sim.transport = stats;
                }
            }
            // a match already left (lobby screen): its last events do not matter
            NetEvent::Link(_) if !matches!(self.phase, Phase::Online(_)) => {}
            NetEvent::Link(MatchEvent::SignalingLost) => {
                self.signaling_lost = true;
                self.status_lines.push("signaling connection lost".into());
            }
            NetEvent::Link(MatchEvent::Interrupted) => {
                self.status_lines.push("link down: resuming".into());
            }
            NetEvent::Link(MatchEvent::Resumed { after }) => {
                self.status_lines
                    .push(format!("link resumed after {} ms", after.as_millis()));
            }
            NetEvent::Link(other) => {
                let reason = match other {
                    MatchEvent::Closed(r) => format!("{r:?}"),
                    MatchEvent::Failed(e) => format!("link failed: {e}"),
                    other => format!("{other:?}"),
                };
                self.link_ended(reason);
            }
            NetEvent::Failed(e) => {
                eprintln!("fighter: {e}");
                self.error_printed = self.error.is_none();
                self.error.get_or_insert(e.clone());
                self.status_lines.push(e);
                let unattended = matches!(
                    self.mode,
                    Mode::Online {
                        unattended: true,
                        ..
                    }
                );
                if unattended {
                    self.done = true;
                } else {
                    self.leave_prompt = true;
                }
            }
            NetEvent::Finished(stats) => {
                if let Phase::Online(sim) = &mut self.phase {
                    sim.transport = stats;
                }
            }
        }
    }

    fn game(&self) -> Option<&FighterGame> {
        match &self.phase {
            Phase::Local(sim) => Some(sim.game()),
            Phase::Online(sim) => Some(sim.runner.game()),
            Phase::Connecting => None,
        }
    }

    fn frame(&self) -> u32 {
        self.game().map_or(0, |g| g.frame)
    }

    fn overlay_view(&self) -> OverlayView {
        let base = OverlayView {
            histogram: self.overlay.histogram(),
            rollback_depth: self.overlay.last_depth(),
            jitter_ms: self.overlay.jitter_ms(),
            ..OverlayView::default()
        };
        match &self.phase {
            Phase::Online(sim) => {
                let stats = sim.runner.stats();
                OverlayView {
                    title: format!(
                        "online: player {} vs {}",
                        sim.player + 1,
                        sim.info.opponent.name
                    ),
                    ping_ms: Some(stats.network.ping_ms),
                    frames_ahead: sim.runner.frames_ahead(),
                    input_delay: sim.runner.input_delay(),
                    rollbacks: stats.rollbacks,
                    stalls: stats.stalls,
                    loss_per_mille: Some(sim.transport.loss_per_mille),
                    candidate: sim.transport.local_candidate_type.clone(),
                    desyncs: stats
                        .events
                        .desyncs_detected
                        .max(sim.runner.desync_events().len() as u64),
                    frame: sim.runner.current_frame(),
                    confirmed: sim.runner.confirmed_frame(),
                    ..base
                }
            }
            Phase::Local(sim) => {
                let (title, rollbacks) = match &sim.runner {
                    LocalRunner::SyncTest(r) => (
                        format!("synctest: {SYNCTEST_DEPTH}-frame rollbacks"),
                        r.stats().rollbacks,
                    ),
                    LocalRunner::Plain(_) => ("local: no network".to_owned(), 0),
                };
                let frame = sim.game().frame as i32;
                OverlayView {
                    title,
                    rollbacks,
                    frame,
                    confirmed: frame,
                    ..base
                }
            }
            Phase::Connecting => OverlayView {
                title: "online: connecting".into(),
                ..base
            },
        }
    }

    fn shapes(&self) -> Vec<super::render::Shape> {
        // the lobby screen's list takes the window's middle: no overlay there
        let in_lobby = self.lobby.is_some() && matches!(self.phase, Phase::Connecting);
        let overlay = (self.show_overlay && !in_lobby).then(|| self.overlay_view());
        let names: [String; 2] = match &self.phase {
            Phase::Local(sim) => {
                let name = |i: usize| match sim.kinds[i] {
                    Some(kind) => format!("P{} {kind:?} bot", i + 1),
                    None => format!("P{} human", i + 1),
                };
                [name(0), name(1)]
            }
            Phase::Online(sim) => {
                let me = format!(
                    "P{} {} (you)",
                    sim.player + 1,
                    self.player_id.as_deref().unwrap_or("")
                );
                let them = format!("P{} {}", 2 - sim.player, sim.info.opponent.name);
                if sim.player == 0 {
                    [me, them]
                } else {
                    [them, me]
                }
            }
            Phase::Connecting => [String::new(), String::new()],
        };
        let status = self.status_line();
        let (panel_title, panel_lines) = self.panel();
        let winner_hint = match &self.phase {
            Phase::Local(_) if self.args.frames.is_none() => Some("press Enter to play again"),
            Phase::Online(_) => Some("Esc to leave the match"),
            _ => None,
        };
        let view = SceneView {
            game: self.game(),
            names: [&names[0], &names[1]],
            show_boxes: self.show_boxes,
            show_help: self.show_help,
            overlay: overlay.as_ref(),
            panel: panel_title.as_deref().map(|t| (t, panel_lines.as_slice())),
            winner_hint,
            status: &status,
            help: HELP,
        };
        scene(&view)
    }

    fn panel(&self) -> (Option<String>, Vec<String>) {
        let last = |n: usize| {
            let skip = self.status_lines.len().saturating_sub(n);
            self.status_lines[skip..].to_vec()
        };
        if let Some(e) = &self.error {
            let mut lines = vec![e.clone()];
            lines.push("close the window to quit".into());
            return (Some("Error".into()), lines);
        }
        if self.leave_prompt {
            let mut lines = last(3);
            if self.link_closed.is_some() {
                lines.push("Enter or closing the window quits".into());
                return (Some("Match over".into()), lines);
            }
            lines.push("Enter: leave (sends end_match)   Esc: keep playing".into());
            return (Some("Leave the match?".into()), lines);
        }
        if self.paused {
            return (
                Some("Paused".into()),
                vec!["Esc: resume   Q: quit   F1: keys".into()],
            );
        }
        if let (Some(screen), Phase::Connecting) = (&self.lobby, &self.phase) {
            let (title, lines) = screen.panel();
            return (Some(title), lines);
        }
        if matches!(self.phase, Phase::Connecting) {
            return (Some("Online".into()), last(6));
        }
        (None, Vec::new())
    }

    fn status_line(&self) -> String {
        let mode = match (&self.mode, &self.phase) {
            (Mode::Local { sides }, _) => match sides {
                [None, None] => "two players, one keyboard",
                [None, Some(_)] => "you vs the bot",
                _ => "attract mode: bot vs bot",
            },
            (Mode::Online { .. }, Phase::Connecting) if self.lobby.is_some() => "online · lobby",
            (Mode::Online { .. }, _) => "online",
        };
        let sync = if self.args.synctest {
            " · synctest"
        } else {
            ""
        };
        format!(
            "{mode}{sync} · frame {} · F1 keys · F2 boxes · F3 netcode",
            self.frame()
        )
    }

    fn take_screenshots(&mut self, finishing: bool) {
        let frame = self.frame();
        while let Some((n, _)) = self.shots.first() {
            if *n > frame || self.game().is_none() {
                break;
            }
            let (_, path) = self.shots.remove(0);
            if let Err(e) = draw::screenshot(&path) {
                self.error.get_or_insert(e);
            }
        }
        if finishing {
            if let Some(path) = self.args.screenshot.clone() {
                if let Err(e) = draw::screenshot(&path) {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    fn finish(mut self) -> RunResult {
        // say goodbye to the network (end_match), bounded
        let mut late = Vec::new();
        let final_transport = self
            .net
            .as_mut()
            .and_then(|net| net.finish(|e| late.push(e)));
        for event in late {
            if let NetEvent::Link(MatchEvent::SignalingLost) = event {
                self.signaling_lost = true;
            }
        }
        let frame_times = FrameTimes::from_samples(&self.sim_draw_us, &self.loop_us);
        let seconds = self.started.elapsed().as_secs_f64();
        let target = self.args.frames;
        let mode_name = match &self.mode {
            Mode::Local {
                sides: [Some(_), Some(_)],
            } => "bots",
            Mode::Local {
                sides: [None, None],
            } => "local",
            Mode::Local { .. } => "vs-bot",
            Mode::Online { .. } => "online",
        };
        let replay = self.save_replay();
        let mut report = match &self.phase {
            Phase::Local(sim) => {
                let game = sim.game();
                let stats = match &sim.runner {
                    LocalRunner::SyncTest(r) => Some(r.stats().clone()),
                    LocalRunner::Plain(_) => None,
                };
                let completed = target.is_none_or(|t| game.frame >= t);
                FighterReport::local(mode_name, game, stats.as_ref(), completed, seconds, target)
            }
            Phase::Online(sim) => self.online_report(sim, final_transport),
            Phase::Connecting if self.last_report.is_some() => self
                .last_report
                .clone()
                .unwrap_or_else(|| FighterReport::not_started(mode_name, target, seconds)),
            Phase::Connecting => FighterReport::not_started(mode_name, target, seconds),
        };
        match replay {
            Some(Ok(path)) => report.outcome.replay = Some(path),
            Some(Err(e)) => {
                self.error.get_or_insert(e);
            }
            None => {}
        }
        report.error = self.error.clone();
        report.frame_time_us = frame_times;
        report.lobby = self.lobby.as_ref().map(|screen| LobbyReport {
            matches: screen.matches(),
            returns: screen.returns(),
            in_lobby: screen.is_browsing() && !matches!(self.phase, Phase::Online(_)),
        });
        // an unattended run or one with --frames must play its match; a person who closes
        // the window or leaves has not failed
        // (the lobby screen: only a scripted run with --frames must have played its match)
        let must_complete = match &self.mode {
            Mode::Online {
                unattended: true, ..
            } => true,
            Mode::Online { .. } if self.lobby.is_some() => {
                target.is_some() && self.args.lobby_script.is_some()
            }
            Mode::Online { .. } => target.is_some(),
            Mode::Local { .. } => false,
        };
        let ok =
            report.error.is_none() && report.desyncs == 0 && (report.completed || !must_complete);
        RunResult {
            code: if ok { 0 } else { 1 },
            report,
            error_printed: self.error_printed,
        }
    }
}

impl App {
    /// The report of the online match `sim` (at exit, or when the lobby screen leaves it).
    fn online_report(
        &self,
        sim: &OnlineSim,
        final_transport: Option<TransportStats>,
    ) -> FighterReport {
        let target = self.args.frames;
        let seconds = sim.started.elapsed().as_secs_f64();
        let stats = sim.runner.stats().clone();
        let completed = match target {
            Some(t) => sim.runner.confirmed_frame() >= t as i32,
            None => self.error.is_none(),
        };
        let at = target.map_or(sim.runner.confirmed_frame(), |t| t as i32);
        let checksum = sim
            .runner
            .confirmed_checksums()
            .checksum_at(at)
            .map(|c| format!("{c:032x}"));
        let winner = sim
            .runner
            .state_at(at)
            .map(super::report::winner_name)
            .unwrap_or_else(|| super::report::winner_name(sim.runner.game()));
        let outcome = PlayOutcome {
            replay: None,
            completed,
            ended_early: if completed {
                None
            } else {
                self.link_closed
                    .clone()
                    .or_else(|| Some("window closed".into()))
            },
            frames_simulated: sim.runner.current_frame(),
            checksum,
            ggrs_desyncs: stats.events.desyncs_detected,
            rollbacks: stats.rollbacks,
            rolled_back_frames: stats.rolled_back_frames,
            mean_rollback_depth: stats.mean_rollback_depth(),
            max_rollback_depth: stats.max_rollback_depth,
            stalls: stats.stalls,
            mean_confirm_lag: if sim.lag_samples > 0 {
                sim.lag_sum as f64 / sim.lag_samples as f64
            } else {
                0.0
            },
            ping_ms: stats.network.ping_ms,
            input_delay: stats.input_delay,
            interruptions: stats.interruptions,
            resumed_after_ms: stats.resumed_after_ms.clone(),
            winner,
            seconds,
            signaling_lost: self.signaling_lost,
            transport: final_transport.unwrap_or_else(|| sim.transport.clone()),
            spectators: Default::default(),
        };
        FighterReport::online(
            self.player_id.clone(),
            &sim.info,
            target.unwrap_or(at.max(0) as u32),
            outcome,
        )
    }

    /// `--record`: ends the recording and writes the replay (online: cut at `--frames`).
    fn save_replay(&mut self) -> Option<Result<PathBuf, String>> {
        let target = self.args.frames;
        match &mut self.phase {
            Phase::Local(sim) => {
                let completed = target.is_none_or(|t| sim.game().frame >= t);
                sim.recording.take().map(|r| r.finish(completed))
            }
            Phase::Online(sim) => {
                let path = self.args.record.clone()?;
                let at = target.map(|t| t as i32);
                let reached = at.and_then(|t| sim.runner.confirmed_checksums().checksum_at(t));
                let reason = match (reached, sim.runner.end_reason()) {
                    (Some(_), _) => rollback::replay::EndReason::Completed,
                    (None, Some(_)) => rollback::replay::EndReason::Disconnected,
                    (None, None) => rollback::replay::EndReason::Aborted,
                };
                let replay = sim.runner.take_replay(reason)?;
                let replay = match (at, reached) {
                    (Some(t), Some(c)) => replay.truncated(t as u32, c),
                    _ => replay,
                };
                Some(
                    rollback::replay::write_file(&path, &replay)
                        .map(|()| path.clone())
                        .map_err(|e| format!("writing the replay {}: {e}", path.display())),
                )
            }
            Phase::Connecting => None,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Runner settings of an online match: the input delay tunes itself (`auto`).
fn online_runner_config() -> RunnerConfig {
    let mut config = RunnerConfig::default();
    InputDelay::Auto.configure(&mut config);
    config
}
