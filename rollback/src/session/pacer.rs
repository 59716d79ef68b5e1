//! [`FramePacer`]: fixed-timestep pacing for real-time drivers.

use std::time::Duration;

/// Most frames a pacer lets a driver catch up in one go after a hiccup.
pub const DEFAULT_MAX_CATCH_UP: u32 = 8;

/// An accumulator for running frames at the runner's pace on a real clock: feed it the
/// clock's time, ask whether a frame is due with the current
/// [`P2PRunner::frame_interval`](super::P2PRunner::frame_interval) (which stretches while
/// ahead: that is how ggrs's time sync slows this peer down), and sleep for
/// [`time_to_next`](Self::time_to_next) in between.
///
/// ```
/// use std::time::Duration;
/// use rollback::session::FramePacer;
///
/// let mut pacer = FramePacer::new(Duration::ZERO);
/// let frame = Duration::from_millis(16);
/// assert!(!pacer.frame_due(Duration::from_millis(10), frame));
/// assert!(pacer.frame_due(Duration::from_millis(33), frame)); // two frames due
/// assert!(pacer.frame_due(Duration::from_millis(33), frame));
/// assert!(!pacer.frame_due(Duration::from_millis(33), frame));
/// assert_eq!(pacer.time_to_next(Duration::from_millis(33), frame), Duration::from_millis(15));
/// ```
#[derive(Debug, Clone)]
pub struct FramePacer {
    last: Duration,
    accumulated: Duration,
    max_catch_up: u32,
}

impl FramePacer {
    /// A pacer starting at `now` with [`DEFAULT_MAX_CATCH_UP`].
    pub fn new(now: Duration) -> Self {
        Self {
            last: now,
            accumulated: Duration::ZERO,
            max_catch_up: DEFAULT_MAX_CATCH_UP,
        }
    }

    fn accumulate(&mut self, now: Duration, interval: Duration) {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        // after a long hiccup, drop the excess instead of fast-forwarding a burst
        let cap = interval * self.max_catch_up;
        self.accumulated = (self.accumulated + elapsed).min(cap);
    }

    /// Whether a frame should run now; consumes one `interval` if so. Call in a loop
    /// until it returns `false`.
    pub fn frame_due(&mut self, now: Duration, interval: Duration) -> bool {
        self.accumulate(now, interval);
        if self.accumulated >= interval && !interval.is_zero() {
            self.accumulated -= interval;
            true
        } else {
            false
        }
    }

    /// Time until the next frame is due.
    pub fn time_to_next(&mut self, now: Duration, interval: Duration) -> Duration {
        self.accumulate(now, interval);
        interval.saturating_sub(self.accumulated)
    }
}
