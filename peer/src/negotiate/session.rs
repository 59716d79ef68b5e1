//! The WebRTC negotiation of one accepted match: offer/answer, trickle ICE, channel open,
//! `report_connection`, `match_started`.

use std::time::Duration;

use bytes::Bytes;
use signal::client::SignalClient;
use signal::protocol::{
    ClientMessage, ConnectionState, DeclineMatch, ReportConnection, SdpRelay, ServerMessage,
};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::{Pairing, PeerConfig};
use crate::channel::LinkCounters;
use crate::error::PeerError;
use crate::link::{LinkParts, MatchInfo, MatchLink, Opponent, Role};
use crate::transport::{Transport, TransportEvent};

/// Remote candidates kept while the remote description is not set yet; more are dropped
/// (a browser gathers a handful; this bounds what a hostile peer can make us store).
const MAX_PENDING_CANDIDATES: usize = 64;

/// The WebRTC negotiation of one accepted match.
pub(super) struct Negotiation {
    client: SignalClient,
    config: PeerConfig,
    pairing: Pairing,
    transport: Option<Transport>,
    events: Option<mpsc::UnboundedReceiver<TransportEvent>>,
    remote_described: bool,
    pending_candidates: Vec<serde_json::Value>,
    opened: bool,
    started: bool,
    inbound_tx: mpsc::Sender<Bytes>,
    inbound_rx: Option<mpsc::Receiver<Bytes>>,
    counters: std::sync::Arc<LinkCounters>,
    connect_time: Duration,
}

impl Negotiation {
    pub(super) fn new(client: SignalClient, config: PeerConfig, pairing: Pairing) -> Self {
        let (inbound_tx, inbound_rx) = mpsc::channel(config.channel.queue_capacity.max(1));
        Self {
            client,
            config,
            pairing,
            transport: None,
            events: None,
            remote_described: false,
            pending_candidates: Vec::new(),
            opened: false,
            started: false,
            inbound_tx,
            inbound_rx: Some(inbound_rx),
            counters: Default::default(),
            connect_time: Duration::ZERO,
        }
    }

    fn me(&self) -> String {
        self.client.player_id().to_owned()
    }

    fn send(&self, message: ClientMessage) -> Result<(), PeerError> {
        Ok(self.client.sender().send(message)?)
    }

    fn transport(&mut self) -> Result<&mut Transport, PeerError> {
        self.transport
            .as_mut()
            .ok_or_else(|| PeerError::Connection("no transport".to_owned()))
    }

    pub(super) async fn run(&mut self) -> Result<(), PeerError> {
        let timeout = self.config.connect_timeout;
        let deadline = self.pairing.accepted_at + timeout;
        let (transport, events) = Transport::new(
            &self.config.ice,
            &self.client.welcome().ice_servers,
            &self.config.channel,
        )
        .await?;
        self.transport = Some(transport);
        self.events = Some(events);
        if self.pairing.role == Role::Offerer {
            let sdp = self.transport()?.create_offer().await?;
            self.send(ClientMessage::SendSdpOffer(self.sdp_relay(sdp)))?;
        }
        while !(self.opened && self.started) {
            tokio::select! {
                message = self.client.recv() => {
                    let message = message.ok_or(PeerError::SignalClosed)?;
                    self.on_signal(message).await?;
                }
                event = recv_transport_event(self.events.as_mut()) => {
                    let dtls_up = matches!(event, Some(TransportEvent::State(RTCPeerConnectionState::Connected)));
                    self.on_transport_event(event)?;
                    if dtls_up {
                        self.transport()?.nudge().await;
                    }
                }
                event = poll_channel(self.transport.as_ref()), if !self.opened => {
                    self.on_channel_event(event)?;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(PeerError::Timeout { phase: "connecting", after: timeout });
                }
            }
        }
        self.connect_time = self.pairing.accepted_at.elapsed();
        Ok(())
    }

    fn sdp_relay(&self, sdp: String) -> SdpRelay {
        SdpRelay {
            sender_id: self.me(),
            receiver_id: self.pairing.opponent_id.clone(),
            sdp,
            session_id: self.pairing.session_id.clone(),
        }
    }

