//! The hot path of relayed ICE candidates. A `send_ice_candidate` frame is parsed once
//! into borrowed slices (its ids and the candidate as raw JSON text, never a
//! `serde_json::Value`), kept as byte ranges of the received frame, and the relayed
//! `ice_candidate_received` frame is written straight from them: no typed message is built
//! on the way in and none is serialized on the way out. The candidate's bytes are relayed
//! verbatim. Frames the fast parse does not take (another type, escaped ids, bad JSON) and
//! relays the hub would refuse go the normal way ([`ClientMessage::parse`] and the hub's
//! handler), so errors and state changes are exactly as before.

use std::borrow::Cow;
use std::ops::Range;

use axum::extract::ws::Utf8Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::ClientMessage;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    payload: Payload<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    #[serde(borrow)]
    sender_id: Cow<'a, str>,
    #[serde(borrow)]
    receiver_id: Cow<'a, str>,
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    #[serde(borrow)]
    candidate: &'a RawValue,
}

/// A `send_ice_candidate` frame with the positions of its fields.
#[derive(Debug)]
pub(crate) struct IceFrame {
    text: Utf8Bytes,
    sender_id: Range<usize>,
    receiver_id: Range<usize>,
    session_id: Range<usize>,
    candidate: Range<usize>,
    /// The sender's command number of this frame (see `server/route.rs`; 0 until the
    /// connection task sends it to the hub).
    seq: u64,
}

/// The byte range of `part` inside `whole` (`part` must borrow from `whole`).
fn range_in(whole: &str, part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len() && whole.get(start..end) == Some(part)).then_some(start..end)
}

fn borrowed(whole: &str, field: Cow<'_, str>) -> Option<Range<usize>> {
    match field {
        Cow::Borrowed(s) => range_in(whole, s),
        // An escape sequence: copying the raw text would not be the same string.
        Cow::Owned(_) => None,
    }
}

impl IceFrame {
    /// Takes `text` when it is a well-formed `send_ice_candidate` whose ids have no escapes.
    pub(crate) fn parse(text: &Utf8Bytes) -> Option<Self> {
        let s = text.as_str();
        let frame: Frame<'_> = serde_json::from_str(s).ok()?;
        if frame.kind != "send_ice_candidate" {
            return None;
        }
        let p = frame.payload;
        Some(Self {
            sender_id: borrowed(s, p.sender_id)?,
            receiver_id: borrowed(s, p.receiver_id)?,
            session_id: borrowed(s, p.session_id)?,
            candidate: range_in(s, p.candidate.get())?,
            text: text.clone(),
            seq: 0,
        })
    }

    /// This frame as the sender's command number `seq` (see `server/route.rs`).
    pub(crate) fn with_seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    fn field(&self, r: &Range<usize>) -> &str {
        self.text.as_str().get(r.clone()).unwrap_or_default()
    }

    pub(crate) fn sender_id(&self) -> &str {
        self.field(&self.sender_id)
    }

    pub(crate) fn receiver_id(&self) -> &str {
        self.field(&self.receiver_id)
    }

    pub(crate) fn session_id(&self) -> &str {
        self.field(&self.session_id)
    }

    /// The `ice_candidate_received` frame for the receiver (same fields and order as the
    /// typed message; the ids need no escaping because they had none).
    pub(crate) fn relayed(&self) -> Utf8Bytes {
        const HEAD: &str = r#"{"type":"ice_candidate_received","payload":{"senderId":""#;
        let (sender, candidate, session) = (
            self.sender_id(),
            self.field(&self.candidate),
            self.session_id(),
        );
        let mut out =
            String::with_capacity(HEAD.len() + sender.len() + candidate.len() + session.len() + 32);
        out.push_str(HEAD);
        out.push_str(sender);
        out.push_str(r#"","candidate":"#);
        out.push_str(candidate);
        out.push_str(r#","sessionId":""#);
        out.push_str(session);
        out.push_str(r#""}}"#);
        Utf8Bytes::from(out)
    }

    /// The typed message (the normal path, for relays the hub refuses).
    pub(crate) fn into_message(self) -> Result<ClientMessage, serde_json::Error> {
        ClientMessage::parse(self.text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{IceCandidateReceived, ServerMessage};

    #[test]
    fn a_relayed_frame_is_the_typed_message() {
        let text = Utf8Bytes::from_static(
            r#"{"type":"send_ice_candidate","payload":{"senderId":"a","receiverId":"b","sessionId":"s-1","candidate":{"candidate":"candidate:1 1 udp 2 127.0.0.1 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}}}"#,
        );
        let frame = IceFrame::parse(&text).unwrap();
        assert_eq!(
            (frame.sender_id(), frame.receiver_id(), frame.session_id()),
            ("a", "b", "s-1")
        );
        let relayed: ServerMessage = serde_json::from_str(frame.relayed().as_str()).unwrap();
        let ClientMessage::SendIceCandidate(typed) = frame.into_message().unwrap() else {
            panic!("not an ice relay");
        };
        assert_eq!(
            relayed,
            ServerMessage::IceCandidateReceived(IceCandidateReceived {
                sender_id: typed.sender_id,
                candidate: typed.candidate,
                session_id: typed.session_id,
            })
        );
    }

    #[test]
    fn payload_first_and_extra_fields_are_taken_too() {
        let text = Utf8Bytes::from_static(
            r#"{"payload":{"x":[1],"candidate":null,"sessionId":"s","receiverId":"b","senderId":"a"},"type":"send_ice_candidate","y":2}"#,
        );
        let frame = IceFrame::parse(&text).unwrap();
        assert_eq!(frame.sender_id(), "a");
        assert!(frame.relayed().as_str().contains(r#""candidate":null"#));
    }

    #[test]
    fn other_frames_take_the_normal_path() {
        for text in [
            r#"{"type":"send_sdp_offer","payload":{"senderId":"a","receiverId":"b","sessionId":"s","sdp":"v=0"}}"#,
            r#"{"type":"send_ice_candidate","payload":{"senderId":"\u0061","receiverId":"b","sessionId":"s","candidate":{}}}"#,
            r#"{"type":"send_ice_candidate","payload":{"senderId":"a","receiverId":"b","sessionId":"s"}}"#,
            r#"{"type":"send_ice_candidate","payload":{"senderId":"a","receiverId":"b","sessionId":"s","candidate":{}}"#,
            "not json",
        ] {
            assert!(
                IceFrame::parse(&Utf8Bytes::from_static(text)).is_none(),
                "{text}"
            );
        }
    }
}
