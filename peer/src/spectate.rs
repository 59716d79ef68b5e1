//! Spectators over WebRTC: the host's spectator links and the watcher's [`Watch`].
//!
//! A spectator session (docs/spec/signaling.md, "Spectators") is a second peer connection
//! between one player of a running match (the *host*) and a watcher, with one reliable,
//! ordered, negotiated channel ([`STREAM_CHANNEL_ID`]) that carries the bytes of
//! `rollback::spectate` (snapshot, confirmed steps, end) from host to watcher. This crate
//! moves the bytes; the game encodes and decodes them.
//!
//! **Host.** The match's [`MatchLink`] hands out a [`SpectatorEvent::Joined`] with a
//! [`SpectatorSender`] once a watcher's stream is open, and [`SpectatorEvent::Left`] when
//! it closes. [`SpectatorSender::try_send`] never waits: its queue
//! ([`SPECTATOR_QUEUE_MESSAGES`]) is bounded, and the channel itself holds at most
//! [`SPECTATOR_SEND_BUFFER_BYTES`] unacknowledged, so a watcher that stops reading or
//! vanishes only fills its own queues (`try_send` returns `false`; the game's
//! `rollback::spectate::SpectatorHost` then keeps the message and cuts the spectator when
//! its own queue is full). Drop the sender to end the stream: what was queued is flushed
//! (for at most [`FLUSH_TIMEOUT`]) and the link closes. The match never waits for a
//! spectator, and [`MatchLink::finish`] closes every link after that bounded flush.
//!
//! **Watcher.** [`Peer::watch`](crate::Peer::watch) sends `watch_match`, negotiates the
//! spectator session (the watcher offers) and returns a [`Watch`]; [`Watch::try_recv`]
//! yields the stream's messages in order until the host closes it. The watcher's queue is
//! bounded ([`WatchOptions::queue_messages`]): while it is full the channel is not read, so
//! a watcher that falls behind slows only its own stream (SCTP flow control), never drops a
//! message.
//!
//! ## The driving loop
//! The host polls [`MatchLink::try_spectator_event`] once a frame next to its game events
//! and feeds each open sender (the root package's `netplay::spectate::SpectatorFeed` does
//! this with rollback's `SpectatorHost`); the watcher reads its [`Watch`] until `Ended`.
//! This runs as written, with an embedded signal server on 127.0.0.1:0:
//! ```
//! use std::time::Duration;
//! use peer::{AcceptRule, MatchRule, Peer, PeerConfig, SpectatorEvent};
//! use signal::server::{ServerConfig, SignalServer};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"a development secret".to_vec();
//! let config = ServerConfig::new(secret.clone()).with_listen("127.0.0.1:0".parse()?);
//! let server = SignalServer::start(config).await?;
//! let token = |sub: &str| signal::auth::mint_token(&secret, sub, None, Duration::from_secs(60));
//! let url = server.url();
//! let (ta, tb, tc) = (token("alice")?, token("bob")?, token("carol")?);
//! let alice = Peer::connect(&url, &ta, PeerConfig::loopback("Alice")).await?;
//! let bob = Peer::connect(&url, &tb, PeerConfig::loopback("Bob")).await?;
//! let (a, b) = tokio::join!(
//!     alice.start_match(MatchRule::Challenge("bob".into())),
//!     bob.start_match(MatchRule::Accept(AcceptRule::Any)),
//! );
//! let (mut alice, bob) = (a?, b?);
//!
//! // Carol watches alice's running match (the server picks alice or bob as host).
//! let carol = Peer::connect(&url, &tc, PeerConfig::loopback("Carol")).await?;
//! let watching = tokio::spawn(async move {
//!     let mut watch = carol.watch("alice").await?;
//!     let mut received = Vec::new();
//!     while let Some(message) = watch.recv().await {
//!         received.push(message);
//!     }
//!     watch.finish().await;
//!     Ok::<_, peer::PeerError>(received)
//! });
//!
//! // The host's frame loop (alice: the server picks the player hosting fewer spectators,
//! // the target on a tie): a spectator joined; stream to it, then end its stream.
//! let host = &mut alice;
//! let mut sent = 0;
//! for _frame in 0..3_000 {
//!     match host.try_spectator_event() {
//!         Some(SpectatorEvent::Joined(sender)) => {
//!             for frame in 0u32..100 {
//!                 sent += usize::from(sender.try_send(&frame.to_le_bytes()));
//!             }
//!             drop(sender); // ends the stream: flushed, then the link closes
//!             break;
//!         }
//!         Some(SpectatorEvent::Left { .. }) | None => {}
//!     }
//!     tokio::time::sleep(Duration::from_millis(5)).await;
//! }
//! let received = watching.await??;
//! assert!(sent > 0);
//! assert_eq!(received.len(), sent, "every message arrives, in order");
//! alice.finish().await;
//! bob.finish().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use crate::channel::LinkCounters;
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{MatchEvent, MatchInfo, MatchLink};
use crate::machine::{SpectatorAction, SpectatorInput, SpectatorKey};
use crate::transport::{Transport, TransportOptions};
use signal::protocol::IceServer;

