//! Unit tests of the sans-IO connection: no sockets, no sleeps, time passed in.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        request_timeout: Some(ms(1000)),
        heartbeat_interval_ms: 100,
        idle_timeout_ms: 300,
        ..ConnectionConfig::default()
    }
}

/// Decodes every queued frame as the server would.
fn written(conn: &mut Connection) -> Vec<codec::ClientPacket> {
    let mut buf = BytesMut::new();
    while let Some(f) = conn.poll_transmit() {
        buf.extend_from_slice(&f);
    }
    let mut out = Vec::new();
    while let Some(p) = codec::decode_client(&mut buf, &CodecLimits::default()).unwrap() {
        out.push(p);
    }
    out
}

fn server_frame(msg_id: &str, seq: u16, stage: i64, code: u16, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    codec::encode_server(msg_id, seq, stage, code, payload, None, &mut b).unwrap();
    b
}

fn events(conn: &mut Connection) -> Vec<ConnectionEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

#[test]
fn request_carries_its_seq_and_the_reply_completes_it() {
    let t0 = Instant::now();
    let mut c = Connection::new(t0, config());
    let s1 = c
        .send_request(t0, 5, &Packet::new("ARequest", vec![1]))
        .unwrap();
    let s2 = c
        .send_request(t0, 6, &Packet::new("BRequest", vec![2]))
        .unwrap();
    assert_eq!((s1, s2), (1, 2));
    let sent = written(&mut c);
    assert_eq!(
        sent.iter()
            .map(|p| (p.msg_id.as_str(), p.seq, p.stage_id))
            .collect::<Vec<_>>(),
        [("ARequest", 1, 5), ("BRequest", 2, 6)]
    );
    // replies out of order, split across reads, plus a push in between
    let mut bytes = server_frame("BReply", 2, 6, 0, b"b");
    bytes.extend_from_slice(&server_frame("Tick", 0, 9, 0, b"t"));
    bytes.extend_from_slice(&server_frame("AReply", 1, 5, 77, b""));
    let (a, b) = bytes.split_at(7);
    c.handle_bytes(t0 + ms(10), a);
    assert_eq!(c.poll_event(), None, "a partial frame is not an event");
    c.handle_bytes(t0 + ms(20), b);
    let ev = events(&mut c);
    assert_eq!(ev.len(), 3);
    assert!(
        matches!(&ev[0], ConnectionEvent::Reply { seq: 2, packet, rtt }
        if packet.msg_id() == "BReply" && *rtt == ms(20))
    );
    assert!(
        matches!(&ev[1], ConnectionEvent::Push { stage_id: 9, packet } if packet.msg_id() == "Tick")
    );
    assert!(
        matches!(&ev[2], ConnectionEvent::Reply { seq: 1, packet, .. }
        if packet.received_header().unwrap().error_code == 77)
    );
    assert_eq!(c.pending_requests(), 0);
}

#[test]
fn auth_gate_then_heartbeats_start() {
    let t0 = Instant::now();
    let mut c = Connection::new(
        t0,
        ConnectionConfig {
            auth_msg_id: Some("AuthRequest".into()),
            ..config()
        },
    );
    assert_eq!(
        c.send_request(t0, 0, &Packet::empty("EchoRequest")),
        Err(LocalError::Unauthenticated)
    );
    assert_eq!(
        c.send(0, &Packet::empty("Move")),
        Err(LocalError::Unauthenticated)
    );
    // no heartbeat before authentication: only the idle deadline
    assert_eq!(c.poll_timeout(), Some(t0 + ms(300)));
    let seq = c.authenticate(t0, &Packet::empty("AuthRequest")).unwrap();
    assert_eq!(written(&mut c).len(), 1);
    // a failed authentication keeps the gate closed
    c.handle_bytes(t0 + ms(5), &server_frame("AuthReply", seq, 0, 5, b""));
    assert!(matches!(
        events(&mut c)[..],
        [ConnectionEvent::Reply { .. }]
    ));
    assert!(!c.is_authenticated());
    let seq = c
        .authenticate(t0 + ms(6), &Packet::empty("AuthRequest"))
        .unwrap();
    c.handle_bytes(t0 + ms(10), &server_frame("AuthReply", seq, 0, 0, b""));
    let ev = events(&mut c);
    assert_eq!(ev[0], ConnectionEvent::Authenticated);
    assert!(c.is_authenticated());
    assert!(c.send(0, &Packet::empty("Move")).is_ok());
    written(&mut c);
    c.handle_timeout(t0 + ms(120));
    let hb = written(&mut c);
    assert_eq!(hb.len(), 1);
    assert_eq!((hb[0].msg_id.as_str(), hb[0].seq), (HEARTBEAT_MSG_ID, 0));
}

#[test]
fn request_timeout_then_late_reply_is_dropped() {
    let t0 = Instant::now();
    let mut c = Connection::new(
        t0,
        ConnectionConfig {
            debug_mode: true,
            ..config()
        },
    );
    let seq = c.send_request(t0, 0, &Packet::empty("XRequest")).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + ms(1000)));
    c.handle_timeout(t0 + ms(999));
    assert_eq!(c.poll_event(), None);
    c.handle_timeout(t0 + ms(1000));
    assert_eq!(
        c.poll_event(),
        Some(ConnectionEvent::RequestFailed {
            seq,
            code: ConnectorErrorCode::RequestTimeout
        })
    );
    c.handle_bytes(t0 + ms(1100), &server_frame("XReply", seq, 0, 0, b""));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.stats().unknown_replies, 1);
}

