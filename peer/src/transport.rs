//! One WebRTC peer connection with the game data channel: thin async wrapper over webrtc-rs.
//!
//! The webrtc-rs event handler only forwards events into a bounded queue (its callbacks run
//! on the connection's driver task and must return at once; a full queue drops the event and
//! counts it in [`LinkCounters::dropped_events`]); the match driver consumes that queue.

use std::sync::Arc;

use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceConnectionState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription,
};

use crate::channel::{ChannelConfig, LinkCounters};
use crate::error::PeerError;
use crate::ice::{IceConfig, IceMode};
use signal::protocol::IceServer;

/// What the peer connection reports to whoever drives it.
#[derive(Debug)]
pub(crate) enum TransportEvent {
    /// A local candidate to trickle to the opponent (already in RTCIceCandidateInit form).
    LocalCandidate(RTCIceCandidateInit),
    /// The connection state changed.
    State(RTCPeerConnectionState),
    /// The ICE connection state changed.
    IceState(RTCIceConnectionState),
}

/// Transport events buffered for the driver (candidates and state changes: a handful).
const TRANSPORT_EVENT_CAPACITY: usize = 256;

struct EventForwarder {
    events: mpsc::Sender<TransportEvent>,
    counters: Arc<LinkCounters>,
}

impl EventForwarder {
    fn forward(&self, event: TransportEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!(?event, "transport event queue full; event dropped");
            LinkCounters::add(&self.counters.dropped_events, 1);
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for EventForwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                self.forward(TransportEvent::LocalCandidate(init));
            }
            Err(error) => tracing::debug!(%error, "local candidate not serializable"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.forward(TransportEvent::State(state));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.forward(TransportEvent::IceState(state));
    }
}

/// How [`Transport::build`] makes its channel.
pub(crate) struct TransportOptions {
    /// The negotiated channel's settings.
    pub(crate) init: RTCDataChannelInit,
    /// Its label.
    pub(crate) label: String,
    /// Bytes a channel may hold unacknowledged before `try_send` refuses (none: no limit).
    pub(crate) send_buffer_limit: Option<usize>,
    /// The SCTP receive window, bytes (none: webrtc-rs's 1 MiB).
    pub(crate) receive_buffer: Option<u32>,
}

/// A peer connection plus its negotiated game channel.
pub(crate) struct Transport {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) channel: Arc<dyn DataChannel>,
    /// `a=mid` and `a=ice-ufrag` of our local description, for candidates a browser accepts.
    local_mid: Option<String>,
    local_ufrag: Option<String>,
}

impl Transport {
    /// Builds the peer connection and creates the negotiated game channel; also returns the
    /// queue of its events (a full queue drops into `counters.dropped_events`).
    pub(crate) async fn new(
        ice: &IceConfig,
        welcome_servers: &[IceServer],
        channel: &ChannelConfig,
        counters: Arc<LinkCounters>,
    ) -> Result<(Self, mpsc::Receiver<TransportEvent>), PeerError> {
        let options = TransportOptions {
            init: channel.init(),
            label: channel.label.clone(),
            send_buffer_limit: None,
            receive_buffer: None,
        };
        Self::with_options(ice, welcome_servers, options, counters).await
    }

    /// As [`Transport::new`], with the channel `options` give.
    pub(crate) async fn with_options(
        ice: &IceConfig,
        welcome_servers: &[IceServer],
        options: TransportOptions,
        counters: Arc<LinkCounters>,
    ) -> Result<(Self, mpsc::Receiver<TransportEvent>), PeerError> {
        let (tx, events) = mpsc::channel(TRANSPORT_EVENT_CAPACITY);
        let handler = Arc::new(EventForwarder {
            events: tx,
            counters,
        });
        let transport = Self::build(ice, welcome_servers, options, handler).await?;
        Ok((transport, events))
    }

    /// Builds a peer connection whose events go to `handler`, with one negotiated channel
    /// as `options` say (the game channel, or a spectator stream).
    pub(crate) async fn build(
        ice: &IceConfig,
        welcome_servers: &[IceServer],
        options: TransportOptions,
        handler: Arc<dyn PeerConnectionEventHandler>,
    ) -> Result<Self, PeerError> {
        let servers = ice.servers(welcome_servers);
        if ice.relay_only && servers.is_empty() {
            return Err(PeerError::Config(
                "relay-only mode needs a TURN server".to_owned(),
            ));
        }
        let mut engine = ice.setting_engine_builder();
        if let Some(bytes) = options.receive_buffer {
            engine = engine.with_sctp_max_receive_buffer_size(bytes);
        }
        let mut builder = PeerConnectionBuilder::new()
            .with_configuration(ice.rtc_configuration(&servers))
            .with_setting_engine(engine.build())
            .with_handler(handler)
            .with_udp_addrs(ice.udp_addrs());
        if let Some(limit) = options.send_buffer_limit {
            builder = builder.with_data_channel_send_buffer_limit(limit);
        }
        let pc = builder.build().await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let channel = match pc
            .create_data_channel(&options.label, Some(options.init))
            .await
        {
            Ok(channel) => channel,
            Err(error) => {
                let _ = pc.close().await;
                return Err(error.into());
            }
        };
        Ok(Self {
            pc,
            channel,
            local_mid: None,
            local_ufrag: None,
        })
    }

