//! Connection lifecycle over both TCP and WebSocket: a server-side close completes pending
//! requests with 60201 and fires on_disconnect; an app-initiated disconnect does not; sending
//! while disconnected fails with 60201; heartbeats keep an idle connection alive; the idle
//! timeout cuts a silent server; debug_mode turns both off; reconnect by connecting again;
//! the server refuses clients beyond its connection limit and violators of the auth gate.
#![allow(clippy::unwrap_used)] // test-only helpers outside #[test] fns

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use connector::error::DISCONNECTED;
use connector::server::ServerConfig;
use connector::{Connector, Packet};

fn counter() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let c = Arc::new(AtomicUsize::new(0));
    (c.clone(), c)
}

async fn server_close_fails_pending_and_fires_on_disconnect(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let (disconnects, d2) = counter();
    c.on_disconnect(move || {
        d2.fetch_add(1, Ordering::SeqCst);
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    c.on_error(move |stage, code, _| e2.lock().unwrap().push((stage, code)));
    c.request_to_stage(11, Packet::empty("HangRequest"), |_| {
        panic!("never answered")
    });
    let pending: Vec<_> = (0..3)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.request_async(Packet::empty("HangRequest")).await })
        })
        .collect();
    assert!(wait_until(|| server.handle().stats().packets_received == 4).await);
    server.handle().close_all_sessions();
    for p in pending {
        assert_eq!(p.await.unwrap().unwrap_err().error_code, DISCONNECTED);
    }
    assert!(pump_until(&c, || disconnects.load(Ordering::SeqCst) == 1).await);
    assert_eq!(*errors.lock().unwrap(), vec![(11, DISCONNECTED)]);
    assert!(!c.is_connected() && !c.is_authenticated());
    let err = c.request_async(echo(b"late")).await.unwrap_err();
    assert_eq!(
        err.error_code, DISCONNECTED,
        "requests while disconnected fail at once"
    );
    c.send(echo(b"x"));
    assert!(pump_until(&c, || errors.lock().unwrap().len() == 2).await);
    let err = c.send_async(echo(b"y")).await.unwrap_err();
    assert_eq!(err.error_code, DISCONNECTED);
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.main_thread_action();
    assert_eq!(disconnects.load(Ordering::SeqCst), 1);
    server.shutdown().await;
}

