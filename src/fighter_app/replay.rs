//! `fighter --replay FILE`: watch a replay in the window, and `fighter --record PATH`'s
//! recorder for the local modes.
//!
//! Playback is [`rollback::replay::Playback`] (loaded once: snapshots every 5 s, every
//! recorded checksum checked) driven by a [`rollback::replay::PlaybackControl`] (pause,
//! single step, 0.25x to 4x). Keys: Space pause, `.` one frame (pauses), Left / Right
//! seek 10 s, Up / Down speed, Home restart, F2 boxes, Esc or Q quit. The status line is
//! the overlay: frame, speed, and the last recorded checksum with whether it matched.

use std::path::{Path, PathBuf};

use std::time::Instant;

use macroquad::input::{is_key_pressed, is_quit_requested, prevent_quit, KeyCode};
use macroquad::window::next_frame;
use rollback::fighter::{FighterGame, FighterInput};
use rollback::replay::{
    self, EndReason, Playback, PlaybackControl, RecordSettings, ReplayRecorder,
};
use rollback::Game;
use serde::Serialize;

use super::cli::Args;
use super::draw;
use super::input::HELP;
use super::render::{scene, SceneView};

/// Seek step of the Left / Right keys, seconds.
pub const SEEK_SECONDS: i32 = 10;

/// Records a local match (`fighter --record PATH` in the local modes).
pub struct LocalRecording {
    recorder: ReplayRecorder<FighterInput>,
    path: PathBuf,
}

impl LocalRecording {
    /// Starts recording `game` (at frame 0) into `path`.
    pub fn new(game: &FighterGame, path: &Path, names: [String; 2]) -> Self {
        let mut recorder = ReplayRecorder::for_game(
            game,
            2,
            0,
            rollback::session::DEFAULT_FPS,
            RecordSettings {
                seed: super::GAME_SEED,
                player_names: names.to_vec(),
                ..RecordSettings::default()
            },
        );
        recorder.record_frame(0, game.checksum(), &[]);
        Self {
            recorder,
            path: path.to_path_buf(),
        }
    }

    /// Records one frame: `inputs` led into `game` (the state after the step).
    pub fn frame(&mut self, game: &FighterGame, inputs: [FighterInput; 2]) {
        self.recorder
            .record_frame(game.frame, game.checksum(), &inputs);
    }

    /// The file the replay goes to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the replay; returns its path.
    pub fn finish(self, completed: bool) -> Result<PathBuf, String> {
        let reason = if completed {
            EndReason::Completed
        } else {
            EndReason::Aborted
        };
        replay::write_file(&self.path, &self.recorder.finish(reason))
            .map_err(|e| format!("writing the replay {}: {e}", self.path.display()))?;
        Ok(self.path)
    }
}

/// What `fighter --replay` prints at exit.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The replay file.
    pub file: PathBuf,
    /// Frames in the replay.
    pub frames: u32,
    /// The frame shown last.
    pub frame: u32,
    /// Recorded checksums checked on load.
    pub checksums_checked: usize,
    /// Those that did not match.
    pub checksum_mismatches: usize,
    /// Checksum of the state shown last.
    pub checksum: String,
}

/// The playback window's state.
struct Viewer {
    playback: Playback<FighterGame>,
    control: PlaybackControl,
    names: [String; 2],
    show_boxes: bool,
    show_help: bool,
    last_tick: Instant,
    stop_at: Option<u32>,
    fast: bool,
}

impl Viewer {
    fn keys(&mut self) -> bool {
        if is_key_pressed(KeyCode::Escape) || is_key_pressed(KeyCode::Q) {
            return true;
        }
        if is_key_pressed(KeyCode::Space) {
            self.control.toggle_pause();
        }
        if is_key_pressed(KeyCode::Period) {
            self.control.request_step();
        }
        if is_key_pressed(KeyCode::Right) {
            self.playback.seek_by_secs(SEEK_SECONDS);
        }
        if is_key_pressed(KeyCode::Left) {
            self.playback.seek_by_secs(-SEEK_SECONDS);
        }
        if is_key_pressed(KeyCode::Up) {
            self.control.faster();
        }
        if is_key_pressed(KeyCode::Down) {
            self.control.slower();
        }
        if is_key_pressed(KeyCode::Home) {
            self.playback.seek(0);
        }
        if is_key_pressed(KeyCode::F1) {
            self.show_help = !self.show_help;
        }
        if is_key_pressed(KeyCode::F2) {
            self.show_boxes = !self.show_boxes;
        }
        false
    }

