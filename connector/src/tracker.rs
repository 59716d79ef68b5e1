//! Request tracking, sans-IO: 16-bit sequence numbers (wrapping, skipping 0 and any seq still
//! in flight), per-request deadlines, and matching replies. A reply whose seq is not pending
//! (never sent, already answered or timed out) is reported as unknown and dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Tracks in-flight requests of type `T` by sequence number.
#[derive(Debug)]
pub struct RequestTracker<T> {
    last_seq: u16,
    pending: BTreeMap<u16, (Instant, T)>,
    deadlines: BTreeSet<(Instant, u16)>,
}

impl<T> Default for RequestTracker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RequestTracker<T> {
    /// An empty tracker whose first sequence number is 1.
    pub fn new() -> Self {
        Self::starting_after(0)
    }

    /// An empty tracker whose next sequence number follows `last` (used to test wrapping).
    pub fn starting_after(last: u16) -> Self {
        Self {
            last_seq: last,
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Number of requests in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no request is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Registers a request expiring at `deadline`. Returns its seq, or gives `entry` back when
    /// all 65535 sequence numbers are in flight.
    pub fn insert(&mut self, deadline: Instant, entry: T) -> Result<u16, T> {
        if self.pending.len() >= usize::from(u16::MAX) {
            return Err(entry);
        }
        let mut seq = self.last_seq;
        loop {
            seq = seq.wrapping_add(1);
            if seq != 0 && !self.pending.contains_key(&seq) {
                break;
            }
        }
        self.last_seq = seq;
        self.pending.insert(seq, (deadline, entry));
        self.deadlines.insert((deadline, seq));
        Ok(seq)
    }

    /// Removes and returns the request answered by a reply carrying `seq`, if pending.
    pub fn complete(&mut self, seq: u16) -> Option<T> {
        let (deadline, entry) = self.pending.remove(&seq)?;
        self.deadlines.remove(&(deadline, seq));
        Some(entry)
    }

    /// The earliest deadline among pending requests.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Removes every request whose deadline is at or before `now`, oldest first.
    pub fn expire(&mut self, now: Instant) -> Vec<(u16, T)> {
        let mut out = Vec::new();
        while let Some(&(deadline, seq)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((_, entry)) = self.pending.remove(&seq) {
                out.push((seq, entry));
            }
        }
        out
    }

    /// Removes every pending request (in seq order), e.g. on disconnect.
    pub fn drain(&mut self) -> Vec<(u16, T)> {
        self.deadlines.clear();
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(seq, (_, entry))| (seq, entry))
            .collect()
    }

    /// Keeps only the requests for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let deadlines = &mut self.deadlines;
        self.pending.retain(|seq, (deadline, entry)| {
            let k = keep(entry);
            if !k {
                deadlines.remove(&(*deadline, *seq));
            }
            k
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seq_wraps_and_skips_zero_and_in_flight() {
        let now = Instant::now();
        let mut t = RequestTracker::starting_after(65533);
        let far = now + Duration::from_secs(60);
        assert_eq!(t.insert(far, 'a'), Ok(65534));
        assert_eq!(t.insert(far, 'b'), Ok(65535));
        assert_eq!(t.insert(far, 'c'), Ok(1));
        let mut t2 = RequestTracker::starting_after(0);
        assert_eq!(t2.insert(far, 'x'), Ok(1));
        t2.last_seq = 0;
        assert_eq!(t2.insert(far, 'y'), Ok(2), "seq 1 is still in flight");
    }

    #[test]
    fn expire_and_late_reply() {
        let now = Instant::now();
        let mut t = RequestTracker::new();
        let s1 = t.insert(now + Duration::from_millis(10), 1).unwrap();
        let s2 = t.insert(now + Duration::from_millis(20), 2).unwrap();
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(t.expire(now + Duration::from_millis(15)), vec![(s1, 1)]);
        assert_eq!(t.complete(s1), None, "late reply is unknown");
        assert_eq!(t.complete(s2), Some(2));
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn full_tracker_refuses() {
        let now = Instant::now();
        let mut t = RequestTracker::new();
        for i in 0..65535u32 {
            assert!(t.insert(now, i).is_ok());
        }
        assert_eq!(t.insert(now, 7), Err(7));
        assert_eq!(t.drain().len(), 65535);
    }
}
