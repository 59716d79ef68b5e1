//! The relaying path on virtual time: peer-to-peer fails (or is skipped), the fake server
//! assigns a relay stage, both sides join it with no action from the game, and the match
//! runs with `link: relay`.

use signal::protocol::{FailReason, MatchFailed, RelayAssigned};

use super::*;
use crate::relay_link::RelayEnd;

const STAGE: i64 = 7;

impl Pair {
    /// Both machines may use the relay; the fake server has one (`Some(true)`) or not.
    fn relaying(policy: RelayPolicy, server_relay: bool) -> Self {
        let mut pair = Self::new();
        for side in &mut pair.sides {
            side.machine.config.relay = policy;
        }
        pair.relay = Some(server_relay);
        pair
    }

    /// The fake server's answer to `failed` / `relay` reports.
    pub(super) fn fallback(&mut self, state: ConnectionState) {
        let Some(has_relay) = self.relay else {
            return;
        };
        let relaying = self.link == LinkKind::Relay;
        match state {
            // As the hub: late `failed` reports of the peer-to-peer attempt are ignored.
            _ if relaying => {}
            ConnectionState::Failed | ConnectionState::Relay if has_relay && !relaying => {
                self.link = LinkKind::Relay;
                self.connected_reports = [false, false];
                for side in 0..2 {
                    self.deliver_later(
                        side,
                        ServerMessage::RelayAssigned(RelayAssigned {
                            session_id: SESSION.into(),
                            url: "tcp://127.0.0.1:34001".into(),
                            urls: vec![
                                "tcp://127.0.0.1:34001".into(),
                                "ws://127.0.0.1:34002/ws".into(),
                            ],
                            stage_id: STAGE,
                            ticket: format!("ticket-{side}"),
                        }),
                    );
                }
            }
            ConnectionState::Relay => self.deliver_later(
                0,
                ServerMessage::Error(ErrorPayload {
                    code: 409,
                    message: "no relay configured".into(),
                    session_id: Some(SESSION.into()),
                }),
            ),
            ConnectionState::Failed | ConnectionState::Connected => {
                for side in 0..2 {
                    self.deliver_later(
                        side,
                        ServerMessage::MatchFailed(MatchFailed {
                            session_id: SESSION.into(),
                            reason: FailReason::ConnectionFailed,
                        }),
                    );
                }
            }
        }
    }

    /// The fake relay stage opens once both sides joined it.
    pub(super) fn connect_relays(&mut self) -> bool {
        let joined = |s: &Side| s.relay_joined.is_some() && !s.connected;
        if !(self.relay_up && joined(&self.sides[0]) && joined(&self.sides[1])) {
            return false;
        }
        for side in &mut self.sides {
            side.connected = true;
            side.machine.handle_relay(self.now, RelayInput::Open);
        }
        true
    }
}

fn reports(side: &Side, state: ConnectionState) -> usize {
    side.sent
        .iter()
        .filter(|m| matches!(m, ClientMessage::ReportConnection(r) if r.state == state))
        .count()
}

#[test]
fn a_negotiation_that_cannot_connect_continues_over_the_relay() {
    let mut pair = Pair::relaying(RelayPolicy::Fallback, true);
    pair.network_up = false;
    pair.drive_for(Duration::from_secs(60));
    for side in &pair.sides {
        let info = side.info();
        assert_eq!(info.link, LinkKind::Relay);
        assert!(side.machine.is_running());
        assert!(side.closed_transport, "the peer connection is dropped");
        assert!(!side.closed_signal);
        let target = side.relay_joined.as_ref().expect("joined the relay");
        assert_eq!(target.stage_id, STAGE);
        assert_eq!(target.urls[0], "tcp://127.0.0.1:34001");
        assert_eq!(target.urls.len(), 2);
        assert_eq!(reports(side, ConnectionState::Connected), 1);
    }
    // Bob timed out first (20 s after his acceptance, 2 hops) and reported `failed`; alice
    // timed out just as `relay_assigned` came (her `failed` is ignored by the server).
    assert_eq!(reports(&pair.sides[1], ConnectionState::Failed), 1);
    assert_eq!(
        pair.sides[0].relay_joined.as_ref().unwrap().ticket,
        "ticket-0"
    );
    // relay_assigned one hop after bob's failure, match_started one more.
    assert_eq!(pair.elapsed(), Duration::from_secs(20) + LATENCY * 4);
    assert!(pair
        .sides
        .iter()
        .all(|s| s.machine.poll_timeout().is_none()));
}

#[test]
fn a_failed_peer_connection_falls_back_at_once() {
    let mut pair = Pair::relaying(RelayPolicy::Fallback, true);
    pair.network_up = false;
    pair.drive_for(LATENCY * 4);
    pair.sides[0]
        .machine
        .handle_transport(pair.now, TransportInput::Failed);
    pair.drive_for(Duration::from_secs(1));
    for side in &pair.sides {
        assert_eq!(side.info().link, LinkKind::Relay);
    }
    // Alice failed at 4 hops; bob got relay_assigned while still negotiating.
    assert_eq!(pair.elapsed(), LATENCY * 6);
    assert_eq!(reports(&pair.sides[1], ConnectionState::Failed), 0);
    assert!(pair.sides[1].closed_transport);
    // The relayed link ends like a direct one: the opponent left the stage.
    pair.sides[1]
        .machine
        .handle_relay(pair.now, RelayInput::Closed(RelayEnd::OpponentCut));
    pair.drive_for(Duration::from_secs(1));
    assert_eq!(
        pair.sides[1].events,
        vec![MatchEvent::Closed(CloseReason::Relay(
            RelayEnd::OpponentCut
        ))]
    );
    assert!(!pair.sides[1].machine.is_running());
}

