//! `fighter`: the reference fighter in a window. You against the bot (default), two players
//! on one keyboard (`--vs local`), bot against bot (`--bots ai,random`), or online through
//! a signal server (`--server URL --token T`, then pick the opponent on the lobby screen, or
//! `--challenge ID` / `--accept any`). The code lives
//! in `netplay::fighter_app`; see the README's Fighter section for keys and commands.
//!
//! ```text
//! cargo run --release --example fighter
//! cargo run --release --example fighter -- --bots ai,random --frames 600 --screenshot s.png --json
//! ```

use std::process::ExitCode;

use clap::Parser;
use netplay::fighter_app::{app, cli::Args};

fn main() -> ExitCode {
    let args = Args::parse();
    netplay::init_example_logging();
    ExitCode::from(app::run(args))
}
