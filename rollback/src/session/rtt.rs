//! Round-trip time measured on the runner's clock, from ggrs's own probes: a sync request
//! and the reply that echoes its nonce, a quality report and the reply that echoes its
//! timestamp. ggrs measures RTT with the wall clock; these samples are on the runner's
//! clock, so they are right on a virtual clock too.

use std::collections::VecDeque;
use std::time::Duration;

use ggrs::Message;

/// Probes awaiting their reply (older ones are forgotten).
const MAX_PENDING: usize = 16;
/// Samples kept for the mean and the jitter.
const MAX_SAMPLES: usize = 32;

/// A probe: the value ggrs sends and expects echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A sync request's nonce.
    Sync(u32),
    /// A quality report's timestamp.
    Quality(u128),
}

/// Whether a message asks for an echo or is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeDir {
    /// A request (sync request, quality report).
    Request,
    /// A reply (sync reply, quality reply).
    Reply,
}

/// The probe in `msg`, if it carries one. Reads ggrs's fixed-layout encoding: a 2-byte
/// header, a 4-byte variant index, then the body fields.
pub(crate) fn probe_of(msg: &Message) -> Option<(ProbeDir, Probe)> {
    let cfg = bincode::config::standard().with_fixed_int_encoding();
    let mut buf = [0u8; 24];
    // messages longer than the buffer (inputs) fail to encode fully; their variant is
    // still written, and they carry no probe
    let _ = bincode::serde::encode_into_slice(msg, &mut buf, cfg);
    let variant = u32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
    let u32_at = |i: usize| buf.get(i..i + 4)?.try_into().ok().map(u32::from_le_bytes);
    let u128_at = |i: usize| buf.get(i..i + 16)?.try_into().ok().map(u128::from_le_bytes);
    match variant {
        0 => Some((ProbeDir::Request, Probe::Sync(u32_at(6)?))),
        1 => Some((ProbeDir::Reply, Probe::Sync(u32_at(6)?))),
        4 => Some((ProbeDir::Request, Probe::Quality(u128_at(8)?))),
        5 => Some((ProbeDir::Reply, Probe::Quality(u128_at(6)?))),
        _ => None,
    }
}

/// Round-trip samples and the probes still in flight.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttEstimator {
    pending: VecDeque<(Probe, Duration)>,
    samples: VecDeque<Duration>,
}

impl RttEstimator {
    /// A probe left at `now` (a re-sent probe keeps its first time).
    pub fn on_sent(&mut self, probe: Probe, now: Duration) {
        if self.pending.iter().any(|(p, _)| *p == probe) {
            return;
        }
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((probe, now));
    }

    /// A reply arrived at `now`; unknown or duplicate replies are ignored.
    pub fn on_reply(&mut self, probe: Probe, now: Duration) {
        let Some(i) = self.pending.iter().position(|(p, _)| *p == probe) else {
            return;
        };
        let Some((_, sent)) = self.pending.remove(i) else {
            return;
        };
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(now.saturating_sub(sent));
    }

    /// Number of samples kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Mean round-trip time (`None` before the first sample).
    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.samples.len()).ok().filter(|n| *n > 0)?;
        Some(self.samples.iter().sum::<Duration>() / n)
    }

    /// Jitter: the mean absolute deviation of the samples from their mean.
    pub fn jitter(&self) -> Option<Duration> {
        let mean = self.mean()?;
        let n = u32::try_from(self.samples.len()).ok()?;
        let dev: Duration = self.samples.iter().map(|s| s.abs_diff(mean)).sum();
        Some(dev / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn probes_are_read_from_ggrs_messages() {
        // magic 5, SyncRequest(42) / SyncReply(42) in the crate's varint wire encoding
        let req = wire::decode(&[5, 0, 42]).unwrap();
        let rep = wire::decode(&[5, 1, 42]).unwrap();
        assert_eq!(probe_of(&req), Some((ProbeDir::Request, Probe::Sync(42))));
        assert_eq!(probe_of(&rep), Some((ProbeDir::Reply, Probe::Sync(42))));
        // QualityReport { frame_advantage: 1 (zigzag 2), ping: 300 } / QualityReply(300)
        let qr = wire::decode(&[5, 4, 2, 251, 44, 1]).unwrap();
        let qp = wire::decode(&[5, 5, 251, 44, 1]).unwrap();
        assert_eq!(
            probe_of(&qr),
            Some((ProbeDir::Request, Probe::Quality(300)))
        );
        assert_eq!(probe_of(&qp), Some((ProbeDir::Reply, Probe::Quality(300))));
        let keep_alive = wire::decode(&[5, 7]).unwrap();
        assert_eq!(probe_of(&keep_alive), None);
        let input = wire::decode(&[5, 2, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(probe_of(&input), None);
    }

    #[test]
    fn samples_match_replies_to_requests() {
        let mut r = RttEstimator::default();
        assert_eq!(r.mean(), None);
        r.on_sent(Probe::Sync(1), Duration::ZERO);
        r.on_sent(Probe::Sync(1), 50 * MS); // a re-send keeps the first time
        r.on_sent(Probe::Sync(2), 10 * MS);
        r.on_reply(Probe::Sync(9), 20 * MS); // unknown: ignored
        r.on_reply(Probe::Sync(1), 100 * MS);
        r.on_reply(Probe::Sync(1), 120 * MS); // duplicate: ignored
        r.on_reply(Probe::Sync(2), 130 * MS);
        assert_eq!(r.len(), 2);
        assert_eq!(r.mean(), Some(110 * MS));
        assert_eq!(r.jitter(), Some(10 * MS));
    }

    #[test]
    fn pending_probes_and_samples_are_bounded() {
        let mut r = RttEstimator::default();
        for i in 0..1000u32 {
            r.on_sent(Probe::Sync(i), Duration::ZERO);
        }
        assert_eq!(r.pending.len(), MAX_PENDING);
        for i in 0..1000u128 {
            r.on_sent(Probe::Quality(i), MS);
            r.on_reply(Probe::Quality(i), 2 * MS);
        }
        assert_eq!(r.len(), MAX_SAMPLES);
        assert_eq!(r.mean(), Some(MS));
    }
}
