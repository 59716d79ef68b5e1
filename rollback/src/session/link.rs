//! Riding out a cut: the link status a transport reports, and the runner's own watch over
//! the opponent's silence that replaces ggrs's wall-clock disconnect.
//!
//! # The link-status API (for socket implementations)
//! A transport that knows more than "packets arrive or not" (the WebRTC socket of `peer`,
//! which sees ICE fail and renegotiates) creates a [`LinkStatus`], keeps one clone and
//! hands another to the runner through
//! [`RunnerOptions::link_status`](super::RunnerOptions::link_status). It then calls
//! [`LinkStatus::set`] whenever its state changes:
//! * [`LinkState::Up`]: the link carries packets (the default).
//! * [`LinkState::Resuming`]: the link is down and being re-established (e.g. ICE
//!   restart, new data channel). The runner keeps predicting up to its window, then stalls,
//!   and counts an interruption; it does not give up before
//!   [`RunnerConfig::resume_timeout`](super::RunnerConfig::resume_timeout).
//! * [`LinkState::Closed`]: the transport gave up for good (e.g. the server ended the
//!   match). The runner ends with [`EndReason::LinkClosed`] at its next call.
//!
//! A transport without a status (UDP, the simulator) is watched by silence alone: after
//! [`RunnerConfig::resume_timeout`](super::RunnerConfig::resume_timeout) without any packet
//! from the opponent the runner ends with [`EndReason::ResumeTimeout`].
//!
//! ```
//! use rollback::session::{LinkState, LinkStatus};
//!
//! let status = LinkStatus::new(); // the socket keeps this one...
//! let for_runner = status.clone(); // ...and gives this one to RunnerOptions::link_status
//! status.set(LinkState::Resuming);
//! assert_eq!(for_runner.get(), LinkState::Resuming);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Silence from the opponent that counts as one interruption.
pub const INTERRUPTION_THRESHOLD: Duration = Duration::from_secs(1);

/// What the transport says about the link to the opponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The link carries packets.
    Up,
    /// The link is down and being re-established.
    Resuming,
    /// The transport gave up; the match cannot continue.
    Closed,
}

impl LinkState {
    fn to_u8(self) -> u8 {
        match self {
            Self::Up => 0,
            Self::Resuming => 1,
            Self::Closed => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Up,
            1 => Self::Resuming,
            _ => Self::Closed,
        }
    }
}

/// A link state shared between a transport (which sets it) and a runner (which reads it
/// every call). Clones share the state; it is lock-free and cheap to read.
#[derive(Clone, Default)]
pub struct LinkStatus(Arc<AtomicU8>);

impl LinkStatus {
    /// A status that says [`LinkState::Up`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports a new state.
    pub fn set(&self, state: LinkState) {
        self.0.store(state.to_u8(), Ordering::Release);
    }

    /// The latest reported state.
    pub fn get(&self) -> LinkState {
        LinkState::from_u8(self.0.load(Ordering::Acquire))
    }
}

impl fmt::Debug for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LinkStatus").field(&self.get()).finish()
    }
}

/// Why a runner stopped before the caller's last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet from the opponent for the whole resume timeout.
    ResumeTimeout,
    /// The transport reported [`LinkState::Closed`].
    LinkClosed,
    /// ggrs declared the opponent disconnected (its own timeout; only when resuming is off).
    Disconnected,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ResumeTimeout => "resume timeout: no packet from the opponent",
            Self::LinkClosed => "link closed by the transport",
            Self::Disconnected => "opponent disconnected (ggrs timeout)",
        })
    }
}

/// What the watch saw in one [`LinkWatch::observe`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchEvent {
    /// Nothing changed.
    None,
    /// An interruption began.
    Interrupted,
    /// Packets flow again after an interruption that lasted this long.
    Resumed(Duration),
    /// The match is over.
    End(EndReason),
}

