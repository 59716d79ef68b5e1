//! A read-only check for the driver's fast path of ICE candidate relays: the driver relays
//! a candidate without building typed messages when the hub says where it goes, and hands
//! anything else to [`Hub::handle_message`] (which refuses it exactly as before).

use super::{ConnId, Hub};

impl Hub {
    /// The connection an ICE candidate from `conn` goes to, when [`Hub::handle_message`]
    /// would relay it (`send_ice_candidate` with these ids); `None` when it would refuse it.
    /// Relaying an ICE candidate changes no hub state, so relaying it on the strength of
    /// this answer is the same transition.
    pub fn ice_route(
        &self,
        conn: ConnId,
        sender_id: &str,
        receiver_id: &str,
        session_id: &str,
    ) -> Option<ConnId> {
        let sender = self.conns.get(&conn)?;
        if self.spectator_session(session_id).is_some() {
            // Spectator sessions have their own relay rules (hub/spectate.rs).
            return None;
        }
        let opponent = self
            .ice_target(sender, sender_id, session_id, receiver_id)
            .ok()?;
        self.player(&opponent).map(|p| p.conn)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::hub::{Hub, HubConfig, HubOutput};
    use crate::protocol::{ClientMessage, IceRelay, ServerMessage};

    fn ice(from: &str, to: &str, sid: &str) -> ClientMessage {
        ClientMessage::SendIceCandidate(IceRelay {
            sender_id: from.into(),
            receiver_id: to.into(),
            candidate: serde_json::json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}),
            session_id: sid.into(),
        })
    }

    /// `ice_route` answers `Some(receiver)` exactly when `handle_message` relays, over
    /// every session state and every wrong field.
    #[test]
    fn ice_route_agrees_with_the_handler() {
        let now = Instant::now();
        let mut hub = Hub::with_seed(HubConfig::default(), 5);
        for (conn, id) in [(1, "a"), (2, "b"), (3, "c")] {
            hub.connect(conn, id, id, now);
            let join = crate::protocol::JoinLobby::new(id, id);
            hub.handle_message(conn, ClientMessage::JoinLobby(join), now)
                .unwrap();
        }
        let req = crate::protocol::RequestMatch {
            requester_id: "a".into(),
            target_id: "b".into(),
        };
        hub.handle_message(1, ClientMessage::RequestMatch(req), now)
            .unwrap();
        let sid = loop {
            match hub.poll_output() {
                Some(HubOutput::Send {
                    msg: ServerMessage::MatchRequestSent(m),
                    ..
                }) => break m.session_id,
                Some(_) => continue,
                None => panic!("no session"),
            }
        };
        let cases = |sid: &str| {
            vec![
                (1, "a", "b", sid.to_owned()),
                (2, "b", "a", sid.to_owned()),
                (1, "b", "a", sid.to_owned()),
                (1, "a", "c", sid.to_owned()),
                (3, "c", "a", sid.to_owned()),
                (1, "a", "b", "nope".to_owned()),
                (9, "a", "b", sid.to_owned()),
            ]
        };
        let mut relayed = 0;
        for accepted in [false, true] {
            if accepted {
                let acc = crate::protocol::AcceptMatch {
                    accepter_id: "b".into(),
                    requester_id: "a".into(),
                    session_id: Some(sid.clone()),
                };
                hub.handle_message(2, ClientMessage::AcceptMatch(acc), now)
                    .unwrap();
            }
            for (conn, from, to, s) in cases(&sid) {
                while hub.poll_output().is_some() {}
                let route = hub.ice_route(conn, from, to, &s);
                let handled = hub.handle_message(conn, ice(from, to, &s), now);
                let sent_to = match hub.poll_output() {
                    Some(HubOutput::Send {
                        conn,
                        msg: ServerMessage::IceCandidateReceived(_),
                    }) => Some(conn),
                    _ => None,
                };
                assert_eq!(handled.is_ok(), route.is_some(), "{conn} {from} {to} {s}");
                assert_eq!(route, sent_to, "{conn} {from} {to} {s}");
                relayed += usize::from(route.is_some());
            }
        }
        assert_eq!(
            relayed, 2,
            "only the two members relay, and only after accept"
        );
    }
}