    /// Steps as many frames as are due; `true` once `--frames` is reached.
    fn update(&mut self) -> bool {
        let now = Instant::now();
        let due = if self.fast {
            1
        } else {
            self.control.frames_due(now - self.last_tick)
        };
        self.last_tick = now;
        for _ in 0..due {
            if self.stop_at.is_some_and(|t| self.playback.frame() >= t) {
                break;
            }
            self.playback.step();
        }
        self.stop_at.is_some_and(|t| self.playback.frame() >= t)
            || (self.fast && self.playback.frame() >= self.playback.frames())
    }

    fn status(&self) -> String {
        let p = &self.playback;
        let check = match p.checked_at_or_before(p.frame()) {
            Some((f, true)) => format!("checksum @{f} matches"),
            Some((f, false)) => format!("checksum @{f} MISMATCH"),
            None => "no checksum yet".to_owned(),
        };
        let state = if self.control.is_paused() {
            "paused"
        } else {
            "playing"
        };
        format!(
            "replay · frame {}/{} · {state} {}x · {check} · {} mismatches · Space pause · . step · Left/Right 10 s · Up/Down speed",
            p.frame(),
            p.frames(),
            self.control.speed(),
            p.mismatches()
        )
    }

    fn draw(&self) {
        let status = self.status();
        let names = [self.names[0].as_str(), self.names[1].as_str()];
        let view = SceneView {
            game: Some(self.playback.state()),
            names,
            show_boxes: self.show_boxes,
            show_help: self.show_help,
            status: &status,
            help: HELP,
            ..SceneView::default()
        };
        draw::draw(&scene(&view));
    }
}

/// Runs `fighter --replay FILE`: exit 0 when played (and every checksum matched), 1 if the
/// file is unusable, the window fails, or a recorded checksum did not match.
pub fn run(args: &Args, file: &Path) -> u8 {
    let replay = match replay::read_file::<FighterGame>(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fighter: {}: {e}", file.display());
            return 1;
        }
    };
    let playback = match Playback::<FighterGame>::load(replay) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fighter: {}: {e}", file.display());
            return 1;
        }
    };
    if !super::app::display_available() {
        eprintln!("fighter: no display: neither DISPLAY nor WAYLAND_DISPLAY is set (run it in a desktop session or under xvfb-run)");
        return 1;
    }
    let header = &playback.replay().header;
    let name = |i: usize| {
        header
            .player_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("P{}", i + 1))
    };
    let viewer = Viewer {
        names: [name(0), name(1)],
        control: PlaybackControl::new(playback.fps()),
        playback,
        show_boxes: args.boxes,
        show_help: false,
        last_tick: Instant::now(),
        stop_at: args.frames,
        fast: args.fast,
    };
    let screenshot = args.screenshot.clone();
    let file = file.to_path_buf();
    let report = match super::run_window("netplay fighter: replay", watch(viewer, screenshot, file))
    {
        Ok(report) => report,
        Err(super::WindowEnd::Failed) => {
            eprintln!("fighter: window system failed");
            return 1;
        }
        Err(super::WindowEnd::Closed) => {
            eprintln!("fighter: the window closed before the replay ended");
            return 1;
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "replay {}: frame {}/{}, {} checksums checked, {} mismatches, checksum {}",
            report.file.display(),
            report.frame,
            report.frames,
            report.checksums_checked,
            report.checksum_mismatches,
            report.checksum
        );
    }
    u8::from(report.checksum_mismatches > 0)
}

async fn watch(mut viewer: Viewer, screenshot: Option<PathBuf>, file: PathBuf) -> ReplayReport {
    prevent_quit();
    loop {
        let quit = is_quit_requested() || viewer.keys();
        let done = !quit && viewer.update();
        viewer.draw();
        if quit || done {
            break;
        }
        next_frame().await;
    }
    if let Some(path) = &screenshot {
        if let Err(e) = draw::screenshot(path) {
            eprintln!("fighter: screenshot: {e}");
        }
    }
    let p = &viewer.playback;
    ReplayReport {
        file,
        frames: p.frames(),
        frame: p.frame(),
        checksums_checked: p.checks().len(),
        checksum_mismatches: p.mismatches(),
        checksum: format!("{:032x}", p.state().checksum()),
    }
}
