//! [`LinkConditions`]: what one direction of a link does to packets.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NetsimError;

/// Default extra delay given to a packet chosen for reordering.
pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(20);

/// Conditions of one direction of a link. All probabilities are in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkConditions {
    /// One-way base latency.
    pub latency: Duration,
    /// Jitter: each packet's latency is `latency + U(-jitter, +jitter)` (never below zero).
    /// Jitter alone can reorder packets.
    pub jitter: Duration,
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Probability that a packet is delivered twice (the copy gets its own latency).
    pub duplicate: f64,
    /// Probability that a packet is held back by an extra `U(0, reorder_delay]`, so later
    /// packets overtake it.
    pub reorder: f64,
    /// Maximum extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Optional bandwidth cap in bytes per second (serialization delay + queueing).
    pub bandwidth: Option<u64>,
}

impl Default for LinkConditions {
    fn default() -> Self {
        Self::ideal()
    }
}

impl LinkConditions {
    /// A perfect link: no latency, no loss.
    pub fn ideal() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: DEFAULT_REORDER_DELAY,
            bandwidth: None,
        }
    }

    /// A link with the given one-way latency and loss probability.
    pub fn with_latency_loss(latency: Duration, loss: f64) -> Self {
        Self {
            latency,
            loss,
            ..Self::ideal()
        }
    }

    /// Checks ranges: probabilities in `0..=1` (finite), bandwidth > 0.
    pub fn validate(&self) -> Result<(), NetsimError> {
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(NetsimError::InvalidConditions(format!(
                    "{name} must be in 0..=1, got {p}"
                )));
            }
        }
        if self.bandwidth == Some(0) {
            return Err(NetsimError::InvalidConditions(
                "bandwidth must be > 0".to_owned(),
            ));
        }
        Ok(())
    }
}
