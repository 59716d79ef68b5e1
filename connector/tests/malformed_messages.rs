//! Malformed protobuf payloads, relay pushes and tickets: the bounded decoders return typed
//! errors and never panic (the same body as the `connector_message_decode` fuzz target, run
//! here on random inputs and on hand-picked malformed ones).

use bytes::Bytes;
use connector::packet::{decode_message, MessageDecodeError};
use connector::relay::{self, RelayJoinRequest, RelayPeerLeft, RelayRefusal};
use connector::server::playhouse::proto::{AuthenticateRequest, BenchmarkReply, EchoRequest};
use proptest::prelude::*;

fn exercise(data: &[u8]) {
    let _ = decode_message::<AuthenticateRequest>(data, 1024);
    let _ = decode_message::<EchoRequest>(data, 1024);
    let _ = decode_message::<BenchmarkReply>(data, 1024);
    let _ = decode_message::<RelayJoinRequest>(data, 1024);
    let payload = Bytes::copy_from_slice(data);
    for msg_id in [
        relay::RELAY_PACKET,
        relay::PEER_JOINED,
        relay::PEER_LEFT,
        "X",
    ] {
        let _ = relay::decode_event(msg_id, &payload);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(relay::verify_ticket(text, b"secret", 1).is_err());
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&data);
    }
}

#[test]
fn malformed_inputs_are_typed_errors() {
    // a length-delimited field claiming more bytes than there are
    assert!(matches!(
        decode_message::<EchoRequest>(&[0x0A, 0xFF, 0xFF, 0xFF, 0x0F, b'a'], 1024),
        Err(MessageDecodeError::Invalid(_))
    ));
    // a string field that is not UTF-8
    assert!(matches!(
        decode_message::<EchoRequest>(&[0x0A, 0x02, 0xC3, 0x28], 1024),
        Err(MessageDecodeError::Invalid(_))
    ));
    // over the size limit: refused before decoding
    assert_eq!(
        decode_message::<EchoRequest>(&[0u8; 2000], 1024),
        Err(MessageDecodeError::TooLarge {
            len: 2000,
            max: 1024
        })
    );
    assert!(
        relay::decode_event(relay::PEER_LEFT, &Bytes::from_static(&[0x0A, 0x05, b'x'])).is_err()
    );
    let ok = relay::decode_event(
        relay::PEER_LEFT,
        &Bytes::from(prost::Message::encode_to_vec(&RelayPeerLeft {
            reason: "cut".into(),
        })),
    );
    assert_eq!(
        ok,
        Ok(Some(relay::RelayEvent::PeerLeft {
            reason: "cut".into()
        }))
    );
    for bad in ["", "a.b.c", "...", &"x".repeat(10_000)] {
        assert_eq!(
            relay::verify_ticket(bad, b"s", 1),
            Err(RelayRefusal::InvalidTicket)
        );
    }
    exercise(b"\x0a\x03abc\x12\x01");
}