/// The runner's watch over the opponent's silence (sans-IO: packet count, link state and
/// `now` in; events out).
#[derive(Debug, Clone)]
pub(crate) struct LinkWatch {
    resume_timeout: Duration,
    last_heard: Duration,
    received: u64,
    interrupted: bool,
}

impl LinkWatch {
    /// A watch starting at `now`; `resume_timeout` zero means "never end on silence".
    pub fn new(now: Duration, resume_timeout: Duration) -> Self {
        Self {
            resume_timeout,
            last_heard: now,
            received: 0,
            interrupted: false,
        }
    }

    /// Feeds the total packets received so far and the transport's state.
    pub fn observe(&mut self, now: Duration, received: u64, state: LinkState) -> WatchEvent {
        if state == LinkState::Closed {
            return WatchEvent::End(EndReason::LinkClosed);
        }
        let heard = received > self.received;
        self.received = self.received.max(received);
        if heard && state == LinkState::Up {
            let silent_for = now.saturating_sub(self.last_heard);
            self.last_heard = now;
            if std::mem::take(&mut self.interrupted) {
                return WatchEvent::Resumed(silent_for);
            }
            return WatchEvent::None;
        }
        if heard {
            // packets while the transport still says "resuming": keep the interruption open
            self.last_heard = now;
        }
        let silence = now.saturating_sub(self.last_heard);
        if !self.resume_timeout.is_zero() && silence >= self.resume_timeout {
            return WatchEvent::End(EndReason::ResumeTimeout);
        }
        let down = state == LinkState::Resuming || silence >= INTERRUPTION_THRESHOLD;
        if down && !self.interrupted {
            self.interrupted = true;
            return WatchEvent::Interrupted;
        }
        WatchEvent::None
    }

    /// Whether an interruption is in progress.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn silence_interrupts_then_packets_resume() {
        let mut w = LinkWatch::new(Duration::ZERO, 20 * S);
        assert_eq!(w.observe(S / 2, 1, LinkState::Up), WatchEvent::None);
        assert_eq!(w.observe(S, 1, LinkState::Up), WatchEvent::None);
        assert_eq!(w.observe(2 * S, 1, LinkState::Up), WatchEvent::Interrupted);
        assert!(w.is_interrupted());
        assert_eq!(w.observe(3 * S, 1, LinkState::Up), WatchEvent::None);
        assert_eq!(
            w.observe(4 * S, 2, LinkState::Up),
            WatchEvent::Resumed(S * 7 / 2)
        );
        assert!(!w.is_interrupted());
    }

    #[test]
    fn resuming_state_interrupts_at_once_and_silence_ends_at_the_timeout() {
        let mut w = LinkWatch::new(Duration::ZERO, 20 * S);
        assert_eq!(
            w.observe(S / 10, 1, LinkState::Resuming),
            WatchEvent::Interrupted
        );
        // a late packet while resuming does not close the interruption
        assert_eq!(w.observe(S / 5, 2, LinkState::Resuming), WatchEvent::None);
        assert_eq!(w.observe(20 * S, 2, LinkState::Resuming), WatchEvent::None);
        assert_eq!(
            w.observe(S / 5 + 20 * S, 2, LinkState::Resuming),
            WatchEvent::End(EndReason::ResumeTimeout)
        );
    }

    #[test]
    fn closed_ends_and_zero_timeout_never_ends_on_silence() {
        let mut w = LinkWatch::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(
            w.observe(3600 * S, 0, LinkState::Up),
            WatchEvent::Interrupted
        );
        assert_eq!(w.observe(7200 * S, 0, LinkState::Up), WatchEvent::None);
        assert_eq!(
            w.observe(7200 * S, 0, LinkState::Closed),
            WatchEvent::End(EndReason::LinkClosed)
        );
    }

    #[test]
    fn status_is_shared_between_clones() {
        let a = LinkStatus::new();
        let b = a.clone();
        assert_eq!(b.get(), LinkState::Up);
        a.set(LinkState::Closed);
        assert_eq!(b.get(), LinkState::Closed);
        assert_eq!(format!("{b:?}"), "LinkStatus(Closed)");
    }
}
