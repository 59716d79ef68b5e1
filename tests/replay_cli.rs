//! The `replay` tool's exit codes and messages: 0 for a good replay / no divergence, 1 for
//! a failed check or an unusable file, 2 for bad flags.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use std::path::{Path, PathBuf};

use netplay::replay_cli::run;
use rollback::botmatch::{run_match, MatchConfig};
use rollback::fighter::FighterInput;
use rollback::replay::{self, Replay};

fn tool(args: &[&str]) -> (i32, String) {
    let mut out = Vec::new();
    let mut argv = vec!["replay"];
    argv.extend_from_slice(args);
    let code = run(argv, &mut out);
    (code, String::from_utf8(out).unwrap())
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    a: PathBuf,
    b: PathBuf,
    replay: Replay<FighterInput>,
    live_final: String,
}

fn fixture() -> Fixture {
    let report = run_match(&MatchConfig {
        frames: 900,
        seed: 21,
        record_interval: Some(60),
        ..MatchConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let [r0, r1] = report.replays;
    let (a, b) = (path.join("p0.replay"), path.join("p1.replay"));
    replay::write_file(&a, r0.as_ref().unwrap()).unwrap();
    replay::write_file(&b, r1.as_ref().unwrap()).unwrap();
    Fixture {
        _dir: dir,
        dir: path,
        a,
        b,
        replay: r0.unwrap(),
        live_final: report.peers[0].final_checksum.clone(),
    }
}

impl Fixture {
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

#[test]
fn info_verify_and_diff_of_good_replays_exit_0() {
    let f = fixture();
    let (code, out) = tool(&["info", p(&f.a)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("frames          900"), "{out}");
    assert!(
        out.contains(&format!("final_checksum  {}", f.live_final)),
        "{out}"
    );
    assert!(out.contains("result          completed"), "{out}");
    let (code, out) = tool(&["verify", p(&f.a)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("final_checksum {}", f.live_final)),
        "{out}"
    );
    let (code, out) = tool(&["diff", p(&f.a), p(&f.b)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SAME: 900 frames"), "{out}");
    // JSON
    let (code, out) = tool(&["verify", p(&f.a), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["final_checksum"], f.live_final.as_str());
    let (_, out) = tool(&["info", "--json", p(&f.a)]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["frames"], 900);
    assert_eq!(v["game_id"], "netplay-fighter");
    let (_, out) = tool(&["diff", "--json", p(&f.a), p(&f.b)]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["identical"], true);
}

#[test]
fn failed_checks_exit_1_and_name_the_frame() {
    let f = fixture();
    let mut tampered = f.replay.clone();
    let i = tampered
        .checksums
        .iter()
        .position(|(fr, _)| *fr == 420)
        .unwrap();
    tampered.checksums[i].1 ^= 1;
    let t = f.write("tampered.replay", &replay::encode(&tampered).unwrap());
    let (code, out) = tool(&["verify", p(&t)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL: checksum differs at frame 420"), "{out}");
    assert!(out.contains("input into it (frame 419)"), "{out}");
    let (code, out) = tool(&["verify", "--json", p(&t)]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["first_mismatch"]["frame"], 420);
    // a peer whose inputs differ from frame 300 on
    let mut other = f.replay.clone();
    other.inputs[600] = FighterInput::new(other.inputs[600].0 ^ FighterInput::HEAVY);
    let o = f.write("other.replay", &replay::encode(&other).unwrap());
    let (code, out) = tool(&["diff", p(&f.a), p(&o)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("INPUTS DIFFER first at frame 300"), "{out}");
    assert!(out.contains("state at frame 301"), "{out}");
    let (code, out) = tool(&["diff", "--json", p(&f.a), p(&o)]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["input_divergence"]["frame"], 300);
}

#[test]
fn unusable_files_exit_1_with_a_clear_error() {
    let f = fixture();
    let good = std::fs::read(&f.a).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut b = good.clone();
    b[..8].copy_from_slice(b"GARBAGE!");
    cases.push(("magic", b, "bad magic"));
    let mut b = good.clone();
    b[8..10].copy_from_slice(&9u16.to_le_bytes());
    cases.push(("version", b, "format version 9 is not supported"));
    let mut b = good.clone();
    b[10..18].copy_from_slice(&(1u64 << 40).to_le_bytes());
    cases.push(("size", b, "exceeds the limit"));
    cases.push(("truncated", good[..good.len() / 2].to_vec(), "truncated"));
    let mut b = good.clone();
    b[30] ^= 0xff;
    cases.push(("header", b, "header is damaged"));
    let mut other_build = f.replay.clone();
    other_build.header.game_version ^= 0xdead;
    cases.push((
        "build",
        replay::encode(&other_build).unwrap(),
        "another build",
    ));
    for (name, bytes, message) in cases {
        let path = f.write(&format!("{name}.replay"), &bytes);
        for cmd in ["info", "verify"] {
            let (code, out) = tool(&[cmd, p(&path)]);
            assert_eq!(code, 1, "{cmd} {name}: {out}");
            assert!(out.starts_with("error: "), "{cmd} {name}: {out}");
            assert!(out.contains(message), "{cmd} {name}: {out}");
        }
        let (code, out) = tool(&["diff", p(&f.a), p(&path)]);
        assert_eq!(code, 1, "diff {name}: {out}");
    }
    let (code, out) = tool(&["verify", p(&f.dir.join("missing.replay"))]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn bad_flags_exit_2_and_help_exits_0() {
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["verify"][..],
        &["verify", "a", "--bogus"][..],
        &["diff", "only-one"][..],
    ] {
        let (code, out) = tool(args);
        assert_eq!(code, 2, "{args:?}: {out}");
    }
    let (code, out) = tool(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("verify"));
}
