//! Two peers in one process over real WebRTC on loopback, without a signal server.
//!
//! For measurements and tests of the transport itself. Both sides are ordinary match
//! drivers with their [`MatchMachine`]s; instead of a signal server they talk to a small
//! in-memory hub that relays the offer, answer and candidates and sends `match_started` once
//! both channels are open. With a [`RelayConditions`], all traffic goes through an impairing
//! [`UdpRelay`] placed in front of the offerer: the SDPs carry no candidates, the answerer
//! only learns the relay's address, and the offerer learns the answerer's through its
//! (relayed) connectivity checks. The impairment is switched on once both channels are open
//! (the connection setup itself is not what is measured).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use signal::protocol::{
    CancelReason, ClientMessage, ConnectionState, FailReason, IceCandidateReceived, MatchFailed,
    MatchRequestCancelled, MatchStarted, SdpReceived, ServerMessage,
};
use tokio::sync::{mpsc, oneshot};

use crate::channel::ChannelConfig;
use crate::driver::{DriverSetup, SignalPort, MEMORY_SIGNAL_CAPACITY};
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{MatchLink, Role};
use crate::machine::{MachineConfig, MatchMachine, Pairing};
use crate::relay::{RelayConditions, UdpRelay};

/// Player id of the offering side of a loopback pair.
pub const OFFERER_ID: &str = "loopback-offerer";
/// Player id of the answering side of a loopback pair.
pub const ANSWERER_ID: &str = "loopback-answerer";
/// Default time allowed for a loopback pair to open its channel.
pub const DEFAULT_PAIR_TIMEOUT: Duration = Duration::from_secs(20);
/// Session id of every loopback pair.
const SESSION_ID: &str = "loopback";

/// A connected loopback pair.
#[derive(Debug)]
pub struct LoopbackPair {
    /// The offering side (player 0).
    pub offerer: MatchLink,
    /// The answering side (player 1).
    pub answerer: MatchLink,
    /// The impairing relay, when one was asked for.
    pub relay: Option<UdpRelay>,
}

/// Connects two peers on loopback with `channel`; through an impairing relay if `relay` is
/// given.
pub async fn connect_pair(
    channel: &ChannelConfig,
    relay: Option<RelayConditions>,
) -> Result<LoopbackPair, PeerError> {
    let accepted_at = Instant::now();
    let (to_hub, from_sides) = mpsc::channel(MEMORY_SIGNAL_CAPACITY);
    let (to_offerer, offerer_rx) = mpsc::channel(MEMORY_SIGNAL_CAPACITY);
    let (to_answerer, answerer_rx) = mpsc::channel(MEMORY_SIGNAL_CAPACITY);
    let (relay_tx, relay_rx) = oneshot::channel();
    let hub = MemoryHub {
        sides: [to_offerer, to_answerer],
        connected: [false, false],
        conditions: relay,
        relay: None,
        relay_out: Some(relay_tx),
    };
    tokio::spawn(hub.run(from_sides));
    let side = |side: usize, from_hub, role, me: &str, them: &str| {
        let config = MachineConfig {
            player_id: me.to_owned(),
            match_timeout: DEFAULT_PAIR_TIMEOUT,
            connect_timeout: DEFAULT_PAIR_TIMEOUT,
            mode: channel.mode,
            relay: crate::machine::RelayPolicy::Never,
            // The in-memory hub knows no `resume_match`: a failed link ends the match.
            resume_timeout: Duration::ZERO,
        };
        let pairing = Pairing {
            session_id: SESSION_ID.to_owned(),
            opponent_id: them.to_owned(),
            opponent_name: them.to_owned(),
            role,
            accepted_at,
        };
        crate::driver::start(DriverSetup {
            machine: MatchMachine::paired(config, pairing),
            signal: SignalPort::Memory {
                side,
                to_hub: to_hub.clone(),
                from_hub,
            },
            ice: IceConfig::loopback(),
            ice_servers: Vec::new(),
            channel: channel.clone(),
            relay_ws: false,
            reconnect: None,
            watch: None,
        })
    };
    let (offerer, answerer) = tokio::join!(
        side(0, offerer_rx, Role::Offerer, OFFERER_ID, ANSWERER_ID),
        side(1, answerer_rx, Role::Answerer, ANSWERER_ID, OFFERER_ID),
    );
    let (offerer, answerer) = (offerer?, answerer?);
    let relay = match relay {
        Some(_) => Some(
            relay_rx
                .await
                .map_err(|_| PeerError::Connection("relay not started".to_owned()))?,
        ),
        None => None,
    };
    Ok(LoopbackPair {
        offerer,
        answerer,
        relay,
    })
}

/// The in-memory stand-in for the signal server: relays SDPs and candidates between side 0
/// (offerer) and side 1 (answerer), sends `match_started` when both report `connected`.
struct MemoryHub {
    sides: [mpsc::Sender<ServerMessage>; 2],
    connected: [bool; 2],
    /// Force the traffic through an impairing relay with these conditions.
    conditions: Option<RelayConditions>,
    relay: Option<UdpRelay>,
    relay_out: Option<oneshot::Sender<UdpRelay>>,
}

