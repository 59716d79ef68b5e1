//! The PlayHouse test-server mode (`server::playhouse`) driven by our own connector over TCP
//! and over WebSocket on the HTTP port, with the protobuf helpers (`Packet::from_message`,
//! `Packet::decode`), plus its HTTP API and the wire-level "no compression" rule.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use common::*;
use connector::codec::{self, CodecLimits};
use connector::server::playhouse::{self, proto::*, AUTH_FAILED, LARGE_PAYLOAD_LEN};
use connector::server::PlayServer;
use connector::{error, Connector, ConnectorConfig, Packet};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> PlayServer {
    let lo = "127.0.0.1:0".parse().unwrap();
    playhouse::builder(playhouse::server_config(), lo, None, "play-1")
        .tcp(lo)
        .start()
        .await
        .unwrap()
}

async fn connect_to(server: &PlayServer, ws: bool) -> Connector {
    let addr = if ws {
        server.http_addr()
    } else {
        server.tcp_addr()
    }
    .unwrap();
    let c = Connector::new(ConnectorConfig {
        use_websocket: ws,
        request_timeout_ms: 1000,
        ..ConnectorConfig::new("127.0.0.1", addr.port())
    })
    .unwrap();
    c.set_authenticate_message_id(playhouse::AUTH_MSG_ID);
    assert!(c.connect_async(false).await);
    c
}

fn auth(user: &str, token: &str) -> Packet {
    Packet::from_message(&AuthenticateRequest {
        user_id: user.into(),
        token: token.into(),
        ..Default::default()
    })
}

async fn authentication_rules(ws: bool) {
    let server = start().await;
    let c = connect_to(&server, ws).await;
    for (user, token) in [("", "t"), ("u", ""), ("u", "my-INVALID-token")] {
        let reply = c.authenticate_raw_async(auth(user, token)).await.unwrap();
        assert_eq!(reply.received_header().unwrap().error_code, AUTH_FAILED);
        let body: AuthenticateReply = reply.decode_checked().unwrap();
        assert!(!body.success);
        assert_eq!(
            (body.received_user_id.as_str(), body.received_token.as_str()),
            (user, token)
        );
        assert!(
            c.is_connected() && !c.is_authenticated(),
            "a failed auth keeps the connection"
        );
    }
    let reply = c
        .authenticate_async(auth("alice", "valid_token"))
        .await
        .unwrap();
    let body: AuthenticateReply = reply.decode_checked().unwrap();
    assert!(body.success);
    assert_eq!(
        body.account_id, "4",
        "the account counter counts failed attempts too"
    );
    assert!(c.is_authenticated());
    c.disconnect();
    server.shutdown().await;
}

