//! The relay link: when peer-to-peer cannot connect, the match's game packets go through a
//! relay stage on a play server (`connector_server --relay-secret S`), over
//! [`connector::relay::RelayMember`] (TCP, or WebSocket).
//!
//! The signal server hands both players `relay_assigned {url, urls, stageId, ticket}`; the
//! driver joins the stage with [`RelayLink::join`] and from then on moves the
//! [`GgrsSocket`](crate::GgrsSocket)'s packets to and from the relay instead of the data
//! channel. The socket, its codec and its [`LinkCounters`](crate::LinkCounters) are the same,
//! so the game and the statistics see no difference except
//! [`MatchInfo::link`](crate::MatchInfo::link).
//!
//! Not to be confused with [`crate::relay`], the impairing UDP relay used for measurements.

use std::time::Duration;

use bytes::Bytes;
use connector::relay::{RelayError, RelayEvent, RelayMember};
use connector::ConnectorConfig;

use crate::error::PeerError;
use crate::machine::RelayTarget;

/// The play server a relay URL names: `tcp://HOST:PORT` or `ws://HOST:PORT[/PATH]`
/// (path `/ws` when absent). Anything else is a [`PeerError::Config`].
pub fn relay_config(url: &str) -> Result<ConnectorConfig, PeerError> {
    let bad = || {
        PeerError::Config(format!(
            "relay url {url:?} is not tcp://HOST:PORT or ws://HOST:PORT[/PATH]"
        ))
    };
    let (websocket, rest) = if let Some(rest) = url.strip_prefix("tcp://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("ws://") {
        (true, rest)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    let mut config = ConnectorConfig::new(host, port);
    if websocket {
        config.use_websocket = true;
        if !path.is_empty() {
            config.ws_path = path.to_owned();
        }
    }
    Ok(config)
}

/// The URL to use: the first `ws://` one when `prefer_ws`, else the first (the server's
/// default).
pub fn pick_url(urls: &[String], prefer_ws: bool) -> Option<&str> {
    let ws = urls.iter().find(|u| u.starts_with("ws://"));
    match (prefer_ws, ws) {
        (true, Some(ws)) => Some(ws),
        _ => urls.first().map(String::as_str),
    }
}

/// Why a relay link closed: the relay stage's `RelayPeerLeft {reason}`, or our own
/// connection to the play server closing (docs/spec/connector.md, "Relay stage").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEnd {
    /// The opponent left the stage (`left`: it closed its connection).
    OpponentLeft,
    /// The relay disconnected the opponent because it stopped reading (`cut`: its queue on
    /// the play server filled up).
    OpponentCut,
    /// No packet went through the stage for the relay's idle timeout (`idle`).
    Idle,
    /// Our connection to the play server closed (or the relay cut us).
    ConnectionLost,
    /// A `RelayPeerLeft` reason this version does not know.
    Other(String),
}

impl RelayEnd {
    /// The end a `RelayPeerLeft {reason}` push means.
    pub fn from_reason(reason: &str) -> Self {
        match reason {
            "left" => Self::OpponentLeft,
            "cut" => Self::OpponentCut,
            "idle" => Self::Idle,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for RelayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OpponentLeft => f.write_str("the opponent left the relay stage"),
            Self::OpponentCut => f.write_str("the relay cut the opponent (it stopped reading)"),
            Self::Idle => f.write_str("the relay stage went idle"),
            Self::ConnectionLost => f.write_str("the connection to the relay closed"),
            Self::Other(reason) => write!(f, "the relay ended the stage ({reason})"),
        }
    }
}

/// What the relay link reports to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayLinkEvent {
    /// A game packet from the opponent.
    Packet(Bytes),
    /// Both members are in the stage.
    Open,
    /// The opponent left or was cut, the stage went idle, or our connection closed.
    Closed(RelayEnd),
}

/// Our membership of a relay stage.
#[derive(Debug)]
pub struct RelayLink {
    member: RelayMember,
    open: bool,
}

impl RelayLink {
    /// Connects to the play server of `target` (its `ws://` URL when `prefer_ws`) and joins
    /// the stage with our ticket, giving up after `timeout`.
    pub async fn join(
        target: &RelayTarget,
        prefer_ws: bool,
        timeout: Duration,
    ) -> Result<Self, PeerError> {
        let url = pick_url(&target.urls, prefer_ws)
            .ok_or_else(|| PeerError::Config("relay_assigned without a url".to_owned()))?;
        let mut config = relay_config(url)?;
        config.connect_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let join = RelayMember::join(config, target.stage_id, &target.ticket);
        let member = match tokio::time::timeout(timeout, join).await {
            Ok(Ok(member)) => member,
            Ok(Err(error)) => return Err(explain(url, error)),
            Err(_) => {
                return Err(PeerError::Connection(format!(
                    "relay {url}: no answer in {timeout:?}"
                )))
            }
        };
        tracing::info!(
            url,
            stage = target.stage_id,
            member = member.member_index(),
            "joined the relay stage"
        );
        Ok(Self {
            member,
            open: false,
        })
    }

