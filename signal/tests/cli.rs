//! The `signal` binary: `serve` prints exactly one listening line with the real port and
//! serves real clients, `token` mints a usable JWT, bad flags and a missing secret exit 2
//! with a one-line error, SIGTERM shuts the server down cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use signal::SignalClient;

const BIN: &str = env!("CARGO_BIN_EXE_signal");

#[tokio::test]
async fn serve_prints_the_listening_line_and_serves() {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SIGNAL_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("signal listening on ")
        .expect(&line)
        .to_owned();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws/signal"),
        "{url}"
    );
    assert!(!url.contains(":0/"), "real port expected: {url}");

    // A token minted by the CLI is accepted by the server.
    let out = Command::new(BIN)
        .args(["token", "--sub", "alice", "--name", "Alice", "--ttl", "60"])
        .env("SIGNAL_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let c = SignalClient::connect(&url, token.trim()).await.unwrap();
    assert_eq!(c.player_id(), "alice");
    c.close().await;

    // SIGTERM: clean exit, and nothing else was printed on stdout.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "exactly one stdout line");
}

#[test]
fn bad_flags_and_missing_secret_exit_2_with_one_line() {
    let cases: [&[&str]; 6] = [
        &["serve", "--listen", "127.0.0.1:0"],
        &["serve", "--bogus"],
        &["serve", "--listen", "not-an-address", "--jwt-secret", "s"],
        &["serve", "--jwt-alg", "EdDSA", "--jwt-secret", "s"],
        &["token", "--sub", "alice"],
        &["launch"],
    ];
    for args in cases {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("SIGNAL_JWT_SECRET")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{err}");
        assert!(out.stdout.is_empty());
    }
}
