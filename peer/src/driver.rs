//! The one task that runs a match: it owns the signaling connection and the
//! `RTCPeerConnection` for the match's whole life, executes the [`MatchMachine`]'s actions,
//! feeds it what happens, and moves game packets between the data channel and the
//! [`GgrsSocket`]'s queues. It is the crate's only `select!`.
//!
//! Every queue it reads or writes is bounded; what a full queue drops is counted in
//! [`LinkCounters`]: game packets (`dropped_overflow`), transport events and match events
//! (`dropped_events`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use signal::client::{ClientError, SignalClient};
use signal::protocol::{ClientMessage, IceServer, ServerMessage};
use signal::reconnect::{reconnect, Backoff};
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::DataChannelEvent;
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::channel::{ChannelConfig, GgrsSocket, LinkCounters, PeerId};
use crate::error::PeerError;
use crate::ice::IceConfig;
use crate::link::{transport_stats, MatchEvent, MatchInfo, MatchLink, TransportStats};
use crate::machine::{Action, ChannelInput, MatchMachine, RelayInput, TransportInput};
use crate::relay_link::{RelayLink, RelayLinkEvent};
use crate::spectate::{SpectatorLinkSet, Watch, WatchOptions, SPECTATOR_EVENT_CAPACITY};
use crate::transport::{Transport, TransportEvent};

/// Match events buffered for the game; more are dropped (and counted) if it never reads.
pub const EVENT_QUEUE_CAPACITY: usize = 64;
/// Commands buffered from the [`MatchLink`] handle.
const COMMAND_QUEUE_CAPACITY: usize = 4;
/// Client messages buffered towards an in-memory signaling hub.
pub(crate) const MEMORY_SIGNAL_CAPACITY: usize = 256;

/// What the [`MatchLink`] handle asks of the driver.
pub(crate) enum Command {
    /// End the match; the reply comes once everything is closed.
    End(oneshot::Sender<()>),
    /// Transport statistics.
    Stats(oneshot::Sender<TransportStats>),
    /// Fault injection: close the peer connection as a network failure would.
    InterruptTransport,
}

/// Where to reconnect a dropped signaling connection (the token is not printed).
#[derive(Clone)]
pub(crate) struct Reconnect {
    pub(crate) url: String,
    pub(crate) token: String,
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect").field("url", &self.url).finish()
    }
}

type Reconnecting = Pin<Box<dyn Future<Output = Result<SignalClient, ClientError>> + Send>>;

/// Where the signal messages come from and go to.
pub(crate) enum SignalPort {
    /// A real signal server.
    Server(SignalClient),
    /// An in-memory hub (the loopback pair): our messages go out tagged with `side`.
    Memory {
        side: usize,
        to_hub: mpsc::Sender<(usize, ClientMessage)>,
        from_hub: mpsc::Receiver<ServerMessage>,
    },
}

impl SignalPort {
    /// Queues a message; `false` if the connection is gone (or the hub's queue is full).
    fn send(&self, message: ClientMessage) -> bool {
        match self {
            Self::Server(client) => client.sender().send(message).is_ok(),
            Self::Memory { side, to_hub, .. } => to_hub.try_send((*side, message)).is_ok(),
        }
    }

    async fn recv(&mut self) -> Option<ServerMessage> {
        match self {
            Self::Server(client) => client.recv().await,
            Self::Memory { from_hub, .. } => from_hub.recv().await,
        }
    }

    async fn close(self) {
        if let Self::Server(client) = self {
            // The client sends what was just queued (`end_match`, a withdrawal) before its
            // close frame.
            client.close().await;
        }
    }
}

/// Everything a driver needs besides its queues.
pub(crate) struct DriverSetup {
    pub(crate) machine: MatchMachine,
    pub(crate) signal: SignalPort,
    pub(crate) ice: IceConfig,
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) channel: ChannelConfig,
    /// Join the relay over WebSocket when the server offers a `ws://` URL.
    pub(crate) relay_ws: bool,
    /// Reconnect a dropped signaling connection mid-match (a real server only).
    pub(crate) reconnect: Option<Reconnect>,
    /// Watching a match ([`crate::spectate`]): the stream channel's settings.
    pub(crate) watch: Option<WatchOptions>,
}

