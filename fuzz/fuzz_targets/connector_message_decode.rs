#![no_main]
//! Fuzzes the connector's protobuf and relay decoders: `Packet::decode` (bounded) of the
//! PlayHouse test messages and the relay messages, `relay::decode_event` for every relay
//! push, and ticket verification of arbitrary text. Must never panic or over-allocate.
use bytes::Bytes;
use connector::packet::decode_message;
use connector::relay::{self, RelayJoinReply, RelayJoinRequest, RelayPeerLeft};
use connector::server::playhouse::proto::{
    AuthenticateRequest, BenchmarkReply, BroadcastNotify, EchoRequest, FailRequest,
};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let _ = decode_message::<AuthenticateRequest>(data, MAX);
    let _ = decode_message::<EchoRequest>(data, MAX);
    let _ = decode_message::<FailRequest>(data, MAX);
    let _ = decode_message::<BroadcastNotify>(data, MAX);
    let _ = decode_message::<BenchmarkReply>(data, MAX);
    let _ = decode_message::<RelayJoinRequest>(data, MAX);
    let _ = decode_message::<RelayJoinReply>(data, MAX);
    let _ = decode_message::<RelayPeerLeft>(data, MAX);
    let payload = Bytes::copy_from_slice(data);
    for msg_id in [relay::RELAY_PACKET, relay::PEER_JOINED, relay::PEER_LEFT, "Other"] {
        if let Ok(Some(relay::RelayEvent::Packet(p))) = relay::decode_event(msg_id, &payload) {
            assert_eq!(&p[..], data, "a relay packet is passed on unchanged");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = relay::verify_ticket(text, b"fuzz-secret", 7);
    }
});
