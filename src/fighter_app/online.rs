//! The network side of an online match: a tokio runtime on its own thread connects to the
//! signal server, finds the opponent (with `peer`'s [`MatchRule`]s, as the `bot` example
//! does, or as the lobby screen asks: [`NetCommand::Challenge`], [`NetCommand::Accept`]),
//! hands the ggrs socket to the render loop, then forwards the link's events and
//! transport statistics. With the lobby screen it reports the lobby and incoming challenges
//! ([`NetEvent::Lobby`], [`NetEvent::Challenged`]) and, after each match or failed attempt,
//! joins the lobby again. The render loop owns the rollback session and talks to this
//! thread only through two bounded channels, so a slow network never blocks a frame and a
//! closed window never waits on the network for more than [`FINISH_WAIT`].

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use peer::{
    ChannelMode, GgrsSocket, IceConfig, MatchEvent, MatchInfo, MatchLink, MatchRule, Peer,
    PeerConfig, PeerId, TransportStats,
};
use signal::protocol::{LobbyPlayer, MatchRequestReceived, ServerMessage};

/// Longest the render loop waits for the network thread to say goodbye (`end_match` sent,
/// peer connection closed) after a leave or a closed window.
pub const FINISH_WAIT: Duration = Duration::from_millis(600);
/// How often transport statistics are sent to the render loop.
pub const STATS_EVERY: Duration = Duration::from_millis(500);
/// Capacity of the event channel to the render loop.
const EVENT_QUEUE: usize = 64;
/// Capacity of the command channel to the network thread.
const COMMAND_QUEUE: usize = 16;

/// Where and how to play online.
#[derive(Debug, Clone)]
pub struct OnlineConfig {
    /// Signal server URL.
    pub server: String,
    /// JWT.
    pub token: String,
    /// Display name.
    pub name: String,
    /// Challenge or accept; `None`: the lobby screen picks the opponent.
    pub rule: Option<MatchRule>,
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
    /// Lobby screen: the other lobby members (ourselves included).
    Lobby(Vec<LobbyPlayer>),
    /// Lobby screen: someone challenges us.
    Challenged(MatchRequestReceived),
    /// Lobby screen: a challenge to us was withdrawn (its session id).
    ChallengeCancelled(String),
    /// Lobby screen: our challenge or acceptance led to no match (declined, timed out,
    /// `match_failed`, withdrawn); the thread joins the lobby again.
    NoMatch(String),
}

/// What the render loop tells the network thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Leave: send `end_match`, close everything, end the thread.
    Finish,
    /// Lobby screen: challenge this player.
    Challenge(String),
    /// Lobby screen: withdraw our challenge (back to the lobby).
    CancelChallenge,
    /// Lobby screen: accept this request.
    Accept(MatchRequestReceived),
    /// Lobby screen: decline this request.
    Decline(MatchRequestReceived),
    /// Lobby screen: end the match (`end_match`) and join the lobby again.
    EndMatch,
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
        let (commands, command_rx) = tokio::sync::mpsc::channel(COMMAND_QUEUE);
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

    /// Sends a command (lobby screen); `false` if the thread is gone or far behind.
    pub fn command(&self, command: NetCommand) -> bool {
        self.commands.try_send(command).is_ok()
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
    match config.rule.clone() {
        Some(rule) => one_match(&config, peer_config, rule, &tx, &mut commands).await,
        None => lobby(&config, peer_config, &tx, &mut commands).await,
    }
}

/// Connects and joins the lobby; `None` when the render loop said finish meanwhile or the
/// connection failed (both already answered).
async fn connect(
    config: &OnlineConfig,
    peer_config: PeerConfig,
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) -> Option<Peer> {
    send(
        tx,
        NetEvent::Status(format!("connecting to {}", config.server)),
    );
    let connect = Peer::connect(&config.server, &config.token, peer_config);
    let peer = tokio::select! {
        peer = connect => peer,
        _ = finish_asked(commands) => {
            send(tx, NetEvent::Finished(TransportStats::default()));
            return None;
        }
    };
    match peer {
        Ok(peer) => {
            send(tx, NetEvent::InLobby(peer.player_id().to_owned()));
            Some(peer)
        }
        Err(e) => {
            send(tx, NetEvent::Failed(format!("signal server: {e}")));
            wait_for_finish(tx, commands).await;
            None
        }
    }
}

/// Waits for [`NetCommand::Finish`] (or the render loop gone), ignoring other commands.
async fn finish_asked(commands: &mut tokio::sync::mpsc::Receiver<NetCommand>) {
    while let Some(command) = commands.recv().await {
        if command == NetCommand::Finish {
            return;
        }
    }
}

/// `--challenge` / `--accept`: one match found by the rule.
async fn one_match(
    config: &OnlineConfig,
    peer_config: PeerConfig,
    rule: MatchRule,
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) {
    let Some(peer) = connect(config, peer_config, tx, commands).await else {
        return;
    };
    let what = match &rule {
        MatchRule::Challenge(id) => format!("challenging {id}"),
        MatchRule::Accept(peer::AcceptRule::Any) => "waiting for a challenge".to_owned(),
        MatchRule::Accept(peer::AcceptRule::Player(id)) => format!("waiting for {id}"),
    };
    send(
        tx,
        NetEvent::Status(format!("in the lobby as {}, {what}", peer.player_id())),
    );
    let start = peer.start_match(rule);
    let link = tokio::select! {
        link = start => link,
        _ = finish_asked(commands) => {
            send(tx, NetEvent::Finished(TransportStats::default()));
            return;
        }
    };
    let link = match link {
        Ok(link) => link,
        Err(e) => {
            send(tx, NetEvent::Failed(format!("no match: {e}")));
            wait_for_finish(tx, commands).await;
            return;
        }
    };
    let _ = play(link, tx, commands).await;
}

