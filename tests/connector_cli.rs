//! The example programs' logic (`netplay::connector_cli`): flag parsing (step order, MSGID[:HEX][@STAGE],
//! exit code 2 on bad flags), and `connector_cli` against `connector_server` over TCP and
//! WebSocket producing the documented JSON lines and exit codes.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

use clap::Parser;
use netplay::connector_cli::client::{
    run, Invocation, MessageSpec, Step, EXIT_BAD_FLAGS, EXIT_CONNECT_FAILED, EXIT_OK,
};
use netplay::connector_cli::server::{listening_line, start, ServerArgs};
use serde_json::Value;

fn parse(extra: &[&str]) -> Result<Invocation, clap::Error> {
    let mut argv = vec!["connector_cli"];
    argv.extend_from_slice(extra);
    Invocation::parse_from(argv)
}

#[test]
fn message_specs() {
    let m: MessageSpec = "EchoRequest:0aff@42".parse().unwrap();
    assert_eq!(
        (m.msg_id.as_str(), m.payload, m.stage_id),
        ("EchoRequest", vec![0x0A, 0xFF], 42)
    );
    let m: MessageSpec = "Ping".parse().unwrap();
    assert_eq!(
        (m.msg_id.as_str(), m.payload.len(), m.stage_id),
        ("Ping", 0, 0)
    );
    let m: MessageSpec = "@Heart@Beat@".parse().unwrap();
    assert_eq!((m.msg_id.as_str(), m.stage_id), ("@Heart@Beat@", 0));
    let m: MessageSpec = "Move@-3".parse().unwrap();
    assert_eq!(m.stage_id, -3);
    assert!("X:abc".parse::<MessageSpec>().is_err());
    assert!(":00".parse::<MessageSpec>().is_err());
}

#[test]
fn steps_keep_command_line_order_and_bad_flags_exit_2() {
    let inv = parse(&[
        "--port",
        "1",
        "--send",
        "A",
        "--request",
        "B@2",
        "--send",
        "C",
        "--json",
    ])
    .unwrap();
    let names: Vec<String> = inv
        .steps
        .iter()
        .map(|s| match s {
            Step::Request(m) => format!("req {}", m.msg_id),
            Step::Send(m) => format!("send {}", m.msg_id),
        })
        .collect();
    assert_eq!(names, ["send A", "req B", "send C"]);
    for bad in [
        &["--port", "x"][..],
        &["--port", "1", "--request", "A:zz"],
        &["--bogus"],
    ] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_FLAGS, "{bad:?}");
    }
}

async fn run_lines(args: &[&str]) -> (i32, Vec<Value>) {
    let (code, raw) = run_raw(args).await;
    let lines = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, lines)
}

async fn run_raw(args: &[&str]) -> (i32, Vec<String>) {
    let inv = parse(args).unwrap();
    let mut out = Vec::new();
    let code = run(&inv, &mut out).await;
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (code, lines)
}

async fn cli_against_server(ws: bool) {
    let sargs = ServerArgs::parse_from([
        "connector_server",
        "--tcp",
        "127.0.0.1:0",
        "--ws",
        "127.0.0.1:0",
        "--auth-msg",
        "AuthenticateRequest",
    ]);
    let server = start(&sargs).await.unwrap();
    let line = listening_line(&server);
    let ws_addr = server.ws_addr().unwrap();
    let tcp_addr = server.tcp_addr().unwrap();
    assert_eq!(
        line,
        format!("play server listening tcp://{tcp_addr} ws://{ws_addr}/ws")
    );
    let port = if ws { ws_addr.port() } else { tcp_addr.port() }.to_string();
    let mut args = vec![
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--auth",
        "AuthenticateRequest:01",
        "--request",
        "EchoRequest:cafe@7",
        "--send",
        "NoteRequest:00",
        "--request",
        "Other",
        "--listen-ms",
        "100",
        "--json",
    ];
    if ws {
        args.push("--ws");
    }
    let (code, raw) = run_raw(&args).await;
    assert_eq!(code, EXIT_OK);
    assert_eq!(raw[0], r#"{"event":"connected"}"#);
    assert_eq!(raw[1], r#"{"event":"authenticated","errorCode":0}"#);
    assert!(
        raw[2].starts_with(r#"{"event":"response","msgId":"EchoReply","seq":"#),
        "{}",
        raw[2]
    );
    let lines: Vec<Value> = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "connected",
            "authenticated",
            "response",
            "response",
            "disconnected"
        ]
    );
    assert_eq!(lines[1]["errorCode"], 0);
    let r = &lines[2];
    assert_eq!(
        (
            r["msgId"].as_str(),
            r["stageId"].as_i64(),
            r["errorCode"].as_u64(),
            r["payloadHex"].as_str()
        ),
        (Some("EchoReply"), Some(7), Some(0), Some("cafe"))
    );
    assert!(r["seq"].as_u64().unwrap() >= 1);
    assert_eq!(lines[3]["msgId"], "OtherReply");
    // without --auth the server closes the session: an error line, still exit 0
    let (code, lines) = run_lines(
        &["--port", &port, "--request", "EchoRequest", "--json"][..]
            .iter()
            .copied()
            .chain(ws.then_some("--ws"))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(code, EXIT_OK);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["connected", "error", "disconnected"], "{lines:?}");
    assert_eq!(
        (lines[1]["code"].as_u64(), lines[1]["msgId"].as_str()),
        (Some(60201), Some("EchoRequest"))
    );
    assert_eq!(server.handle().stats().auth_violations, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_against_server_tcp() {
    cli_against_server(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_against_server_ws() {
    cli_against_server(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failure_exits_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    drop(listener);
    let (code, _) = run_lines(&["--port", &port, "--json"]).await;
    assert_eq!(code, EXIT_CONNECT_FAILED);
}

/// `connector_server --playhouse-test --http ADDR --tcp ADDR` prints its real ports, and
/// `--relay-secret` enables the relay stage next to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_playhouse_test_mode_and_relay_flag() {
    use connector::relay::{mint_ticket, RelayMember, TicketClaims};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sargs = ServerArgs::parse_from([
        "connector_server",
        "--playhouse-test",
        "--http",
        "127.0.0.1:0",
        "--tcp",
        "127.0.0.1:0",
        "--relay-secret",
        "s3cret",
    ]);
    let server = start(&sargs).await.unwrap();
    let line = listening_line(&server);
    let http = server.http_addr().unwrap();
    let tcp = server.tcp_addr().unwrap();
    assert_ne!(http.port(), 0);
    assert_eq!(
        line,
        format!("playhouse test server listening http://{http} tcp://{tcp} ws://{http}/ws")
    );
    let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""status":"healthy""#), "{out}");
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let claims = TicketClaims {
        sub: "p1".into(),
        session_id: "m1".into(),
        stage_id: 5,
        exp,
    };
    let ticket = mint_ticket(b"s3cret", &claims).unwrap();
    let config = connector::ConnectorConfig::new("127.0.0.1", tcp.port());
    let member = RelayMember::join(config, 5, &ticket).await.unwrap();
    assert_eq!(member.member_index(), 0);
    member.leave();
    server.shutdown().await;
}