    /// Creates the offer, sets it locally and returns its SDP.
    pub(crate) async fn create_offer(&mut self) -> Result<String, PeerError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        self.local_sdp().await
    }

    /// Applies the remote offer, creates the answer, sets it locally and returns its SDP.
    pub(crate) async fn answer_offer(&mut self, sdp: String) -> Result<String, PeerError> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.local_sdp().await
    }

    /// [`Transport::answer_offer`] on a shared peer connection (in a task of its own); the
    /// caller then records the answer with [`Transport::note_local_sdp`].
    pub(crate) async fn answer_on(
        pc: Arc<dyn PeerConnection>,
        sdp: String,
    ) -> Result<String, PeerError> {
        pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        let local = pc
            .local_description()
            .await
            .ok_or_else(|| PeerError::Connection("no local description".to_owned()))?;
        Ok(local.sdp)
    }

    /// Records our local description's `a=mid` and `a=ice-ufrag` (for candidates).
    pub(crate) fn note_local_sdp(&mut self, sdp: &str) {
        self.local_mid = sdp_attribute(sdp, "mid");
        self.local_ufrag = sdp_attribute(sdp, "ice-ufrag");
    }

    /// Applies the remote answer.
    pub(crate) async fn accept_answer(&self, sdp: String) -> Result<(), PeerError> {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(sdp)?)
            .await?;
        Ok(())
    }

    async fn local_sdp(&mut self) -> Result<String, PeerError> {
        let local = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| PeerError::Connection("no local description".to_owned()))?;
        self.local_mid = sdp_attribute(&local.sdp, "mid");
        self.local_ufrag = sdp_attribute(&local.sdp, "ice-ufrag");
        Ok(local.sdp)
    }

    /// A local candidate as the JSON object a browser's `addIceCandidate` takes.
    pub(crate) fn candidate_json(&self, mut init: RTCIceCandidateInit) -> serde_json::Value {
        if let Some(mid) = &self.local_mid {
            init.sdp_mid = Some(mid.clone());
        }
        init.sdp_mline_index = Some(0);
        if init.username_fragment.is_none() {
            init.username_fragment = self.local_ufrag.clone();
        }
        init.url = None;
        serde_json::json!({
            "candidate": init.candidate,
            "sdpMid": init.sdp_mid,
            "sdpMLineIndex": init.sdp_mline_index,
            "usernameFragment": init.username_fragment,
        })
    }

    /// Adds a remote candidate received as RTCIceCandidateInit JSON. An empty candidate
    /// (end-of-candidates) is accepted and ignored.
    pub(crate) async fn add_remote_candidate(
        &self,
        candidate: serde_json::Value,
    ) -> Result<(), PeerError> {
        let init = parse_candidate(candidate)?;
        if init.candidate.trim().is_empty() {
            return Ok(());
        }
        self.pc.add_ice_candidate(init).await?;
        Ok(())
    }

    /// Wakes the connection's driver so it flushes queued output now.
    ///
    /// webrtc-rs 0.21 queues the SCTP INIT when the DTLS handshake completes but only sends
    /// it on the driver's next iteration, which can be a 200 ms timer away; any
    /// application call that notifies the driver flushes it at once. Setting the (unused)
    /// buffered-amount-low threshold to its current value is such a call with no effect.
    pub(crate) async fn nudge(&self) {
        if let Err(error) = self.channel.set_buffered_amount_low_threshold(0).await {
            tracing::debug!(%error, "driver nudge");
        }
    }

    /// Closes the peer connection (idempotent, never fails loudly).
    pub(crate) async fn close(&self) {
        if let Err(error) = self.pc.close().await {
            tracing::debug!(%error, "closing the peer connection");
        }
    }
}

/// `ENODEV`, which webrtc-rs reports when standard ICE finds no interface but loopback.
const NO_SUCH_DEVICE: &str = "os error 19";

/// Names the cause of errors we can explain: "No such device (os error 19)" in standard ICE
/// mode means the host has only loopback (a container, a network namespace).
pub(crate) fn explain(ice: &IceConfig, error: PeerError) -> PeerError {
    match error {
        PeerError::WebRtc(inner)
            if ice.mode == IceMode::Standard && inner.to_string().contains(NO_SUCH_DEVICE) =>
        {
            PeerError::NoNetwork(inner.to_string())
        }
        other => other,
    }
}

/// Parses an RTCIceCandidateInit JSON object (`candidate`, `sdpMid`, `sdpMLineIndex`,
/// `usernameFragment`; unknown fields ignored).
pub(crate) fn parse_candidate(value: serde_json::Value) -> Result<RTCIceCandidateInit, PeerError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CandidateInit {
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default, rename = "sdpMLineIndex")]
        sdp_mline_index: Option<u16>,
        #[serde(default)]
        username_fragment: Option<String>,
    }
    let parsed: CandidateInit = serde_json::from_value(value)
        .map_err(|e| PeerError::Protocol(format!("bad ICE candidate: {e}")))?;
    Ok(RTCIceCandidateInit {
        candidate: parsed.candidate,
        sdp_mid: parsed.sdp_mid,
        sdp_mline_index: parsed.sdp_mline_index,
        username_fragment: parsed.username_fragment,
        url: None,
    })
}

/// The value of the first `a=<name>:<value>` line of an SDP.
fn sdp_attribute(sdp: &str, name: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix("a=")
            .and_then(|attr| attr.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_attributes_are_found() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:abcd\r\na=mid:0\r\n";
        assert_eq!(sdp_attribute(sdp, "mid").as_deref(), Some("0"));
        assert_eq!(sdp_attribute(sdp, "ice-ufrag").as_deref(), Some("abcd"));
        assert_eq!(sdp_attribute(sdp, "ice-pwd"), None);
    }

    #[test]
    fn candidate_json_from_a_browser_parses() {
        let value = serde_json::json!({
            "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
            "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd", "extra": true
        });
        let init = parse_candidate(value).expect("parses");
        assert_eq!(init.sdp_mid.as_deref(), Some("0"));
        assert!(parse_candidate(serde_json::json!({"sdpMid": "0"})).is_err());
        assert!(parse_candidate(serde_json::json!(42)).is_err());
    }
}
