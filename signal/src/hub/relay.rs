//! The relay fallback: when a session's negotiation fails (a player reports `failed`, or
//! the negotiation timeout passes) and a relay is configured, the session moves to
//! `relaying` instead of failing. Both players get `relay_assigned` with the play server's
//! URL, a fresh stage id and a ticket of their own (an HS256 JWT signed with the secret the
//! play server shares, claims `sub`, `sessionId`, `stageId`, `exp`). Once both report
//! `connected` over the relay, `match_started` goes out with `link: "relay"`. A player may
//! also ask for the relay at once with `report_connection` state `relay`.
//!
//! Once a relayed match runs, `report_connection failed` is ignored (it cannot be about the
//! relay link, whose failure ends the match with `end_match`) and `resume_match` is 409; a
//! dropped WebSocket still interrupts it like any running match.
//!
//! The ticket's `exp` is the only wall-clock read of the hub (a JWT needs Unix time); every
//! deadline still runs on the `now` the driver passes in.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde::Serialize;
use thiserror::Error;

use super::handlers::Handled;
use super::{Hub, Refusal, SessionState};
use crate::protocol::{
    ConnectionState, ErrorCode, FailReason, LinkKind, RelayAssigned, ServerMessage,
};

/// The 409 message for `resume_match` in a relayed match.
pub(super) const RELAYED_NOT_RENEGOTIATED: &str =
    "a relayed match is not renegotiated (its relay link has no peer connection to resume)";

/// How long a relay ticket is valid after it is minted (its `exp`).
pub const DEFAULT_TICKET_TTL: Duration = Duration::from_secs(60);

/// Why a relay configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayConfigError {
    /// No URL, or one that is not `tcp://HOST:PORT` / `ws://HOST:PORT[/PATH]`.
    #[error("relay url must be tcp://HOST:PORT or ws://HOST:PORT[/PATH], got {0:?}")]
    BadUrl(String),
    /// An empty secret.
    #[error("the relay secret must not be empty")]
    EmptySecret,
}

/// Where the relay is and how tickets are signed (`signal --relay-url U --relay-secret S`).
#[derive(Clone, PartialEq, Eq)]
pub struct RelayConfig {
    urls: Vec<String>,
    secret: Vec<u8>,
    /// See [`DEFAULT_TICKET_TTL`].
    pub ticket_ttl: Duration,
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ticket_ttl", &self.ticket_ttl)
            .finish()
    }
}

impl RelayConfig {
    /// A relay at `urls` (the first is the one `relay_assigned.url` names) whose tickets are
    /// signed with `secret`. Each URL is `tcp://HOST:PORT` or `ws://HOST:PORT[/PATH]`.
    pub fn new(urls: Vec<String>, secret: impl Into<Vec<u8>>) -> Result<Self, RelayConfigError> {
        if urls.is_empty() {
            return Err(RelayConfigError::BadUrl(String::new()));
        }
        if let Some(bad) = urls.iter().find(|u| !valid_relay_url(u)) {
            return Err(RelayConfigError::BadUrl(bad.clone()));
        }
        let secret = secret.into();
        if secret.is_empty() {
            return Err(RelayConfigError::EmptySecret);
        }
        Ok(Self {
            urls,
            secret,
            ticket_ttl: DEFAULT_TICKET_TTL,
        })
    }

    /// The configured URLs, in order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }
}

fn valid_relay_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("ws://"));
    let Some(rest) = rest else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}

/// Claims of a relay ticket (what `connector::relay::verify_ticket` checks).
#[derive(Debug, Serialize)]
struct TicketClaims<'a> {
    sub: &'a str,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    #[serde(rename = "stageId")]
    stage_id: i64,
    exp: u64,
}

fn mint_ticket(
    relay: &RelayConfig,
    sub: &str,
    session_id: &str,
    stage_id: i64,
) -> Result<String, String> {
    let now = crate::auth::now_unix().map_err(|e| e.to_string())?;
    let claims = TicketClaims {
        sub,
        session_id,
        stage_id,
        exp: now.saturating_add(relay.ticket_ttl.as_secs()),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&relay.secret),
    )
    .map_err(|e| e.to_string())
}

impl Hub {
    /// A negotiating session could not connect: relay it if a relay is configured, fail it
    /// otherwise.
    pub(super) fn relay_or_fail(&mut self, sid: &str, reason: FailReason, now: Instant) {
        let negotiating = self
            .sessions
            .get(sid)
            .is_some_and(|s| matches!(s.state, SessionState::Accepted | SessionState::Connecting));
        if negotiating && self.config.relay.is_some() {
            self.start_relaying(sid, now);
        } else {
            self.fail_session(sid, reason, None, now);
        }
    }

