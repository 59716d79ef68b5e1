//! The game data channel: its configuration, the ordering policy, and the ggrs socket over it.
//!
//! The channel is unreliable (`maxRetransmits: 0`): a lost game packet is never worth
//! resending, the next one carries newer inputs. Ordered delivery is obtained in one of two
//! ways ([`ChannelMode`]); both are negotiated out of band on the same stream id
//! ([`ChannelConfig::id`]) so no DCEP round trip delays the opening.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ggrs::{Message, NonBlockingSocket};
use tokio::sync::mpsc;
use webrtc::data_channel::RTCDataChannelInit;

use crate::codec::{decode_packet, encode_packet, DecodeError};

/// Default negotiated stream id of the game channel.
pub const DEFAULT_CHANNEL_ID: u16 = 0;
/// Default label of the game channel.
pub const DEFAULT_CHANNEL_LABEL: &str = "netplay-ggrs";
/// Default number of received packets buffered between the driver and the game loop; more
/// are dropped (and counted) instead of growing memory when the game loop stalls.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// How the channel keeps packets in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMode {
    /// SCTP ordered delivery. A lost packet is abandoned (no retransmission), but SCTP still
    /// holds later packets of the stream until the sender's FORWARD-TSN tells it to skip the
    /// gap: loss turns into head-of-line blocking of about one round trip.
    Ordered,
    /// SCTP unordered delivery plus our own sequence number: a packet older than the newest
    /// one seen is dropped as stale. Nothing is delivered out of order and a loss blocks
    /// nothing. The default, chosen from the measurement in `docs/bench/peer.md`.
    #[default]
    Sequenced,
}

impl ChannelMode {
    /// Name used on command lines and in reports (`ordered`, `sequenced`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Sequenced => "sequenced",
        }
    }
}

impl std::str::FromStr for ChannelMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ordered" => Ok(Self::Ordered),
            "sequenced" => Ok(Self::Sequenced),
            other => Err(format!(
                "unknown channel mode {other:?} (ordered|sequenced)"
            )),
        }
    }
}

/// Configuration of the game data channel. Both peers must use the same id and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Ordering policy ([`ChannelMode::Sequenced`] by default).
    pub mode: ChannelMode,
    /// Negotiated SCTP stream id ([`DEFAULT_CHANNEL_ID`]).
    pub id: u16,
    /// Label ([`DEFAULT_CHANNEL_LABEL`]).
    pub label: String,
    /// Receive queue bound ([`DEFAULT_QUEUE_CAPACITY`]).
    pub queue_capacity: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            mode: ChannelMode::default(),
            id: DEFAULT_CHANNEL_ID,
            label: DEFAULT_CHANNEL_LABEL.to_owned(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

impl ChannelConfig {
    /// The same configuration with another mode.
    pub fn with_mode(mut self, mode: ChannelMode) -> Self {
        self.mode = mode;
        self
    }

    /// The `RTCDataChannelInit` for this configuration: unreliable, negotiated.
    pub fn init(&self) -> RTCDataChannelInit {
        RTCDataChannelInit {
            ordered: self.mode == ChannelMode::Ordered,
            max_retransmits: Some(0),
            max_packet_life_time: None,
            protocol: String::new(),
            negotiated: Some(self.id),
        }
    }
}

/// What [`SequenceFilter::accept`] decided about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// Newer than anything seen: deliver. `skipped` sequence numbers were jumped over.
    Deliver {
        /// How many sequence numbers between the previous newest and this one never arrived
        /// (yet).
        skipped: u32,
    },
    /// Not newer than the newest seen: drop.
    Stale,
}

/// Sans-IO sequence tracking: decides which packets are new, counts gaps.
///
/// Sequence numbers wrap; "newer" is decided with serial-number arithmetic (RFC 1982), so a
/// packet up to 2^31 ahead is newer.
#[derive(Debug, Clone, Default)]
pub struct SequenceFilter {
    newest: Option<u32>,
}

impl SequenceFilter {
    /// Classifies `sequence` and remembers it if it is the newest.
    pub fn accept(&mut self, sequence: u32) -> SequenceVerdict {
        match self.newest {
            None => {
                self.newest = Some(sequence);
                SequenceVerdict::Deliver { skipped: 0 }
            }
            Some(newest) => {
                let ahead = sequence.wrapping_sub(newest);
                if ahead == 0 || ahead > u32::MAX / 2 {
                    SequenceVerdict::Stale
                } else {
                    self.newest = Some(sequence);
                    SequenceVerdict::Deliver { skipped: ahead - 1 }
                }
            }
        }
    }
}