    async fn on_signal(&mut self, message: ServerMessage) -> Result<(), PeerError> {
        let ours = message.session_id() == Some(self.pairing.session_id.as_str());
        match message {
            ServerMessage::SdpOfferReceived(offer)
                if ours && self.pairing.role == Role::Answerer =>
            {
                let answer = self.transport()?.answer_offer(offer.sdp).await?;
                self.send(ClientMessage::SendSdpAnswer(self.sdp_relay(answer)))?;
                self.remote_described = true;
                self.flush_candidates().await;
            }
            ServerMessage::SdpAnswerReceived(answer)
                if ours && self.pairing.role == Role::Offerer =>
            {
                self.transport()?.accept_answer(answer.sdp).await?;
                self.remote_described = true;
                self.flush_candidates().await;
            }
            ServerMessage::IceCandidateReceived(candidate) if ours => {
                if self.remote_described {
                    self.add_candidate(candidate.candidate).await;
                } else if self.pending_candidates.len() < MAX_PENDING_CANDIDATES {
                    self.pending_candidates.push(candidate.candidate);
                } else {
                    tracing::debug!("too many candidates before the remote description; dropped");
                }
            }
            ServerMessage::MatchStarted(started) if ours => {
                self.pairing.opponent_name = started.opponent_name;
                self.started = true;
            }
            ServerMessage::MatchFailed(failed) if ours => {
                return Err(PeerError::MatchFailed(format!("{:?}", failed.reason)));
            }
            ServerMessage::MatchEnded(ended) if ours => {
                return Err(PeerError::MatchFailed(format!("{:?}", ended.reason)));
            }
            ServerMessage::MatchRequestCancelled(cancelled) if ours => {
                return Err(PeerError::Declined(format!("{:?}", cancelled.reason)));
            }
            ServerMessage::Error(error) if ours => {
                return Err(PeerError::Server {
                    code: error.code,
                    message: error.message,
                });
            }
            ServerMessage::MatchRequestReceived(req) => {
                self.send(ClientMessage::DeclineMatch(DeclineMatch {
                    decliner_id: self.me(),
                    requester_id: req.requester_id,
                    session_id: Some(req.session_id),
                }))?;
            }
            other => tracing::trace!(kind = other.kind(), "ignored while connecting"),
        }
        Ok(())
    }

    async fn add_candidate(&mut self, candidate: serde_json::Value) {
        if let Some(transport) = &self.transport {
            if let Err(error) = transport.add_remote_candidate(candidate).await {
                tracing::debug!(%error, "remote candidate ignored");
            }
        }
    }

    async fn flush_candidates(&mut self) {
        for candidate in std::mem::take(&mut self.pending_candidates) {
            self.add_candidate(candidate).await;
        }
    }

    fn on_transport_event(&mut self, event: Option<TransportEvent>) -> Result<(), PeerError> {
        match event {
            Some(TransportEvent::LocalCandidate(init)) => {
                let candidate = self.transport()?.candidate_json(init);
                self.send(ClientMessage::SendIceCandidate(
                    signal::protocol::IceRelay {
                        sender_id: self.me(),
                        receiver_id: self.pairing.opponent_id.clone(),
                        candidate,
                        session_id: self.pairing.session_id.clone(),
                    },
                ))?;
            }
            Some(TransportEvent::State(
                state @ (RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed),
            )) => return Err(PeerError::Connection(state.to_string())),
            Some(TransportEvent::IceState(state)) => tracing::debug!(%state, "ICE state"),
            Some(other) => tracing::trace!(?other, "transport event"),
            None => return Err(PeerError::Connection("closed".to_owned())),
        }
        Ok(())
    }

    fn on_channel_event(&mut self, event: Option<DataChannelEvent>) -> Result<(), PeerError> {
        match event {
            Some(DataChannelEvent::OnOpen) => {
                self.opened = true;
                self.send(ClientMessage::ReportConnection(ReportConnection {
                    player_id: self.me(),
                    session_id: self.pairing.session_id.clone(),
                    state: ConnectionState::Connected,
                }))?;
            }
            Some(DataChannelEvent::OnMessage(message)) => {
                // The opponent may start sending before our `match_started` arrives.
                if self.inbound_tx.try_send(message.data.freeze()).is_err() {
                    self.counters
                        .dropped_overflow
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Some(DataChannelEvent::OnClose) | None => {
                return Err(PeerError::Connection("data channel closed".to_owned()))
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Reports `failed`, closes the peer connection and the signaling connection.
    pub(super) async fn fail(self) {
        let _ = self.send(ClientMessage::ReportConnection(ReportConnection {
            player_id: self.me(),
            session_id: self.pairing.session_id.clone(),
            state: ConnectionState::Failed,
        }));
        if let Some(transport) = &self.transport {
            transport.close().await;
        }
        self.client.close().await;
    }

    pub(super) fn into_link(mut self) -> Result<MatchLink, PeerError> {
        let (Some(transport), Some(events)) = (self.transport.take(), self.events.take()) else {
            return Err(PeerError::Connection("no transport".to_owned()));
        };
        let info = MatchInfo {
            session_id: self.pairing.session_id.clone(),
            player_id: self.me(),
            opponent: Opponent {
                id: self.pairing.opponent_id.clone(),
                name: self.pairing.opponent_name.clone(),
            },
            role: self.pairing.role,
            mode: self.config.channel.mode,
            connect_time: self.connect_time,
        };
        let inbound_rx = self.inbound_rx.take();
        let inbound_rx = inbound_rx.ok_or_else(|| PeerError::Connection("no queue".to_owned()))?;
        Ok(MatchLink::spawn(LinkParts {
            info,
            client: Some(self.client),
            transport,
            events,
            inbound_tx: self.inbound_tx,
            inbound_rx,
            counters: self.counters,
            queue_capacity: self.config.channel.queue_capacity.max(1),
        }))
    }
}

async fn recv_transport_event(
    events: Option<&mut mpsc::UnboundedReceiver<TransportEvent>>,
) -> Option<TransportEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

async fn poll_channel(transport: Option<&Transport>) -> Option<DataChannelEvent> {
    match transport {
        Some(transport) => transport.channel.poll().await,
        None => std::future::pending().await,
    }
}