    /// `report_connection` with state `relay` while negotiating.
    pub(super) fn request_relay(&mut self, sid: &str, now: Instant) -> Result<(), Refusal> {
        if self.config.relay.is_none() {
            return Err(Refusal::new(ErrorCode::Conflict, "no relay configured").in_session(sid));
        }
        self.start_relaying(sid, now);
        Ok(())
    }

    /// `report_connection` while `relaying`: `connected` counts; `relay` (both players may
    /// ask) and `failed` are no-ops: a `failed` here is most likely the late report of the
    /// peer-to-peer attempt, racing `relay_assigned`. A player that cannot reach the relay
    /// closes its connection (the session then fails `peer_disconnected`), or the relaying
    /// timeout fails it.
    pub(super) fn report_relaying(&mut self, sender: &str, sid: &str, state: ConnectionState) {
        match state {
            ConnectionState::Relay | ConnectionState::Failed => {}
            ConnectionState::Connected => {
                let both = self
                    .sessions
                    .get_mut(sid)
                    .is_some_and(|s| s.mark_connected(sender));
                if both {
                    self.start_match(sid);
                }
            }
        }
    }

    /// Whether `sid` is a match that runs (or ran) through the relay.
    pub(super) fn is_relayed(&self, sid: &str) -> bool {
        self.sessions
            .get(sid)
            .is_some_and(|s| s.link == LinkKind::Relay)
    }

    /// `report_connection failed` in a relayed `connected` or `interrupted` session: accepted
    /// and ignored. A relayed match has no peer-to-peer link to renegotiate, so the report
    /// can only be a stale one from the peer-to-peer attempt (or a client that does not know
    /// better); acting on it would interrupt a healthy relayed match. A player whose relay
    /// link fails ends the match (`end_match`; `peer` reports the end to its game as
    /// `CloseReason::Relay`), and a dropped WebSocket still interrupts the session as usual.
    pub(super) fn relayed_failed_report(sender: &str, sid: &str, state: SessionState) -> Handled {
        tracing::debug!(
            session = sid,
            player = sender,
            state = state.name(),
            "report failed in a relayed match: ignored"
        );
        Ok(())
    }

    fn start_relaying(&mut self, sid: &str, now: Instant) {
        let Some(relay) = self.config.relay.clone() else {
            return;
        };
        let Some((requester, target)) = self
            .sessions
            .get(sid)
            .map(|s| (s.requester.clone(), s.target.clone()))
        else {
            return;
        };
        // A positive id; 63 random bits make a collision between sessions negligible.
        let stage_id = i64::try_from(self.rng.next_u64() >> 1).unwrap_or(1).max(1);
        let mut tickets = Vec::with_capacity(2);
        for member in [&requester, &target] {
            match mint_ticket(&relay, member, sid, stage_id) {
                Ok(ticket) => tickets.push((member.clone(), ticket)),
                Err(error) => {
                    tracing::error!(%error, "cannot mint a relay ticket");
                    return self.fail_session(sid, FailReason::ConnectionFailed, None, now);
                }
            }
        }
        self.set_state(
            sid,
            SessionState::Relaying,
            Some(now + self.config.negotiation_timeout),
        );
        if let Some(s) = self.sessions.get_mut(sid) {
            s.reported = [false; 2];
            s.link = LinkKind::Relay;
        }
        for (member, ticket) in tickets {
            self.send_player(
                &member,
                ServerMessage::RelayAssigned(RelayAssigned {
                    session_id: sid.to_owned(),
                    url: relay.urls[0].clone(),
                    urls: relay.urls.clone(),
                    stage_id,
                    ticket,
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_checked() {
        let ok = |u: &str| RelayConfig::new(vec![u.to_owned()], b"s".to_vec()).is_ok();
        assert!(ok("tcp://127.0.0.1:34001"));
        assert!(ok("ws://relay.example:80/ws"));
        assert!(!ok("http://127.0.0.1:80"));
        assert!(!ok("tcp://127.0.0.1"));
        assert!(!ok("tcp://:80"));
        assert!(!ok("tcp://h:0"));
        assert!(RelayConfig::new(vec![], b"s".to_vec()).is_err());
        assert_eq!(
            RelayConfig::new(vec!["tcp://h:1".into()], Vec::new()),
            Err(RelayConfigError::EmptySecret)
        );
        let debug = format!(
            "{:?}",
            RelayConfig::new(vec!["tcp://h:1".into()], b"hidden".to_vec())
        );
        assert!(!debug.contains("hidden"), "{debug}");
    }
}
