//! A hostile or broken peer that announces huge sequence gaps (every packet claiming to be
//! 2^31 - 1 ahead of the previous one) cannot overflow the link's counters or the loss
//! statistics computed from them: the counters saturate and `loss_per_mille` stays a
//! per mille.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ggrs::NonBlockingSocket;
use peer::channel::memory_pair;
use peer::codec::{decode_packet, encode_packet, MAGIC, VERSION};
use peer::{ChannelMode, LinkCounters, TransportStats};

fn keep_alive() -> ggrs::Message {
    decode_packet(&[MAGIC[0], MAGIC[1], VERSION, 0, 0, 0, 0, 7, 7])
        .expect("keep-alive")
        .message
}

/// Sends `count` packets, each `u32::MAX / 2` sequence numbers after the previous one.
fn send_with_huge_gaps(socket: &mut peer::GgrsSocket, count: usize) {
    let mut sequence = 0u32;
    for _ in 0..count {
        let packet = encode_packet(sequence, &keep_alive()).expect("encodes");
        assert!(socket.send_raw(Bytes::from(packet)));
        sequence = sequence.wrapping_add(u32::MAX / 2);
    }
}

#[test]
fn huge_gaps_are_counted_as_loss_within_a_per_mille() {
    let (mut a, mut b) = memory_pair("a", "b", ChannelMode::Sequenced);
    send_with_huge_gaps(&mut a, 4);
    assert_eq!(b.receive_all_messages().len(), 4, "each packet is newer");
    let gaps = LinkCounters::get(&b.counters().sequence_gaps);
    assert_eq!(gaps, 3 * (u64::from(u32::MAX / 2) - 1));
    let stats = TransportStats::from_counters(b.counters());
    assert_eq!(stats.packets_lost, gaps);
    assert_eq!(stats.loss_per_mille, 999);
}

#[test]
fn gap_counters_saturate_instead_of_overflowing() {
    let (mut a, mut b) = memory_pair("a", "b", ChannelMode::Sequenced);
    // A long match of such packets has already been counted.
    b.counters()
        .sequence_gaps
        .store(u64::MAX - 5, Ordering::Relaxed);
    b.counters()
        .packets_delivered
        .store(u64::MAX - 5, Ordering::Relaxed);
    send_with_huge_gaps(&mut a, 8);
    assert_eq!(b.receive_all_messages().len(), 8);
    assert_eq!(LinkCounters::get(&b.counters().sequence_gaps), u64::MAX);
    assert_eq!(LinkCounters::get(&b.counters().packets_delivered), u64::MAX);
    let stats = TransportStats::from_counters(b.counters());
    assert_eq!(stats.packets_lost, u64::MAX);
    assert_eq!(stats.loss_per_mille, 500);
}
