//! A running match: the [`MatchLink`] handle and its driver task.
//!
//! The driver owns the data channel and the signaling connection. It moves game packets
//! between the channel and the [`GgrsSocket`]'s queues, relays late ICE candidates, watches
//! the peer connection, and turns every ending (channel closed, connection failed, opponent
//! ended or vanished) into a [`MatchEvent`]. If the signaling server goes away the match goes
//! on: the game traffic is peer to peer.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use bytes::{Bytes, BytesMut};
use signal::client::SignalClient;
use signal::protocol::{ClientMessage, DeclineMatch, EndMatch, ServerMessage};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::{
    PeerConnection, RTCPeerConnectionState, RTCStatsReportEntry, StatsSelector,
};

use crate::channel::{ChannelMode, GgrsSocket, LinkCounters, PeerId};
use crate::transport::{Transport, TransportEvent};

/// How long [`MatchLink::finish`] waits for the driver to shut down.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Which side of the negotiation we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The requester: created the offer.
    Offerer,
    /// The accepter: answered.
    Answerer,
}

/// The opponent's identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Opponent {
    /// Player id (the address of the socket).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Facts about the match, fixed when it starts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatchInfo {
    /// The signaling session id.
    pub session_id: String,
    /// Our player id.
    pub player_id: String,
    /// The opponent.
    pub opponent: Opponent,
    /// Offerer or answerer.
    pub role: Role,
    /// Channel ordering mode.
    pub mode: ChannelMode,
    /// Time from the acceptance of the match to `match_started` with an open channel.
    pub connect_time: Duration,
}

/// Why a match ended from the link's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The data channel closed (the opponent closed its connection).
    ChannelClosed,
    /// The server says the opponent ended the match (`match_ended ended`).
    OpponentEnded,
    /// The server says the opponent disconnected (`match_ended peer_disconnected`).
    OpponentDisconnected,
}

/// Something that happened to a running link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchEvent {
    /// The match is over for the network; the socket will receive nothing more.
    Closed(CloseReason),
    /// The peer connection failed (ICE/DTLS gave up).
    Failed(String),
    /// The signaling connection was lost; the peer-to-peer match continues.
    SignalingLost,
}

/// Transport statistics of a link.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TransportStats {
    /// Packets handed to the data channel.
    pub packets_sent: u64,
    /// Bytes handed to the data channel.
    pub bytes_sent: u64,
    /// Packets received (valid or not).
    pub packets_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets delivered to ggrs.
    pub packets_delivered: u64,
    /// Malformed / oversized / foreign packets dropped.
    pub dropped_malformed: u64,
    /// Stale or duplicate packets dropped.
    pub dropped_stale: u64,
    /// Packets dropped on a full queue or a closed channel.
    pub dropped_overflow: u64,
    /// Received packets estimated lost (sequence gaps not filled by late arrivals).
    pub packets_lost: u64,
    /// `packets_lost / (packets_lost + valid packets received)`, in per mille.
    pub loss_per_mille: u64,
    /// Current round-trip time of the selected ICE candidate pair, if measured.
    pub rtt_ms: Option<f64>,
    /// Type of our candidate in the selected pair (`host`, `srflx`, `prflx`, `relay`).
    pub local_candidate_type: Option<String>,
}

enum Command {
    End(oneshot::Sender<()>),
}

pub(crate) struct LinkParts {
    pub(crate) info: MatchInfo,
    pub(crate) client: Option<SignalClient>,
    pub(crate) transport: Transport,
    pub(crate) events: mpsc::UnboundedReceiver<TransportEvent>,
    pub(crate) inbound_tx: mpsc::Sender<Bytes>,
    pub(crate) inbound_rx: mpsc::Receiver<Bytes>,
    pub(crate) counters: Arc<LinkCounters>,
    pub(crate) queue_capacity: usize,
}

/// Handle of a running match: take the socket, watch events, read stats, finish.
///
/// Dropping it without [`MatchLink::finish`] closes the peer connection and the signaling
/// connection (without `end_match`).
pub struct MatchLink {
    info: MatchInfo,
    socket: Option<GgrsSocket>,
    events: mpsc::UnboundedReceiver<MatchEvent>,
    counters: Arc<LinkCounters>,
    pc: Arc<dyn PeerConnection>,
    commands: mpsc::Sender<Command>,
    driver: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MatchLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchLink")
            .field("info", &self.info)
            .finish()
    }
}