    /// Whether the opponent was in the stage when we joined (the link is open at once).
    pub fn peer_present(&self) -> bool {
        self.member.member_index() == 1
    }

    /// Sends one game packet to the opponent (fire-and-forget, like the data channel).
    pub fn send(&self, packet: Bytes) -> Result<(), PeerError> {
        self.member
            .send(packet)
            .map_err(|e| PeerError::Connection(e.to_string()))
    }

    /// Waits for the next things the relay delivers, in order (cancel-safe).
    pub async fn next_events(&mut self) -> Vec<RelayLinkEvent> {
        let events = self.member.next_events().await;
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            out.push(match event {
                RelayEvent::Packet(bytes) => RelayLinkEvent::Packet(bytes),
                RelayEvent::PeerJoined if !self.open => {
                    self.open = true;
                    RelayLinkEvent::Open
                }
                RelayEvent::PeerJoined => continue,
                RelayEvent::PeerLeft { reason } => {
                    RelayLinkEvent::Closed(RelayEnd::from_reason(&reason))
                }
                RelayEvent::Disconnected => RelayLinkEvent::Closed(RelayEnd::ConnectionLost),
            });
        }
        out
    }

    /// Marks the link open (the opponent was already there when we joined).
    pub fn mark_open(&mut self) {
        self.open = true;
    }

    /// Packets the relay member dropped because nobody read them in time.
    pub fn dropped_packets(&self) -> u64 {
        self.member.dropped_packets()
    }

    /// Leaves the stage (the opponent is told `RelayPeerLeft`).
    pub fn leave(&self) {
        self.member.leave();
    }
}

fn explain(url: &str, error: RelayError) -> PeerError {
    match error {
        RelayError::Refused(refusal) => PeerError::Connection(format!(
            "relay {url} refused the ticket: {refusal:?} ({})",
            refusal.code()
        )),
        other => PeerError::Connection(format!("relay {url}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_parse_to_connector_configs() {
        let tcp = relay_config("tcp://127.0.0.1:34001").unwrap();
        assert_eq!(
            (tcp.host.as_str(), tcp.port, tcp.use_websocket),
            ("127.0.0.1", 34001, false)
        );
        let ws = relay_config("ws://relay.local:80/relay").unwrap();
        assert!(ws.use_websocket);
        assert_eq!(
            (ws.host.as_str(), ws.port, ws.ws_path.as_str()),
            ("relay.local", 80, "/relay")
        );
        assert_eq!(relay_config("ws://h:9").unwrap().ws_path, "/ws");
        assert_eq!(relay_config("tcp://[::1]:7").unwrap().host, "::1");
        for bad in [
            "http://h:1",
            "tcp://h",
            "tcp://:1",
            "tcp://h:0",
            "tcp://h:99999",
            "",
        ] {
            assert!(
                matches!(relay_config(bad), Err(PeerError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn relay_peer_left_reasons_map_to_typed_ends() {
        assert_eq!(RelayEnd::from_reason("left"), RelayEnd::OpponentLeft);
        assert_eq!(RelayEnd::from_reason("cut"), RelayEnd::OpponentCut);
        assert_eq!(RelayEnd::from_reason("idle"), RelayEnd::Idle);
        assert_eq!(
            RelayEnd::from_reason("maintenance"),
            RelayEnd::Other("maintenance".to_owned())
        );
        assert!(RelayEnd::OpponentCut
            .to_string()
            .contains("stopped reading"));
    }

    #[test]
    fn the_ws_url_is_picked_only_when_preferred_and_present() {
        let both = vec!["tcp://h:1".to_owned(), "ws://h:2/ws".to_owned()];
        assert_eq!(pick_url(&both, false), Some("tcp://h:1"));
        assert_eq!(pick_url(&both, true), Some("ws://h:2/ws"));
        let tcp = vec!["tcp://h:1".to_owned()];
        assert_eq!(pick_url(&tcp, true), Some("tcp://h:1"));
        assert_eq!(pick_url(&[], true), None);
    }
}
