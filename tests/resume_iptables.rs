//! The real fault: two `bot` processes (`--loopback`) play through a `signal` server while
//! all UDP is dropped with iptables mid-match, for 3 s and for 15 s. Both finish with equal
//! checksums and 0 desyncs. (The 3 s cut outlives ggrs's 2 s disconnect timeout; the 15 s
//! cut outlives ICE, so the peers renegotiate a new connection through the server, whose
//! WebSocket is TCP and stays up.)
//!
//! Each test re-runs itself inside a network namespace of its own (`unshare -n`, root), so
//! the iptables rule never touches the host: the namespace has only `lo`, and it goes away
//! with the process.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signal::server::{ServerConfig, SignalServer};

/// Set in the re-run inside the namespace.
const INSIDE: &str = "NETPLAY_TEST_IN_NETNS";
/// The match starts within this long of the bots' start; the cut begins then.
const CUT_AT: Duration = Duration::from_secs(4);
/// Bound on a whole match (pacing plus the cut plus the renegotiation).
const MATCH_LIMIT: Duration = Duration::from_secs(120);

/// Outside: runs `test` again inside a fresh network namespace and checks it passed there.
/// Inside: returns true (run the body).
fn inside_namespace(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new("unshare")
        .arg("-n")
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .status()
        .expect("unshare runs (scripts/setup.sh installs util-linux; tests run as root)");
    assert!(
        status.success(),
        "{test} failed inside its network namespace"
    );
    false
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?} failed");
}

/// The `bot` example next to this test binary, built first if needed.
fn bot_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bot = profile_dir.join("examples").join("bot");
    if !bot.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "bot"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the bot example failed");
    }
    bot
}

fn spawn_bot(
    bot: &PathBuf,
    url: &str,
    token: &str,
    name: &str,
    rule: &[&str],
    frames: u32,
) -> Child {
    Command::new(bot)
        .args([
            "--server",
            url,
            "--token",
            token,
            "--name",
            name,
            "--loopback",
            "--json",
        ])
        .args(["--frames", &frames.to_string()])
        .args(rule)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("bot starts")
}

/// Waits for a bot (killed after the limit) and parses its JSON report.
fn report(mut child: Child, deadline: Instant) -> (serde_json::Value, bool) {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out).expect("bot output");
            }
            let json = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
            return (json, status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a bot did not finish in {MATCH_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cut_all_udp_mid_match(cut: Duration, frames: u32) {
    run("ip", &["link", "set", "lo", "up"]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let secret = b"iptables-test-secret".to_vec();
    let config =
        ServerConfig::new(secret.clone()).with_listen("127.0.0.1:0".parse().expect("addr"));
    let server = rt
        .block_on(SignalServer::start(config))
        .expect("signal server starts");
    let url = server.url();
    let token = |sub: &str| {
        signal::auth::mint_token(&secret, sub, Some(sub), Duration::from_secs(600)).expect("token")
    };
    let bot = bot_binary();
    let started = Instant::now();
    let a = spawn_bot(
        &bot,
        &url,
        &token("alice"),
        "Alice",
        &["--challenge", "bob"],
        frames,
    );
    let b = spawn_bot(
        &bot,
        &url,
        &token("bob"),
        "Bob",
        &["--accept", "any"],
        frames,
    );

    std::thread::sleep(CUT_AT.saturating_sub(started.elapsed()));
    run("iptables", &["-I", "INPUT", "-p", "udp", "-j", "DROP"]);
    std::thread::sleep(cut);
    run("iptables", &["-D", "INPUT", "-p", "udp", "-j", "DROP"]);

    let deadline = started + MATCH_LIMIT;
    let (a, a_ok) = report(a, deadline);
    let (b, b_ok) = report(b, deadline);
    eprintln!("cut {cut:?}: alice {a}");
    eprintln!("cut {cut:?}: bob {b}");
    assert!(a_ok && b_ok, "a bot exited 1");
    for r in [&a, &b] {
        assert_eq!(r["completed"], true);
        assert_eq!(r["desyncs"], 0);
        assert!(
            r["interruptions"].as_u64().unwrap_or(0) >= 1,
            "no interruption seen: {r}"
        );
    }
    assert!(a["checksum"].is_string());
    assert_eq!(a["checksum"], b["checksum"], "final checksums differ");
    rt.block_on(server.shutdown());
}

#[test]
fn two_bots_finish_after_all_udp_is_dropped_for_3_s() {
    if inside_namespace("two_bots_finish_after_all_udp_is_dropped_for_3_s") {
        cut_all_udp_mid_match(Duration::from_secs(3), 600);
    }
}

#[test]
fn two_bots_finish_after_all_udp_is_dropped_for_15_s() {
    if inside_namespace("two_bots_finish_after_all_udp_is_dropped_for_15_s") {
        cut_all_udp_mid_match(Duration::from_secs(15), 900);
    }
}
