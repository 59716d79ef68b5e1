//! The playable fighter (`cargo run --release --example fighter`): the reference fighter
//! from the `rollback` crate in a macroquad window, driven by humans on a keyboard or by
//! bots, locally or online through a signal server, with a netcode overlay.
//!
//! - [`render`]: the pure render mapping, state to [`render::Shape`]s (tested without a
//!   window); [`overlay`]: the netcode overlay's figures and shapes.
//! - [`input`]: keyboard layouts, bots, [`input::Controller`].
//! - [`lobby`]: the in-window lobby screen's state (online without a rule): players, keys,
//!   challenges, the return to the lobby after a match; tested without a window.
//! - [`online`]: the network thread (tokio) that finds the opponent with `peer` and hands
//!   the ggrs socket to the render loop over bounded channels.
//! - [`app`]: the window loop: a [`rollback::session::FramePacer`] runs the simulation at
//!   exactly 60 Hz whatever the display rate; drawing reads the state and never writes it.
//! - [`cli`]: flags; [`report`]: the `--json` report (the `bot` example's format).
//!
//! The example itself is one line around [`app::run`]:
//! ```no_run
//! use clap::Parser;
//! let code = netplay::fighter_app::app::run(netplay::fighter_app::cli::Args::parse());
//! std::process::exit(i32::from(code));
//! ```
//!
//! Watching an online match (`--spectate PLAYER`): [`spectate`].
//!
//! Recording and replaying matches (`--record PATH` / `--replay FILE`): [`replay`].

pub mod app;
pub mod cli;
pub mod draw;
pub mod input;
pub mod lobby;
pub mod online;
pub mod overlay;
pub mod render;
pub mod replay;
pub mod report;
pub mod spectate;

/// Seed of the game state, the same as the `bot` example's, so a fighter and a bot agree.
pub use crate::netmatch::GAME_SEED;

/// How [`run_window`] ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The window system failed (miniquad panicked, e.g. the X server could not be opened).
    Failed,
    /// The window closed before `body` finished.
    Closed,
}

/// Opens the fighter's window (fixed size, not resizable) titled `title`, runs `body` in it
/// and returns what `body` produced. Shared by the game, replay and spectate windows.
pub fn run_window<T: Send + 'static>(
    title: &str,
    body: impl std::future::Future<Output = T> + 'static,
) -> Result<T, WindowEnd> {
    use std::sync::{Arc, Mutex};
    let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let conf = macroquad::window::Conf {
        window_title: title.to_owned(),
        window_width: render::WINDOW_WIDTH as i32,
        window_height: render::WINDOW_HEIGHT as i32,
        window_resizable: false,
        ..Default::default()
    };
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        macroquad::Window::from_config(conf, async move {
            let result = body.await;
            if let Ok(mut slot) = out.lock() {
                *slot = Some(result);
            }
        });
    }));
    if opened.is_err() {
        return Err(WindowEnd::Failed);
    }
    let result = slot.lock().ok().and_then(|mut s| s.take());
    result.ok_or(WindowEnd::Closed)
}
