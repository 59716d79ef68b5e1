//! Reconnecting a dropped signaling connection with backoff.
//!
//! A client whose WebSocket dropped mid-match calls [`reconnect`] in the background: it
//! retries [`SignalClient::connect`] with exponential backoff until it succeeds or the
//! server refuses the token (an HTTP 4xx at the handshake, which retrying cannot fix). The
//! caller stops it by dropping the future. With the same identity, the server treats the
//! new connection as the newest (the old one, if still open, is closed) and tells the
//! player about its interrupted match (`match_interrupted`).

use std::time::Duration;

use crate::client::{ClientError, SignalClient};

/// Pause before the second attempt.
pub const DEFAULT_FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between attempts.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Exponential backoff between reconnection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Pause before the second attempt ([`DEFAULT_FIRST_BACKOFF`]); doubles per attempt.
    pub first: Duration,
    /// Longest pause ([`DEFAULT_MAX_BACKOFF`]).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: DEFAULT_FIRST_BACKOFF,
            max: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl Backoff {
    /// The pause after `failures` failed attempts (0 before the first attempt).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (failures - 1).min(16);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// Whether an error is worth another attempt (not a refused token or a bad URL).
pub fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::InvalidRequest(_) => false,
        other => other.http_status().is_none_or(|status| status >= 500),
    }
}

/// Connects to `url` with `token`, retrying with `backoff` until it works or the error is
/// not retryable (see [`is_retryable`]).
pub async fn reconnect(
    url: &str,
    token: &str,
    backoff: Backoff,
) -> Result<SignalClient, ClientError> {
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(backoff.delay(failures)).await;
        match SignalClient::connect(url, token).await {
            Ok(client) => {
                tracing::info!(attempts = failures + 1, "signaling connection restored");
                return Ok(client);
            }
            Err(error) if is_retryable(&error) => {
                failures = failures.saturating_add(1);
                tracing::debug!(%error, failures, "signaling reconnect failed; retrying");
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff::default();
        let ms: Vec<u128> = (0..8).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [0, 250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(b.delay(u32::MAX), b.max);
    }

    #[test]
    fn refused_tokens_and_bad_urls_are_not_retried() {
        assert!(!is_retryable(&ClientError::InvalidRequest("x".into())));
        assert!(is_retryable(&ClientError::Timeout));
        assert!(is_retryable(&ClientError::Closed));
    }
}