async fn app_disconnect_does_not_fire_on_disconnect(ws: bool) {
    let server = echo_server(None).await;
    let c = connect(&server, ws).await;
    let (disconnects, d2) = counter();
    c.on_disconnect(move || {
        d2.fetch_add(1, Ordering::SeqCst);
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    c.on_error(move |_, code, _| e2.lock().unwrap().push(code));
    c.request(Packet::empty("HangRequest"), |_| panic!("never answered"));
    let c2 = c.clone();
    let pending = tokio::spawn(async move { c2.request_async(Packet::empty("HangRequest")).await });
    assert!(wait_until(|| server.handle().stats().packets_received == 2).await);
    c.disconnect();
    assert!(!c.is_connected());
    assert_eq!(pending.await.unwrap().unwrap_err().error_code, DISCONNECTED);
    assert!(pump_until(&c, || errors.lock().unwrap().len() == 1).await);
    assert_eq!(errors.lock().unwrap()[0], DISCONNECTED);
    assert!(wait_until(|| server.handle().stats().active_sessions == 0).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.main_thread_action();
    assert_eq!(disconnects.load(Ordering::SeqCst), 0);
    server.shutdown().await;
}

async fn heartbeats_keep_idle_connection_alive(ws: bool) {
    let server = echo_server(Some(AUTH)).await;
    let mut cfg = client_config(&server, ws);
    cfg.heartbeat_interval_ms = 100;
    cfg.connection_idle_timeout_ms = 1500;
    let c = Connector::new(cfg).unwrap();
    c.set_authenticate_message_id(AUTH);
    assert!(c.connect_async(false).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.handle().stats().packets_received,
        0,
        "no heartbeat before auth"
    );
    c.authenticate_async(Packet::empty(AUTH)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await; // longer than the idle timeout
    assert!(c.is_connected(), "heartbeat echoes keep it alive");
    let hb = server.handle().stats().packets_received;
    assert!(hb >= 5, "heartbeats reached the server: {hb}");
    assert_eq!(server.handle().stats().auth_violations, 0);
    assert_eq!(
        &c.request_async(echo(b"ok")).await.unwrap().payload()[..],
        b"ok"
    );
    server.shutdown().await;
}

async fn idle_timeout_cuts_silent_server(ws: bool) {
    let config = ServerConfig {
        echo_heartbeats: false,
        ..ServerConfig::default()
    };
    let server = start_server(config, |b| b).await;
    let mut cfg = client_config(&server, ws);
    // 9 heartbeats are due before the idle timeout; 2 must arrive even if a loaded machine
    // delays the client's timer by most of a second
    cfg.heartbeat_interval_ms = 100;
    cfg.connection_idle_timeout_ms = 1000;
    let c = Connector::new(cfg.clone()).unwrap();
    let (disconnects, d2) = counter();
    c.on_disconnect(move || {
        d2.fetch_add(1, Ordering::SeqCst);
    });
    assert!(c.connect_async(false).await);
    assert!(pump_until(&c, || disconnects.load(Ordering::SeqCst) == 1).await);
    assert!(!c.is_connected());
    // once the server has seen the close it has counted every heartbeat sent before it
    assert!(wait_until(|| server.handle().stats().active_sessions == 0).await);
    assert!(
        server.handle().stats().packets_received >= 2,
        "heartbeats were sent"
    );
    // debug_mode: neither heartbeats nor idle checks
    let before = server.handle().stats().packets_received;
    let d = Connector::new(cfg).unwrap();
    assert!(d.connect_async(true).await);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(d.is_connected(), "debug mode has no idle timeout");
    assert_eq!(
        server.handle().stats().packets_received,
        before,
        "debug mode sends no heartbeats"
    );
    server.shutdown().await;
}

async fn reconnect_after_disconnects(ws: bool) {
    let server = echo_server(Some(AUTH)).await;
    let c = Connector::new(client_config(&server, ws)).unwrap();
    c.set_authenticate_message_id(AUTH);
    for round in 0..3u8 {
        assert!(c.connect_async(false).await, "round {round}");
        assert!(!c.is_authenticated(), "authentication is per connection");
        c.authenticate_async(Packet::empty(AUTH)).await.unwrap();
        assert_eq!(
            c.request_async(echo(&[round])).await.unwrap().payload()[..],
            [round]
        );
        if round % 2 == 0 {
            c.disconnect();
        } else {
            server.handle().close_all_sessions();
            assert!(wait_until(|| !c.is_connected()).await);
        }
    }
    server.shutdown().await;
}

async fn callback_connect_reports_through_main_thread_action(ws: bool) {
    let server = echo_server(None).await;
    let c = Connector::new(client_config(&server, ws)).unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r2 = results.clone();
    c.on_connect(move |ok| r2.lock().unwrap().push(ok));
    c.connect(false);
    assert!(pump_until(&c, || !results.lock().unwrap().is_empty()).await);
    assert_eq!(*results.lock().unwrap(), vec![true]);
    c.disconnect();
    let addr = server.tcp_addr().unwrap();
    server.shutdown().await;
    let mut cfg = connector::ConnectorConfig::new("127.0.0.1", addr.port());
    cfg.use_websocket = ws;
    let dead = Connector::new(cfg).unwrap();
    let r3 = results.clone();
    dead.on_connect(move |ok| r3.lock().unwrap().push(ok));
    dead.connect(false);
    assert!(pump_until(&dead, || results.lock().unwrap().len() == 2).await);
    assert!(!results.lock().unwrap()[1]);
    assert!(!dead.connect_async(false).await);
}

async fn server_limits_and_auth_violations(ws: bool) {
    let config = ServerConfig {
        max_connections: 1,
        auth_msg_id: Some(AUTH.to_owned()),
        ..ServerConfig::default()
    };
    let server = start_server(config, |b| b).await;
    let first = Connector::new(client_config(&server, ws)).unwrap();
    assert!(first.connect_async(true).await);
    let second = Connector::new(client_config(&server, ws)).unwrap();
    let _ = second.connect_async(true).await;
    assert!(
        wait_until(|| !second.is_connected()).await,
        "over the limit"
    );
    assert!(wait_until(|| server.handle().stats().connections_rejected >= 1).await);
    // a client without the local gate sends before authenticating: the server closes it
    first.send(echo(b"too early"));
    assert!(wait_until(|| !first.is_connected()).await);
    assert_eq!(server.handle().stats().auth_violations, 1);
    server.shutdown().await;
}

both_transports!(
    server_close_fails_pending_and_fires_on_disconnect,
    app_disconnect_does_not_fire_on_disconnect,
    heartbeats_keep_idle_connection_alive,
    idle_timeout_cuts_silent_server,
    reconnect_after_disconnects,
    callback_connect_reports_through_main_thread_action,
    server_limits_and_auth_violations,
);
