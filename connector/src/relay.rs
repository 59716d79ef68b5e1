//! The relay stage's wire contract and its client side (docs/spec/connector.md, "Relay
//! stage"). When two peers cannot connect directly, each joins the same relay stage on a
//! play server with a ticket, and every `RelayPacket` one sends is pushed, unchanged, to the
//! other.
//!
//! - `RelayJoinRequest {ticket}` is a request to the stage id of the ticket; it also
//!   authenticates the session. Answer: `RelayJoinReply {member, peer_present}` or a header
//!   error code from [`RelayRefusal`].
//! - `RelayPacket`: a one-way send (seq 0) to the stage; its payload is opaque bytes (at most
//!   [`DEFAULT_MAX_RELAY_PACKET`]) and arrives as a push with the same msgId and payload.
//! - Pushes `RelayPeerJoined {}` and `RelayPeerLeft {reason}` tell a member about the other.
//!
//! [`RelayMember`] is the client: join with a ticket, send packets, receive packets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::packet::{decode_message, MessageDecodeError};
use crate::{Connector, ConnectorConfig, ConnectorError, Packet};

/// msgId of the join request.
pub const JOIN_REQUEST: &str = "RelayJoinRequest";
/// msgId of the join reply.
pub const JOIN_REPLY: &str = "RelayJoinReply";
/// msgId of a relayed packet (both directions).
pub const RELAY_PACKET: &str = "RelayPacket";
/// msgId of the push telling a member the other one joined.
pub const PEER_JOINED: &str = "RelayPeerJoined";
/// msgId of the push telling a member the other one left (or was cut).
pub const PEER_LEFT: &str = "RelayPeerLeft";
/// Largest `RelayPacket` payload the relay forwards by default (bytes).
pub const DEFAULT_MAX_RELAY_PACKET: usize = 4096;
/// Largest `RelayJoinRequest` payload accepted (a ticket is a few hundred bytes).
pub const MAX_JOIN_PAYLOAD: usize = 4096;
/// Received relay events a [`RelayMember`] keeps before dropping the oldest packets.
pub const DEFAULT_MEMBER_QUEUE: usize = 1024;

/// Why the relay refused a join (the header error code of the `RelayJoinReply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RelayRefusal {
    /// The ticket is malformed or its signature does not verify (forged).
    InvalidTicket = 4001,
    /// The ticket's `exp` has passed.
    ExpiredTicket = 4002,
    /// The ticket is for another stage than the request's.
    WrongStage = 4003,
    /// The stage already has its two members.
    StageFull = 4004,
    /// The relay has as many stages as it may hold.
    TooManyStages = 4005,
}

impl RelayRefusal {
    /// The numeric code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The refusal for `code`, if it is one.
    pub fn from_code(code: u16) -> Option<Self> {
        [
            Self::InvalidTicket,
            Self::ExpiredTicket,
            Self::WrongStage,
            Self::StageFull,
            Self::TooManyStages,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// Claims of a relay ticket: a JWT signed with HS256 and the secret shared by the signaling
/// server and the play server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    /// The player.
    pub sub: String,
    /// The signaling match session.
    #[serde(rename = "sessionId")]
    pub session_id: String,
    /// The relay stage the ticket admits to.
    #[serde(rename = "stageId")]
    pub stage_id: i64,
    /// Expiry, Unix seconds (checked with no leeway).
    pub exp: u64,
}

/// Signs `claims` with `secret` (HS256): what the signaling server hands each player.
pub fn mint_ticket(secret: &[u8], claims: &TicketClaims) -> Result<String, RelayError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| RelayError::Ticket(e.to_string()))
}

/// Verifies a ticket for `stage_id`: signature (HS256 with `secret`), `exp` (no leeway),
/// then the stage. Never panics on any input.
pub fn verify_ticket(
    ticket: &str,
    secret: &[u8],
    stage_id: i64,
) -> Result<TicketClaims, RelayRefusal> {
    if ticket.len() > MAX_JOIN_PAYLOAD {
        return Err(RelayRefusal::InvalidTicket);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<TicketClaims>(
        ticket,
        &DecodingKey::from_secret(secret),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => RelayRefusal::ExpiredTicket,
        _ => RelayRefusal::InvalidTicket,
    })?;
    if data.claims.stage_id != stage_id {
        return Err(RelayRefusal::WrongStage);
    }
    Ok(data.claims)
}