#[test]
fn idle_timeout_fails_pending_requests_then_closes() {
    let t0 = Instant::now();
    let mut c = Connection::new(t0, config());
    let seq = c.send_request(t0, 0, &Packet::empty("XRequest")).unwrap();
    c.handle_bytes(t0 + ms(200), &server_frame(HEARTBEAT_MSG_ID, 0, 0, 0, b""));
    assert_eq!(c.poll_event(), None, "heartbeats are not events");
    c.handle_timeout(t0 + ms(499));
    assert!(!c.is_closed());
    c.handle_timeout(t0 + ms(500));
    assert_eq!(
        events(&mut c),
        [
            ConnectionEvent::RequestFailed {
                seq,
                code: ConnectorErrorCode::Disconnected
            },
            ConnectionEvent::Closed(CloseReason::IdleTimeout)
        ]
    );
    assert_eq!(
        c.send_request(t0, 0, &Packet::empty("X")),
        Err(LocalError::Closed)
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn malformed_bytes_close_with_a_protocol_error() {
    let t0 = Instant::now();
    let mut c = Connection::new(t0, config());
    c.handle_bytes(t0, &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
    assert!(matches!(
        events(&mut c)[..],
        [ConnectionEvent::Closed(CloseReason::Protocol(
            DecodeError::LengthOutOfRange { .. }
        ))]
    ));
}

#[test]
fn transmit_queue_is_bounded_and_heartbeats_skip_when_full() {
    let t0 = Instant::now();
    let mut c = Connection::new(
        t0,
        ConnectionConfig {
            max_queued_transmit_bytes: 100,
            ..config()
        },
    );
    let big = Packet::new("Big", vec![0u8; 60]);
    assert!(c.send(0, &big).is_ok());
    assert_eq!(c.send(0, &big), Err(LocalError::TransmitQueueFull));
    assert_eq!(
        c.send_request(t0, 0, &big),
        Err(LocalError::TransmitQueueFull)
    );
    assert_eq!(c.pending_requests(), 0, "a refused request takes no seq");
    assert!(
        c.send(0, &Packet::empty("Small")).is_ok(),
        "78 + 20 bytes fit in 100"
    );
    c.handle_timeout(t0 + ms(100));
    assert_eq!(
        c.stats().skipped_heartbeats,
        1,
        "a 27-byte heartbeat does not fit"
    );
    assert_eq!(written(&mut c).len(), 2);
    assert!(c.send(0, &big).is_ok(), "drained queue accepts again");
}

#[test]
fn oversized_and_unencodable_packets_are_refused() {
    let t0 = Instant::now();
    let mut c = Connection::new(
        t0,
        ConnectionConfig {
            limits: CodecLimits {
                max_packet_len: 64,
                ..CodecLimits::default()
            },
            ..config()
        },
    );
    let err = c
        .send_request(t0, 0, &Packet::new("X", vec![0u8; 100]))
        .unwrap_err();
    assert!(matches!(
        err,
        LocalError::InvalidPacket(EncodeError::TooLarge { .. })
    ));
    assert_eq!(err.code(), ConnectorErrorCode::InvalidPacket);
    let err = c.send(0, &Packet::empty("")).unwrap_err();
    assert!(matches!(
        err,
        LocalError::InvalidPacket(EncodeError::MsgIdLength(0))
    ));
    assert!(c.poll_transmit().is_none());
}

#[test]
fn a_request_is_refused_with_the_error_a_send_gets() {
    // `send_request` checks limits without encoding; `send` encodes: same verdicts
    let t0 = Instant::now();
    let mut c = Connection::new(
        t0,
        ConnectionConfig {
            limits: CodecLimits {
                max_packet_len: 64,
                ..CodecLimits::default()
            },
            max_queued_transmit_bytes: 150,
            ..config()
        },
    );
    let long_id = "x".repeat(256);
    let cases = [
        Packet::empty(""),
        Packet::empty(long_id.as_str()),
        Packet::new("X", vec![0u8; 53]), // 11 + 1 + 53 = 65 > 64
        Packet::new("X", vec![0u8; 52]), // exactly 64: fits
        Packet::new("X", vec![0u8; 52]), // 2 x 68 bytes queued: fits in 150
        Packet::new("X", vec![0u8; 52]), // a third does not
    ];
    for packet in &cases {
        let via_send = c.send(0, packet);
        if via_send.is_ok() {
            c.poll_transmit();
        }
        let via_request = c.send_request(t0, 0, packet).map(|_| ());
        assert_eq!(via_request, via_send, "{:?}", packet.msg_id().len());
    }
    assert_eq!(c.pending_requests(), 2, "refused requests take no seq");
}

#[test]
fn local_close_fails_pending_and_keeps_queued_frames() {
    let t0 = Instant::now();
    let mut c = Connection::new(t0, config());
    let seq = c.send_request(t0, 0, &Packet::empty("XRequest")).unwrap();
    c.close();
    assert_eq!(
        events(&mut c),
        [
            ConnectionEvent::RequestFailed {
                seq,
                code: ConnectorErrorCode::Disconnected
            },
            ConnectionEvent::Closed(CloseReason::Local)
        ]
    );
    assert_eq!(
        written(&mut c).len(),
        1,
        "queued frames can still be flushed"
    );
}
