//! The main-thread queue: callbacks and events run only inside `main_thread_action`, on the
//! calling thread, in arrival order; `clear_cache` drops undelivered callbacks; a connector
//! created outside any runtime (the Unity game loop) works with its own I/O thread.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use connector::server::{Outcome, ServerConfig};
use connector::{Connector, Packet};

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Push(u8),
    Reply,
}

async fn burst_server() -> connector::server::PlayServer {
    start_server(ServerConfig::default(), |b| {
        b.handler("BurstRequest", |ctx, _| {
            for i in 0..50u8 {
                ctx.session().push(0, &Packet::new("Tick", vec![i]));
            }
            Outcome::Reply(Packet::empty("BurstReply"))
        })
    })
    .await
}

async fn callbacks_run_in_arrival_order_on_calling_thread(ws: bool) {
    let server = burst_server().await;
    let c = connect(&server, ws).await;
    assert_eq!(c.main_thread_action(), 1, "the queued on_connect");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let me = thread::current().id();
    let s2 = seen.clone();
    c.on_receive(move |_, p| {
        assert_eq!(thread::current().id(), me);
        s2.lock().unwrap().push(Seen::Push(p.payload()[0]));
    });
    let s3 = seen.clone();
    c.request(Packet::empty("BurstRequest"), move |_| {
        assert_eq!(thread::current().id(), me);
        s3.lock().unwrap().push(Seen::Reply);
    });
    assert!(
        wait_until(|| c.queued_events() == 51).await,
        "queued, not run"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing runs outside main_thread_action"
    );
    assert_eq!(c.main_thread_action(), 51);
    let mut want: Vec<Seen> = (0..50).map(Seen::Push).collect();
    want.push(Seen::Reply);
    assert_eq!(*seen.lock().unwrap(), want);
    server.shutdown().await;
}

async fn clear_cache_drops_undelivered_callbacks(ws: bool) {
    let server = burst_server().await;
    let c = connect(&server, ws).await;
    assert_eq!(c.main_thread_action(), 1, "the queued on_connect");
    let seen = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    c.on_receive(move |_, _| *s2.lock().unwrap() += 1);
    c.request(Packet::empty("BurstRequest"), |_| panic!("cleared"));
    assert!(wait_until(|| c.queued_events() == 51).await);
    c.clear_cache();
    assert_eq!(c.main_thread_action(), 0);
    assert_eq!(*seen.lock().unwrap(), 0);
    // async requests are not affected
    assert_eq!(
        &c.request_async(echo(b"a")).await.unwrap().payload()[..],
        b"a"
    );
    server.shutdown().await;
}

both_transports!(
    callbacks_run_in_arrival_order_on_calling_thread,
    clear_cache_drops_undelivered_callbacks,
);

/// The Unity pattern: a plain thread loop, no async anywhere on the client side.
#[test]
fn game_loop_without_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(echo_server(Some(AUTH)));
    let cfg = client_config(&server, false);
    let client = thread::spawn(move || {
        let c = Connector::new(cfg).unwrap();
        c.set_authenticate_message_id(AUTH);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (l1, l2, c1) = (log.clone(), log.clone(), c.clone());
        c.on_connect(move |ok| {
            l1.lock().unwrap().push(format!("connect {ok}"));
            let l3 = l1.clone();
            let c2 = c1.clone();
            c1.authenticate(Packet::empty(AUTH), move |reply| {
                l3.lock().unwrap().push(reply.msg_id().to_owned());
                let l4 = l3.clone();
                c2.request_to_stage(5, Packet::new("MoveRequest", vec![1, 2]), move |r| {
                    l4.lock()
                        .unwrap()
                        .push(format!("{} {:?}", r.msg_id(), &r.payload()[..]));
                });
            });
        });
        c.on_error(move |_, code, _| l2.lock().unwrap().push(format!("error {code}")));
        c.connect(false);
        let end = Instant::now() + MUST_HAPPEN;
        while log.lock().unwrap().len() < 3 && Instant::now() < end {
            c.main_thread_action(); // once per frame
            thread::sleep(Duration::from_millis(16));
        }
        c.disconnect();
        let v = log.lock().unwrap().clone();
        v
    });
    let log = client.join().unwrap();
    assert_eq!(
        log,
        vec!["connect true", "AuthenticateReply", "MoveReply [1, 2]"]
    );
    rt.block_on(server.shutdown());
}