/// `RelayJoinRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RelayJoinRequest {
    /// The ticket (a JWT, see [`TicketClaims`]).
    #[prost(string, tag = "1")]
    pub ticket: String,
}

/// `RelayJoinReply`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RelayJoinReply {
    /// 0 for the first member, 1 for the second.
    #[prost(uint32, tag = "1")]
    pub member: u32,
    /// Whether the other member is already there.
    #[prost(bool, tag = "2")]
    pub peer_present: bool,
}

/// `RelayPeerJoined` (push).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RelayPeerJoined {}

/// `RelayPeerLeft` (push).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RelayPeerLeft {
    /// `left` (disconnected), `cut` (stopped reading and was disconnected by the relay) or
    /// `idle` (the stage timed out).
    #[prost(string, tag = "1")]
    pub reason: String,
}

macro_rules! relay_named {
    ($($t:ident),*) => {$(
        impl prost::Name for $t {
            const NAME: &'static str = stringify!($t);
            const PACKAGE: &'static str = "netplay.relay";
        }
    )*};
}
relay_named!(
    RelayJoinRequest,
    RelayJoinReply,
    RelayPeerJoined,
    RelayPeerLeft
);

/// A push a relay member receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// A packet from the other member, unchanged.
    Packet(Bytes),
    /// The other member joined.
    PeerJoined,
    /// The other member left, was cut, or the stage timed out.
    PeerLeft {
        /// `left`, `cut` or `idle`.
        reason: String,
    },
    /// The connection to the relay closed.
    Disconnected,
}

/// Decodes one relay push (`msg_id` + payload); `Ok(None)` for a msgId that is not part of
/// the relay contract. Bounded and never panics (a fuzz target drives it).
pub fn decode_event(
    msg_id: &str,
    payload: &Bytes,
) -> Result<Option<RelayEvent>, MessageDecodeError> {
    Ok(Some(match msg_id {
        RELAY_PACKET => RelayEvent::Packet(payload.clone()),
        PEER_JOINED => {
            decode_message::<RelayPeerJoined>(payload, MAX_JOIN_PAYLOAD)?;
            RelayEvent::PeerJoined
        }
        PEER_LEFT => RelayEvent::PeerLeft {
            reason: decode_message::<RelayPeerLeft>(payload, MAX_JOIN_PAYLOAD)?.reason,
        },
        _ => return Ok(None),
    }))
}

