//! `fighter --server URL --token T --spectate PLAYER`: watch PLAYER's running match in the
//! window.
//!
//! A network thread (tokio) connects and starts the watch with
//! [`crate::spectate::start_watch`], then hands the [`Watch`] to the window loop, which
//! polls a [`Following`] once per 60 Hz tick (the `bot --spectate` loop, one tick at a
//! time: catching up 16 frames per tick, then following at a 6-frame delay) and draws the
//! spectator's state with the fighter's renderer (read-only). When the stream ends it shows
//! the final state for [`HOLD`] and exits: 0 when it reached the players' final frame with
//! their checksum, 1 when the stream failed or ended early (or the window was closed), 2
//! when watching could not start. `--json` prints [`SpectateReport`] (`bot --spectate`'s
//! format).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};

use std::time::{Duration, Instant};

use macroquad::input::{is_key_pressed, is_quit_requested, prevent_quit, KeyCode};
use macroquad::window::next_frame;
use peer::{IceConfig, PeerConfig, Watch};

use super::cli::Args;
use super::draw;
use super::online::{OnlineConfig, FINISH_WAIT};
use super::render::{scene, SceneView};
use super::report::winner_name;
use crate::spectate::{Following, SpectateReport};

/// How long the final state stays on screen after the stream ended.
pub const HOLD: Duration = Duration::from_millis(1500);
/// Most 60 Hz ticks run in one drawn frame (a stalled window does not burst).
const MAX_TICKS_PER_FRAME: u32 = 8;
const TICK: Duration = Duration::from_micros(16_667);

/// What the network thread tells the window.
enum SpecEvent {
    Status(String),
    Watching {
        watch: Box<Watch>,
        player_id: String,
    },
    /// Watching could not start (exit 2).
    Refused(String),
    /// The watch was finished (`end_match` sent); the thread ends.
    Finished,
}

/// The network thread's handle: the events, and the one command (finish, with the watch
/// if the window has it).
struct Net {
    events: Receiver<SpecEvent>,
    finish: tokio::sync::mpsc::Sender<Option<Box<Watch>>>,
}

fn start_net(config: OnlineConfig, target: String) -> std::io::Result<Net> {
    let (tx, events) = std::sync::mpsc::sync_channel(8);
    let (finish, finish_rx) = tokio::sync::mpsc::channel(1);
    std::thread::Builder::new()
        .name("fighter-watch".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.try_send(SpecEvent::Refused(format!("tokio: {e}")));
                    return;
                }
            };
            runtime.block_on(network(config, target, tx, finish_rx));
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
    Ok(Net { events, finish })
}

async fn network(
    config: OnlineConfig,
    target: String,
    tx: SyncSender<SpecEvent>,
    mut finish: tokio::sync::mpsc::Receiver<Option<Box<Watch>>>,
) {
    let mut peer_config = PeerConfig::new(config.name.clone());
    peer_config.ice = if config.loopback {
        IceConfig::loopback()
    } else {
        IceConfig::standard()
    };
    peer_config.ice.relay_only = config.relay_only;
    peer_config.match_timeout = config.match_timeout;
    let _ = tx.try_send(SpecEvent::Status(format!(
        "connecting to {} to watch {target}",
        config.server
    )));
    let start = crate::spectate::start_watch(&config.server, &config.token, peer_config, &target);
    let started = tokio::select! {
        started = start => started,
        _ = finish.recv() => {
            let _ = tx.try_send(SpecEvent::Finished);
            return;
        }
    };
    match started {
        Ok((player_id, watch)) => {
            let _ = tx.try_send(SpecEvent::Watching {
                watch: Box::new(watch),
                player_id,
            });
        }
        Err(why) => {
            let _ = tx.try_send(SpecEvent::Refused(why));
        }
    }
    if let Some(Some(watch)) = finish.recv().await {
        let _ = tokio::time::timeout(FINISH_WAIT / 2, watch.finish()).await;
    }
    let _ = tx.try_send(SpecEvent::Finished);
}

