//! Criterion suite `connector/*`: codec encode/decode throughput; request/response round
//! trips over loopback TCP for the `Connector` against a raw tokio TCP echo with the same
//! framing (and a raw client against it as the baseline); pipelined requests, 1,000 in flight.
//!
//! Run: `cargo bench --bench connector`. Figures are recorded in docs/bench/connector.md.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use connector::codec::{self, CodecLimits, CompressionPolicy};
use connector::server::{PlayServer, ServerConfig};
use connector::{Connector, ConnectorConfig, Packet};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn codec_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("connector/codec");
    let limits = CodecLimits::default();
    for size in [32usize, 1024, 64 * 1024] {
        let payload = vec![7u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encode_client", size), &payload, |b, p| {
            let mut out = BytesMut::with_capacity(size + 64);
            b.iter(|| {
                out.clear();
                codec::encode_client("EchoRequest", 7, 42, p, &mut out).expect("encode");
                out.len()
            })
        });
        let mut plain = BytesMut::new();
        codec::encode_server("EchoReply", 7, 42, 0, &payload, None, &mut plain).expect("encode");
        g.bench_with_input(
            BenchmarkId::new("decode_server", size),
            &plain,
            |b, frame| {
                b.iter(|| {
                    let mut buf = frame.clone();
                    codec::decode_server(&mut buf, &limits)
                        .expect("ok")
                        .expect("complete")
                })
            },
        );
        let text: Vec<u8> = (0..size)
            .map(|i| b"abcdefgh"[i % 8] ^ (i / 64) as u8)
            .collect();
        let mut lz = BytesMut::new();
        let policy = Some(CompressionPolicy {
            min_size: 0,
            ..CompressionPolicy::default()
        });
        codec::encode_server("EchoReply", 7, 42, 0, &text, policy, &mut lz).expect("encode");
        g.bench_with_input(
            BenchmarkId::new("decode_server_lz4", size),
            &lz,
            |b, frame| {
                b.iter(|| {
                    let mut buf = frame.clone();
                    codec::decode_server(&mut buf, &limits)
                        .expect("ok")
                        .expect("complete")
                })
            },
        );
    }
    g.finish();
}

/// A raw tokio TCP echo speaking the same framing: each client packet gets a server packet
/// with the same msgId, seq, stage and payload.
async fn raw_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let limits = CodecLimits::default();
                let mut buf = BytesMut::with_capacity(64 * 1024);
                let mut out = BytesMut::with_capacity(64 * 1024);
                while matches!(s.read_buf(&mut buf).await, Ok(n) if n > 0) {
                    while let Ok(Some(p)) = codec::decode_client(&mut buf, &limits) {
                        let _ = codec::encode_server(
                            &p.msg_id, p.seq, p.stage_id, 0, &p.payload, None, &mut out,
                        );
                    }
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            });
        }
    });
    addr
}

/// The baseline client: one stream, write a request, read until the reply is complete.
struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    out: BytesMut,
    seq: u16,
}

impl RawClient {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::new(),
            seq: 0,
        }
    }

    /// Writes `n` requests in one write, then reads the `n` replies.
    async fn pipelined(&mut self, payload: &[u8], n: usize) -> usize {
        self.out.clear();
        for _ in 0..n {
            self.seq = self.seq.wrapping_add(1).max(1);
            codec::encode_client("EchoRequest", self.seq, 0, payload, &mut self.out)
                .expect("encode");
        }
        self.stream.write_all(&self.out).await.expect("write");
        let limits = CodecLimits::default();
        let mut got = 0;
        while got < n {
            while let Some(_p) = codec::decode_server(&mut self.buf, &limits).expect("valid") {
                got += 1;
            }
            if got < n {
                self.stream.read_buf(&mut self.buf).await.expect("read");
            }
        }
        got
    }

    async fn request(&mut self, payload: &[u8]) -> usize {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.out.clear();
        codec::encode_client("EchoRequest", self.seq, 0, payload, &mut self.out).expect("encode");
        self.stream.write_all(&self.out).await.expect("write");
        let limits = CodecLimits::default();
        loop {
            if let Some(p) = codec::decode_server(&mut self.buf, &limits).expect("valid") {
                return p.payload.len();
            }
            self.stream.read_buf(&mut self.buf).await.expect("read");
        }
    }
}

async fn connector_to(addr: SocketAddr) -> Connector {
    let config = ConnectorConfig::new("127.0.0.1", addr.port());
    let c = Connector::new(config).expect("connector");
    assert!(c.connect_async(true).await, "connects");
    c
}

async fn reference_server() -> PlayServer {
    PlayServer::builder(ServerConfig::default())
        .echo()
        .tcp("127.0.0.1:0".parse().expect("addr"))
        .start()
        .await
        .expect("server")
}

fn roundtrip_benches(c: &mut Criterion) {
    let rt = runtime();
    let raw_addr = rt.block_on(raw_echo_server());
    let server = rt.block_on(reference_server());
    let ref_addr = server.tcp_addr().expect("tcp");
    let payload = vec![1u8; 64];
    let mut g = c.benchmark_group("connector/roundtrip");
    g.throughput(Throughput::Elements(1));
    // The baseline runs its whole batch inside one `block_on`, like criterion's `to_async`.
    let raw = Arc::new(tokio::sync::Mutex::new(
        rt.block_on(RawClient::connect(raw_addr)),
    ));
    g.bench_function("raw_client_raw_echo", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (raw, payload) = (raw.clone(), payload.clone());
            async move {
                let mut raw = raw.lock().await;
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(raw.request(&payload).await);
                }
                start.elapsed()
            }
        })
    });
    let conn = rt.block_on(connector_to(raw_addr));
    g.bench_function("connector_raw_echo", |b| {
        b.to_async(&rt).iter(|| async {
            conn.request_async(Packet::new("EchoRequest", payload.clone()))
                .await
                .expect("reply")
        })
    });
    let conn_ref = rt.block_on(connector_to(ref_addr));
    g.bench_function("connector_reference_server", |b| {
        b.to_async(&rt).iter(|| async {
            conn_ref
                .request_async(Packet::new("EchoRequest", payload.clone()))
                .await
                .expect("reply")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("connector/pipelined");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("raw_client_raw_echo_1000_in_flight", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (raw, payload) = (raw.clone(), payload.clone());
            async move {
                let mut raw = raw.lock().await;
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(raw.pipelined(&payload, 1000).await);
                }
                start.elapsed()
            }
        })
    });
    g.bench_function("connector_raw_echo_1000_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            let all =
                (0..1000).map(|_| conn.request_async(Packet::new("EchoRequest", payload.clone())));
            join_all(all).await.len()
        })
    });
    g.bench_function("connector_reference_server_1000_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            let all = (0..1000)
                .map(|_| conn_ref.request_async(Packet::new("EchoRequest", payload.clone())));
            join_all(all).await.len()
        })
    });
    g.finish();
    conn.disconnect();
    conn_ref.disconnect();
    rt.block_on(server.shutdown());
}

/// The suite lives in a private module so criterion's generated `pub fn` needs no docs.
mod suite {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        targets = codec_benches, roundtrip_benches
    }
}
criterion_main!(suite::benches);
