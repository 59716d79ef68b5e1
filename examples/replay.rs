//! `replay`: inspect, verify and diff fighter replays.
//!
//! ```text
//! cargo run --release --example replay -- info match.replay
//! cargo run --release --example replay -- verify match.replay        # exit 1 on a mismatch
//! cargo run --release --example replay -- diff p0.replay p1.replay    # first diverging frame + fields
//! cargo run --release --example replay -- verify match.replay --json
//! ```
//! Exit codes: 0 = ok, 1 = a failed check or an unusable file, 2 = bad flags.

fn main() {
    let code = netplay::replay_cli::run(std::env::args_os(), &mut std::io::stdout().lock());
    std::process::exit(code);
}