/// Errors of the relay client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RelayError {
    /// Connecting to the play server failed.
    #[error("cannot connect to the relay")]
    Connect,
    /// The relay refused the join.
    #[error("relay refused the join: {0:?}")]
    Refused(RelayRefusal),
    /// A request failed (server or local error code).
    #[error("relay request failed: {0}")]
    Request(#[from] ConnectorError),
    /// A reply was not the expected message.
    #[error("bad relay reply: {0}")]
    BadReply(#[from] MessageDecodeError),
    /// The packet is larger than the relay forwards.
    #[error("relay packet of {len} bytes exceeds {max}")]
    TooLarge {
        /// Payload bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Minting a ticket failed.
    #[error("ticket: {0}")]
    Ticket(String),
}

#[derive(Debug, Default)]
struct Inbox {
    events: VecDeque<RelayEvent>,
    dropped: u64,
}

/// One member of a relay stage (the client side that `peer` wraps as a ggrs socket).
///
/// ```no_run
/// # async fn demo(ticket: &str) -> Result<(), connector::relay::RelayError> {
/// use connector::relay::{RelayEvent, RelayMember};
/// use connector::ConnectorConfig;
/// let member = RelayMember::join(ConnectorConfig::new("127.0.0.1", 34001), 7, ticket).await?;
/// member.send(&b"ggrs bytes"[..])?;
/// for event in member.poll_events() {
///     if let RelayEvent::Packet(bytes) = event { /* hand to ggrs */ let _ = bytes; }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RelayMember {
    connector: Connector,
    stage_id: i64,
    member: u32,
    inbox: Arc<Mutex<Inbox>>,
    max_packet: usize,
}

impl RelayMember {
    /// Connects with `config` and joins stage `stage_id` with `ticket`.
    pub async fn join(
        config: ConnectorConfig,
        stage_id: i64,
        ticket: &str,
    ) -> Result<Self, RelayError> {
        let connector = Connector::new(config).map_err(|_| RelayError::Connect)?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let sink = inbox.clone();
        connector.on_receive(move |_, packet| {
            let (msg_id, payload) = packet.into_parts();
            let event = match decode_event(&msg_id, &payload) {
                Ok(Some(e)) => e,
                _ => return,
            };
            push_event(&sink, event);
        });
        let sink = inbox.clone();
        connector.on_disconnect(move || push_event(&sink, RelayEvent::Disconnected));
        if !connector.connect_async(false).await {
            return Err(RelayError::Connect);
        }
        let join = Packet::from_message(&RelayJoinRequest {
            ticket: ticket.to_owned(),
        });
        let reply = connector.request_raw_async(stage_id, join).await?;
        let code = reply.received_header().map_or(0, |h| h.error_code);
        if code != 0 {
            connector.disconnect();
            return Err(match RelayRefusal::from_code(code) {
                Some(r) => RelayError::Refused(r),
                None => RelayError::Request(ConnectorError {
                    stage_id,
                    error_code: code,
                    msg_id: JOIN_REQUEST.to_owned(),
                }),
            });
        }
        let reply: RelayJoinReply = reply.decode_checked()?;
        Ok(Self {
            connector,
            stage_id,
            member: reply.member,
            inbox,
            max_packet: DEFAULT_MAX_RELAY_PACKET,
        })
    }

    /// 0 for the first member to join, 1 for the second.
    pub fn member_index(&self) -> u32 {
        self.member
    }

    /// The stage id.
    pub fn stage_id(&self) -> i64 {
        self.stage_id
    }

    /// Sends one packet to the other member (fire-and-forget, like UDP).
    pub fn send(&self, data: impl Into<Bytes>) -> Result<(), RelayError> {
        let data = data.into();
        if data.len() > self.max_packet {
            return Err(RelayError::TooLarge {
                len: data.len(),
                max: self.max_packet,
            });
        }
        self.connector
            .send_to_stage(self.stage_id, Packet::new(RELAY_PACKET, data));
        Ok(())
    }

    /// Everything received since the last call, in order (never blocks).
    pub fn poll_events(&self) -> Vec<RelayEvent> {
        self.connector.main_thread_action();
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        inbox.events.drain(..).collect()
    }

    /// Waits until something was received, then returns everything received since the last
    /// call, in order (cancel-safe: nothing is lost if the future is dropped). For one
    /// async consumer, such as `peer`'s relay link.
    pub async fn next_events(&self) -> Vec<RelayEvent> {
        loop {
            let events = self.poll_events();
            if !events.is_empty() {
                return events;
            }
            self.connector.events_arrived().await;
        }
    }

    /// Packets dropped because the member's inbox was full (the oldest go first).
    pub fn dropped_packets(&self) -> u64 {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    }

    /// Whether the connection to the relay is open.
    pub fn is_connected(&self) -> bool {
        self.connector.is_connected()
    }

    /// Leaves the stage (closes the connection; the other member gets `RelayPeerLeft`).
    pub fn leave(&self) {
        self.connector.disconnect();
    }
}

fn push_event(inbox: &Mutex<Inbox>, event: RelayEvent) {
    let mut inbox = inbox.lock().unwrap_or_else(PoisonError::into_inner);
    if inbox.events.len() >= DEFAULT_MEMBER_QUEUE {
        if let Some(pos) = inbox
            .events
            .iter()
            .position(|e| matches!(e, RelayEvent::Packet(_)))
        {
            inbox.events.remove(pos);
        }
        inbox.dropped = inbox.dropped.saturating_add(1);
    }
    inbox.events.push_back(event);
}
