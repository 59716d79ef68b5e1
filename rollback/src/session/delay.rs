//! Input delay that tunes itself: the rule, and the `auto | N` setting of the CLIs.
//!
//! # The rule
//! With `auto`, the runner picks the delay when the handshake is done, from the round-trip
//! time and jitter it measured on its own clock during the handshake (ggrs's sync
//! requests and their echoes):
//!
//! `delay = round((rtt / 4 + jitter) / frame)`, at most [`AUTO_DELAY_CAP`]:
//! the frames nearest to half of the one-way latency plus the jitter; rollback hides the
//! rest. The RTT is measured between the two runners, so it includes each side's polling
//! delay (up to a frame): on loopback it reads ~20–30 ms, which rounds to no delay (a
//! ceiling would add a frame of felt latency to remove a handful of 1-frame rollbacks). Covering the whole one-way latency would remove rollbacks but adds felt input lag
//! on every press; no delay at all makes every remote input a rollback of the full
//! one-way latency. The bench_report "input delay" table (BENCHMARKS.md) compares this
//! rule with fixed delays 0–4 across the RTT grid.
//!
//! The delay may be re-tuned between rounds with
//! [`P2PRunner::retune_input_delay`](super::P2PRunner::retune_input_delay), which uses the
//! latest samples (ggrs's quality reports keep coming during the match).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{RunnerConfig, MAX_INPUT_DELAY};

/// Largest delay the automatic rule picks, in frames.
pub const AUTO_DELAY_CAP: usize = 3;

/// The delay the automatic rule picks for a round-trip time `rtt` with `jitter`, at `fps`:
/// `round((rtt / 4 + jitter) / frame)`, capped at [`AUTO_DELAY_CAP`] (exact integer
/// arithmetic on nanoseconds; halves round up).
///
/// ```
/// use std::time::Duration;
/// use rollback::session::auto_input_delay;
///
/// let ms = Duration::from_millis;
/// assert_eq!(auto_input_delay(ms(0), ms(0), 60), 0);
/// assert_eq!(auto_input_delay(ms(25), ms(0), 60), 0); // 6 ms: loopback with polling
/// assert_eq!(auto_input_delay(ms(40), ms(0), 60), 1); // 10 ms: 0.6 frames
/// assert_eq!(auto_input_delay(ms(100), ms(5), 60), 2); // 30 ms: 1.8 frames
/// assert_eq!(auto_input_delay(ms(300), ms(10), 60), 3); // capped
/// ```
pub fn auto_input_delay(rtt: Duration, jitter: Duration, fps: u32) -> usize {
    let cover = rtt / 4 + jitter;
    let frames = (cover.as_nanos() * u128::from(fps.max(1)) + 500_000_000) / 1_000_000_000;
    usize::try_from(frames)
        .unwrap_or(usize::MAX)
        .min(AUTO_DELAY_CAP)
}

/// The `--input-delay` setting: `auto` or a fixed number of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputDelay {
    /// Picked at sync from the measured RTT and jitter ([`auto_input_delay`]).
    #[default]
    Auto,
    /// A fixed number of frames.
    Fixed(usize),
}

impl InputDelay {
    /// Writes this setting into `config` (`input_delay` and `auto_input_delay`). With
    /// `Auto`, `config.input_delay` stays the fallback used when nothing was measured.
    pub fn configure(self, config: &mut RunnerConfig) {
        match self {
            Self::Auto => config.auto_input_delay = true,
            Self::Fixed(d) => {
                config.auto_input_delay = false;
                config.input_delay = d;
            }
        }
    }
}

impl FromStr for InputDelay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        match s.parse::<usize>() {
            Ok(d) if d <= MAX_INPUT_DELAY => Ok(Self::Fixed(d)),
            _ => Err(format!(
                "input delay must be 'auto' or 0..={MAX_INPUT_DELAY} frames, got '{s}'"
            )),
        }
    }
}

impl fmt::Display for InputDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(d) => write!(f, "{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auto_and_numbers_and_rejects_the_rest() {
        assert_eq!("auto".parse(), Ok(InputDelay::Auto));
        assert_eq!(" AUTO ".parse(), Ok(InputDelay::Auto));
        assert_eq!("3".parse(), Ok(InputDelay::Fixed(3)));
        assert!("17".parse::<InputDelay>().is_err());
        assert!("-1".parse::<InputDelay>().is_err());
        assert!("fast".parse::<InputDelay>().is_err());
        assert_eq!(InputDelay::Fixed(2).to_string(), "2");
        assert_eq!(InputDelay::Auto.to_string(), "auto");
    }

    #[test]
    fn configure_sets_the_runner_fields() {
        let mut c = RunnerConfig::default();
        InputDelay::Auto.configure(&mut c);
        assert!(c.auto_input_delay);
        InputDelay::Fixed(4).configure(&mut c);
        assert!(!c.auto_input_delay);
        assert_eq!(c.input_delay, 4);
    }

    #[test]
    fn rule_is_monotonic_and_capped() {
        let mut last = 0;
        for ms in (0..400).step_by(5) {
            let d = auto_input_delay(Duration::from_millis(ms), Duration::ZERO, 60);
            assert!(d >= last && d <= AUTO_DELAY_CAP);
            last = d;
        }
        assert_eq!(last, AUTO_DELAY_CAP);
        assert_eq!(auto_input_delay(Duration::MAX, Duration::MAX / 2, 60), 3);
    }
}