/// How a match handed to the render loop ended.
#[derive(Debug, PartialEq, Eq)]
enum Played {
    /// The render loop ended the match and wants the lobby again.
    BackToLobby,
    /// The render loop is closing (`Finished` sent).
    Finished,
}

/// Hands the socket to the render loop and forwards the link's events and statistics
/// until the render loop ends the match or finishes.
async fn play(
    mut link: MatchLink,
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) -> Played {
    let Some(socket) = link.take_socket() else {
        send(tx, NetEvent::Failed("socket already taken".into()));
        link.finish().await;
        return Played::Finished;
    };
    send(
        tx,
        NetEvent::Matched {
            socket,
            opponent: link.opponent_addr(),
            info: link.info().clone(),
        },
    );
    let mut tick = tokio::time::interval(STATS_EVERY);
    let mut events_open = true;
    let played = loop {
        tokio::select! {
            event = link.next_event(), if events_open => match event {
                Some(event) => send(tx, NetEvent::Link(event)),
                None => events_open = false,
            },
            _ = tick.tick() => send(tx, NetEvent::Transport(link.stats().await)),
            command = commands.recv() => match command {
                Some(NetCommand::EndMatch) => break Played::BackToLobby,
                Some(NetCommand::Finish) | None => break Played::Finished,
                Some(other) => tracing::debug!(?other, "ignored during the match"),
            },
        }
    };
    let stats = link.stats().await;
    // end_match to the server, close the peer connection (bounded: the window may be
    // closing)
    let _ = tokio::time::timeout(FINISH_WAIT / 2, link.finish()).await;
    if played == Played::Finished {
        send(tx, NetEvent::Finished(stats));
    }
    played
}

/// The lobby screen's network side: report the lobby and incoming challenges, do what the
/// screen asks, play the match, then join the lobby again (a match consumes the signaling
/// connection), until the render loop finishes.
async fn lobby(
    config: &OnlineConfig,
    peer_config: PeerConfig,
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) {
    loop {
        let Some(mut peer) = connect(config, peer_config.clone(), tx, commands).await else {
            return;
        };
        send(
            tx,
            NetEvent::Lobby(peer.lobby().players().cloned().collect()),
        );
        let started = loop {
            tokio::select! {
                message = peer.next_message() => match message {
                    Some(ServerMessage::LobbyUpdate(_) | ServerMessage::LobbyDelta(_)) => {
                        send(tx, NetEvent::Lobby(peer.lobby().players().cloned().collect()));
                    }
                    Some(ServerMessage::MatchRequestReceived(request)) => {
                        send(tx, NetEvent::Challenged(request));
                    }
                    Some(ServerMessage::MatchRequestCancelled(cancelled)) => {
                        send(tx, NetEvent::ChallengeCancelled(cancelled.session_id));
                    }
                    Some(ServerMessage::Error(error)) => {
                        send(tx, NetEvent::Status(format!("server: {} {}", error.code, error.message)));
                    }
                    Some(other) => tracing::trace!(kind = other.kind(), "ignored in the lobby"),
                    None => {
                        send(tx, NetEvent::Failed("signal server: connection lost".into()));
                        wait_for_finish(tx, commands).await;
                        return;
                    }
                },
                command = commands.recv() => match command {
                    Some(NetCommand::Challenge(target)) => break Ok(target),
                    Some(NetCommand::Accept(request)) => break Err(request),
                    Some(NetCommand::Decline(request)) => {
                        if let Err(e) = peer.decline(&request) {
                            tracing::debug!(%e, "decline not sent");
                        }
                    }
                    Some(NetCommand::Finish) | None => {
                        let _ = tokio::time::timeout(FINISH_WAIT / 2, peer.close()).await;
                        send(tx, NetEvent::Finished(TransportStats::default()));
                        return;
                    }
                    Some(other) => tracing::debug!(?other, "ignored in the lobby"),
                },
            }
        };
        // a withdrawn challenge drops the start: its driver cancels the request and closes
        let start = async move {
            match started {
                Ok(target) => peer.challenge(&target).await,
                Err(request) => peer.accept(request).await,
            }
        };
        let link = tokio::select! {
            link = start => link,
            end = lobby_interrupt(commands) => {
                if end == Played::Finished {
                    send(tx, NetEvent::Finished(TransportStats::default()));
                    return;
                }
                send(tx, NetEvent::NoMatch("cancelled".into()));
                continue;
            }
        };
        match link {
            Ok(link) => {
                if play(link, tx, commands).await == Played::Finished {
                    return;
                }
            }
            Err(e) => send(tx, NetEvent::NoMatch(e.to_string())),
        }
    }
}

/// While a challenge or an acceptance is under way: withdraw (back to the lobby) or finish.
async fn lobby_interrupt(commands: &mut tokio::sync::mpsc::Receiver<NetCommand>) -> Played {
    loop {
        match commands.recv().await {
            Some(NetCommand::CancelChallenge) => return Played::BackToLobby,
            Some(NetCommand::Finish) | None => return Played::Finished,
            Some(other) => tracing::debug!(?other, "ignored while a match starts"),
        }
    }
}

async fn wait_for_finish(
    tx: &SyncSender<NetEvent>,
    commands: &mut tokio::sync::mpsc::Receiver<NetCommand>,
) {
    let _ = commands.recv().await;
    send(tx, NetEvent::Finished(TransportStats::default()));
}