/// A started driver's handle parts.
struct Launched {
    info: MatchInfo,
    inbound: mpsc::Receiver<Bytes>,
    outbound: mpsc::Sender<Bytes>,
    events: mpsc::Receiver<MatchEvent>,
    spectators: mpsc::Receiver<crate::spectate::SpectatorEvent>,
    counters: Arc<LinkCounters>,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// Spawns the driver and waits until the match runs (a [`MatchLink`]) or cannot start
/// (the error, once the driver has closed everything).
pub(crate) async fn start(setup: DriverSetup) -> Result<MatchLink, PeerError> {
    let mode = setup.channel.mode;
    let l = launch(setup).await?;
    let socket = GgrsSocket::new(
        PeerId(l.info.opponent.id.clone()),
        mode,
        l.outbound,
        l.inbound,
        l.counters.clone(),
    );
    Ok(MatchLink::new(
        l.info,
        Some(socket),
        l.events,
        l.spectators,
        l.counters,
        l.commands,
        l.task,
    ))
}

/// Spawns a watcher's driver and waits until its stream is open ([`Watch`]).
pub(crate) async fn start_watch(setup: DriverSetup) -> Result<Watch, PeerError> {
    let l = launch(setup).await?;
    drop(l.outbound);
    let link = MatchLink::new(
        l.info,
        None,
        l.events,
        l.spectators,
        l.counters,
        l.commands,
        l.task,
    );
    Ok(Watch::new(link, l.inbound))
}

async fn launch(setup: DriverSetup) -> Result<Launched, PeerError> {
    let capacity = match setup.watch {
        Some(watch) => watch.queue_messages,
        None => setup.channel.queue_capacity,
    }
    .max(1);
    let counters = Arc::new(LinkCounters::default());
    let (inbound_tx, inbound_rx) = mpsc::channel(capacity);
    let (outbound_tx, outbound_rx) = mpsc::channel(capacity);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE_CAPACITY);
    let (command_tx, command_rx) = mpsc::channel(COMMAND_QUEUE_CAPACITY);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (spectator_tx, spectator_rx) = mpsc::channel(SPECTATOR_EVENT_CAPACITY);
    let driver = Driver {
        spectator_links: SpectatorLinkSet::new(spectator_tx, counters.clone()),
        watch: setup.watch,
        machine: setup.machine,
        signal: Some(setup.signal),
        ice: setup.ice,
        ice_servers: setup.ice_servers,
        channel: setup.channel,
        transport: None,
        transport_events: None,
        relay: None,
        relay_ws: setup.relay_ws,
        inbound: inbound_tx,
        outbound: outbound_rx,
        socket_gone: false,
        events: event_tx,
        commands: command_rx,
        handle_gone: false,
        ready: Some(ready_tx),
        end_replies: Vec::new(),
        counters: counters.clone(),
        reconnect: setup.reconnect,
        reconnecting: None,
    };
    let task = tokio::spawn(driver.run());
    match ready_rx.await {
        Ok(Ok(info)) => Ok(Launched {
            info,
            inbound: inbound_rx,
            outbound: outbound_tx,
            events: event_rx,
            spectators: spectator_rx,
            counters,
            commands: command_tx,
            task,
        }),
        Ok(Err(error)) => {
            drop(command_tx);
            if tokio::time::timeout(crate::link::FINISH_TIMEOUT, task)
                .await
                .is_err()
            {
                tracing::warn!("match driver did not stop in time");
            }
            Err(error)
        }
        Err(_) => Err(PeerError::Connection("match driver stopped".to_owned())),
    }
}

struct Driver {
    machine: MatchMachine,
    signal: Option<SignalPort>,
    ice: IceConfig,
    ice_servers: Vec<IceServer>,
    channel: ChannelConfig,
    transport: Option<Transport>,
    transport_events: Option<mpsc::Receiver<TransportEvent>>,
    /// The relay stage, once the match moved to it (see [`crate::relay_link`]).
    relay: Option<RelayLink>,
    relay_ws: bool,
    inbound: mpsc::Sender<Bytes>,
    outbound: mpsc::Receiver<Bytes>,
    /// The game dropped its socket; the link lives until the handle says so.
    socket_gone: bool,
    events: mpsc::Sender<MatchEvent>,
    commands: mpsc::Receiver<Command>,
    /// `commands` is closed: the handle (or the future waiting for the match) is gone.
    handle_gone: bool,
    ready: Option<oneshot::Sender<Result<MatchInfo, PeerError>>>,
    end_replies: Vec<oneshot::Sender<()>>,
    counters: Arc<LinkCounters>,
    reconnect: Option<Reconnect>,
    /// A new signaling connection being made (after the old one dropped mid-match).
    reconnecting: Option<Reconnecting>,
    /// The host's spectator links.
    spectator_links: SpectatorLinkSet,
    /// Watching a match: the stream channel's settings.
    watch: Option<WatchOptions>,
}

