//! `session`: runners that drive a [`Game`] through ggrs sessions.
//!
//! * [`P2PRunner`]: a two-player peer-to-peer session over any
//!   `ggrs::NonBlockingSocket<A>` (simulated, UDP, WebRTC, ...), on virtual or wall time.
//! * [`SyncTestRunner`]: ggrs's determinism check (rollback + re-simulate every frame).
//! * [`SpectatorRunner`]: follows a host's confirmed inputs.
//!
//! Each runner serves ggrs's Save / Load / Advance requests in order, handles every ggrs
//! event, records [`RollbackStats`], and keeps a log of confirmed-frame checksums plus a
//! ring of recent states for desync diffs ([`crate::desync`]).
//!
//! # Time sync
//! [`P2PRunner::frame_interval`] is the time to wait before the next frame: `1/fps`,
//! stretched by 10 % while ggrs reports us ahead of the remote (as the ggrs docs recommend:
//! run slightly slower instead of stalling). Drivers on a virtual clock use it to schedule
//! the next tick; real-time drivers pace frames with a [`FramePacer`] and sleep in between.
//!
//! # The start-of-match input stall in ggrs 0.13 and how the runner avoids it
//! With an input delay `d > 0` set in ggrs's builder, the first local input lands on frame
//! `d`, so frames `0..d` are never sent. A receiver decodes each input packet against the
//! frame before the packet's first frame; it has no such frame for packets that still start
//! at `d` once it has decoded the first one, and silently drops them until the sender has
//! seen an ack and starts its packets later. A sender stalled at the prediction window
//! sends no new input packets at all, so if the ack arrives after the sender stalled
//! (one-way latency ≥ 6 frames with `d = 2`, window 8), both peers wait for ggrs's 200 ms
//! wall-clock resend. The runner therefore starts the ggrs session with delay 0, feeds the
//! default input on frame 0, and raises the delay to `d` with `set_input_delay` right after:
//! ggrs then sends frames `1..=d` as fill inputs, every frame is on the wire, and every
//! packet decodes. (With spectators the runner uses ggrs's builder delay instead: ggrs
//! streams confirmed inputs to spectators before registering the frame's local input, so
//! fill frames could be requested before they exist locally. The start-of-match stall can
//! then cost one 200 ms wall-clock resend at one-way latencies of 6+ frames.) In addition, while the runner is stalled (or still synchronizing) it
//! re-sends the latest input (or sync request) packet every
//! [`RunnerConfig::retransmit_interval`] of *its own clock*, so lost packets during a
//! stall do not wait for ggrs's wall-clock timer. Duplicates are harmless to ggrs.
//!
//! # Riding out a cut (resume)
//! ggrs 0.13 declares a silent opponent disconnected after 2 s of wall time, which ends a
//! match on any hiccup. With [`RunnerConfig::resume_timeout`] set (the default, 20 s),
//! the runner's own timer on its own clock takes over: ggrs's disconnect timeout is raised
//! beyond ours ([`RunnerConfig::ggrs_disconnect_timeout`]); during a cut the runner keeps
//! predicting up to the window, then stalls (re-sending its latest input packet every
//! retransmit interval) without declaring anything. When packets flow again, ggrs's
//! session simply continues from the last confirmed frame: both peers kept their states
//! and inputs, so there is nothing to transfer and nothing to desync. Only after
//! `resume_timeout` without a packet (or when the transport reports
//! [`LinkState::Closed`]) does the match end, with an [`EndReason`]. Transports that know
//! more than packets (a WebRTC socket renegotiating) report it through a [`LinkStatus`];
//! see the `link` docs there. Each silence of ≥ 1 s (or "resuming" report) counts as one
//! interruption in [`RollbackStats::interruptions`], with its length in
//! [`RollbackStats::resumed_after_ms`].

mod core;
mod delay;
mod feed;
mod link;
mod p2p;
mod pacer;
mod record;
mod rtt;
mod spectator;
mod synctest;
mod tap;

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use ggrs::{DesyncDetection, GgrsError, PredictRepeatLast};
use thiserror::Error;

use crate::game::Game;
pub use crate::stats::RollbackStats;
pub use core::{ConfirmedLog, DesyncEvent};
pub use delay::{auto_input_delay, InputDelay, AUTO_DELAY_CAP};
pub use feed::{ConfirmedStep, DEFAULT_FEED_CAPACITY};
pub use link::{EndReason, LinkState, LinkStatus, INTERRUPTION_THRESHOLD};
pub use p2p::{BoxedSocket, P2PRunner, RunnerOptions};
pub use pacer::{FramePacer, DEFAULT_MAX_CATCH_UP};
pub use spectator::SpectatorRunner;
pub use synctest::SyncTestRunner;

