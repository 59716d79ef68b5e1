//! Request behaviour over both TCP and WebSocket against the reference server: the local auth
//! gate, request/response with a stage, pushes and stage broadcasts, timeouts with late
//! replies dropped, 1 MiB payloads, 1,000 concurrent requests, sequence wrap past 65535, and
//! one thread's commands keeping their order across the fast path and the driver's queue.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use connector::error::{REQUEST_TIMEOUT, UNAUTHENTICATED};
use connector::server::{Outcome, ServerConfig};
use connector::{Connector, Packet};

async fn auth_gate_is_local(ws: bool) {
    let server = echo_server(Some(AUTH)).await;
    let c = Connector::new(client_config(&server, ws)).unwrap();
    c.set_authenticate_message_id(AUTH);
    assert!(c.connect_async(false).await);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    c.on_error(move |stage, code, req| {
        e2.lock()
            .unwrap()
            .push((stage, code, req.msg_id().to_owned()))
    });
    let err = c.request_to_stage_async(5, echo(b"x")).await.unwrap_err();
    assert_eq!(
        (err.error_code, err.stage_id, err.msg_id.as_str()),
        (UNAUTHENTICATED, 5, "EchoRequest")
    );
    let err = c
        .send_to_stage_async(4, Packet::empty("ChatRequest"))
        .await
        .unwrap_err();
    assert_eq!((err.error_code, err.stage_id), (UNAUTHENTICATED, 4));
    c.send(Packet::empty("ChatRequest"));
    c.request(echo(b"y"), |_| panic!("must not be answered"));
    assert!(pump_until(&c, || errors.lock().unwrap().len() == 2).await);
    assert!(errors
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.1 == UNAUTHENTICATED));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = server.handle().stats();
    assert_eq!(stats.bytes_received, 0, "nothing reached the server");
    assert!(c.is_connected() && !c.is_authenticated());
    let reply = c
        .authenticate_async(Packet::new(AUTH, b"token".to_vec()))
        .await
        .unwrap();
    assert_eq!(reply.msg_id(), "AuthenticateReply");
    assert!(c.is_authenticated());
    let reply = c.request_async(echo(b"after")).await.unwrap();
    assert_eq!(&reply.payload()[..], b"after");
    assert_eq!(server.handle().stats().packets_received, 2);
    server.shutdown().await;
}

async fn request_response_with_stage(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let reply = c.request_to_stage_async(42, echo(b"hello")).await.unwrap();
    assert_eq!(reply.msg_id(), "EchoReply");
    assert_eq!(&reply.payload()[..], b"hello");
    let h = reply.received_header().unwrap();
    assert_eq!((h.stage_id, h.error_code), (42, 0));
    assert_ne!(h.seq, 0);
    assert_eq!(server.handle().stage_members(42).len(), 1);
    let before = server.handle().stats().packets_received;
    c.send_to_stage_async(43, echo(b"one-way")).await.unwrap();
    c.send(echo(b"one-way too"));
    assert!(wait_until(|| server.handle().stats().packets_received == before + 2).await);
    assert_eq!(
        server.handle().stage_members(43).len(),
        1,
        "a send joins its stage"
    );
    let got = Arc::new(Mutex::new(None));
    let g2 = got.clone();
    c.request_to_stage(9, echo(b"cb"), move |p| *g2.lock().unwrap() = Some(p));
    assert!(pump_until(&c, || got.lock().unwrap().is_some()).await);
    let p = got.lock().unwrap().take().unwrap();
    assert_eq!(
        (&p.payload()[..], p.received_header().unwrap().stage_id),
        (&b"cb"[..], 9)
    );
    server.shutdown().await;
}