/// Counters of one link, shared by the socket, the driver and the handle.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Packets handed to the data channel.
    pub packets_sent: AtomicU64,
    /// Bytes handed to the data channel.
    pub bytes_sent: AtomicU64,
    /// Data-channel messages received (valid or not).
    pub packets_received: AtomicU64,
    /// Bytes received.
    pub bytes_received: AtomicU64,
    /// Packets delivered to ggrs.
    pub packets_delivered: AtomicU64,
    /// Packets dropped because they did not decode (malformed, oversized, foreign).
    pub dropped_malformed: AtomicU64,
    /// Packets dropped as stale (sequenced mode) or duplicated.
    pub dropped_stale: AtomicU64,
    /// Packets dropped because a queue was full or the channel was closed.
    pub dropped_overflow: AtomicU64,
    /// Sequence numbers skipped (lost or late) on the receive side.
    pub sequence_gaps: AtomicU64,
    /// Messages ggrs addressed to someone other than the opponent (dropped).
    pub misaddressed: AtomicU64,
    /// Transport events or match events dropped because their queue was full.
    pub dropped_events: AtomicU64,
}

impl LinkCounters {
    /// Adds `n` to a counter, saturating at `u64::MAX` (a peer drives some of them).
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |value| {
            Some(value.saturating_add(n))
        });
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The opponent's address as ggrs sees it: its player id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub String);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `ggrs::NonBlockingSocket` over the game data channel.
///
/// `send_to` encodes and queues the packet for the link driver, which writes it to the data
/// channel; `receive_all_messages` drains what the driver received, decoding each packet.
/// Every failure (bad packet, stale packet, full queue, closed link) is a counted drop, never
/// a panic and never a block.
#[derive(Debug)]
pub struct GgrsSocket {
    opponent: PeerId,
    mode: ChannelMode,
    next_sequence: u32,
    filter: SequenceFilter,
    outbound: mpsc::Sender<Bytes>,
    inbound: mpsc::Receiver<Bytes>,
    counters: Arc<LinkCounters>,
}

impl GgrsSocket {
    /// A socket talking to `opponent` through the two queues of a link driver.
    pub fn new(
        opponent: PeerId,
        mode: ChannelMode,
        outbound: mpsc::Sender<Bytes>,
        inbound: mpsc::Receiver<Bytes>,
        counters: Arc<LinkCounters>,
    ) -> Self {
        Self {
            opponent,
            mode,
            next_sequence: 0,
            filter: SequenceFilter::default(),
            outbound,
            inbound,
            counters,
        }
    }

    /// The opponent's address (pass it to ggrs as the remote player's address).
    pub fn opponent(&self) -> &PeerId {
        &self.opponent
    }

    /// The link's counters.
    pub fn counters(&self) -> &Arc<LinkCounters> {
        &self.counters
    }

    /// Sends raw bytes on the channel, unframed. For diagnostics and tests (for example to
    /// check that the far side drops garbage); games use [`NonBlockingSocket::send_to`].
    pub fn send_raw(&mut self, bytes: Bytes) -> bool {
        self.queue(bytes)
    }

    fn queue(&mut self, bytes: Bytes) -> bool {
        let len = bytes.len() as u64;
        match self.outbound.try_send(bytes) {
            Ok(()) => {
                LinkCounters::add(&self.counters.packets_sent, 1);
                LinkCounters::add(&self.counters.bytes_sent, len);
                true
            }
            Err(_) => {
                LinkCounters::add(&self.counters.dropped_overflow, 1);
                false
            }
        }
    }

    /// Decodes one received packet and applies the ordering policy.
    fn admit(&mut self, bytes: &[u8]) -> Result<Option<Message>, DecodeError> {
        let packet = decode_packet(bytes)?;
        match self.filter.accept(packet.sequence) {
            SequenceVerdict::Deliver { skipped } => {
                LinkCounters::add(&self.counters.sequence_gaps, u64::from(skipped));
                Ok(Some(packet.message))
            }
            // In ordered mode SCTP already orders the stream; a "stale" packet there can only
            // be a duplicate, which ggrs would tolerate, but dropping it is equally correct.
            SequenceVerdict::Stale => {
                LinkCounters::add(&self.counters.dropped_stale, 1);
                Ok(None)
            }
        }
    }

    /// The ordering policy in force.
    pub fn mode(&self) -> ChannelMode {
        self.mode
    }
}