impl MatchLink {
    pub(crate) fn spawn(parts: LinkParts) -> MatchLink {
        let (outbound_tx, outbound_rx) = mpsc::channel(parts.queue_capacity);
        let (event_tx, events) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::channel(4);
        let socket = GgrsSocket::new(
            PeerId(parts.info.opponent.id.clone()),
            parts.info.mode,
            outbound_tx,
            parts.inbound_rx,
            parts.counters.clone(),
        );
        let pc = parts.transport.pc.clone();
        let driver = LinkDriver {
            session_id: parts.info.session_id.clone(),
            player_id: parts.info.player_id.clone(),
            client: parts.client,
            transport: parts.transport,
            transport_events: parts.events,
            inbound: parts.inbound_tx,
            outbound: outbound_rx,
            events: event_tx,
            commands: command_rx,
            counters: parts.counters.clone(),
            over: false,
        };
        MatchLink {
            info: parts.info,
            socket: Some(socket),
            events,
            counters: parts.counters,
            pc,
            commands,
            driver: Some(tokio::spawn(driver.run())),
        }
    }

    /// Facts about the match (opponent, session, role, time to connect).
    pub fn info(&self) -> &MatchInfo {
        &self.info
    }

    /// The opponent's socket address for ggrs.
    pub fn opponent_addr(&self) -> PeerId {
        PeerId(self.info.opponent.id.clone())
    }

    /// Takes the ggrs socket (once; `None` afterwards).
    pub fn take_socket(&mut self) -> Option<GgrsSocket> {
        self.socket.take()
    }

    /// The next event if one is ready (for a synchronous game loop).
    pub fn try_event(&mut self) -> Option<MatchEvent> {
        self.events.try_recv().ok()
    }

    /// Waits for the next event; `None` once the driver has stopped.
    pub async fn next_event(&mut self) -> Option<MatchEvent> {
        self.events.recv().await
    }

    /// Transport statistics: our counters plus the RTT of the selected candidate pair.
    pub async fn stats(&self) -> TransportStats {
        let mut stats = counters_snapshot(&self.counters);
        let report = self
            .pc
            .get_stats(StdInstant::now(), StatsSelector::None)
            .await;
        let selected_id = report
            .transport()
            .map(|transport| transport.selected_candidate_pair_id.clone());
        let selected = report
            .candidate_pairs()
            .filter(|pair| Some(&pair.stats.id) == selected_id.as_ref() || pair.nominated)
            .max_by_key(|pair| pair.packets_received);
        if let Some(pair) = selected {
            stats.rtt_ms = (pair.current_round_trip_time > 0.0)
                .then_some(pair.current_round_trip_time * 1000.0);
            // Candidate entries are keyed "RTCLocalIceCandidate_<candidate id>".
            stats.local_candidate_type = report.iter().find_map(|entry| match entry {
                RTCStatsReportEntry::LocalCandidate(local)
                    if local.stats.id.ends_with(&pair.local_candidate_id) =>
                {
                    Some(local.candidate_type.to_string())
                }
                _ => None,
            });
        }
        stats
    }

    /// Ends the match: `end_match` to the server (if still connected), closes the peer
    /// connection and the signaling connection, waits for the driver to stop.
    pub async fn finish(mut self) {
        let (reply_tx, reply_rx) = oneshot::channel();
        if self.commands.send(Command::End(reply_tx)).await.is_ok() {
            let _ = tokio::time::timeout(FINISH_TIMEOUT, reply_rx).await;
        }
        if let Some(driver) = self.driver.take() {
            if tokio::time::timeout(FINISH_TIMEOUT, driver).await.is_err() {
                tracing::warn!("link driver did not stop in time");
            }
        }
    }
}

impl Drop for MatchLink {
    fn drop(&mut self) {
        // The driver sees its command queue close and shuts everything down on its own.
        if let Some(driver) = self.driver.take() {
            drop(driver);
        }
    }
}

fn counters_snapshot(counters: &LinkCounters) -> TransportStats {
    let get = LinkCounters::get;
    let stale = get(&counters.dropped_stale);
    let lost = get(&counters.sequence_gaps).saturating_sub(stale);
    let valid = get(&counters.packets_delivered) + stale;
    TransportStats {
        packets_sent: get(&counters.packets_sent),
        bytes_sent: get(&counters.bytes_sent),
        packets_received: get(&counters.packets_received),
        bytes_received: get(&counters.bytes_received),
        packets_delivered: get(&counters.packets_delivered),
        dropped_malformed: get(&counters.dropped_malformed),
        dropped_stale: stale,
        dropped_overflow: get(&counters.dropped_overflow),
        packets_lost: lost,
        loss_per_mille: (lost * 1000).checked_div(lost + valid).unwrap_or(0),
        rtt_ms: None,
        local_candidate_type: None,
    }
}