async fn server_error_codes_pass_through(ws: bool) {
    let config = ServerConfig::default();
    let server = start_server(config, |b| {
        b.handler("FailRequest", |_, _| Outcome::Error(4321))
    })
    .await;
    let c = connect(&server, ws).await;
    let err = c
        .request_to_stage_async(3, Packet::empty("FailRequest"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.error_code, err.stage_id, err.msg_id.as_str()),
        (4321, 3, "FailRequest")
    );
    assert_eq!(err.local_code(), None);
    let codes = Arc::new(Mutex::new(Vec::new()));
    let c2 = codes.clone();
    c.on_error(move |stage, code, req| {
        c2.lock()
            .unwrap()
            .push((stage, code, req.msg_id().to_owned()))
    });
    c.request(Packet::empty("FailRequest"), |_| {
        panic!("error replies go to on_error")
    });
    assert!(pump_until(&c, || !codes.lock().unwrap().is_empty()).await);
    assert_eq!(
        codes.lock().unwrap()[0],
        (0, 4321, "FailRequest".to_owned())
    );
    server.shutdown().await;
}

async fn pushes_and_broadcasts(ws: bool) {
    let server = start_server(ServerConfig::default(), |b| {
        b.handler("SubscribeRequest", |ctx, _| {
            ctx.session()
                .push(ctx.stage_id(), &Packet::new("Welcome", b"hi".to_vec()));
            Outcome::Reply(Packet::empty("SubscribeReply"))
        })
    })
    .await;
    let a = connect(&server, ws).await;
    let b = connect(&server, !ws).await;
    let seen_a = Arc::new(Mutex::new(Vec::new()));
    let seen_b = Arc::new(Mutex::new(Vec::new()));
    let (sa, sb) = (seen_a.clone(), seen_b.clone());
    a.on_receive(move |stage, p| sa.lock().unwrap().push((stage, p.msg_id().to_owned())));
    b.on_receive(move |stage, p| sb.lock().unwrap().push((stage, p.msg_id().to_owned())));
    a.request_to_stage_async(7, Packet::empty("SubscribeRequest"))
        .await
        .unwrap();
    b.request_to_stage_async(7, Packet::empty("SubscribeRequest"))
        .await
        .unwrap();
    let sent = server
        .handle()
        .broadcast(7, &Packet::new("RoundStart", b"go".to_vec()));
    assert_eq!(sent, 2);
    assert!(pump_until(&a, || seen_a.lock().unwrap().len() == 2).await);
    assert!(pump_until(&b, || seen_b.lock().unwrap().len() == 2).await);
    let want = vec![(7, "Welcome".to_owned()), (7, "RoundStart".to_owned())];
    assert_eq!(*seen_a.lock().unwrap(), want);
    assert_eq!(*seen_b.lock().unwrap(), want);
    server.shutdown().await;
}

async fn timeout_keeps_connection_and_drops_late_reply(ws: bool) {
    let server = start_server(ServerConfig::default(), |b| {
        b.handler("SlowRequest", |ctx, p| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                ctx.reply(Packet::new("SlowReply", p.payload().clone()));
            });
            Outcome::NoReply
        })
    })
    .await;
    let mut cfg = client_config(&server, ws);
    cfg.request_timeout_ms = 600;
    let c = Connector::new(cfg).unwrap();
    assert!(c.connect_async(false).await);
    let received = Arc::new(AtomicUsize::new(0));
    let r2 = received.clone();
    c.on_receive(move |_, _| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    c.on_error(move |_, code, req| e2.lock().unwrap().push((code, req.msg_id().to_owned())));
    let err = c
        .request_async(Packet::empty("SlowRequest"))
        .await
        .unwrap_err();
    assert_eq!(err.error_code, REQUEST_TIMEOUT);
    c.request(Packet::empty("SlowRequest"), |_| {
        panic!("timed out request must not complete")
    });
    assert!(pump_until(&c, || !errors.lock().unwrap().is_empty()).await);
    assert_eq!(
        errors.lock().unwrap()[0],
        (REQUEST_TIMEOUT, "SlowRequest".to_owned())
    );
    assert!(c.is_connected());
    assert_eq!(
        &c.request_async(echo(b"still up")).await.unwrap().payload()[..],
        b"still up"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await; // both late replies arrive
    c.main_thread_action();
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "late replies are not pushes"
    );
    assert_eq!(errors.lock().unwrap().len(), 1);
    assert!(c.is_connected());
    assert_eq!(
        &c.request_async(echo(b"after")).await.unwrap().payload()[..],
        b"after"
    );
    server.shutdown().await;
}