/// Default input delay in frames.
pub const DEFAULT_INPUT_DELAY: usize = 2;
/// Default prediction window in frames (ggrs's default).
pub const DEFAULT_MAX_PREDICTION: usize = 8;
/// Default simulation rate.
pub const DEFAULT_FPS: u32 = 60;
/// Default desync-detection interval: ggrs exchanges a checksum every 10 frames.
pub const DEFAULT_DESYNC_INTERVAL: u32 = 10;
/// Default disconnect timeout (ggrs's default, wall clock).
pub const DEFAULT_DISCONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
/// Default delay before a `NetworkInterrupted` event (ggrs's default, wall clock).
pub const DEFAULT_DISCONNECT_NOTIFY: Duration = Duration::from_millis(500);
/// Default resume timeout: how long the runner waits for the opponent's packets to flow
/// again after a cut before it ends the match (on the runner's clock).
pub const DEFAULT_RESUME_TIMEOUT: Duration = Duration::from_secs(20);
/// While resuming is on, ggrs's own disconnect timeout is set this much beyond the resume
/// timeout, so the runner's timer always decides first.
pub const GGRS_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);
/// Default retransmission interval during stalls, on the runner's clock.
pub const DEFAULT_RETRANSMIT_INTERVAL: Duration = Duration::from_millis(100);
/// Default number of recent saved states kept for desync diffs.
pub const DEFAULT_STATE_RING: usize = 256;
/// Default number of confirmed checksums kept (one hour at 60 fps).
pub const DEFAULT_CHECKSUM_LOG: usize = 216_000;
/// Default timing sample rate: one `advance` call in 16 is timed.
pub const DEFAULT_TIME_SAMPLE_EVERY: u32 = 16;
/// Largest accepted input delay.
pub const MAX_INPUT_DELAY: usize = 16;

/// Settings of a runner, validated by [`RunnerConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    /// Local input delay in frames (with `auto_input_delay`: the fallback when nothing was
    /// measured).
    pub input_delay: usize,
    /// Pick the input delay at sync from the measured RTT and jitter
    /// ([`auto_input_delay`]; see [`InputDelay`]). Off by default in the library; the
    /// `bot` and `demo` examples turn it on.
    pub auto_input_delay: bool,
    /// Prediction window (≥ 1; lockstep is not supported by the runners).
    pub max_prediction: usize,
    /// Frames per second.
    pub fps: u32,
    /// ggrs desync detection interval in frames (0 turns ggrs's detection off; our own
    /// confirmed-checksum log is always kept).
    pub desync_interval: u32,
    /// ggrs disconnect timeout (wall clock). Set high for virtual-time simulations. While
    /// resuming is on, ggrs gets at least `resume_timeout + GGRS_TIMEOUT_MARGIN`.
    pub disconnect_timeout: Duration,
    /// How long the runner rides out a cut: it keeps predicting up to the window, then
    /// stalls, and ends with [`EndReason::ResumeTimeout`] only after this long without a
    /// packet from the opponent (runner's clock). Zero turns resuming off: ggrs's
    /// `disconnect_timeout` then decides, as in plain ggrs.
    pub resume_timeout: Duration,
    /// ggrs `NetworkInterrupted` delay (wall clock).
    pub disconnect_notify: Duration,
    /// Re-send interval for input / sync packets while stalled, on the runner's clock
    /// (zero disables).
    pub retransmit_interval: Duration,
    /// Time one `advance` call in this many (0 = off) to split game / snapshot / engine
    /// time; sampled figures are scaled up. Timing every call (1) costs two
    /// `Instant::now()` per request, which is a large share of a small game's frame.
    pub time_sample_every: u32,
    /// Recent states kept for desync diffs.
    pub state_ring: usize,
    /// Confirmed checksums kept.
    pub checksum_log: usize,
    /// SyncTest check distance (SyncTestRunner only; must be < `max_prediction`).
    pub check_distance: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            input_delay: DEFAULT_INPUT_DELAY,
            auto_input_delay: false,
            max_prediction: DEFAULT_MAX_PREDICTION,
            fps: DEFAULT_FPS,
            desync_interval: DEFAULT_DESYNC_INTERVAL,
            disconnect_timeout: DEFAULT_DISCONNECT_TIMEOUT,
            disconnect_notify: DEFAULT_DISCONNECT_NOTIFY,
            resume_timeout: DEFAULT_RESUME_TIMEOUT,
            retransmit_interval: DEFAULT_RETRANSMIT_INTERVAL,
            time_sample_every: DEFAULT_TIME_SAMPLE_EVERY,
            state_ring: DEFAULT_STATE_RING,
            checksum_log: DEFAULT_CHECKSUM_LOG,
            check_distance: 2,
        }
    }
}