struct LinkDriver {
    session_id: String,
    player_id: String,
    client: Option<SignalClient>,
    transport: Transport,
    transport_events: mpsc::UnboundedReceiver<TransportEvent>,
    inbound: mpsc::Sender<Bytes>,
    outbound: mpsc::Receiver<Bytes>,
    events: mpsc::UnboundedSender<MatchEvent>,
    commands: mpsc::Receiver<Command>,
    counters: Arc<LinkCounters>,
    /// A terminal event was emitted: only wait for the handle to finish.
    over: bool,
}

impl LinkDriver {
    async fn run(mut self) {
        let mut socket_gone = false;
        let reply = loop {
            let signal_alive = self.client.is_some();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::End(reply)) => break Some(reply),
                    None => break None,
                },
                packet = self.outbound.recv(), if !self.over && !socket_gone => match packet {
                    Some(packet) => self.send_packet(packet).await,
                    // The game dropped the socket; the link lives until the handle says so.
                    None => socket_gone = true,
                },
                event = self.transport.channel.poll(), if !self.over => self.on_channel_event(event),
                event = self.transport_events.recv(), if !self.over => self.on_transport_event(event),
                message = recv_signal(self.client.as_mut()), if signal_alive => {
                    self.on_signal(message).await;
                }
            }
        };
        self.shutdown().await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    async fn send_packet(&mut self, packet: Bytes) {
        if let Err(error) = self
            .transport
            .channel
            .send(BytesMut::from(&packet[..]))
            .await
        {
            tracing::debug!(%error, "game packet not sent");
            self.counters
                .dropped_overflow
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn end(&mut self, event: MatchEvent) {
        if !self.over {
            self.over = true;
            let _ = self.events.send(event);
        }
    }

    fn on_channel_event(&mut self, event: Option<DataChannelEvent>) {
        match event {
            Some(DataChannelEvent::OnMessage(message)) => {
                if self.inbound.try_send(message.data.freeze()).is_err() {
                    self.counters
                        .dropped_overflow
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Some(DataChannelEvent::OnClose) | None => {
                self.end(MatchEvent::Closed(CloseReason::ChannelClosed))
            }
            Some(other) => tracing::trace!(?other, "data channel event"),
        }
    }

    fn on_transport_event(&mut self, event: Option<TransportEvent>) {
        match event {
            Some(TransportEvent::State(RTCPeerConnectionState::Failed)) => {
                self.end(MatchEvent::Failed("peer connection failed".to_owned()))
            }
            Some(TransportEvent::State(RTCPeerConnectionState::Closed)) | None => {
                self.end(MatchEvent::Closed(CloseReason::ChannelClosed))
            }
            Some(TransportEvent::IceState(state)) => tracing::debug!(%state, "ICE state"),
            Some(other) => tracing::trace!(?other, "transport event"),
        }
    }

    async fn on_signal(&mut self, message: Option<ServerMessage>) {
        let Some(message) = message else {
            tracing::info!("signaling connection lost; the match continues peer to peer");
            self.client = None;
            let _ = self.events.send(MatchEvent::SignalingLost);
            return;
        };
        let ours = message.session_id() == Some(self.session_id.as_str());
        match message {
            ServerMessage::MatchEnded(ended) if ours => {
                let reason = match ended.reason {
                    signal::protocol::EndReason::Ended => CloseReason::OpponentEnded,
                    signal::protocol::EndReason::PeerDisconnected => {
                        CloseReason::OpponentDisconnected
                    }
                };
                self.end(MatchEvent::Closed(reason));
            }
            ServerMessage::IceCandidateReceived(candidate) if ours => {
                if let Err(error) = self
                    .transport
                    .add_remote_candidate(candidate.candidate)
                    .await
                {
                    tracing::debug!(%error, "late remote candidate ignored");
                }
            }
            ServerMessage::MatchRequestReceived(req) => {
                if let Some(client) = &self.client {
                    let _ = client
                        .sender()
                        .send(ClientMessage::DeclineMatch(DeclineMatch {
                            decliner_id: self.player_id.clone(),
                            requester_id: req.requester_id,
                            session_id: Some(req.session_id),
                        }));
                }
            }
            other => tracing::trace!(kind = other.kind(), "ignored during the match"),
        }
    }

    async fn shutdown(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.sender().send(ClientMessage::EndMatch(EndMatch {
                player_id: self.player_id.clone(),
                session_id: self.session_id.clone(),
            }));
            // Let the writer flush `end_match` before the close frame.
            tokio::task::yield_now().await;
            self.transport.close().await;
            client.close().await;
        } else {
            self.transport.close().await;
        }
    }
}

async fn recv_signal(client: Option<&mut SignalClient>) -> Option<ServerMessage> {
    match client {
        Some(client) => client.recv().await,
        None => std::future::pending().await,
    }
}