async fn one_mib_payloads(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let zeros = vec![0u8; 1 << 20];
    for payload in [noise, zeros] {
        let reply = c.request_async(echo(&payload)).await.unwrap();
        assert_eq!(reply.payload().len(), payload.len());
        assert!(reply.payload()[..] == payload[..]);
    }
    server.shutdown().await;
}

async fn thousand_concurrent_requests(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                (
                    i,
                    c.request_to_stage_async(i64::from(i), echo(&i.to_le_bytes()))
                        .await,
                )
            })
        })
        .collect();
    let mut seqs = std::collections::BTreeSet::new();
    for t in tasks {
        let (i, reply) = t.await.unwrap();
        let reply = reply.unwrap();
        assert_eq!(&reply.payload()[..], &i.to_le_bytes());
        seqs.insert(reply.received_header().unwrap().seq);
    }
    assert_eq!(seqs.len(), 1000, "every request had its own seq");
    server.shutdown().await;
}

async fn sequence_wraps_past_65535(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let mut seen_max = false;
    let mut wrapped = 0;
    for batch in 0..70 {
        let futs: Vec<_> = (0..1000)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.request_async(echo(b"w")).await })
            })
            .collect();
        for f in futs {
            let seq = f.await.unwrap().unwrap().received_header().unwrap().seq;
            assert_ne!(seq, 0);
            seen_max |= seq == u16::MAX;
            if batch >= 65 && seq < 5000 {
                wrapped += 1;
            }
        }
    }
    assert!(seen_max, "seq reached 65535");
    assert!(wrapped > 0, "seq wrapped to small numbers again");
    server.shutdown().await;
}

/// One thread's commands reach the server in the order it issued them, whichever way each
/// one went: written by the calling thread, queued for the driver while it holds the
/// connection to read replies, or left to the driver when the socket buffer was full.
async fn one_threads_commands_keep_their_order(ws: bool) {
    const N: u32 = 2000;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = start_server(ServerConfig::default(), move |b| {
        b.handler("Seq", move |_, p| {
            let index = p.payload().get(..4).unwrap();
            log.lock()
                .unwrap()
                .push(u32::from_le_bytes(index.try_into().unwrap()));
            Outcome::NoReply
        })
    })
    .await;
    let c = connect(&server, ws).await;
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    c.on_error(move |_, _, _| {
        r.fetch_add(1, Ordering::Relaxed);
    });
    let replies = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let mut payload = i.to_le_bytes().to_vec();
        if i % 10 == 0 {
            // 200 x 32 KiB: more than the socket buffers, less than the 8 MiB transmit bound
            payload.resize(32 * 1024, 7);
        }
        c.send(Packet::new("Seq", payload));
        if i % 3 == 0 {
            let r = replies.clone();
            c.request(echo(b"keep the driver reading"), move |_| {
                r.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
    let requests = (N as usize).div_ceil(3);
    assert!(
        pump_until(&c, || {
            seen.lock().unwrap().len() + refused.load(Ordering::Relaxed) >= N as usize
                && replies.load(Ordering::Relaxed) == requests
        })
        .await
    );
    assert_eq!(refused.load(Ordering::Relaxed), 0, "nothing refused");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, (0..N).collect::<Vec<_>>(), "all sent, in order");
    server.shutdown().await;
}

both_transports!(
    one_threads_commands_keep_their_order,
    auth_gate_is_local,
    request_response_with_stage,
    server_error_codes_pass_through,
    pushes_and_broadcasts,
    timeout_keeps_connection_and_drops_late_reply,
    one_mib_payloads,
    thousand_concurrent_requests,
    sequence_wraps_past_65535,
);