#[test]
fn relay_always_skips_peer_to_peer() {
    let mut pair = Pair::relaying(RelayPolicy::Always, true);
    pair.drive_for(Duration::from_secs(60));
    for side in &pair.sides {
        assert_eq!(side.info().link, LinkKind::Relay);
        assert!(!side
            .sent
            .iter()
            .any(|m| matches!(m, ClientMessage::SendSdpOffer(_))));
        assert_eq!(reports(side, ConnectionState::Relay), 1);
    }
    // Lobby, request, accepted + relay_assigned, match_started: no WebRTC round trips.
    assert_eq!(pair.elapsed(), LATENCY * 4);
}

#[test]
fn without_a_server_relay_the_original_error_is_reported() {
    let mut pair = Pair::relaying(RelayPolicy::Fallback, false);
    pair.network_up = false;
    pair.drive_for(Duration::from_secs(60));
    let bob = &pair.sides[1];
    assert!(
        matches!(
            bob.ready,
            Some(Err(PeerError::Timeout {
                phase: "connecting",
                ..
            }))
        ),
        "{:?}",
        bob.ready
    );
    assert!(bob.closed_signal && bob.machine.is_ended() && bob.relay_joined.is_none());
    // Alice timed out as the server's match_failed came: her own error too.
    let alice = &pair.sides[0];
    assert!(
        matches!(alice.ready, Some(Err(PeerError::Timeout { .. }))),
        "{:?}",
        alice.ready
    );
}

#[test]
fn a_refused_relay_join_fails_the_match() {
    let mut pair = Pair::relaying(RelayPolicy::Always, true);
    pair.relay_up = false;
    pair.drive_for(LATENCY * 5);
    assert!(pair.sides[1].relay_joined.is_some());
    pair.sides[1].machine.handle_relay(
        pair.now,
        RelayInput::Failed(PeerError::Connection("relay refused the ticket".into())),
    );
    pair.drive_for(Duration::from_secs(1));
    let bob = &pair.sides[1];
    assert!(matches!(bob.ready, Some(Err(PeerError::Connection(_)))));
    assert_eq!(reports(bob, ConnectionState::Failed), 1);
    assert!(bob.closed_transport && bob.closed_signal);
    // Alice waits (the server fails the session when bob's connection closes).
    assert!(pair.sides[0].ready.is_none());
}

#[test]
fn relay_always_against_a_server_without_relay_fails() {
    let mut pair = Pair::relaying(RelayPolicy::Always, false);
    pair.drive_for(Duration::from_secs(60));
    let alice = &pair.sides[0];
    assert!(
        matches!(&alice.ready, Some(Err(PeerError::Server { code: 409, .. }))),
        "{:?}",
        alice.ready
    );
}

#[test]
fn a_relayed_match_with_resuming_on_is_not_renegotiated() {
    use signal::protocol::{InterruptReason, MatchInterrupted, SdpReceived};

    let mut pair = Pair::relaying(RelayPolicy::Always, true);
    for side in &mut pair.sides {
        side.machine.config.resume_timeout = Duration::from_secs(20);
    }
    pair.drive_for(Duration::from_secs(5));
    assert!(pair.sides.iter().all(|s| s.info().link == LinkKind::Relay));
    for side in &mut pair.sides {
        side.sent.clear();
    }
    let now = pair.now;
    let bob = &mut pair.sides[1].machine;
    // A stray offer, or the server saying the opponent's link failed, starts nothing: there
    // is no peer connection under a relayed match.
    bob.handle_signal(
        now,
        ServerMessage::SdpOfferReceived(SdpReceived {
            sender_id: "alice".into(),
            sdp: "offer".into(),
            session_id: SESSION.into(),
        }),
    );
    bob.handle_signal(
        now,
        ServerMessage::MatchInterrupted(MatchInterrupted {
            session_id: SESSION.into(),
            reason: InterruptReason::ConnectionFailed,
        }),
    );
    assert!(!bob.is_resuming());
    // A dropped signaling connection is still ridden out: the relay link is up.
    bob.handle_signal(
        now,
        ServerMessage::MatchInterrupted(MatchInterrupted {
            session_id: SESSION.into(),
            reason: InterruptReason::SignalingLost,
        }),
    );
    assert!(bob.is_running());
    // The relay link closing ends the match at once, with no resume_match.
    bob.handle_relay(now, RelayInput::Closed(RelayEnd::ConnectionLost));
    pair.drive_for(Duration::from_secs(30));
    let bob = &pair.sides[1];
    assert_eq!(
        bob.events,
        vec![MatchEvent::Closed(CloseReason::Relay(
            RelayEnd::ConnectionLost
        ))]
    );
    assert!(!bob.machine.is_running());
    assert!(!bob
        .sent
        .iter()
        .any(|m| matches!(m, ClientMessage::ResumeMatch(_))));
    assert_eq!(reports(bob, ConnectionState::Connected), 1);
}
