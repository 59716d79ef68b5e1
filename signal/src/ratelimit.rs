//! Per-connection rate limiting (sans-IO token bucket with an abuse score).
//!
//! Each message costs one token; tokens refill at `rate` per second up to `burst`. A
//! message without a token is dropped (`error 429`) and adds one to an abuse score that
//! decays at `rate` per second; when the score exceeds `abuse_threshold` the connection is
//! closed (close code 1008). A client sending at twice the rate is throttled forever but not
//! cut off; one sending at three times the rate is cut off after a few seconds.

use std::time::Instant;

/// What to do with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allow,
    /// Over the limit: drop it and answer `error 429`.
    Drop,
    /// Sustained abuse: close the connection.
    Close,
}

/// Token bucket plus abuse score for one connection.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    abuse_threshold: f64,
    tokens: f64,
    abuse: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket at `now`. `rate` is messages per second.
    pub fn new(rate: u32, burst: u32, abuse_threshold: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            abuse_threshold: f64::from(abuse_threshold),
            tokens: f64::from(burst.max(1)),
            abuse: 0.0,
            last: now,
        }
    }

    /// Accounts for one message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> RateDecision {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.abuse = (self.abuse - elapsed * self.rate).max(0.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return RateDecision::Allow;
        }
        self.abuse += 1.0;
        if self.abuse > self.abuse_threshold {
            RateDecision::Close
        } else {
            RateDecision::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_drop_then_refill() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(50, 100, 100, t0);
        for _ in 0..100 {
            assert_eq!(rl.check(t0), RateDecision::Allow);
        }
        assert_eq!(rl.check(t0), RateDecision::Drop);
        // 20 ms later one token (50/s) is back.
        assert_eq!(
            rl.check(t0 + Duration::from_millis(20)),
            RateDecision::Allow
        );
    }

    #[test]
    fn sustained_abuse_closes() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(50, 100, 100, t0);
        let mut decisions = Vec::new();
        for _ in 0..250 {
            decisions.push(rl.check(t0));
        }
        assert_eq!(decisions.last(), Some(&RateDecision::Close));
        assert_eq!(
            decisions
                .iter()
                .filter(|d| **d == RateDecision::Allow)
                .count(),
            100
        );
    }

    #[test]
    fn steady_rate_at_the_limit_is_allowed() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(50, 100, 100, t0);
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(20 * i);
            assert_eq!(rl.check(now), RateDecision::Allow);
        }
    }
}
