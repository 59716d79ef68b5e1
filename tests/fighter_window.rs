//! The `fighter` example in a real window under Xvfb: attract mode with screenshots and the
//! JSON report, an online match of two fighter processes (and a fighter against the `bot`
//! example) through a real signal server on 127.0.0.1, bad flags, and no display.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ggrs::InputStatus;
use rollback::bot::{Bot, RandomBot, ReactiveBot};
use rollback::fighter::FighterGame;
use rollback::Game;
use signal::server::{ServerConfig, SignalServer};

/// The window tests run one at a time: several Xvfb servers and WebRTC matches at once on
/// a small shared machine would starve ggrs's wall-clock timers.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `target/<profile>/examples/<name>`, next to this test's own `deps/` directory (so it
/// follows `CARGO_TARGET_DIR`); built with cargo if `cargo test` did not build it.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// The example under its own Xvfb display.
fn under_xvfb(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(bin)
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null());
    cmd
}

fn json_of(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON in stdout {stdout:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("valid JSON")
}

fn distinct_colours(img: &image::RgbaImage) -> usize {
    img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
}

fn headless_checksum(frames: u32) -> String {
    // the attract mode's bots: ai with seed 1 for player 1, random with seed 2 for player 2
    let mut game = FighterGame::new(netplay::netmatch::GAME_SEED);
    let mut a = ReactiveBot::new(1);
    let mut b = RandomBot::new(2);
    for _ in 0..frames {
        let inputs = [a.next_input(&game, 0), b.next_input(&game, 1)];
        game.step(&[
            (inputs[0], InputStatus::Confirmed),
            (inputs[1], InputStatus::Confirmed),
        ]);
    }
    format!("{:032x}", game.checksum())
}

#[test]
fn attract_mode_writes_screenshots_and_a_json_report() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let last = dir.path().join("s.png");
    let early = dir.path().join("s60.png");
    let bin = example("fighter");
    let out = under_xvfb(
        &bin,
        &[
            "--bots",
            "ai,random",
            "--frames",
            "600",
            "--screenshot",
            last.to_str().expect("utf-8 path"),
            "--screenshot-at",
            &format!("60:{}", early.display()),
            "--json",
        ],
    )
    .output()
    .expect("run fighter");
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["frames"], 600);
    assert_eq!(report["frames_simulated"], 600);
    assert_eq!(report["completed"], true);
    assert_eq!(report["desyncs"], 0);
    assert_eq!(report["mode"], "bots");
    assert!(["p0", "p1", "draw"].contains(&report["winner"].as_str().unwrap_or("")));
    // the window ran the same deterministic game as a headless loop
    assert_eq!(
        report["checksum"].as_str(),
        Some(headless_checksum(600).as_str())
    );

    let shot = image::open(&last).expect("final screenshot").to_rgba8();
    let shot60 = image::open(&early).expect("frame-60 screenshot").to_rgba8();
    assert_eq!(shot.dimensions(), (960, 540), "the window's size");
    assert_eq!(shot60.dimensions(), (960, 540));
    let colours = distinct_colours(&shot);
    assert!(colours >= 8, "only {colours} colours");
    assert!(distinct_colours(&shot60) >= 8);
    let differing = shot
        .pixels()
        .zip(shot60.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing > 500,
        "frame 600 and frame 60 look alike ({differing} px differ)"
    );
}

