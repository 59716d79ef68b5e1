//! Bounded server state: the stage map and the stage member sets have limits (a request
//! beyond them is answered with `ERROR_STAGE_FULL`), and a client that stops reading is cut
//! when its send queue would pass `max_queued_bytes_per_session`.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use bytes::BytesMut;
use common::*;
use connector::codec;
use connector::server::{Outcome, ServerConfig, ERROR_STAGE_FULL};
use connector::Packet;
use tokio::io::AsyncWriteExt;

async fn stage_limits(ws: bool) {
    let config = ServerConfig {
        max_stages: 1,
        max_stage_members: 1,
        ..ServerConfig::default()
    };
    let server = start_server(config, |b| b).await;
    let a = connect(&server, ws).await;
    let b = connect(&server, ws).await;
    assert!(a.request_to_stage_async(1, echo(b"x")).await.is_ok());
    let err = a.request_to_stage_async(2, echo(b"x")).await.unwrap_err();
    assert_eq!(err.error_code, ERROR_STAGE_FULL, "a second stage");
    let err = b.request_to_stage_async(1, echo(b"x")).await.unwrap_err();
    assert_eq!(err.error_code, ERROR_STAGE_FULL, "a second member");
    assert_eq!(server.handle().stage_members(1).len(), 1);
    a.disconnect();
    assert!(wait_until(|| server.handle().stage_members(1).is_empty()).await);
    assert!(
        b.request_to_stage_async(2, echo(b"x")).await.is_ok(),
        "the slot is free again"
    );
    server.shutdown().await;
}

both_transports!(stage_limits);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_stops_reading_is_cut() {
    let config = ServerConfig {
        max_queued_bytes_per_session: 256 * 1024,
        compression: None,
        ..ServerConfig::default()
    };
    let server = start_server(config, |b| {
        b.handler("FloodRequest", |ctx, _| {
            // 64 MiB of pushes: far more than the socket buffers plus the 256 KiB queue
            for _ in 0..1024 {
                if !ctx
                    .session()
                    .push(0, &Packet::new("Flood", vec![7u8; 64 * 1024]))
                {
                    break;
                }
            }
            Outcome::NoReply
        })
    })
    .await;
    let mut raw = tokio::net::TcpStream::connect(server.tcp_addr().unwrap())
        .await
        .unwrap();
    let mut frame = BytesMut::new();
    codec::encode_client("FloodRequest", 0, 0, &[], &mut frame).unwrap();
    raw.write_all(&frame).await.unwrap();
    // never read: the server must close the session instead of queueing 64 MiB
    assert!(wait_until(|| server.handle().stats().active_sessions == 0).await);
    server.shutdown().await;
}