/// The window's state.
struct Viewer {
    target: String,
    status: String,
    watch: Option<Box<Watch>>,
    player_id: String,
    host_id: String,
    session_id: String,
    following: Following,
    started: bool,
    refused: Option<String>,
    ended_at: Option<Instant>,
    catching_up: bool,
    ticks_done: u64,
    tick_origin: Instant,
    show_boxes: bool,
}

impl Viewer {
    fn event(&mut self, event: SpecEvent) {
        match event {
            SpecEvent::Status(text) => self.status = text,
            SpecEvent::Watching { watch, player_id } => {
                let info = watch.info();
                self.host_id = info.opponent.id.clone();
                self.session_id = info.session_id.clone();
                self.player_id = player_id;
                self.watch = Some(watch);
                self.started = true;
                self.following = Following::new();
                self.ticks_done = 0;
                self.tick_origin = Instant::now();
            }
            SpecEvent::Refused(why) => self.refused = Some(why),
            SpecEvent::Finished => {}
        }
    }

    /// Runs the 60 Hz ticks that are due.
    fn update(&mut self) {
        let Some(watch) = self.watch.as_deref_mut() else {
            return;
        };
        if self.ended_at.is_some() {
            return;
        }
        let due = (self.tick_origin.elapsed().as_micros() / TICK.as_micros()) as u64;
        let mut ticks = 0;
        while self.ticks_done < due && ticks < MAX_TICKS_PER_FRAME {
            self.ticks_done += 1;
            ticks += 1;
            let poll = self.following.poll(watch, true);
            self.catching_up = poll.stepped > 1;
            if poll.done {
                self.ended_at = Some(Instant::now());
                return;
            }
        }
        // a slow window skips ticks rather than bursting them later
        self.ticks_done = self.ticks_done.max(due);
    }

    fn draw(&self) {
        let follower = self.following.follower();
        let status = if let Some(why) = &self.refused {
            format!("cannot watch: {why}")
        } else if !self.started {
            self.status.clone()
        } else if !follower.has_joined() {
            format!("SPECTATING {} · waiting for the snapshot", self.host_id)
        } else {
            let state = match (self.ended_at, self.catching_up) {
                (Some(_), _) => "ended",
                (None, true) => "catching up",
                (None, false) => "live",
            };
            format!(
                "SPECTATING {} · frame {} · {state} · F2 boxes · Esc quit",
                self.host_id,
                follower.current_frame()
            )
        };
        let mut lines = Vec::new();
        if self.ended_at.is_some() {
            let outcome = self.following.outcome();
            if let Some(game) = self.following.game() {
                let who = winner_name(game);
                lines.push(match game.match_winner {
                    Some(_) => format!("winner {who}"),
                    None => format!("no winner yet: {who} leads when the players stopped"),
                });
            }
            lines.push(format!(
                "frame {} · checksum {}",
                outcome.frames,
                outcome.checksum.as_deref().unwrap_or("-")
            ));
            if let Some(error) = &outcome.error {
                lines.push(error.clone());
            }
        }
        let title = if self.following.outcome().completed {
            "WATCHED TO THE PLAYERS' LAST FRAME"
        } else {
            "STREAM ENDED EARLY"
        };
        let names = ["P1", "P2"];
        let view = SceneView {
            game: self.following.game(),
            names,
            show_boxes: self.show_boxes,
            panel: self.ended_at.is_some().then_some((title, lines.as_slice())),
            status: &status,
            ..SceneView::default()
        };
        draw::draw(&scene(&view));
    }

    fn report(&self) -> SpectateReport {
        SpectateReport {
            connected: self.started,
            player_id: self.player_id.clone(),
            watching: self.target.clone(),
            host_id: self.host_id.clone(),
            session_id: self.session_id.clone(),
            outcome: self.following.outcome(),
        }
    }
}

