//! The network side of an online match: a tokio runtime on its own thread connects to the
//! signal server, finds the opponent (with `peer`'s [`MatchRule`]s, as the `bot` example
//! does), hands the ggrs socket to the render loop, then forwards the link's events and
//! transport statistics. The render loop owns the rollback session and talks to this
//! thread only through two bounded channels, so a slow network never blocks a frame and a
//! closed window never waits on the network for more than [`FINISH_WAIT`].

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use peer::{
    ChannelMode, GgrsSocket, IceConfig, MatchEvent, MatchInfo, MatchRule, Peer, PeerConfig, PeerId,
    TransportStats,
};

/// Longest the render loop waits for the network thread to say goodbye (`end_match` sent,
/// peer connection closed) after a leave or a closed window.
pub const FINISH_WAIT: Duration = Duration::from_millis(600);
/// How often transport statistics are sent to the render loop.
pub const STATS_EVERY: Duration = Duration::from_millis(500);
/// Capacity of the event channel to the render loop.
const EVENT_QUEUE: usize = 64;

/// Where and how to play online.
#[derive(Debug, Clone)]
pub struct OnlineConfig {
    /// Signal server URL.
    pub server: String,
    /// JWT.
    pub token: String,
    /// Display name.
    pub name: String,
    /// Challenge or accept.
    pub rule: MatchRule,
    /// Loopback-only ICE.
    pub loopback: bool,
    /// TURN relay candidates only.
    pub relay_only: bool,
    /// Time to find an opponent.
    pub match_timeout: Duration,
    /// Channel ordering.
    pub mode: ChannelMode,
}

/// What the network thread tells the render loop.
#[derive(Debug)]
pub enum NetEvent {
    /// Progress text (connecting, in the lobby, challenging ...).
    Status(String),
    /// Joined the lobby as this player id.
    InLobby(String),
    /// The match is on: the socket for ggrs, the opponent's address, the facts.
    Matched {
        /// The ggrs socket over the data channel.
        socket: GgrsSocket,
        /// The opponent's address.
        opponent: PeerId,
        /// Match facts.
        info: MatchInfo,
    },
    /// Transport statistics (every [`STATS_EVERY`]).
    Transport(TransportStats),
    /// Something happened to the link (closed, failed, signaling lost).
    Link(MatchEvent),
    /// Connecting or matching failed: the message to show.
    Failed(String),
    /// `end_match` sent and the connection closed.
    Finished(TransportStats),
}

/// What the render loop tells the network thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetCommand {
    /// Leave: send `end_match`, close everything, end the thread.
    Finish,
}

/// The render loop's end of the network thread.
#[derive(Debug)]
pub struct NetHandle {
    /// Events from the network thread.
    pub events: Receiver<NetEvent>,
    commands: tokio::sync::mpsc::Sender<NetCommand>,
    thread: Option<JoinHandle<()>>,
}

impl NetHandle {
    /// Starts the network thread.
    pub fn start(config: OnlineConfig) -> std::io::Result<NetHandle> {
        let (event_tx, events) = std::sync::mpsc::sync_channel(EVENT_QUEUE);
        let (commands, command_rx) = tokio::sync::mpsc::channel(4);
        let thread = std::thread::Builder::new()
            .name("fighter-net".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = event_tx.try_send(NetEvent::Failed(format!("tokio: {e}")));
                        return;
                    }
                };
                runtime.block_on(network(config, event_tx, command_rx));
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(NetHandle {
            events,
            commands,
            thread: Some(thread),
        })
    }

    /// Asks the thread to finish and waits up to [`FINISH_WAIT`] for it; returns the last
    /// transport statistics if it said goodbye in time. Events that arrive meanwhile are
    /// passed to `on_event`.
    pub fn finish(&mut self, mut on_event: impl FnMut(NetEvent)) -> Option<TransportStats> {
        let _ = self.commands.try_send(NetCommand::Finish);
        let deadline = std::time::Instant::now() + FINISH_WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.events.recv_timeout(left) {
                Ok(NetEvent::Finished(stats)) => {
                    if let Some(t) = self.thread.take() {
                        // the thread ends right after sending Finished
                        let _ = t.join();
                    }
                    return Some(stats);
                }
                Ok(other) => on_event(other),
                Err(_) => return None,
            }
        }
    }
}

