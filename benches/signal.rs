//! Criterion suite `signal/*`: messages per second through the sans-IO signaling core
//! (parsing, the hub's relay path, a whole negotiation, lobby snapshots), with a generic
//! `serde_json::Value` parse of the same frame as the in-run baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use signal::hub::{Hub, HubConfig, HubOutput};
use signal::protocol::{ClientMessage, ServerMessage};

const ICE: &str = r#"{"type":"send_ice_candidate","payload":{"senderId":"alice","receiverId":"bob","sessionId":"SID","candidate":{"candidate":"candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"8hhy"}}}"#;

fn drain(hub: &mut Hub) -> usize {
    let mut n = 0;
    while let Some(out) = hub.poll_output() {
        n += 1;
        black_box(out);
    }
    n
}

fn session_id(hub: &mut Hub) -> String {
    let mut sid = String::new();
    while let Some(out) = hub.poll_output() {
        if let HubOutput::Send {
            msg: ServerMessage::MatchRequestSent(s),
            ..
        } = out
        {
            sid = s.session_id;
        }
    }
    sid
}

fn text(kind: &str, payload: String) -> String {
    format!(r#"{{"type":"{kind}","payload":{{{payload}}}}}"#)
}

/// Two players in the lobby (conns 1 and 2).
fn pair(now: Instant) -> Hub {
    let mut hub = Hub::with_seed(HubConfig::default(), 1);
    for (conn, p) in [(1, "alice"), (2, "bob")] {
        hub.connect(conn, p, p, now);
        let join = text(
            "join_lobby",
            format!(r#""playerId":"{p}","playerName":"{p}""#),
        );
        let _ = hub.handle_text(conn, &join, now);
    }
    hub.handle_timeout(now + Duration::from_secs(1));
    drain(&mut hub);
    hub
}

/// request → accept → offer → answer → 2 ICE → 2 reports → end: 9 frames.
fn negotiate(hub: &mut Hub, now: Instant) -> usize {
    let mut out = 0;
    let _ = hub.handle_text(
        1,
        &text(
            "request_match",
            r#""requesterId":"alice","targetId":"bob""#.into(),
        ),
        now,
    );
    let sid = session_id(hub);
    let frames = [
        (
            2,
            text(
                "accept_match",
                format!(r#""accepterId":"bob","requesterId":"alice","sessionId":"{sid}""#),
            ),
        ),
        (
            1,
            text(
                "send_sdp_offer",
                format!(
                    r#""senderId":"alice","receiverId":"bob","sdp":"v=0 offer","sessionId":"{sid}""#
                ),
            ),
        ),
        (
            2,
            text(
                "send_sdp_answer",
                format!(
                    r#""senderId":"bob","receiverId":"alice","sdp":"v=0 answer","sessionId":"{sid}""#
                ),
            ),
        ),
        (1, ICE.replace("SID", &sid)),
        (
            2,
            ICE.replace("SID", &sid).replace(
                r#""senderId":"alice","receiverId":"bob""#,
                r#""senderId":"bob","receiverId":"alice""#,
            ),
        ),
        (
            1,
            text(
                "report_connection",
                format!(r#""playerId":"alice","sessionId":"{sid}","state":"connected""#),
            ),
        ),
        (
            2,
            text(
                "report_connection",
                format!(r#""playerId":"bob","sessionId":"{sid}","state":"connected""#),
            ),
        ),
        (
            1,
            text(
                "end_match",
                format!(r#""playerId":"alice","sessionId":"{sid}""#),
            ),
        ),
    ];
    for (conn, frame) in &frames {
        let _ = hub.handle_text(*conn, frame, now);
        out += drain(hub);
    }
    out
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("signal/parse_message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_json_value", |b| {
        b.iter(|| black_box(serde_json::from_str::<serde_json::Value>(black_box(ICE)).is_ok()))
    });
    g.bench_function("typed_client_message", |b| {
        b.iter(|| black_box(ClientMessage::parse(black_box(ICE)).is_ok()))
    });
    g.finish();

    let now = Instant::now();
    let mut g = c.benchmark_group("signal/hub_relay");
    g.throughput(Throughput::Elements(1));
    let mut hub = pair(now);
    negotiate(&mut hub, now);
    let _ = hub.handle_text(
        1,
        &text(
            "request_match",
            r#""requesterId":"alice","targetId":"bob""#.into(),
        ),
        now,
    );
    let sid = session_id(&mut hub);
    let accept = text(
        "accept_match",
        format!(r#""accepterId":"bob","requesterId":"alice","sessionId":"{sid}""#),
    );
    let _ = hub.handle_text(2, &accept, now);
    drain(&mut hub);
    let frame = ICE.replace("SID", &sid);
    g.bench_function("ice_text_to_output", |b| {
        b.iter(|| {
            let _ = hub.handle_text(1, black_box(&frame), now);
            black_box(drain(&mut hub))
        })
    });
    let parsed = ClientMessage::parse(&frame).expect("valid frame");
    g.bench_function("ice_parsed_to_output", |b| {
        b.iter(|| {
            let _ = hub.handle_message(1, black_box(parsed.clone()), now);
            black_box(drain(&mut hub))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("signal/hub_full_negotiation");
    g.throughput(Throughput::Elements(1));
    let mut hub = pair(now);
    g.bench_function("request_to_end_9_frames", |b| {
        b.iter(|| black_box(negotiate(&mut hub, now)))
    });
    g.finish();

    let mut g = c.benchmark_group("signal/lobby_snapshot");
    let mut hub = Hub::with_seed(HubConfig::default(), 2);
    for i in 0..500u64 {
        let p = format!("player{i}");
        hub.connect(i + 1, &p, &p, now);
        let _ = hub.handle_text(
            i + 1,
            &text(
                "join_lobby",
                format!(r#""playerId":"{p}","playerName":"Player {i}""#),
            ),
            now,
        );
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("build_and_serialize_500_players", |b| {
        b.iter(|| {
            let update = hub.lobby();
            black_box(serde_json::to_string(&update).map(|s| s.len()).unwrap_or(0))
        })
    });
    g.finish();
}

mod suite {
    //! The criterion group (generated functions carry no docs).
    #![allow(missing_docs)]
    criterion::criterion_group!(signal_benches, super::benches);
}
criterion_main!(suite::signal_benches);
