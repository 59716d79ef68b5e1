//! [`SimPipe`]: a reliable, ordered, bounded message pipe on the virtual clock, the
//! simulator's stand-in for a reliable data channel (e.g. a spectator's stream).

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::VirtualClock;

/// One direction of a reliable, ordered channel with a fixed latency and a bounded
/// buffer: at most `capacity` messages may be in flight or delivered but unread, so a
/// receiver that never reads makes [`SimPipe::try_send`] refuse, like a transport whose
/// send buffer is full.
#[derive(Debug)]
pub struct SimPipe {
    clock: VirtualClock,
    latency: Duration,
    capacity: usize,
    queue: VecDeque<(Duration, Vec<u8>)>,
    refused: u64,
}

impl SimPipe {
    /// A pipe with `latency` holding at most `capacity` messages.
    pub fn new(clock: VirtualClock, latency: Duration, capacity: usize) -> Self {
        Self {
            clock,
            latency,
            capacity: capacity.max(1),
            queue: VecDeque::new(),
            refused: 0,
        }
    }

    /// Sends a copy of `bytes`; `false` (and nothing sent) if the buffer is full.
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        if self.queue.len() >= self.capacity {
            self.refused += 1;
            return false;
        }
        // ordered: never due before the message ahead of it
        let due = self.queue.back().map_or(Duration::ZERO, |(d, _)| *d);
        let due = due.max(self.clock.now() + self.latency);
        self.queue.push_back((due, bytes.to_vec()));
        true
    }

    /// The next message whose delivery time has passed.
    pub fn recv(&mut self) -> Option<Vec<u8>> {
        match self.queue.front() {
            Some((due, _)) if *due <= self.clock.now() => self.queue.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    /// Messages in flight or unread.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is in flight or unread.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends refused because the buffer was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}