impl NonBlockingSocket<PeerId> for GgrsSocket {
    fn send_to(&mut self, msg: &Message, addr: &PeerId) {
        if *addr != self.opponent {
            LinkCounters::add(&self.counters.misaddressed, 1);
            return;
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        match encode_packet(sequence, msg) {
            Ok(bytes) => {
                self.queue(Bytes::from(bytes));
            }
            Err(error) => {
                tracing::warn!(%error, "ggrs message not sent");
                LinkCounters::add(&self.counters.dropped_overflow, 1);
            }
        }
    }

    fn receive_all_messages(&mut self) -> Vec<(PeerId, Message)> {
        let mut messages = Vec::new();
        while let Ok(bytes) = self.inbound.try_recv() {
            LinkCounters::add(&self.counters.packets_received, 1);
            LinkCounters::add(&self.counters.bytes_received, bytes.len() as u64);
            match self.admit(&bytes) {
                Ok(Some(message)) => {
                    LinkCounters::add(&self.counters.packets_delivered, 1);
                    messages.push((self.opponent.clone(), message));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "dropped a game packet");
                    LinkCounters::add(&self.counters.dropped_malformed, 1);
                }
            }
        }
        messages
    }
}

/// A connected pair of sockets over in-memory queues, for tests of code that drives a
/// [`GgrsSocket`] without WebRTC. Returns `(a, b)` where `a` talks to `b_id` and `b` to
/// `a_id`.
pub fn memory_pair(a_id: &str, b_id: &str, mode: ChannelMode) -> (GgrsSocket, GgrsSocket) {
    let (a_out, b_in) = mpsc::channel(DEFAULT_QUEUE_CAPACITY);
    let (b_out, a_in) = mpsc::channel(DEFAULT_QUEUE_CAPACITY);
    let a = GgrsSocket::new(PeerId(b_id.to_owned()), mode, a_out, a_in, Arc::default());
    let b = GgrsSocket::new(PeerId(a_id.to_owned()), mode, b_out, b_in, Arc::default());
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::keep_alive;

    #[test]
    fn sequence_filter_drops_stale_and_counts_gaps() {
        let mut filter = SequenceFilter::default();
        assert_eq!(filter.accept(5), SequenceVerdict::Deliver { skipped: 0 });
        assert_eq!(filter.accept(6), SequenceVerdict::Deliver { skipped: 0 });
        assert_eq!(filter.accept(9), SequenceVerdict::Deliver { skipped: 2 });
        assert_eq!(filter.accept(8), SequenceVerdict::Stale);
        assert_eq!(filter.accept(9), SequenceVerdict::Stale);
    }

    #[test]
    fn sequence_filter_wraps() {
        let mut filter = SequenceFilter::default();
        filter.accept(u32::MAX - 1);
        assert_eq!(
            filter.accept(u32::MAX),
            SequenceVerdict::Deliver { skipped: 0 }
        );
        assert_eq!(filter.accept(1), SequenceVerdict::Deliver { skipped: 1 });
        assert_eq!(filter.accept(u32::MAX), SequenceVerdict::Stale);
    }

    #[test]
    fn socket_delivers_in_order_and_drops_garbage() {
        let (mut a, mut b) = memory_pair("a", "b", ChannelMode::Sequenced);
        let to_b = PeerId("b".into());
        a.send_to(&keep_alive(), &to_b);
        a.send_raw(Bytes::from_static(b"\x00garbage"));
        a.send_raw(Bytes::from(vec![0xFFu8; 5000]));
        a.send_to(&keep_alive(), &PeerId("someone else".into()));
        a.send_to(&keep_alive(), &to_b);
        let received = b.receive_all_messages();
        assert_eq!(received.len(), 2);
        assert!(received.iter().all(|(from, _)| from.0 == "a"));
        assert_eq!(LinkCounters::get(&b.counters().dropped_malformed), 2);
        assert_eq!(LinkCounters::get(&a.counters().misaddressed), 1);
    }

    #[test]
    fn socket_drops_replayed_packets() {
        let (mut a, mut b) = memory_pair("a", "b", ChannelMode::Sequenced);
        let first = encode_packet(10, &keep_alive()).expect("encodes");
        let older = encode_packet(3, &keep_alive()).expect("encodes");
        a.send_raw(Bytes::from(first.clone()));
        a.send_raw(Bytes::from(older));
        a.send_raw(Bytes::from(first));
        assert_eq!(b.receive_all_messages().len(), 1);
        assert_eq!(LinkCounters::get(&b.counters().dropped_stale), 2);
    }

    #[test]
    fn channel_init_is_unreliable_and_negotiated() {
        let init = ChannelConfig::default()
            .with_mode(ChannelMode::Ordered)
            .init();
        assert!(init.ordered);
        assert_eq!(init.max_retransmits, Some(0));
        assert_eq!(init.negotiated, Some(DEFAULT_CHANNEL_ID));
        assert!(!ChannelConfig::default().init().ordered);
    }
}
