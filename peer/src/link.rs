//! A running match: the [`MatchLink`] handle, its events and its statistics.
//!
//! The match itself is run by one driver task ([`crate::driver`]) that owns the data
//! channel and the signaling connection: it moves game packets between the channel and the
//! [`GgrsSocket`]'s queues, relays late ICE candidates, watches the peer connection, and
//! turns every ending (channel closed, connection failed, opponent ended or vanished) into a
//! [`MatchEvent`]. If the signaling server goes away the match goes on: the game traffic is
//! peer to peer.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

use crate::channel::{ChannelMode, GgrsSocket, LinkCounters, PeerId};
use crate::driver::Command;

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
    /// How the game packets travel: `p2p` (the data channel) or `relay` (a play-server
    /// relay stage, after peer-to-peer failed).
    pub link: signal::protocol::LinkKind,
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
    /// The link failed and did not come back within the resume timeout.
    ResumeTimeout,
    /// The link failed and the server refused to resume the match (its message).
    ResumeRefused(String),
    /// A relayed match's relay link closed (a relayed match is not resumed): the opponent
    /// left the stage or was cut for not reading, the stage went idle, or our connection to
    /// the play server closed.
    Relay(crate::relay_link::RelayEnd),
}

/// Something that happened to a running link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchEvent {
    /// The match is over for the network; the socket will receive nothing more.
    Closed(CloseReason),
    /// The peer connection failed (ICE/DTLS gave up).
    Failed(String),
    /// The signaling connection was lost; the peer-to-peer match continues (the driver
    /// reconnects in the background).
    SignalingLost,
    /// The game link is down and being renegotiated: the socket receives nothing until
    /// [`MatchEvent::Resumed`] (or a final [`MatchEvent::Closed`]).
    Interrupted,
    /// The game link is back on a fresh connection, after this long.
    Resumed {
        /// Time since the link was found down.
        after: Duration,
    },
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
    /// Transport or match events dropped on a full queue (nobody reading).
    pub dropped_events: u64,
    /// Current round-trip time of the selected ICE candidate pair, if measured.
    pub rtt_ms: Option<f64>,
    /// Type of our candidate in the selected pair (`host`, `srflx`, `prflx`, `relay`).
    pub local_candidate_type: Option<String>,
}

/// Handle of a running match: take the socket, watch events, read stats, finish.
///
/// Dropping it without [`MatchLink::finish`] closes the peer connection and the signaling
/// connection (without `end_match`).
pub struct MatchLink {
    info: MatchInfo,
    socket: Option<GgrsSocket>,
    events: mpsc::Receiver<MatchEvent>,
    spectators: mpsc::Receiver<crate::spectate::SpectatorEvent>,
    counters: Arc<LinkCounters>,
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
    pub(crate) fn new(
        info: MatchInfo,
        socket: Option<GgrsSocket>,
        events: mpsc::Receiver<MatchEvent>,
        spectators: mpsc::Receiver<crate::spectate::SpectatorEvent>,
        counters: Arc<LinkCounters>,
        commands: mpsc::Sender<Command>,
        driver: JoinHandle<()>,
    ) -> MatchLink {
        MatchLink {
            info,
            socket,
            events,
            spectators,
            counters,
            commands,
            driver: Some(driver),
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

    /// The next spectator event if one is ready: a watcher's stream opened (with the
    /// [`crate::SpectatorSender`] to feed it) or a spectator left. See [`crate::spectate`].
    pub fn try_spectator_event(&mut self) -> Option<crate::spectate::SpectatorEvent> {
        self.spectators.try_recv().ok()
    }

    /// Waits for the next event; `None` once the driver has stopped.
    pub async fn next_event(&mut self) -> Option<MatchEvent> {
        self.events.recv().await
    }

    /// Transport statistics: our counters plus the RTT of the selected candidate pair
    /// (counters only once the driver has stopped).
    pub async fn stats(&self) -> TransportStats {
        let (reply_tx, reply_rx) = oneshot::channel();
        if self.commands.send(Command::Stats(reply_tx)).await.is_ok() {
            if let Ok(stats) = reply_rx.await {
                return stats;
            }
        }
        TransportStats::from_counters(&self.counters)
    }

    /// Fault injection (tests, demos): closes the peer connection under the match as a
    /// network failure would. With resuming on, the link is renegotiated through the
    /// signal server and the socket keeps working on the new connection.
    pub async fn interrupt_transport(&self) {
        let _ = self.commands.send(Command::InterruptTransport).await;
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

impl TransportStats {
    /// Our counters (no RTT, no candidate type). Saturating: the counters a peer drives
    /// (sequence gaps) cannot overflow the arithmetic.
    pub fn from_counters(counters: &LinkCounters) -> TransportStats {
        let get = LinkCounters::get;
        let stale = get(&counters.dropped_stale);
        let lost = get(&counters.sequence_gaps).saturating_sub(stale);
        let valid = get(&counters.packets_delivered).saturating_add(stale);
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
            loss_per_mille: per_mille(lost, valid),
            dropped_events: get(&counters.dropped_events),
            rtt_ms: None,
            local_candidate_type: None,
        }
    }
}

/// `part / (part + rest)` in per mille, exact for any `u64` inputs (0 if both are 0).
fn per_mille(part: u64, rest: u64) -> u64 {
    let whole = u128::from(part) + u128::from(rest);
    let ratio = (u128::from(part) * 1000).checked_div(whole).unwrap_or(0);
    u64::try_from(ratio).unwrap_or(u64::MAX)
}

/// Our counters plus the RTT and candidate type of the selected pair of `pc`.
pub(crate) async fn transport_stats(
    pc: &Arc<dyn PeerConnection>,
    counters: &LinkCounters,
) -> TransportStats {
    let mut stats = TransportStats::from_counters(counters);
    let report = pc.get_stats(StdInstant::now(), StatsSelector::None).await;
    let selected_id = report
        .transport()
        .map(|transport| transport.selected_candidate_pair_id.clone());
    let selected = report
        .candidate_pairs()
        .filter(|pair| Some(&pair.stats.id) == selected_id.as_ref() || pair.nominated)
        .max_by_key(|pair| pair.packets_received);
    if let Some(pair) = selected {
        stats.rtt_ms =
            (pair.current_round_trip_time > 0.0).then_some(pair.current_round_trip_time * 1000.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mille_never_overflows() {
        assert_eq!(per_mille(0, 0), 0);
        assert_eq!(per_mille(1, 3), 250);
        assert_eq!(per_mille(u64::MAX, 0), 1000);
        assert_eq!(per_mille(u64::MAX, u64::MAX), 500);
    }
}