impl RunnerConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), RunnerError> {
        let bad = |m: String| Err(RunnerError::InvalidConfig(m));
        if self.max_prediction == 0 || self.max_prediction > 64 {
            return bad(format!(
                "max_prediction must be 1..=64, got {}",
                self.max_prediction
            ));
        }
        if self.input_delay > MAX_INPUT_DELAY {
            return bad(format!(
                "input_delay must be <= {MAX_INPUT_DELAY}, got {}",
                self.input_delay
            ));
        }
        if self.fps == 0 || self.fps > 1000 {
            return bad(format!("fps must be 1..=1000, got {}", self.fps));
        }
        if self.resume_timeout > Duration::from_secs(3600) {
            return bad(format!(
                "resume_timeout must be <= 1 h, got {:?}",
                self.resume_timeout
            ));
        }
        if self.state_ring < 2 {
            return bad("state_ring must be >= 2".to_owned());
        }
        Ok(())
    }

    /// The nominal frame duration.
    pub fn frame_duration(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.fps.max(1)))
    }

    /// The disconnect timeout given to ggrs: with resuming on, never below
    /// `resume_timeout + GGRS_TIMEOUT_MARGIN`.
    pub fn ggrs_disconnect_timeout(&self) -> Duration {
        if self.resume_timeout.is_zero() {
            self.disconnect_timeout
        } else {
            self.disconnect_timeout
                .max(self.resume_timeout.saturating_add(GGRS_TIMEOUT_MARGIN))
        }
    }

    pub(crate) fn desync_detection(&self) -> DesyncDetection {
        if self.desync_interval == 0 {
            DesyncDetection::Off
        } else {
            DesyncDetection::On {
                interval: self.desync_interval,
            }
        }
    }
}

/// Errors of the runners.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// A setting is out of range.
    #[error("invalid runner config: {0}")]
    InvalidConfig(String),
    /// ggrs rejected a call.
    #[error("ggrs: {0}")]
    Ggrs(#[from] GgrsError),
    /// ggrs asked to load a state that was never saved.
    #[error("no saved state for frame {0}")]
    MissingSnapshot(i32),
    /// The SyncTest found a non-deterministic frame.
    #[error("synctest checksum mismatch at frame {frame}: frames {mismatched:?}")]
    SyncTestMismatch {
        /// Current frame.
        frame: i32,
        /// Frames whose checksums differed.
        mismatched: Vec<i32>,
    },
    /// [`P2PRunner::restart_from`] was given a frame that is not confirmed and saved.
    #[error("cannot restart from frame {0}: not a confirmed, saved frame")]
    CannotRestart(i32),
    /// Writing a desync report failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// What one [`P2PRunner::advance`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Still synchronizing with the remote; nothing simulated.
    Synchronizing,
    /// A new frame was simulated (after a rollback of `rollback_depth` frames, if > 0).
    Advanced {
        /// The frame now current (number of frames simulated).
        frame: i32,
        /// Frames re-simulated by a rollback in this call (0 if none).
        rollback_depth: u32,
    },
    /// The prediction window is full: no new frame (a rollback may still have happened).
    Stalled {
        /// Frames re-simulated by a rollback in this call (0 if none).
        rollback_depth: u32,
    },
    /// The match is over before its end: nothing more will be simulated.
    Ended(EndReason),
}

/// The ggrs [`ggrs::Config`] for a game `G` over addresses `A`.
pub struct GgrsConfig<G, A>(PhantomData<fn() -> (G, A)>);

impl<G, A> ggrs::Config for GgrsConfig<G, A>
where
    G: Game,
    A: Clone + PartialEq + Eq + Ord + Hash + Send + Sync + std::fmt::Debug + 'static,
{
    type Input = G::Input;
    type InputPredictor = PredictRepeatLast;
    type State = G;
    type Address = A;
}