/// The negotiated SCTP stream id of the spectator stream channel.
pub const STREAM_CHANNEL_ID: u16 = 3;
/// The spectator stream channel's label.
pub const STREAM_CHANNEL_LABEL: &str = "netplay-spectate";
/// Messages a [`SpectatorSender`] queues towards its channel; more are refused.
pub const SPECTATOR_QUEUE_MESSAGES: usize = 32;
/// Bytes a spectator channel holds unacknowledged before the host stops writing to it
/// (≈ 10 s of a 60 fps fighter stream; a watcher that reads never comes close).
pub const SPECTATOR_SEND_BUFFER_BYTES: usize = 16 * 1024;
/// How long a closing spectator link may take to deliver what was queued.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// Spectator events buffered for the game; more are dropped (and counted in
/// [`LinkCounters::dropped_events`]).
pub const SPECTATOR_EVENT_CAPACITY: usize = 32;
/// Raw spectator-link events buffered for the driver.
const LINK_EVENT_CAPACITY: usize = 256;
/// Messages a [`Watch`] buffers by default ([`WatchOptions::queue_messages`]).
pub const DEFAULT_WATCH_QUEUE: usize = 1024;

/// The channel settings of a spectator stream (both ends): reliable, ordered, negotiated.
pub(crate) fn stream_options(
    send_buffer_limit: Option<usize>,
    receive_buffer: Option<u32>,
) -> TransportOptions {
    TransportOptions {
        init: RTCDataChannelInit {
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            protocol: String::new(),
            negotiated: Some(STREAM_CHANNEL_ID),
        },
        label: STREAM_CHANNEL_LABEL.to_owned(),
        send_buffer_limit,
        receive_buffer,
    }
}

/// The watcher's peer connection: the stream channel, events as the game channel's.
pub(crate) async fn watch_transport(
    ice: &IceConfig,
    ice_servers: &[IceServer],
    watch: WatchOptions,
    counters: Arc<LinkCounters>,
) -> Result<(Transport, mpsc::Receiver<crate::transport::TransportEvent>), PeerError> {
    let options = stream_options(None, watch.receive_buffer);
    Transport::with_options(ice, ice_servers, options, counters).await
}

/// A spectator arrived or left (from [`MatchLink::try_spectator_event`]).
#[derive(Debug)]
pub enum SpectatorEvent {
    /// A watcher's stream is open: send it the match through this sender.
    Joined(SpectatorSender),
    /// A spectator's link closed (it left, vanished, or its sender was dropped).
    Left {
        /// The link ([`SpectatorSender::key`]).
        key: SpectatorKey,
        /// The watcher's player id.
        watcher_id: String,
    },
}

/// Sends the stream to one spectator; bounded and never waiting. Drop it to end the
/// stream (what was queued is flushed, then the link closes).
#[derive(Debug)]
pub struct SpectatorSender {
    key: SpectatorKey,
    watcher_id: String,
    watcher_name: String,
    queue: mpsc::Sender<Bytes>,
}