/// How the window ended.
enum Ended {
    Report(Box<SpectateReport>),
    Refused(String),
}

/// Runs `fighter --spectate PLAYER` (flags already checked into `config`); the exit code.
pub fn run(args: &Args, config: OnlineConfig, target: String) -> u8 {
    if !super::app::display_available() {
        eprintln!("fighter: no display: neither DISPLAY nor WAYLAND_DISPLAY is set (run it in a desktop session or under xvfb-run)");
        return 1;
    }
    let net = match start_net(config, target.clone()) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("fighter: network thread: {e}");
            return 1;
        }
    };
    let viewer = Viewer {
        target,
        status: "connecting".to_owned(),
        watch: None,
        player_id: String::new(),
        host_id: String::new(),
        session_id: String::new(),
        following: Following::new(),
        started: false,
        refused: None,
        ended_at: None,
        catching_up: false,
        ticks_done: 0,
        tick_origin: Instant::now(),
        show_boxes: args.boxes,
    };
    let mut shots = args.screenshot_at.clone();
    shots.sort_by_key(|(n, _)| *n);
    let screenshots = (args.screenshot.clone(), shots);
    let ended = match super::run_window("netplay fighter", watch(viewer, net, screenshots)) {
        Ok(ended) => ended,
        Err(super::WindowEnd::Failed) => {
            eprintln!("fighter: window system failed");
            return 1;
        }
        Err(super::WindowEnd::Closed) => {
            eprintln!("fighter: the window closed before watching ended");
            return 1;
        }
    };
    match ended {
        Ended::Refused(why) => {
            if args.json {
                println!("{}", serde_json::json!({"connected": false, "error": why}));
            }
            eprintln!("fighter: {why}");
            2
        }
        Ended::Report(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!("{}", report.summary("fighter"));
            }
            u8::from(!report.outcome.completed)
        }
    }
}

/// `--screenshot` (at exit) and `--screenshot-at N:PATH` (sorted by N).
type Screenshots = (Option<PathBuf>, Vec<(u32, PathBuf)>);

async fn watch(mut viewer: Viewer, net: Net, (screenshot, mut shots): Screenshots) -> Ended {
    prevent_quit();
    loop {
        let quit =
            is_quit_requested() || is_key_pressed(KeyCode::Escape) || is_key_pressed(KeyCode::Q);
        if is_key_pressed(KeyCode::F2) {
            viewer.show_boxes = !viewer.show_boxes;
        }
        while let Ok(event) = net.events.try_recv() {
            viewer.event(event);
        }
        viewer.update();
        viewer.draw();
        // `--screenshot-at N:PATH`: the first drawn frame whose state is at frame N or later
        let frame = viewer.following.follower().current_frame();
        while viewer.following.game().is_some()
            && shots
                .first()
                .is_some_and(|(n, _)| i64::from(*n) <= i64::from(frame))
        {
            let (_, path) = shots.remove(0);
            if let Err(e) = draw::screenshot(&path) {
                eprintln!("fighter: screenshot: {e}");
            }
        }
        let held = viewer.ended_at.is_some_and(|t| t.elapsed() >= HOLD);
        if quit || held || viewer.refused.is_some() {
            break;
        }
        next_frame().await;
    }
    if let Some(path) = &screenshot {
        if let Err(e) = draw::screenshot(path) {
            eprintln!("fighter: screenshot: {e}");
        }
    }
    viewer.following.abandon("the window was closed");
    // end_match for the spectator session, bounded: the window may be closing
    let _ = net.finish.try_send(viewer.watch.take());
    let deadline = Instant::now() + FINISH_WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match net.events.recv_timeout(left) {
            Ok(SpecEvent::Finished) | Err(_) => break,
            Ok(_) => {}
        }
    }
    match viewer.refused.take() {
        Some(why) => Ended::Refused(why),
        None => Ended::Report(Box::new(viewer.report())),
    }
}
