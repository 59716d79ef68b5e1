//! Two peers in one process over real WebRTC on loopback, without a signal server.
//!
//! For measurements and tests of the transport itself: the offer, answer and candidates are
//! handed over in memory. With a [`RelayConditions`], all traffic goes through an impairing
//! [`UdpRelay`] placed in front of the offerer: the SDPs carry no candidates, the answerer
//! only learns the relay's address, and the offerer learns the answerer's through its
//! (relayed) connectivity checks. The impairment is switched on once both channels are open
//! (the connection setup itself is not what is measured). Both links are ordinary
//! [`MatchLink`]s without signaling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::channel::{ChannelConfig, LinkCounters};
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{LinkParts, MatchInfo, MatchLink, Opponent, Role};
use crate::relay::{RelayConditions, UdpRelay};
use crate::transport::{Transport, TransportEvent};

/// Player id of the offering side of a loopback pair.
pub const OFFERER_ID: &str = "loopback-offerer";
/// Player id of the answering side of a loopback pair.
pub const ANSWERER_ID: &str = "loopback-answerer";
/// Default time allowed for a loopback pair to open its channel.
pub const DEFAULT_PAIR_TIMEOUT: Duration = Duration::from_secs(20);

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

struct Side {
    transport: Transport,
    events: mpsc::UnboundedReceiver<TransportEvent>,
    inbound_tx: mpsc::Sender<Bytes>,
    inbound_rx: mpsc::Receiver<Bytes>,
    counters: Arc<LinkCounters>,
}

impl Side {
    async fn new(ice: &IceConfig, channel: &ChannelConfig) -> Result<Self, PeerError> {
        let (transport, events) = Transport::new(ice, &[], channel).await?;
        let (inbound_tx, inbound_rx) = mpsc::channel(channel.queue_capacity.max(1));
        Ok(Self {
            transport,
            events,
            inbound_tx,
            inbound_rx,
            counters: Arc::default(),
        })
    }

    fn into_link(self, info: MatchInfo, queue_capacity: usize) -> MatchLink {
        MatchLink::spawn(LinkParts {
            info,
            client: None,
            transport: self.transport,
            events: self.events,
            inbound_tx: self.inbound_tx,
            inbound_rx: self.inbound_rx,
            counters: self.counters,
            queue_capacity,
        })
    }
}

