//! Heartbeat and idle-timeout schedule, sans-IO: fed with "bytes received" and the current
//! time, it says when to send a heartbeat and when the connection is idle for too long.

use std::time::{Duration, Instant};

/// What the schedule asks the driver to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LivenessAction {
    /// Nothing due.
    Idle,
    /// Send one heartbeat.
    SendHeartbeat,
    /// Nothing was received for the idle timeout: close the connection.
    TimedOut,
}

/// Heartbeat/idle schedule of one connection.
#[derive(Debug, Clone)]
pub struct Liveness {
    heartbeat_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    next_heartbeat: Option<Instant>,
    last_received: Instant,
}

fn nonzero_ms(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl Liveness {
    /// A schedule; `debug_mode` (or a 0 value) disables the corresponding check.
    pub fn new(now: Instant, heartbeat_ms: u64, idle_ms: u64, debug_mode: bool) -> Self {
        let enabled = !debug_mode;
        Self {
            heartbeat_interval: nonzero_ms(heartbeat_ms).filter(|_| enabled),
            idle_timeout: nonzero_ms(idle_ms).filter(|_| enabled),
            next_heartbeat: None,
            last_received: now,
        }
    }

    /// Starts heartbeats (once the session may send them, i.e. after authentication).
    pub fn start_heartbeats(&mut self, now: Instant) {
        if self.next_heartbeat.is_none() {
            self.next_heartbeat = self.heartbeat_interval.map(|i| now + i);
        }
    }

    /// Records that bytes arrived.
    pub fn on_received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// When bytes last arrived (the creation time until then).
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// The next instant at which [`poll`](Self::poll) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let idle = self.idle_timeout.map(|t| self.last_received + t);
        match (idle, self.next_heartbeat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the schedule to `now`.
    pub fn poll(&mut self, now: Instant) -> LivenessAction {
        if let Some(t) = self.idle_timeout {
            if now >= self.last_received + t {
                return LivenessAction::TimedOut;
            }
        }
        match (self.next_heartbeat, self.heartbeat_interval) {
            (Some(due), Some(interval)) if now >= due => {
                self.next_heartbeat = Some(now + interval);
                LivenessAction::SendHeartbeat
            }
            _ => LivenessAction::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_then_idle() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Liveness::new(t0, 100, 250, false);
        assert_eq!(l.next_deadline(), Some(t0 + ms(250)));
        l.start_heartbeats(t0);
        assert_eq!(l.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(l.poll(t0 + ms(50)), LivenessAction::Idle);
        assert_eq!(l.poll(t0 + ms(100)), LivenessAction::SendHeartbeat);
        l.on_received(t0 + ms(120));
        assert_eq!(l.poll(t0 + ms(200)), LivenessAction::SendHeartbeat);
        assert_eq!(l.poll(t0 + ms(370)), LivenessAction::TimedOut);
    }

    #[test]
    fn debug_mode_disables_both() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, 100, 250, true);
        l.start_heartbeats(t0);
        assert_eq!(l.next_deadline(), None);
        assert_eq!(l.poll(t0 + Duration::from_secs(100)), LivenessAction::Idle);
    }
}
