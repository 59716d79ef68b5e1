//! `fighter --record` and `fighter --replay` in a real window under Xvfb: a bot match is
//! recorded, played back to the recorded checksum, and a tampered replay exits 1.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Command;

use rollback::fighter::{FighterGame, FighterInput};
use rollback::replay;

/// The `fighter` example next to this test binary (cargo builds examples for `cargo test`).
fn fighter() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join("examples").join("fighter")
}

fn run_window(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(fighter())
        .args(args)
        .output()
        .expect("xvfb-run (scripts/setup.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_recorded_bot_match_plays_back_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("match.replay");
    let f = file.to_str().unwrap();
    let (code, out, err) = run_window(&[
        "--bots",
        "ai,random",
        "--fast",
        "--frames",
        "300",
        "--record",
        f,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let live: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(live["replay"], f);
    let recorded = replay::read_file::<FighterGame>(&file).unwrap();
    assert_eq!(recorded.frames(), 300);
    assert_eq!(
        format!("{:032x}", recorded.end.final_checksum),
        live["checksum"]
    );

    let png = dir.path().join("replay.png");
    let (code, out, err) = run_window(&[
        "--replay",
        f,
        "--fast",
        "--frames",
        "300",
        "--json",
        "--screenshot",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let shown: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["frame"], 300);
    assert_eq!(shown["checksum"], live["checksum"]);
    assert_eq!(shown["checksum_mismatches"], 0);
    assert_eq!(shown["checksums_checked"], 6);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);

    // tampered inputs (player 1 walks away for a second from frame 100): playback flags
    // the checksums after them and exits 1
    let mut tampered = recorded.clone();
    for f in 100..160 {
        tampered.inputs[f * 2] = FighterInput::new(FighterInput::LEFT | FighterInput::UP);
    }
    let t = dir.path().join("tampered.replay");
    replay::write_file(&t, &tampered).unwrap();
    let (code, out, err) = run_window(&[
        "--replay",
        t.to_str().unwrap(),
        "--fast",
        "--frames",
        "300",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let shown: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        shown["checksum_mismatches"].as_u64().unwrap() >= 1,
        "{shown}"
    );
}

#[test]
fn replay_flag_errors_exit_2_or_1_without_a_window() {
    let (code, _, err) = run_window(&["--replay", "x.replay", "--server", "ws://127.0.0.1:1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_window(&["--replay", "/no/such/file.replay"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/no/such/file.replay"), "{err}");
}