impl SpectatorSender {
    /// The link's key (unique within the match).
    pub fn key(&self) -> SpectatorKey {
        self.key
    }

    /// The watcher's player id.
    pub fn watcher_id(&self) -> &str {
        &self.watcher_id
    }

    /// The watcher's display name.
    pub fn watcher_name(&self) -> &str {
        &self.watcher_name
    }

    /// Queues one message; `false` if the queue is full (the watcher is not keeping up:
    /// keep the message and retry later, or cut the spectator) or the link is closed.
    pub fn try_send(&self, message: &[u8]) -> bool {
        self.queue.try_send(Bytes::copy_from_slice(message)).is_ok()
    }

    /// Whether the link is closed (nothing sent will arrive).
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// What a spectator link's tasks report to the driver.
pub(crate) enum LinkEvent {
    /// The peer connection was built (in a task: the match's driver never waits for it).
    Built(Result<Transport, PeerError>),
    /// The watcher's offer was answered (in a task); our answer's SDP.
    Answered(Result<String, PeerError>),
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    ChannelOpen,
    ChannelClosed,
    /// The sender was dropped and what it queued is flushed.
    StreamDone,
}

impl std::fmt::Debug for LinkEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Built(result) => write!(f, "Built(ok: {})", result.is_ok()),
            Self::Answered(result) => write!(f, "Answered(ok: {})", result.is_ok()),
            Self::Candidate(c) => write!(f, "Candidate({c:?})"),
            Self::State(s) => write!(f, "State({s:?})"),
            Self::ChannelOpen => f.write_str("ChannelOpen"),
            Self::ChannelClosed => f.write_str("ChannelClosed"),
            Self::StreamDone => f.write_str("StreamDone"),
        }
    }
}

struct LinkForwarder {
    key: SpectatorKey,
    events: mpsc::Sender<(SpectatorKey, LinkEvent)>,
    counters: Arc<LinkCounters>,
}