#[test]
fn without_a_display_it_is_a_one_line_error() {
    let bin = example("fighter");
    let out = Command::new(&bin)
        .args(["--bots", "ai,ai", "--frames", "10"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run fighter");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no display"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_exit_2() {
    let bin = example("fighter");
    for args in [
        &["--frames", "0"][..],
        &["--bots", "ai"],
        &["--bots", "ai,nobody"],
        &["--challenge", "bob"],
        &["--screenshot", "/no/such/dir/x.png"],
        &["--server", "http://x", "--token", "t", "--accept", "any"],
    ] {
        let out = Command::new(&bin)
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .expect("run fighter");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Server {
    runtime: tokio::runtime::Runtime,
    server: Option<signal::server::RunningServer>,
    secret: Vec<u8>,
}

impl Server {
    fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let secret = b"fighter window test secret".to_vec();
        let config =
            ServerConfig::new(secret.clone()).with_listen("127.0.0.1:0".parse().expect("addr"));
        let server = runtime
            .block_on(SignalServer::start(config))
            .expect("signal server");
        Server {
            runtime,
            server: Some(server),
            secret,
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().map(|s| s.url()).unwrap_or_default()
    }

    fn token(&self, sub: &str) -> String {
        signal::auth::mint_token(&self.secret, sub, None, Duration::from_secs(300)).expect("token")
    }

    /// Waits until `player` is available in the lobby, as seen by an observer that joins
    /// it and leaves again (instead of sleeping and hoping the process got there).
    fn await_available(&self, player: &str) {
        use signal::protocol::{ClientMessage, JoinLobby, PlayerStatus};
        let token = self.token("observer");
        self.runtime.block_on(async {
            let mut observer = signal::SignalClient::connect(&self.url(), &token)
                .await
                .expect("observer connects");
            observer
                .sender()
                .send(ClientMessage::JoinLobby(JoinLobby::new(
                    "observer", "Observer",
                )))
                .expect("observer joins");
            let listed = async {
                while !observer
                    .lobby()
                    .players()
                    .any(|p| p.player_id == player && p.status == PlayerStatus::Available)
                {
                    assert!(observer.recv().await.is_some(), "observer disconnected");
                }
            };
            tokio::time::timeout(Duration::from_secs(30), listed)
                .await
                .unwrap_or_else(|_| panic!("{player} never became available in the lobby"));
            observer.close().await;
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

fn wait(child: Child, name: &str, limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = child;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("output"),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{name} still running after {limit:?}; stderr {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

fn online_args<'a>(server: &'a str, token: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "--server",
        server,
        "--token",
        token,
        "--name",
        name,
        "--loopback",
        "--frames",
        "240",
        "--json",
        "--match-timeout-s",
        "30",
    ]
}

/// Runs the challenger (`alice`, a fighter) against `bob` (a fighter or the bot example);
/// both must finish with equal checksums and no desyncs.
fn online_match(bob_is_bot_example: bool) {
    let _serial = serial();
    let server = Server::start();
    let url = server.url();
    let (ta, tb) = (server.token("alice"), server.token("bob"));
    let fighter = example("fighter");
    let mut bob_args = online_args(&url, &tb, "Bob");
    bob_args.extend(["--accept", "any"]);
    let bob = if bob_is_bot_example {
        Command::new(example("bot"))
            .args(&bob_args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bot")
    } else {
        bob_args.extend(["--bot", "ai"]);
        under_xvfb(&fighter, &bob_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fighter bob")
    };
    // xvfb-run -a picks a free display; starting both at once can race for the same one
    std::thread::sleep(Duration::from_millis(1500));
    let mut alice_args = online_args(&url, &ta, "Alice");
    alice_args.extend(["--challenge", "bob", "--bot", "random"]);
    let alice = under_xvfb(&fighter, &alice_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fighter alice");
    let a = wait(alice, "alice", Duration::from_secs(90));
    let b = wait(bob, "bob", Duration::from_secs(30));
    for (name, out) in [("alice", &a), ("bob", &b)] {
        assert!(
            out.status.success(),
            "{name} exit {:?}: stdout {} stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ra, rb) = (json_of(&a), json_of(&b));
    for r in [&ra, &rb] {
        assert_eq!(r["connected"], true, "{r}");
        assert_eq!(r["completed"], true, "{r}");
        assert_eq!(r["desyncs"], 0, "{r}");
        assert_eq!(r["frames"], 240, "{r}");
    }
    assert_eq!(ra["role"], "offerer", "the challenger is player 0");
    assert_eq!(rb["role"], "answerer");
    let checksum = ra["checksum"].as_str().unwrap_or("");
    assert_eq!(checksum.len(), 32, "{ra}");
    assert_eq!(ra["checksum"], rb["checksum"]);
    assert_eq!(ra["winner"], rb["winner"]);
}

#[test]
fn two_fighter_windows_play_online() {
    online_match(false);
}

#[test]
fn a_fighter_and_the_bot_example_agree_online() {
    online_match(true);
}

#[test]
fn an_unreachable_server_or_a_refused_token_fails_with_exit_1() {
    let _serial = serial();
    let server = Server::start();
    let url = server.url();
    // a port nobody listens on: bind one, note it, free it
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let unreachable = format!("ws://{closed}/ws/signal");
    let good = server.token("carol");
    let fighter = example("fighter");
    for (what, url, token) in [
        ("unreachable", unreachable.as_str(), good.as_str()),
        ("refused token", url.as_str(), "not-a-jwt"),
    ] {
        let started = Instant::now();
        let out = under_xvfb(
            &fighter,
            &[
                "--server",
                url,
                "--token",
                token,
                "--challenge",
                "dave",
                "--bot",
                "ai",
                "--loopback",
                "--frames",
                "60",
                "--json",
            ],
        )
        .output()
        .expect("run fighter");
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("signal server"), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        let report = json_of(&out);
        assert_eq!(report["connected"], false, "{what}: {report}");
        assert!(report["error"].is_string(), "{what}: {report}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
}

/// Starts the fighter under Xvfb, closes its window like a window manager's close button
/// (tests/close_window.py) and returns (milliseconds from the close to the exit, exit code).
fn close_after_start(delay_s: u32, args: &[&str]) -> (u64, i32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/close_window.py");
    let fighter = example("fighter");
    let shell = r#"
        "$FIGHTER" "$@" >/dev/null 2>&1 & pid=$!
        sleep "$DELAY"
        if ! python3 "$CLOSE" "netplay fighter" 60 >/dev/null; then kill $pid; exit 3; fi
        t0=$(date +%s%N); wait $pid; rc=$?; t1=$(date +%s%N)
        echo "closed $(( (t1 - t0) / 1000000 )) $rc"
    "#;
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24", "sh", "-c", shell, "sh"])
        .args(args)
        .env("FIGHTER", &fighter)
        .env("CLOSE", &script)
        .env("DELAY", delay_s.to_string())
        .env("RUST_LOG", "error")
        .output()
        .expect("run xvfb-run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("closed "))
        .unwrap_or_else(|| panic!("no close result: {out:?}"));
    let mut parts = line.split_whitespace().skip(1);
    let ms = parts.next().and_then(|v| v.parse().ok()).expect("ms");
    let rc = parts.next().and_then(|v| v.parse().ok()).expect("rc");
    (ms, rc)
}

/// The README's promise, "closing the window always ends the process within a second", on
/// a shared 2-core machine: a close slower than that is measured again (up to `attempts`
/// in all). The exit needs CPU time, which a loaded machine hands out late (local closes:
/// 5-275 ms for 20 at load 10-13, but 1.1-1.4 s for 3 of 15 with two more busy loops at
/// load 12-16), so one slow close is a load spike; a close that waits for something (a
/// flush or a network timeout) is slow every time and still fails. Each attempt must exit
/// with `rc`.
fn assert_closes_within_a_second(what: &str, attempts: u32, delay_s: u32, args: &[&str], rc: i32) {
    let mut slow = Vec::new();
    for _ in 0..attempts {
        let (ms, code) = close_after_start(delay_s, args);
        assert_eq!(code, rc, "{what}: exit code");
        if ms < 1000 {
            return;
        }
        slow.push(ms);
    }
    panic!("{what}: exit {slow:?} ms after the close");
}

#[test]
fn closing_the_window_ends_the_process_within_a_second() {
    let _serial = serial();
    // a local game that would run for ever
    assert_closes_within_a_second("local", 3, 1, &["--bots", "ai,random"], 0);
    // online, waiting in the lobby for a challenge that never comes; leaving the lobby
    // is not a failure
    let server = Server::start();
    let url = server.url();
    let token = server.token("erin");
    let waiting = [
        "--server",
        &url,
        "--token",
        &token,
        "--accept",
        "any",
        "--loopback",
    ];
    assert_closes_within_a_second("online", 3, 3, &waiting, 0);
    // on the lobby screen (no rule): closing it is not a failure
    let screen = ["--server", &url, "--token", &token, "--loopback"];
    assert_closes_within_a_second("lobby screen", 3, 3, &screen, 0);
}

fn spawn_bot(args: &[&str]) -> Child {
    Command::new(example("bot"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bot")
}

fn assert_success(name: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{name} exit {:?}: stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lobby screen's report: one match played, back in the player list at exit.
fn assert_back_in_the_lobby(name: &str, out: &Output, report: &serde_json::Value) {
    assert_eq!(report["lobby"]["matches"], 1, "{report}");
    assert_eq!(report["lobby"]["returns"], 1, "{report}");
    assert_eq!(report["lobby"]["in_lobby"], true, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("back in the lobby as {name} after 1 match(es)")),
        "{stderr}"
    );
}

/// A fighter without --challenge/--accept shows the lobby screen; its script selects `bob`
/// (the `bot` example) in the list and presses Enter, plays 240 frames, returns to the
/// lobby and quits from the player list.
#[test]
fn the_lobby_screen_challenges_a_listed_player_and_returns_to_the_lobby() {
    let _serial = serial();
    let server = Server::start();
    let url = server.url();
    let (ta, tb) = (server.token("alice"), server.token("bob"));
    let mut bob_args = online_args(&url, &tb, "Bob");
    bob_args.extend(["--accept", "any"]);
    let bob = spawn_bot(&bob_args);
    let mut alice_args = online_args(&url, &ta, "Alice");
    alice_args.extend(["--lobby-script", "challenge=bob,quit", "--bot", "random"]);
    let alice = under_xvfb(&example("fighter"), &alice_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fighter alice");
    let a = wait(alice, "alice", Duration::from_secs(90));
    let b = wait(bob, "bob", Duration::from_secs(30));
    assert_success("alice", &a);
    assert_success("bob", &b);
    let (ra, rb) = (json_of(&a), json_of(&b));
    for r in [&ra, &rb] {
        assert_eq!(r["completed"], true, "{r}");
        assert_eq!(r["desyncs"], 0, "{r}");
        assert_eq!(r["frames"], 240, "{r}");
    }
    assert_eq!(ra["role"], "offerer", "the challenger is player 0");
    assert_eq!(ra["opponent_id"], "bob");
    assert_eq!(ra["checksum"].as_str().map(str::len), Some(32), "{ra}");
    assert_eq!(ra["checksum"], rb["checksum"]);
    assert_back_in_the_lobby("alice", &a, &ra);
    let stderr = String::from_utf8_lossy(&a.stderr);
    assert!(stderr.contains("challenging bob"), "{stderr}");
}

/// A fighter in the lobby declines carol's challenge (carol, the `bot` example, fails with
/// exit 1), accepts alice's, plays 240 frames with equal checksums, and is back in the
/// lobby at the end.
#[test]
fn the_lobby_screen_declines_then_accepts_a_challenge() {
    let _serial = serial();
    let server = Server::start();
    let url = server.url();
    let (ta, tb, tc) = (
        server.token("alice"),
        server.token("bob"),
        server.token("carol"),
    );
    let mut bob_args = online_args(&url, &tb, "Bob");
    bob_args.extend(["--lobby-script", "decline,accept,quit", "--bot", "ai"]);
    let bob = under_xvfb(&example("fighter"), &bob_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fighter bob");
    // the bots wait until bob is available in the lobby before they challenge
    let mut carol_args = online_args(&url, &tc, "Carol");
    carol_args.extend(["--challenge", "bob"]);
    let c = wait(spawn_bot(&carol_args), "carol", Duration::from_secs(60));
    assert_eq!(c.status.code(), Some(1), "carol is declined: {c:?}");
    let rc = json_of(&c);
    assert_eq!(rc["connected"], false, "{rc}");
    assert!(
        rc["error"].as_str().unwrap_or("").contains("declined"),
        "{rc}"
    );
    let mut alice_args = online_args(&url, &ta, "Alice");
    alice_args.extend(["--challenge", "bob"]);
    let a = wait(spawn_bot(&alice_args), "alice", Duration::from_secs(60));
    let b = wait(bob, "bob", Duration::from_secs(60));
    assert_success("alice", &a);
    assert_success("bob", &b);
    let (ra, rb) = (json_of(&a), json_of(&b));
    for r in [&ra, &rb] {
        assert_eq!(r["completed"], true, "{r}");
        assert_eq!(r["desyncs"], 0, "{r}");
    }
    assert_eq!(rb["role"], "answerer");
    assert_eq!(rb["opponent_id"], "alice", "carol was declined");
    assert_eq!(ra["checksum"], rb["checksum"]);
    assert_back_in_the_lobby("bob", &b, &rb);
    let stderr = String::from_utf8_lossy(&b.stderr);
    assert!(stderr.contains("declining carol"), "{stderr}");
    assert!(stderr.contains("accepting alice"), "{stderr}");
}

/// `fighter --spectate`: refused with exit 2 while the player waits in the lobby (not in a
/// match); then two `bot` processes play 1,200 frames at 60 fps, the fighter joins
/// alice's match a few seconds in, follows it in the window to the end, and its final
/// frame and checksum are the players'; a second spectator's window closed mid-match ends
/// its process within a second; `bot --spectate bob` follows the same match from bob's side
/// to the same frame and checksum.
#[test]
fn the_fighter_spectates_a_bot_match_to_the_players_checksum() {
    let _serial = serial();
    let server = Server::start();
    let url = server.url();
    let (ta, tb, tc) = (
        server.token("alice"),
        server.token("bob"),
        server.token("carol"),
    );
    let mut bob_args = online_args(&url, &tb, "Bob");
    bob_args[8] = "1200";
    bob_args.extend(["--accept", "alice"]);
    let bob = spawn_bot(&bob_args);
    server.await_available("bob");
    let spectate = |target: &str, extra: &[&str]| {
        let mut args = vec![
            "--server",
            &url,
            "--token",
            &tc,
            "--name",
            "Carol",
            "--loopback",
            "--spectate",
            target,
            "--json",
        ];
        args.extend_from_slice(extra);
        under_xvfb(&example("fighter"), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fighter")
    };
    // bob is in the lobby, not in a match: refused, exit 2, with the reason
    // xvfb-run itself once failed here with its own exit 5 ("problem while cleaning up
    // temporary directory") after the fighter had exited: retry only that wrapper error
    let mut refused = wait(
        spectate("bob", &[]),
        "refused fighter",
        Duration::from_secs(30),
    );
    if String::from_utf8_lossy(&refused.stderr).contains("xvfb-run: error") {
        refused = wait(
            spectate("bob", &[]),
            "refused fighter (retry)",
            Duration::from_secs(30),
        );
    }
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "stderr {stderr}");
    assert!(
        stderr.contains("cannot watch bob") && stderr.contains("not in a running match"),
        "stderr {stderr}"
    );
    assert_eq!(json_of(&refused)["connected"], false);

    let mut alice_args = online_args(&url, &ta, "Alice");
    alice_args[8] = "1200";
    alice_args.extend(["--challenge", "bob"]);
    let alice = spawn_bot(&alice_args);
    // join mid-match: the match (20 s at 60 fps) is a few seconds in
    std::thread::sleep(Duration::from_secs(4));
    let dir = std::env::temp_dir().join(format!("fighter-spectate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (shot_at, last) = (dir.join("at1100.png"), dir.join("last.png"));
    let shot_arg = format!("1100:{}", shot_at.display());
    let carol = spectate(
        "alice",
        &[
            "--screenshot-at",
            &shot_arg,
            "--screenshot",
            last.to_str().expect("utf-8 path"),
        ],
    );
    // `bot --spectate` (no window, no --frames) watches the same match from bob's side
    let te = server.token("erin");
    let erin = spawn_bot(&[
        "--server",
        &url,
        "--token",
        &te,
        "--name",
        "Erin",
        "--loopback",
        "--spectate",
        "bob",
        "--json",
    ]);
    // a second spectator closes its window mid-match: the process ends within a second,
    // exit 1 (the match was not followed to its end); carol and the players carry on
    std::thread::sleep(Duration::from_secs(1));
    let td = server.token("dave");
    let dave = [
        "--server",
        &url,
        "--token",
        &td,
        "--loopback",
        "--spectate",
        "alice",
    ];
    // exit 1: closed before the end; one more attempt still ends well before the match
    assert_closes_within_a_second("spectator", 2, 3, &dave, 1);
    let a = wait(alice, "alice", Duration::from_secs(60));
    let b = wait(bob, "bob", Duration::from_secs(60));
    let c = wait(carol, "carol", Duration::from_secs(30));
    let e = wait(erin, "erin (bot --spectate)", Duration::from_secs(30));
    assert_success("alice", &a);
    assert_success("bob", &b);
    assert_success("carol", &c);
    assert_success("erin", &e);
    let (ra, rb, rc) = (json_of(&a), json_of(&b), json_of(&c));
    assert_eq!(ra["checksum"], rb["checksum"], "the players agree");
    assert!(ra["checksum"].is_string(), "alice's report {ra}");
    assert_eq!(rc["completed"], true, "carol's report {rc}");
    assert_eq!(rc["frames"], 1200, "carol's report {rc}");
    assert_eq!(rc["checksum"], ra["checksum"], "carol's report {rc}");
    assert_eq!(rc["watching"], "alice");
    let re = json_of(&e);
    assert_eq!(re["completed"], true, "erin's report {re}");
    assert_eq!(re["frames"], 1200, "erin's report {re}");
    assert_eq!(re["checksum"], rb["checksum"], "erin's report {re}");
    assert_eq!(re["watching"], "bob");
    // the window drew the followed match: a screenshot at frame 1100 and at the end
    for path in [&shot_at, &last] {
        let shot = image::open(path).expect("spectator screenshot").to_rgba8();
        assert_eq!(shot.dimensions(), (960, 540));
        let colours = distinct_colours(&shot);
        assert!(colours >= 8, "{}: only {colours} colours", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let joined_at = rc["joined_at"].as_i64().expect("joined_at");
    assert!(
        joined_at > 0 && joined_at < 1200,
        "carol joined mid-match: {rc}"
    );
}