fn send(tx: &SyncSender<NetEvent>, event: NetEvent) {
    match tx.try_send(event) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(event)) => {
            tracing::debug!(?event, "render loop behind: network event dropped");
        }
    }
}

async fn network(
    config: OnlineConfig,
    tx: SyncSender<NetEvent>,
    mut commands: tokio::sync::mpsc::Receiver<NetCommand>,
) {
    let mut peer_config = PeerConfig::new(config.name.clone());
    peer_config.ice = if config.loopback {
        IceConfig::loopback()
    } else {
        IceConfig::standard()
    };
    peer_config.ice.relay_only = config.relay_only;
    peer_config.channel = peer_config.channel.with_mode(config.mode);
    peer_config.match_timeout = config.match_timeout;
    send(
        &tx,
        NetEvent::Status(format!("connecting to {}", config.server)),
    );
    let connect = Peer::connect(&config.server, &config.token, peer_config);
    let peer = tokio::select! {
        peer = connect => peer,
        _ = commands.recv() => {
            send(&tx, NetEvent::Finished(TransportStats::default()));
            return;
        }
    };
    let peer = match peer {
        Ok(peer) => peer,
        Err(e) => {
            send(&tx, NetEvent::Failed(format!("signal server: {e}")));
            wait_for_finish(&tx, &mut commands).await;
            return;
        }
    };
    send(&tx, NetEvent::InLobby(peer.player_id().to_owned()));
    let what = match &config.rule {
        MatchRule::Challenge(id) => format!("challenging {id}"),
        MatchRule::Accept(peer::AcceptRule::Any) => "waiting for a challenge".to_owned(),
        MatchRule::Accept(peer::AcceptRule::Player(id)) => format!("waiting for {id}"),
    };
    send(
        &tx,
        NetEvent::Status(format!("in the lobby as {}, {what}", peer.player_id())),
    );
    let start = peer.start_match(config.rule.clone());
    let link = tokio::select! {
        link = start => link,
        _ = commands.recv() => {
            send(&tx, NetEvent::Finished(TransportStats::default()));
            return;
        }
    };
    let mut link = match link {
        Ok(link) => link,
        Err(e) => {
            send(&tx, NetEvent::Failed(format!("no match: {e}")));
            wait_for_finish(&tx, &mut commands).await;
            return;
        }
    };
    let Some(socket) = link.take_socket() else {
        send(&tx, NetEvent::Failed("socket already taken".into()));
        link.finish().await;
        return;
    };
    send(
        &tx,
        NetEvent::Matched {
            socket,
            opponent: link.opponent_addr(),
            info: link.info().clone(),
        },
    );
    let mut tick = tokio::time::interval(STATS_EVERY);
    let mut events_open = true;
    loop {
        tokio::select! {
            event = link.next_event(), if events_open => match event {
                Some(event) => send(&tx, NetEvent::Link(event)),
                None => events_open = false,
            },
            _ = tick.tick() => send(&tx, NetEvent::Transport(link.stats().await)),
            _ = commands.recv() => break,
        }
    }
    let stats = link.stats().await;
    // end_match to the server, close the peer connection (bounded: the window is closing)
    let _ = tokio::time::timeout(FINISH_WAIT / 2, link.finish()).await;
    send(&tx, NetEvent::Finished(stats));
}

async fn wait_for_finish(
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) {
    let _ = commands.recv().await;
    send(tx, NetEvent::Finished(TransportStats::default()));
}
