//! [`LinkShaper`]: the seeded packet scheduler behind both the simulator and [`super::Impaired`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::LinkConditions;

/// What happened to the packets of one link direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub sent: u64,
    /// Packets dropped.
    pub lost: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Packets handed to the receiver (copies included).
    pub delivered: u64,
    /// Deliveries of a packet sent before one already delivered.
    pub reordered: u64,
    /// Sum of scheduled one-way delays of delivered packets, ns (virtual or wall clock).
    pub delay_sum_ns: u128,
    /// Sum of squared delays in µs², for the standard deviation.
    pub delay_sq_sum_us: u128,
    /// Largest delay seen, ns.
    pub delay_max_ns: u64,
    /// Deliveries that happened before their scheduled time (must stay 0).
    pub early: u64,
}

impl LinkStats {
    /// Measured loss rate.
    pub fn loss_rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.lost as f64 / self.sent as f64
        }
    }

    /// Mean one-way delay in ms.
    pub fn mean_delay_ms(&self) -> f64 {
        if self.delivered == 0 {
            0.0
        } else {
            self.delay_sum_ns as f64 / self.delivered as f64 / 1e6
        }
    }

    /// Standard deviation of the one-way delay in ms.
    pub fn delay_std_ms(&self) -> f64 {
        if self.delivered == 0 {
            return 0.0;
        }
        let n = self.delivered as f64;
        let mean_us = self.delay_sum_ns as f64 / n / 1e3;
        let var = self.delay_sq_sum_us as f64 / n - mean_us * mean_us;
        var.max(0.0).sqrt() / 1e3
    }
}

struct Pending<T> {
    due: Duration,
    sent_at: Duration,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Pending<T> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl<T> Eq for Pending<T> {}
impl<T> PartialOrd for Pending<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Pending<T> {
    /// Reversed: the earliest due (then lowest seq) is the heap's maximum.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .due
            .cmp(&self.due)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Applies [`LinkConditions`] to items: decides loss and duplication at submit time and
/// holds each surviving copy until its delivery time. Deterministic for a given seed and
/// sequence of calls.
pub struct LinkShaper<T> {
    conditions: LinkConditions,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Pending<T>>,
    next_seq: u64,
    max_delivered_seq: Option<u64>,
    busy_until: Duration,
    stats: LinkStats,
}

impl<T> LinkShaper<T> {
    /// Current conditions.
    pub fn conditions(&self) -> &LinkConditions {
        &self.conditions
    }

    /// Statistics so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

impl<T: Clone> LinkShaper<T> {
    /// A shaper for `conditions` seeded with `seed`.
    pub fn new(conditions: LinkConditions, seed: u64) -> Self {
        Self {
            conditions,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            next_seq: 0,
            max_delivered_seq: None,
            busy_until: Duration::ZERO,
            stats: LinkStats::default(),
        }
    }

    /// Replaces the conditions (packets in flight keep their schedule).
    pub fn set_conditions(&mut self, conditions: LinkConditions) {
        self.conditions = conditions;
    }

    /// Offers an item sent at `now`; `size` (bytes) is only used with a bandwidth cap.
    pub fn submit(&mut self, now: Duration, item: T, size: usize) {
        let c = self.conditions;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.sent += 1;
        if c.loss > 0.0 && self.rng.gen_bool(c.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if c.duplicate > 0.0 && self.rng.gen_bool(c.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut queue_delay = Duration::ZERO;
        if let Some(bw) = c.bandwidth {
            let start = self.busy_until.max(now);
            let tx_ns = (size as u128 * 1_000_000_000) / u128::from(bw.max(1));
            self.busy_until =
                start + Duration::from_nanos(u64::try_from(tx_ns).unwrap_or(u64::MAX));
            queue_delay = self.busy_until - now;
        }
        for _ in 0..copies {
            let delay = queue_delay + self.sample_delay();
            let pending = Pending {
                due: now + delay,
                sent_at: now,
                seq,
                item: item.clone(),
            };
            self.queue.push(pending);
        }
    }

    fn sample_delay(&mut self) -> Duration {
        let c = self.conditions;
        let base = c.latency.as_nanos() as i128;
        let j = c.jitter.as_nanos() as i128;
        let jitter = if j > 0 { self.rng.gen_range(-j..=j) } else { 0 };
        let mut ns = (base + jitter).max(0);
        if c.reorder > 0.0 && self.rng.gen_bool(c.reorder) {
            let extra = c.reorder_delay.as_nanos().max(1) as i128;
            ns += self.rng.gen_range(1..=extra);
        }
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Time of the next delivery, if any packet is in flight.
    pub fn next_due(&self) -> Option<Duration> {
        self.queue.peek().map(|p| p.due)
    }

    /// Hands every item due at or before `now` to `deliver`, in delivery order.
    pub fn deliver_due(&mut self, now: Duration, mut deliver: impl FnMut(T)) {
        while self.queue.peek().is_some_and(|p| p.due <= now) {
            let Some(p) = self.queue.pop() else { break };
            if p.due > now {
                self.stats.early += 1;
            }
            let delay = p.due.saturating_sub(p.sent_at);
            self.stats.delivered += 1;
            self.stats.delay_sum_ns += delay.as_nanos();
            let us = delay.as_micros();
            self.stats.delay_sq_sum_us += us * us;
            self.stats.delay_max_ns = self
                .stats
                .delay_max_ns
                .max(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
            match self.max_delivered_seq {
                Some(m) if p.seq < m => self.stats.reordered += 1,
                _ => self.max_delivered_seq = Some(p.seq),
            }
            deliver(p.item);
        }
    }
}