impl LinkForwarder {
    fn forward(&self, event: LinkEvent) {
        if self.events.try_send((self.key, event)).is_err() {
            LinkCounters::add(&self.counters.dropped_events, 1);
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for LinkForwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.forward(LinkEvent::Candidate(init)),
            Err(error) => tracing::debug!(%error, "local candidate not serializable"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.forward(LinkEvent::State(state));
    }
}

struct LinkIo {
    transport: Transport,
    watcher_id: Option<String>,
    pump: JoinHandle<()>,
    writer: Option<JoinHandle<()>>,
}

/// The driver's side of the host's spectator links: their peer connections and tasks.
pub(crate) struct SpectatorLinkSet {
    links: BTreeMap<SpectatorKey, LinkIo>,
    /// Links whose peer connection is being built.
    building: std::collections::BTreeSet<SpectatorKey>,
    events_tx: mpsc::Sender<(SpectatorKey, LinkEvent)>,
    events_rx: mpsc::Receiver<(SpectatorKey, LinkEvent)>,
    to_game: mpsc::Sender<SpectatorEvent>,
    closing: Vec<JoinHandle<()>>,
    counters: Arc<LinkCounters>,
}

impl SpectatorLinkSet {
    pub(crate) fn new(to_game: mpsc::Sender<SpectatorEvent>, counters: Arc<LinkCounters>) -> Self {
        let (events_tx, events_rx) = mpsc::channel(LINK_EVENT_CAPACITY);
        Self {
            links: BTreeMap::new(),
            building: std::collections::BTreeSet::new(),
            events_tx,
            events_rx,
            to_game,
            closing: Vec::new(),
            counters,
        }
    }

    /// Whether any link exists (the driver polls [`SpectatorLinkSet::next`] then).
    pub(crate) fn is_active(&self) -> bool {
        !self.links.is_empty() || !self.building.is_empty()
    }

    /// The next event of any link (pending forever when there is none).
    pub(crate) async fn next(&mut self) -> (SpectatorKey, LinkEvent) {
        match self.events_rx.recv().await {
            Some(event) => event,
            // we hold a sender, so this does not happen
            None => std::future::pending().await,
        }
    }

    /// Turns a link event into the machine's input (`None`: nothing for the machine).
    pub(crate) async fn input(
        &mut self,
        key: SpectatorKey,
        event: LinkEvent,
    ) -> Option<SpectatorInput> {
        if let LinkEvent::Built(result) = event {
            return self.built(key, result);
        }
        let io = self.links.get_mut(&key)?;
        Some(match event {
            LinkEvent::Built(_) => return None,
            LinkEvent::Answered(Ok(sdp)) => {
                io.transport.note_local_sdp(&sdp);
                SpectatorInput::LocalAnswer(sdp)
            }
            LinkEvent::Answered(Err(error)) => SpectatorInput::Error(error),
            LinkEvent::Candidate(init) => {
                SpectatorInput::LocalCandidate(io.transport.candidate_json(init))
            }
            LinkEvent::State(RTCPeerConnectionState::Connected) => {
                io.transport.nudge().await;
                return None;
            }
            LinkEvent::State(RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) => {
                SpectatorInput::Closed
            }
            LinkEvent::State(_) => return None,
            LinkEvent::ChannelOpen => SpectatorInput::ChannelOpen,
            LinkEvent::ChannelClosed | LinkEvent::StreamDone => SpectatorInput::Closed,
        })
    }

    /// Executes a spectator action; returns the input it produces for the machine.
    pub(crate) async fn execute(
        &mut self,
        action: SpectatorAction,
        ice: &IceConfig,
        ice_servers: &[IceServer],
    ) -> Option<(SpectatorKey, SpectatorInput)> {
        match action {
            SpectatorAction::Create(key) => {
                self.create(key, ice, ice_servers);
                None
            }
            SpectatorAction::Answer(key, offer) => {
                let pc = self.links.get(&key)?.transport.pc.clone();
                let events = self.events_tx.clone();
                tokio::spawn(async move {
                    let answered = Transport::answer_on(pc, offer).await;
                    let _ = events.send((key, LinkEvent::Answered(answered))).await;
                });
                None
            }
            SpectatorAction::AddCandidate(key, candidate) => {
                let io = self.links.get(&key)?;
                if let Err(error) = io.transport.add_remote_candidate(candidate).await {
                    tracing::debug!(%error, "spectator candidate ignored");
                }
                None
            }
            SpectatorAction::Opened {
                key,
                watcher_id,
                watcher_name,
            } => {
                self.open(key, watcher_id, watcher_name);
                None
            }
            SpectatorAction::Close(key) => {
                self.close(key);
                None
            }
        }
    }

    /// Builds link `key`'s peer connection in a task; [`LinkEvent::Built`] reports it.
    fn create(&mut self, key: SpectatorKey, ice: &IceConfig, ice_servers: &[IceServer]) {
        let handler = Arc::new(LinkForwarder {
            key,
            events: self.events_tx.clone(),
            counters: self.counters.clone(),
        });
        let (ice, ice_servers) = (ice.clone(), ice_servers.to_vec());
        let events = self.events_tx.clone();
        self.building.insert(key);
        tokio::spawn(async move {
            let options = stream_options(Some(SPECTATOR_SEND_BUFFER_BYTES), None);
            let built = Transport::build(&ice, &ice_servers, options, handler)
                .await
                .map_err(|error| crate::transport::explain(&ice, error));
            if let Err(mpsc::error::SendError((_, LinkEvent::Built(Ok(transport))))) =
                events.send((key, LinkEvent::Built(built))).await
            {
                transport.close().await;
            }
        });
    }

    /// A built peer connection: the link exists now (or it was closed meanwhile).
    fn built(
        &mut self,
        key: SpectatorKey,
        result: Result<Transport, PeerError>,
    ) -> Option<SpectatorInput> {
        let wanted = self.building.remove(&key);
        let transport = match result {
            Ok(transport) if wanted => transport,
            Ok(transport) => {
                // closed before it was built
                self.closing
                    .push(tokio::spawn(async move { transport.close().await }));
                return None;
            }
            Err(error) => return wanted.then_some(SpectatorInput::Error(error)),
        };
        let pump = tokio::spawn(pump_channel(
            key,
            transport.channel.clone(),
            self.events_tx.clone(),
        ));
        self.links.insert(
            key,
            LinkIo {
                transport,
                watcher_id: None,
                pump,
                writer: None,
            },
        );
        Some(SpectatorInput::Created)
    }

    fn open(&mut self, key: SpectatorKey, watcher_id: String, watcher_name: String) {
        let Some(io) = self.links.get_mut(&key) else {
            return;
        };
        let (queue, rx) = mpsc::channel(SPECTATOR_QUEUE_MESSAGES);
        io.writer = Some(tokio::spawn(write_stream(
            key,
            io.transport.channel.clone(),
            rx,
            self.events_tx.clone(),
        )));
        io.watcher_id = Some(watcher_id.clone());
        let sender = SpectatorSender {
            key,
            watcher_id,
            watcher_name,
            queue,
        };
        if self
            .to_game
            .try_send(SpectatorEvent::Joined(sender))
            .is_err()
        {
            LinkCounters::add(&self.counters.dropped_events, 1);
        }
    }

    /// Closes link `key` in the background: its writer gets [`FLUSH_TIMEOUT`] to deliver
    /// what was queued, then the peer connection closes.
    fn close(&mut self, key: SpectatorKey) {
        self.building.remove(&key);
        let Some(io) = self.links.remove(&key) else {
            return;
        };
        if let Some(watcher_id) = io.watcher_id {
            let left = SpectatorEvent::Left { key, watcher_id };
            if self.to_game.try_send(left).is_err() {
                LinkCounters::add(&self.counters.dropped_events, 1);
            }
        }
        self.closing.retain(|task| !task.is_finished());
        self.closing.push(tokio::spawn(async move {
            if let Some(writer) = io.writer {
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, writer).await;
            }
            io.transport.close().await;
            io.pump.abort();
        }));
    }

    /// The match is over: close every link (bounded flush) and wait for all of them.
    pub(crate) async fn shutdown(&mut self) {
        let keys: Vec<SpectatorKey> = self.links.keys().copied().collect();
        for key in keys {
            self.close(key);
        }
        // peer connections still being built are closed as they come
        let mut building = std::mem::take(&mut self.building).len();
        let until = tokio::time::Instant::now() + FLUSH_TIMEOUT;
        while building > 0 {
            match tokio::time::timeout_at(until, self.events_rx.recv()).await {
                Ok(Some((_, LinkEvent::Built(result)))) => {
                    building -= 1;
                    if let Ok(transport) = result {
                        transport.close().await;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        for task in self.closing.drain(..) {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT * 2, task).await;
        }
    }
}

/// Forwards the stream channel's open and close (a watcher sends nothing we read).
async fn pump_channel(
    key: SpectatorKey,
    channel: Arc<dyn DataChannel>,
    events: mpsc::Sender<(SpectatorKey, LinkEvent)>,
) {
    while let Some(event) = channel.poll().await {
        let event = match event {
            DataChannelEvent::OnOpen => LinkEvent::ChannelOpen,
            DataChannelEvent::OnClose => break,
            _ => continue,
        };
        if events.send((key, event)).await.is_err() {
            return;
        }
    }
    let _ = events.send((key, LinkEvent::ChannelClosed)).await;
}

/// Writes one spectator's queue to its channel. While the channel holds
/// [`SPECTATOR_SEND_BUFFER_BYTES`] unacknowledged (a watcher not reading) it retries every
/// [`FULL_RETRY`]; meanwhile the queue fills and [`SpectatorSender::try_send`] refuses. When
/// the sender is dropped (the stream ended, or the game cut the spectator) it waits
/// (bounded) until everything is acknowledged, or gives up at once if the channel is still
/// full, and reports the stream done (the link then closes).
async fn write_stream(
    key: SpectatorKey,
    channel: Arc<dyn DataChannel>,
    mut queue: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<(SpectatorKey, LinkEvent)>,
) {
    let mut abandoned = false;
    'messages: while let Some(message) = queue.recv().await {
        loop {
            match channel.try_send(BytesMut::from(&message[..])).await {
                Ok(()) => continue 'messages,
                Err(webrtc::error::Error::ErrSendBufferFull) if !queue.is_closed() => {
                    tokio::time::sleep(FULL_RETRY).await;
                }
                Err(webrtc::error::Error::ErrSendBufferFull) => {
                    // cut while its channel is full: nothing more will get through
                    abandoned = true;
                    break 'messages;
                }
                Err(error) => {
                    tracing::debug!(%error, "spectator stream closed");
                    let _ = events.try_send((key, LinkEvent::StreamDone));
                    return;
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + FLUSH_TIMEOUT;
    while !abandoned && tokio::time::Instant::now() < deadline {
        match channel.outstanding_bytes().await {
            Ok(0) | Err(_) => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let _ = events.try_send((key, LinkEvent::StreamDone));
}

/// How often a spectator writer retries a full channel.
const FULL_RETRY: Duration = Duration::from_millis(10);

/// How a watcher reads its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Messages buffered for the game ([`DEFAULT_WATCH_QUEUE`]); while full, the channel
    /// is not read.
    pub queue_messages: usize,
    /// The SCTP receive window in bytes (none: webrtc-rs's 1 MiB). Tests use a small one
    /// so that a watcher that never reads pushes back on its host within seconds.
    pub receive_buffer: Option<u32>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            queue_messages: DEFAULT_WATCH_QUEUE,
            receive_buffer: None,
        }
    }
}

/// What [`Watch::try_recv`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchRead {
    /// The next message of the stream.
    Message(Bytes),
    /// Nothing yet.
    Empty,
    /// The stream is over: the host closed it (after its last message) or the link failed.
    Ended(MatchEvent),
}

/// A watched match: the stream's messages in order, until the host ends it.
///
/// Dropping it closes everything; [`Watch::finish`] also tells the server.
#[derive(Debug)]
pub struct Watch {
    link: MatchLink,
    messages: mpsc::Receiver<Bytes>,
    ended: Option<MatchEvent>,
}

impl Watch {
    pub(crate) fn new(link: MatchLink, messages: mpsc::Receiver<Bytes>) -> Self {
        Self {
            link,
            messages,
            ended: None,
        }
    }

    /// The spectator session (`session_id`) and the host (`opponent`).
    pub fn info(&self) -> &MatchInfo {
        self.link.info()
    }

    /// The next message, `Empty`, or `Ended` once the stream is over and every message
    /// before its end was read.
    pub fn try_recv(&mut self) -> WatchRead {
        // an end seen now comes after every message already queued
        while self.ended.is_none() {
            match self.link.try_event() {
                Some(event @ (MatchEvent::Closed(_) | MatchEvent::Failed(_))) => {
                    self.ended = Some(event);
                }
                Some(_) => {}
                None => break,
            }
        }
        match self.messages.try_recv() {
            Ok(message) => WatchRead::Message(message),
            Err(_) => match &self.ended {
                Some(event) => WatchRead::Ended(event.clone()),
                None => WatchRead::Empty,
            },
        }
    }

    /// Waits for the next message; `None` once the stream is over (polls every
    /// millisecond while nothing is queued).
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            match self.try_recv() {
                WatchRead::Message(message) => return Some(message),
                WatchRead::Ended(_) => return None,
                WatchRead::Empty => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    /// Leaves: `end_match` for the spectator session, closes the connections.
    pub async fn finish(self) {
        self.link.finish().await;
    }
}

/// Why watching could not start, in the terms a user needs (from [`PeerError`]).
pub fn watch_refusal(error: &PeerError) -> Option<&'static str> {
    match error {
        PeerError::Server { code: 404, .. } => Some("no such player in this lobby"),
        PeerError::Server { code: 409, .. } => {
            Some("the player is not in a running match, or it has 8 spectators")
        }
        _ => None,
    }
}