impl Driver {
    async fn run(mut self) {
        loop {
            while let Some(action) = self.machine.poll_action() {
                self.execute(action).await;
            }
            if self.machine.is_ended() {
                break;
            }
            let deadline = self.machine.poll_timeout();
            let wants_transport = self.machine.wants_transport() && self.transport.is_some();
            let wants_relay = self.machine.wants_transport() && self.relay.is_some();
            let running = self.machine.is_running() && !self.socket_gone;
            // a watcher reads its stream only while its queue has room (no message dropped)
            let wants_channel =
                wants_transport && (self.watch.is_none() || self.inbound.capacity() > 0);
            let spectating = self.spectator_links.is_active();
            tokio::select! {
                command = self.commands.recv(), if !self.handle_gone => self.on_command(command).await,
                packet = self.outbound.recv(), if running => match packet {
                    Some(packet) => self.send_packet(packet).await,
                    None => self.socket_gone = true,
                },
                event = poll_channel(self.transport.as_ref()), if wants_channel => {
                    self.on_channel_event(event);
                }
                event = recv_transport_event(self.transport_events.as_mut()), if wants_transport => {
                    self.on_transport_event(event);
                }
                events = relay_events(self.relay.as_mut()), if wants_relay => {
                    self.on_relay_events(events);
                }
                message = recv_signal(self.signal.as_mut()), if self.signal.is_some() => match message {
                    Some(message) => self.machine.handle_signal(Instant::now(), message),
                    None => self.signal_lost(),
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.machine.handle_timeout(Instant::now());
                }
                result = poll_reconnect(self.reconnecting.as_mut()), if self.reconnecting.is_some() => {
                    self.on_reconnected(result);
                }
                (key, event) = self.spectator_links.next(), if spectating => {
                    if let Some(input) = self.spectator_links.input(key, event).await {
                        self.machine.handle_spectator(Instant::now(), key, input);
                    }
                }
            }
        }
        self.spectator_links.shutdown().await;
        if let Some(transport) = self.transport.take() {
            transport.close().await;
        }
        if let Some(relay) = self.relay.take() {
            relay.leave();
        }
        if let Some(signal) = self.signal.take() {
            signal.close().await;
        }
        for reply in self.end_replies.drain(..) {
            let _ = reply.send(());
        }
    }

    async fn on_command(&mut self, command: Option<Command>) {
        match command {
            Some(Command::End(reply)) => {
                self.end_replies.push(reply);
                self.machine.handle_end(Instant::now());
            }
            Some(Command::Stats(reply)) => {
                let stats = match &self.transport {
                    Some(transport) => transport_stats(&transport.pc, &self.counters).await,
                    None => TransportStats::from_counters(&self.counters),
                };
                let _ = reply.send(stats);
            }
            Some(Command::InterruptTransport) => {
                if let Some(transport) = self.transport.take() {
                    tracing::warn!("fault injection: closing the peer connection");
                    transport.close().await;
                    self.transport_events = None;
                    self.machine
                        .handle_transport(Instant::now(), TransportInput::Closed);
                }
            }
            // The handle is gone: end as if asked to (a challenger may still wait for its
            // request's session id to withdraw it; the closed queue is not read again).
            None => {
                self.handle_gone = true;
                self.machine.handle_end(Instant::now());
            }
        }
    }

    fn signal_lost(&mut self) {
        self.signal = None;
        self.machine.handle_signal_closed(Instant::now());
        // Mid-match, a new connection is made in the background; the match does not wait.
        if let (Some(target), true) = (&self.reconnect, self.machine.is_running()) {
            let Reconnect { url, token } = target.clone();
            self.reconnecting = Some(Box::pin(async move {
                reconnect(&url, &token, Backoff::default()).await
            }));
        }
    }