async fn stage_messages(ws: bool) {
    let server = start().await;
    let c = connect_to(&server, ws).await;
    c.authenticate_async(auth("bob", "valid_token"))
        .await
        .unwrap();
    let stage = 4242;

    let reply = c
        .request_to_stage_async(
            stage,
            Packet::from_message(&EchoRequest {
                content: "hi".into(),
                sequence: 7,
            }),
        )
        .await
        .unwrap();
    let echo: EchoReply = reply.decode_checked().unwrap();
    assert_eq!((echo.content.as_str(), echo.sequence), ("hi", 7));
    assert!(echo.processed_at > 0);

    let fail = FailRequest {
        error_code: 1234,
        error_message: "boom".into(),
    };
    let reply = c
        .request_to_stage_async(stage, Packet::from_message(&fail))
        .await
        .unwrap();
    assert_eq!(
        reply.received_header().unwrap().error_code,
        0,
        "the code is in the payload"
    );
    let body: FailReply = reply.decode_checked().unwrap();
    assert_eq!((body.error_code, body.message.as_str()), (1234, "boom"));

    let err = c
        .request_to_stage_async(
            stage,
            Packet::from_message(&NoResponseRequest { delay_ms: 0 }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_code, error::REQUEST_TIMEOUT);

    let reply = c
        .request_to_stage_async(
            stage,
            Packet::from_message(&LargePayloadRequest { size_bytes: 10 }),
        )
        .await
        .unwrap();
    let big: BenchmarkReply = reply.decode_checked().unwrap();
    assert_eq!(big.payload.len(), LARGE_PAYLOAD_LEN);
    assert!(big
        .payload
        .iter()
        .enumerate()
        .all(|(i, b)| usize::from(*b) == i % 256));

    let reply = c
        .request_to_stage_async(stage, Packet::empty("StatusRequest"))
        .await
        .unwrap();
    assert_eq!(reply.msg_id(), "StatusRequestReply");

    let pushes = Arc::new(Mutex::new(Vec::new()));
    let p2 = pushes.clone();
    c.on_receive(move |stage_id, packet| p2.lock().unwrap().push((stage_id, packet)));
    c.send_to_stage(
        stage,
        Packet::from_message(&BroadcastRequest {
            content: "all".into(),
        }),
    );
    assert!(pump_until(&c, || !pushes.lock().unwrap().is_empty()).await);
    let (stage_id, packet) = pushes.lock().unwrap().remove(0);
    assert_eq!(stage_id, stage);
    let notify: BroadcastNotify = packet.decode_checked().unwrap();
    assert_eq!(
        (notify.event_type.as_str(), notify.data.as_str()),
        ("TestBroadcast", "all")
    );
    assert_eq!(notify.from_account_id, 1);
    c.disconnect();
    server.shutdown().await;
}

both_transports!(authentication_rules, stage_messages);

async fn http(server: &PlayServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(server.http_addr().unwrap())
        .await
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap();
    (status, serde_json::from_str(json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api() {
    let server = start().await;
    let (code, v) = http(&server, "GET", "/api/health", "").await;
    assert_eq!(
        (code, v["status"].as_str(), v["serverId"].as_str()),
        (200, Some("healthy"), Some("play-1"))
    );
    let create = r#"{"stageType":"TestStage","stageId":77}"#;
    let (code, v) = http(&server, "POST", "/api/stages", create).await;
    assert_eq!(
        (code, &v["success"], &v["stageId"]),
        (200, &Value::Bool(true), &Value::from(77))
    );
    assert_eq!(v["replyPayloadId"], "TestStage:100");
    let (_, v) = http(&server, "POST", "/api/stages", create).await;
    assert_eq!(v["success"], false, "the stage exists already");
    let (_, v) = http(&server, "POST", "/api/stages/get-or-create", create).await;
    assert_eq!(
        (&v["success"], &v["isCreated"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    let other = r#"{"stageType":"TestStage","stageId":78}"#;
    let (_, v) = http(&server, "POST", "/api/stages/get-or-create", other).await;
    assert_eq!(
        (&v["success"], &v["isCreated"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let (code, _) = http(&server, "POST", "/api/stages", "not json").await;
    assert_eq!(code, 400);
    let (code, _) = http(&server, "GET", "/nope", "").await;
    assert_eq!(code, 404);
    server.shutdown().await;
}

/// The 1 MiB reply goes out uncompressed (OriginalSize 0), as the C# codec writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_are_never_compressed() {
    let server = start().await;
    let mut s = TcpStream::connect(server.tcp_addr().unwrap())
        .await
        .unwrap();
    let mut out = BytesMut::new();
    let (id, payload) = auth("carol", "ok").into_parts();
    codec::encode_client(&id, 1, 9, &payload, &mut out).unwrap();
    codec::encode_client("LargePayloadRequest", 2, 9, &[], &mut out).unwrap();
    s.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    let limits = CodecLimits::default();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "server closed");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(total) = codec::frame_len(&buf, limits.max_packet_len).unwrap() {
            let frame = buf.split_to(total);
            let id_len = usize::from(frame[4]);
            let original = &frame[4 + 1 + id_len + 2 + 8 + 2..][..4];
            seen.push((
                frame.len(),
                i32::from_le_bytes(original.try_into().unwrap()),
            ));
        }
    }
    assert_eq!(seen[0].1, 0);
    assert!(
        seen[1].0 > LARGE_PAYLOAD_LEN,
        "the 1 MiB payload is not shrunk"
    );
    assert_eq!(seen[1].1, 0, "OriginalSize is 0: not compressed");
    server.shutdown().await;
}

/// `wss` and HTTPS on the HTTPS port, as the C# server serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_and_https_on_the_https_port() {
    use connector::server::http::TlsConfig;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = TlsConfig::from_pem(
        cert.cert.pem().as_bytes(),
        cert.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();
    let lo = "127.0.0.1:0".parse().unwrap();
    let server = playhouse::builder(playhouse::server_config(), lo, Some((lo, tls)), "play-1")
        .tcp(lo)
        .start()
        .await
        .unwrap();
    let port = server.https_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(client.clone()));
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(
        format!("wss://localhost:{port}/ws"),
        stream,
        None,
        Some(connector),
    )
    .await
    .unwrap();
    let (id, payload) = auth("dave", "ok").into_parts();
    let mut frame = BytesMut::new();
    codec::encode_client(&id, 1, 3, &payload, &mut frame).unwrap();
    ws.send(Message::Binary(frame.freeze())).await.unwrap();
    let reply = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => break b,
            _ => continue,
        }
    };
    let mut buf = BytesMut::from(&reply[..]);
    let p = codec::decode_server(&mut buf, &CodecLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.msg_id.as_str(), p.seq, p.error_code),
        ("AuthenticateReply", 1, 0)
    );

    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("healthy"),
        "{out}"
    );
    server.shutdown().await;
}
