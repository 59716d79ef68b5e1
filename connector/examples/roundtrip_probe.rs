//! Counts what one request/response round trip costs the [`Connector`] against a raw tokio
//! client, over loopback TCP against the same raw echo task: time and context switches per
//! round trip (all threads of the process, from `/proc/self/task/*/status`, Linux only).
//! It is the fixed-count companion of `benches/connector.rs`: run it under `perf stat` to
//! count syscalls per round trip (see docs/bench/connector.md).
//!
//! ```sh
//! cargo run --release -p connector --example roundtrip_probe -- 20000
//! MODE="connector block" perf stat -e context-switches,syscalls:sys_enter_futex \
//!     target/release/examples/roundtrip_probe 20000
//! ```
//! `MODE` picks the cases whose name starts with it (`raw`, `connector`, ...); `RT=current`
//! uses a current-thread runtime (no cross-thread wake-ups: CPU cost only).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use connector::codec::{self, CodecLimits};
use connector::{Connector, ConnectorConfig, Packet};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Context switches of every thread of this process so far.
fn context_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut n = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches")
                || line.starts_with("nonvoluntary_ctxt_switches")
            {
                n += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    n
}

/// The raw echo of `benches/connector.rs`: each client packet comes back as a server packet.
async fn raw_echo_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
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
    Ok(addr)
}

/// `n` round trips of the baseline client (write a request, read until its reply).
async fn raw_round_trips(addr: SocketAddr, n: usize) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::new();
    let limits = CodecLimits::default();
    let payload = [1u8; 64];
    for i in 0..n {
        out.clear();
        let seq = u16::try_from(i % 60_000 + 1).unwrap_or(1);
        codec::encode_client("EchoRequest", seq, 0, &payload, &mut out).map_err(io_err)?;
        s.write_all(&out).await?;
        while codec::decode_server(&mut buf, &limits)
            .map_err(io_err)?
            .is_none()
        {
            s.read_buf(&mut buf).await?;
        }
    }
    Ok(())
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// `n` sequential `request_async` round trips.
async fn connector_round_trips(c: Connector, n: usize) -> std::io::Result<()> {
    for _ in 0..n {
        c.request_async(Packet::new("EchoRequest", vec![1u8; 64]))
            .await
            .map_err(io_err)?;
    }
    Ok(())
}

/// `n / 1000` rounds of 1,000 joined `request_async` futures.
async fn connector_pipelined(c: Connector, n: usize) -> std::io::Result<()> {
    for _ in 0..n / 1000 {
        let all = (0..1000).map(|_| c.request_async(Packet::new("EchoRequest", vec![1u8; 64])));
        for r in join_all(all).await {
            r.map_err(io_err)?;
        }
    }
    Ok(())
}

fn runtime(flavor: &str) -> std::io::Result<Runtime> {
    if flavor == "current" {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
}

fn main() -> std::io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let flavor = std::env::var("RT").unwrap_or_else(|_| "multi".into());
    let mode = std::env::var("MODE").unwrap_or_default();
    let rt = runtime(&flavor)?;
    let addr = rt.block_on(raw_echo_server())?;
    let conn = rt.block_on(async {
        let c = Connector::new(ConnectorConfig::new("127.0.0.1", addr.port()))?;
        if c.connect_async(true).await {
            Ok(c)
        } else {
            Err(io_err("connect failed"))
        }
    })?;
    let run = |name: &str, work: &dyn Fn() -> std::io::Result<()>| -> std::io::Result<()> {
        if !name.starts_with(mode.as_str()) {
            return Ok(());
        }
        let (switches, start) = (context_switches(), Instant::now());
        work()?;
        let (elapsed, switches) = (start.elapsed(), context_switches() - switches);
        let per = |v: f64| v / n as f64;
        println!(
            "{flavor:7} {name:28} {:8.2} us/request {:6.2} context switches/request",
            per(elapsed.as_secs_f64() * 1e6),
            per(switches as f64)
        );
        Ok(())
    };
    let spawned = flavor != "current";
    run("raw block_on", &|| rt.block_on(raw_round_trips(addr, n)))?;
    run("connector block_on", &|| {
        rt.block_on(connector_round_trips(conn.clone(), n))
    })?;
    if spawned {
        let on_worker = |f: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>| {
            rt.block_on(async { tokio::spawn(f).await.map_err(io_err)? })
        };
        run("raw spawned", &|| {
            on_worker(Box::pin(raw_round_trips(addr, n)))
        })?;
        run("connector spawned", &|| {
            on_worker(Box::pin(connector_round_trips(conn.clone(), n)))
        })?;
    }
    run("connector pipelined block_on", &|| {
        rt.block_on(connector_pipelined(conn.clone(), n))
    })?;
    conn.disconnect();
    Ok(())
}
