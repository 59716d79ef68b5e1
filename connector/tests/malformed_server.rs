//! A hostile server: for each malformed server→client packet of the spec (negative or huge
//! Len, truncated header, MsgIdLen past the end, negative or huge OriginalSize, a wrong
//! decompressed size, a decompression bomb), the client closes the connection, completes the
//! pending request with 60201 and fires on_disconnect, without panicking. Also: the reference
//! server closes a client that exceeds its packet size limit, and shuts down gracefully.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use common::*;
use connector::error::DISCONNECTED;
use connector::server::ServerConfig;
use connector::{Connector, ConnectorConfig, Packet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn frame(len_override: Option<i32>, id_len: u8, original: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    let len = 1 + 4 + 2 + 8 + 2 + 4 + payload.len();
    b.put_i32_le(len_override.unwrap_or(len as i32));
    b.put_u8(id_len);
    b.put_slice(b"Evil");
    b.put_u16_le(1);
    b.put_i64_le(0);
    b.put_u16_le(0);
    b.put_i32_le(original);
    b.put_slice(payload);
    b.to_vec()
}

fn malformed_frames() -> Vec<(&'static str, Vec<u8>)> {
    let bomb = [
        0x1F, b'a', 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x50, b'a', b'a', b'a', b'a', b'a',
    ];
    vec![
        ("negative Len", (-1i32).to_le_bytes().to_vec()),
        ("huge Len", i32::MAX.to_le_bytes().to_vec()),
        ("zero Len", 0i32.to_le_bytes().to_vec()),
        (
            "truncated header",
            vec![6, 0, 0, 0, 4, b'E', b'v', b'i', b'l', 1],
        ),
        ("MsgIdLen past the end", frame(None, 200, 0, b"")),
        ("negative OriginalSize", frame(None, 4, -7, b"xx")),
        ("huge OriginalSize", frame(None, 4, i32::MAX, b"xx")),
        (
            "wrong decompressed size",
            frame(None, 4, 50, &[0x50, b'a', b'b', b'c', b'd', b'e']),
        ),
        ("decompression bomb", frame(None, 4, 100, &bomb)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_server_packets_close_the_connection() {
    for (name, bytes) in malformed_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let evil = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(&bytes).await.unwrap();
            // keep the socket open: the client must close it by itself
            let _ = s.read(&mut buf).await;
        });
        let c = Connector::new(ConnectorConfig::new("127.0.0.1", port)).unwrap();
        let disconnects = Arc::new(AtomicUsize::new(0));
        let d2 = disconnects.clone();
        c.on_disconnect(move || {
            d2.fetch_add(1, Ordering::SeqCst);
        });
        assert!(c.connect_async(true).await, "{name}");
        let err = c
            .request_async(Packet::empty("EvilRequest"))
            .await
            .unwrap_err();
        assert_eq!(err.error_code, DISCONNECTED, "{name}");
        assert!(
            pump_until(&c, || disconnects.load(Ordering::SeqCst) == 1).await,
            "{name}"
        );
        assert!(!c.is_connected(), "{name}");
        tokio::time::timeout(MUST_HAPPEN, evil)
            .await
            .unwrap()
            .unwrap();
    }
}

async fn server_packet_limit_and_graceful_shutdown(ws: bool) {
    let config = ServerConfig {
        max_packet_len: 1024,
        ..ServerConfig::default()
    };
    let server = start_server(config, |b| b).await;
    let small = connect(&server, ws).await;
    assert_eq!(
        small
            .request_async(echo(&[5; 900]))
            .await
            .unwrap()
            .payload()
            .len(),
        900
    );
    let big = connect(&server, ws).await;
    let err = big.request_async(echo(&[5; 2000])).await.unwrap_err();
    assert_eq!(err.error_code, DISCONNECTED);
    assert!(wait_until(|| server.handle().stats().protocol_errors == 1 || ws).await);
    let disconnects = Arc::new(AtomicUsize::new(0));
    let d2 = disconnects.clone();
    small.on_disconnect(move || {
        d2.fetch_add(1, Ordering::SeqCst);
    });
    small.main_thread_action();
    tokio::time::timeout(MUST_HAPPEN, server.shutdown())
        .await
        .unwrap();
    assert!(pump_until(&small, || disconnects.load(Ordering::SeqCst) == 1).await);
}

both_transports!(server_packet_limit_and_graceful_shutdown);