impl MemoryHub {
    async fn run(mut self, mut from_sides: mpsc::Receiver<(usize, ClientMessage)>) {
        while let Some((from, message)) = from_sides.recv().await {
            self.relay_message(from & 1, message).await;
        }
    }

    fn send(&self, to: usize, message: ServerMessage) {
        if let Some(side) = self.sides.get(to) {
            let _ = side.try_send(message);
        }
    }

    async fn relay_message(&mut self, from: usize, message: ClientMessage) {
        let (to, relayed) = (1 - from, self.conditions.is_some());
        match message {
            ClientMessage::SendSdpOffer(offer) => {
                let sdp = sdp_for_peer(&offer.sdp, relayed);
                self.send(
                    to,
                    ServerMessage::SdpOfferReceived(sdp_received(offer, sdp)),
                );
            }
            ClientMessage::SendSdpAnswer(answer) => {
                let sdp = sdp_for_peer(&answer.sdp, relayed);
                self.send(
                    to,
                    ServerMessage::SdpAnswerReceived(sdp_received(answer, sdp)),
                );
            }
            ClientMessage::SendIceCandidate(ice) => {
                let candidate = match self.conditions {
                    None => Some(ice.candidate),
                    // Only the offerer's first candidate, rewritten to the relay's address.
                    Some(conditions) if from == 0 && self.relay.is_none() => {
                        self.start_relay(&ice.candidate, conditions).await
                    }
                    Some(_) => None,
                };
                if let Some(candidate) = candidate {
                    let received = IceCandidateReceived {
                        sender_id: ice.sender_id,
                        candidate,
                        session_id: ice.session_id,
                    };
                    self.send(to, ServerMessage::IceCandidateReceived(received));
                }
            }
            ClientMessage::ReportConnection(report) => match report.state {
                ConnectionState::Connected => self.on_connected(from, &report.session_id),
                // The loopback pair has no relay.
                ConnectionState::Failed | ConnectionState::Relay => self.send(
                    to,
                    ServerMessage::MatchFailed(MatchFailed {
                        session_id: report.session_id,
                        reason: FailReason::ConnectionFailed,
                    }),
                ),
            },
            // The offerer gave up before the match ran: the answerer learns it at once.
            ClientMessage::CancelMatchRequest(cancel) => self.send(
                to,
                ServerMessage::MatchRequestCancelled(MatchRequestCancelled {
                    requester_id: cancel.requester_id,
                    session_id: cancel.session_id,
                    reason: Some(CancelReason::Cancelled),
                }),
            ),
            other => tracing::trace!(kind = other.kind(), "loopback hub ignores"),
        }
    }

    fn on_connected(&mut self, from: usize, session_id: &str) {
        if let Some(connected) = self.connected.get_mut(from) {
            *connected = true;
        }
        if self.connected != [true, true] {
            return;
        }
        if let Some(relay) = self.relay.take() {
            relay.set_impaired(true);
            if let Some(out) = self.relay_out.take() {
                let _ = out.send(relay);
            }
        }
        for (side, opponent) in [(0, ANSWERER_ID), (1, OFFERER_ID)] {
            self.send(
                side,
                ServerMessage::MatchStarted(MatchStarted {
                    opponent_id: opponent.to_owned(),
                    opponent_name: opponent.to_owned(),
                    session_id: session_id.to_owned(),
                    link: signal::protocol::LinkKind::P2p,
                }),
            );
        }
    }

    /// Starts the relay in front of the offerer's candidate; the answerer gets the relay's
    /// address instead.
    async fn start_relay(
        &mut self,
        candidate: &serde_json::Value,
        conditions: RelayConditions,
    ) -> Option<serde_json::Value> {
        let line = candidate.get("candidate")?.as_str()?;
        let target = candidate_addr(line)?;
        let relay = match UdpRelay::start(target, conditions, false).await {
            Ok(relay) => relay,
            Err(error) => {
                tracing::warn!(%error, "relay not started");
                return None;
            }
        };
        let rewritten = line.replace(
            &format!("{} {}", target.ip(), target.port()),
            &format!("{} {}", relay.addr().ip(), relay.addr().port()),
        );
        self.relay = Some(relay);
        Some(serde_json::json!({
            "candidate": rewritten, "sdpMid": "0", "sdpMLineIndex": 0
        }))
    }
}

fn sdp_received(relay: signal::protocol::SdpRelay, sdp: String) -> SdpReceived {
    SdpReceived {
        sender_id: relay.sender_id,
        sdp,
        session_id: relay.session_id,
    }
}

/// The SDP as handed to the other side: without candidates when a relay must be forced.
fn sdp_for_peer(sdp: &str, strip_candidates: bool) -> String {
    if !strip_candidates {
        return sdp.to_owned();
    }
    sdp.split_inclusive('\n')
        .filter(|line| !line.starts_with("a=candidate") && !line.starts_with("a=end-of-candidates"))
        .collect()
}

/// Address of a candidate line `candidate:<f> <c> <proto> <prio> <ip> <port> typ ...`.
fn candidate_addr(candidate: &str) -> Option<SocketAddr> {
    let mut fields = candidate.split_whitespace().skip(4);
    let ip = fields.next()?;
    let port = fields.next()?;
    format!("{ip}:{port}").parse().ok()
}