    fn on_reconnected(&mut self, result: Result<SignalClient, ClientError>) {
        self.reconnecting = None;
        match result {
            Ok(client) if self.machine.is_running() => {
                self.signal = Some(SignalPort::Server(client));
                self.machine.handle_signal_reopened(Instant::now());
            }
            Ok(client) => {
                tokio::spawn(client.close());
            }
            Err(error) => tracing::warn!(%error, "signaling connection not restored"),
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Signal(message) => {
                let sent = self.signal.as_ref().is_some_and(|s| s.send(message));
                if !sent {
                    self.signal_lost();
                }
            }
            Action::CreateTransport => {
                if let Some(old) = self.transport.take() {
                    old.close().await;
                }
                let built = match self.watch {
                    Some(watch) => {
                        crate::spectate::watch_transport(
                            &self.ice,
                            &self.ice_servers,
                            watch,
                            self.counters.clone(),
                        )
                        .await
                    }
                    None => {
                        Transport::new(
                            &self.ice,
                            &self.ice_servers,
                            &self.channel,
                            self.counters.clone(),
                        )
                        .await
                    }
                };
                let input = match built {
                    Ok((transport, events)) => {
                        self.transport = Some(transport);
                        self.transport_events = Some(events);
                        TransportInput::Created
                    }
                    Err(error) => failed(&self.ice, error),
                };
                self.machine.handle_transport(Instant::now(), input);
            }
            Action::CreateOffer => {
                let input = match self.transport.as_mut() {
                    Some(transport) => match transport.create_offer().await {
                        Ok(sdp) => TransportInput::LocalOffer(self.outgoing_sdp(sdp)),
                        Err(error) => failed(&self.ice, error),
                    },
                    None => no_transport(),
                };
                self.machine.handle_transport(Instant::now(), input);
            }
            Action::AnswerOffer(offer) => {
                let input = match self.transport.as_mut() {
                    Some(transport) => match transport.answer_offer(offer).await {
                        Ok(sdp) => TransportInput::LocalAnswer(self.outgoing_sdp(sdp)),
                        Err(error) => failed(&self.ice, error),
                    },
                    None => no_transport(),
                };
                self.machine.handle_transport(Instant::now(), input);
            }
            Action::AcceptAnswer(answer) => {
                let result = match &self.transport {
                    Some(transport) => transport.accept_answer(answer).await,
                    None => Err(PeerError::Connection("no transport".to_owned())),
                };
                if let Err(error) = result {
                    let input = failed(&self.ice, error);
                    self.machine.handle_transport(Instant::now(), input);
                }
            }
            Action::AddCandidate(_) if self.ice.block_candidates => {}
            Action::AddCandidate(candidate) => {
                if let Some(transport) = &self.transport {
                    if let Err(error) = transport.add_remote_candidate(candidate).await {
                        tracing::debug!(%error, "remote candidate ignored");
                    }
                }
            }
            Action::Nudge => {
                if let Some(transport) = &self.transport {
                    transport.nudge().await;
                }
            }
            Action::Ready(result) => {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(result);
                }
            }
            Action::Emit(event) => {
                if self.events.try_send(event).is_err() {
                    LinkCounters::add(&self.counters.dropped_events, 1);
                }
            }
            Action::CloseTransport => {
                if let Some(transport) = self.transport.take() {
                    transport.close().await;
                }
                self.transport_events = None;
                if let Some(relay) = self.relay.take() {
                    relay.leave();
                }
            }
            Action::JoinRelay(target) => {
                let timeout = self.machine.connect_timeout();
                match RelayLink::join(&target, self.relay_ws, timeout).await {
                    Ok(mut relay) => {
                        let open = relay.peer_present();
                        if open {
                            relay.mark_open();
                        }
                        self.relay = Some(relay);
                        if open {
                            self.machine.handle_relay(Instant::now(), RelayInput::Open);
                        }
                    }
                    Err(error) => {
                        self.machine
                            .handle_relay(Instant::now(), RelayInput::Failed(error));
                    }
                }
            }
            Action::CloseSignal => {
                if let Some(signal) = self.signal.take() {
                    signal.close().await;
                }
            }
            Action::Spectator(action) => {
                let done = self
                    .spectator_links
                    .execute(action, &self.ice, &self.ice_servers)
                    .await;
                if let Some((key, input)) = done {
                    self.machine.handle_spectator(Instant::now(), key, input);
                }
            }
        }
    }

    /// Our SDP as it goes out: without its candidates under the
    /// [`IceConfig::block_candidates`] test hook (gathering may have put some in already).
    fn outgoing_sdp(&self, sdp: String) -> String {
        if !self.ice.block_candidates {
            return sdp;
        }
        sdp.split_inclusive('\n')
            .filter(|line| {
                !line.starts_with("a=candidate") && !line.starts_with("a=end-of-candidates")
            })
            .collect()
    }

    async fn send_packet(&mut self, packet: Bytes) {
        if let Some(relay) = &self.relay {
            if let Err(error) = relay.send(packet) {
                tracing::debug!(%error, "game packet not relayed");
                LinkCounters::add(&self.counters.dropped_overflow, 1);
            }
            return;
        }
        let Some(transport) = &self.transport else {
            return LinkCounters::add(&self.counters.dropped_overflow, 1);
        };
        if let Err(error) = transport.channel.send(BytesMut::from(&packet[..])).await {
            tracing::debug!(%error, "game packet not sent");
            LinkCounters::add(&self.counters.dropped_overflow, 1);
        }
    }

    /// Relayed game packets go straight to the socket's queue, like the channel's.
    fn on_relay_events(&mut self, events: Vec<RelayLinkEvent>) {
        for event in events {
            let input = match event {
                RelayLinkEvent::Packet(bytes) => {
                    if self.inbound.try_send(bytes).is_err() {
                        LinkCounters::add(&self.counters.dropped_overflow, 1);
                    }
                    continue;
                }
                RelayLinkEvent::Open => RelayInput::Open,
                RelayLinkEvent::Closed(why) => RelayInput::Closed(why),
            };
            self.machine.handle_relay(Instant::now(), input);
        }
    }

    /// Game packets go straight to the socket's queue; the rest to the machine.
    fn on_channel_event(&mut self, event: Option<DataChannelEvent>) {
        let input = match event {
            Some(DataChannelEvent::OnMessage(message)) => {
                if self.inbound.try_send(message.data.freeze()).is_err() {
                    LinkCounters::add(&self.counters.dropped_overflow, 1);
                }
                return;
            }
            Some(DataChannelEvent::OnOpen) => ChannelInput::Open,
            Some(DataChannelEvent::OnClose) | None => ChannelInput::Closed,
            Some(other) => return tracing::trace!(?other, "data channel event"),
        };
        self.machine.handle_channel(Instant::now(), input);
    }

    fn on_transport_event(&mut self, event: Option<TransportEvent>) {
        let input = match event {
            Some(TransportEvent::LocalCandidate(_)) if self.ice.block_candidates => return,
            Some(TransportEvent::LocalCandidate(init)) => match &self.transport {
                Some(transport) => TransportInput::LocalCandidate(transport.candidate_json(init)),
                None => return,
            },
            Some(TransportEvent::State(RTCPeerConnectionState::Connected)) => {
                TransportInput::Connected
            }
            Some(TransportEvent::State(RTCPeerConnectionState::Failed)) => TransportInput::Failed,
            Some(TransportEvent::State(RTCPeerConnectionState::Closed)) | None => {
                TransportInput::Closed
            }
            Some(TransportEvent::IceState(state)) => return tracing::debug!(%state, "ICE state"),
            Some(other) => return tracing::trace!(?other, "transport event"),
        };
        self.machine.handle_transport(Instant::now(), input);
    }
}

/// A failed transport operation, with the cause named where we know it.
fn failed(ice: &IceConfig, error: PeerError) -> TransportInput {
    TransportInput::Error(crate::transport::explain(ice, error))
}

fn no_transport() -> TransportInput {
    TransportInput::Error(PeerError::Connection("no transport".to_owned()))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

async fn recv_signal(signal: Option<&mut SignalPort>) -> Option<ServerMessage> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn poll_reconnect(
    reconnecting: Option<&mut Reconnecting>,
) -> Result<SignalClient, ClientError> {
    match reconnecting {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn recv_transport_event(
    events: Option<&mut mpsc::Receiver<TransportEvent>>,
) -> Option<TransportEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

async fn relay_events(relay: Option<&mut RelayLink>) -> Vec<RelayLinkEvent> {
    match relay {
        Some(relay) => relay.next_events().await,
        None => std::future::pending().await,
    }
}

async fn poll_channel(transport: Option<&Transport>) -> Option<DataChannelEvent> {
    match transport {
        Some(transport) => transport.channel.poll().await,
        None => std::future::pending().await,
    }
}