/// Connects two peers on loopback with `channel`; through an impairing relay if `relay` is
/// given.
pub async fn connect_pair(
    channel: &ChannelConfig,
    relay: Option<RelayConditions>,
) -> Result<LoopbackPair, PeerError> {
    let ice = IceConfig::loopback();
    let started = Instant::now();
    let mut offerer = Side::new(&ice, channel).await?;
    let mut answerer = Side::new(&ice, channel).await?;
    let strip = relay.is_some();
    let offer = offerer.transport.create_offer().await?;
    let answer = answerer
        .transport
        .answer_offer(sdp_for_peer(&offer, strip))
        .await?;
    offerer
        .transport
        .accept_answer(sdp_for_peer(&answer, strip))
        .await?;
    let relay = match relay {
        Some(conditions) => Some(start_relay(&mut offerer, &answerer, conditions).await?),
        None => None,
    };
    tokio::time::timeout(
        DEFAULT_PAIR_TIMEOUT,
        open_both(&mut offerer, &mut answerer, strip),
    )
    .await
    .map_err(|_| PeerError::Timeout {
        phase: "loopback pair",
        after: DEFAULT_PAIR_TIMEOUT,
    })??;
    let connect_time = started.elapsed();
    if let Some(relay) = &relay {
        relay.set_impaired(true);
    }
    let info = |me: &str, them: &str, role| MatchInfo {
        session_id: "loopback".to_owned(),
        player_id: me.to_owned(),
        opponent: Opponent {
            id: them.to_owned(),
            name: them.to_owned(),
        },
        role,
        mode: channel.mode,
        connect_time,
    };
    let capacity = channel.queue_capacity.max(1);
    Ok(LoopbackPair {
        offerer: offerer.into_link(info(OFFERER_ID, ANSWERER_ID, Role::Offerer), capacity),
        answerer: answerer.into_link(info(ANSWERER_ID, OFFERER_ID, Role::Answerer), capacity),
        relay,
    })
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

/// Waits for the offerer's first host candidate, starts a relay in front of it and gives
/// the answerer the relay's address instead.
async fn start_relay(
    offerer: &mut Side,
    answerer: &Side,
    conditions: RelayConditions,
) -> Result<UdpRelay, PeerError> {
    let candidate = loop {
        match offerer.events.recv().await {
            Some(TransportEvent::LocalCandidate(init)) => break init.candidate,
            Some(_) => continue,
            None => return Err(PeerError::Connection("no local candidate".to_owned())),
        }
    };
    let target = candidate_addr(&candidate)
        .ok_or_else(|| PeerError::Protocol(format!("unparsable candidate {candidate}")))?;
    let relay = UdpRelay::start(target, conditions, false)
        .await
        .map_err(|e| PeerError::Connection(format!("relay: {e}")))?;
    let rewritten = candidate.replace(
        &format!("{} {}", target.ip(), target.port()),
        &format!("{} {}", relay.addr().ip(), relay.addr().port()),
    );
    answerer
        .transport
        .add_remote_candidate(serde_json::json!({
            "candidate": rewritten, "sdpMid": "0", "sdpMLineIndex": 0
        }))
        .await?;
    Ok(relay)
}

/// Address of a candidate line `candidate:<f> <c> <proto> <prio> <ip> <port> typ ...`.
fn candidate_addr(candidate: &str) -> Option<SocketAddr> {
    let mut fields = candidate.split_whitespace().skip(4);
    let ip = fields.next()?;
    let port = fields.next()?;
    format!("{ip}:{port}").parse().ok()
}

/// Trickles candidates (unless a relay is in use) until both channels are open.
async fn open_both(
    offerer: &mut Side,
    answerer: &mut Side,
    relayed: bool,
) -> Result<(), PeerError> {
    let (mut offerer_open, mut answerer_open) = (false, false);
    while !(offerer_open && answerer_open) {
        tokio::select! {
            event = offerer.events.recv() => {
                on_event(event, &offerer.transport, &answerer.transport, relayed).await;
            }
            event = answerer.events.recv() => {
                on_event(event, &answerer.transport, &offerer.transport, relayed).await;
            }
            event = offerer.transport.channel.poll(), if !offerer_open => {
                offerer_open = opened(event, &offerer.inbound_tx)?;
            }
            event = answerer.transport.channel.poll(), if !answerer_open => {
                answerer_open = opened(event, &answerer.inbound_tx)?;
            }
        }
    }
    Ok(())
}

/// Trickles a local candidate to the other side (unless relayed) and nudges the driver once
/// DTLS is up (see `Transport::nudge`).
async fn on_event(
    event: Option<TransportEvent>,
    local: &Transport,
    remote: &Transport,
    relayed: bool,
) {
    match event {
        Some(TransportEvent::LocalCandidate(init)) if !relayed => {
            let json = local.candidate_json(init);
            let _ = remote.add_remote_candidate(json).await;
        }
        Some(TransportEvent::State(RTCPeerConnectionState::Connected)) => local.nudge().await,
        _ => {}
    }
}

fn opened(
    event: Option<DataChannelEvent>,
    inbound: &mpsc::Sender<Bytes>,
) -> Result<bool, PeerError> {
    match event {
        Some(DataChannelEvent::OnOpen) => Ok(true),
        Some(DataChannelEvent::OnMessage(message)) => {
            let _ = inbound.try_send(message.data.freeze());
            Ok(false)
        }
        Some(DataChannelEvent::OnClose) | None => {
            Err(PeerError::Connection("data channel closed".to_owned()))
        }
        Some(_) => Ok(false),
    }
}
