//! The cluster log: every input that changes the shared hub state is one [`LogEntry`],
//! appended to a Redis stream and applied by every node in the stream's order.
//!
//! Entries are JSON (`{"k": "connect", ...}`) in the field [`ENTRY_FIELD`] of a stream
//! entry. Decoding checks the size before parsing and never panics: a bad entry is an
//! [`EntryError`], counted and skipped by the node.

use serde::{Deserialize, Serialize};

use crate::hub::ConnId;
use crate::protocol::ClientMessage;

/// The stream field that holds an entry.
pub const ENTRY_FIELD: &str = "e";
/// Most log entries packed into one stream entry (fields `e`, `e1`, `e2`, ...): the
/// appender packs the entries it has queued, so that one `XADD` (and one entry for every
/// node's `XREAD` to return) carries several client messages under load.
pub const MAX_PACKED: usize = 64;
/// Largest entry accepted (a maximal client message plus the envelope).
pub const MAX_ENTRY_BYTES: usize = 4 * crate::server::DEFAULT_MAX_MESSAGE_SIZE + 1024;

/// One input of the replicated hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum LogEntry {
    /// An authenticated connection opened (newest connection of `player` wins).
    Connect {
        /// Cluster-wide connection id ([`global_conn`]).
        conn: ConnId,
        /// Authenticated player id (JWT `sub`).
        player: String,
        /// Display name from the token.
        name: String,
    },
    /// A message from a connection.
    Message {
        /// Cluster-wide connection id.
        conn: ConnId,
        /// The message as parsed by the connection's node.
        msg: ClientMessage,
    },
    /// A connection closed.
    Disconnect {
        /// Cluster-wide connection id.
        conn: ConnId,
    },
    /// Time passed: deadlines up to the entry's timestamp fire.
    Tick,
    /// A node stopped heartbeating: all its connections are gone (appended once, by the
    /// heartbeat script of the node that noticed).
    NodeDown {
        /// The node number.
        node: u64,
    },
}

/// Why a stream entry was skipped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("entry of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not a valid entry.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// The stream entry id is not `<ms>-<seq>`.
    #[error("malformed stream id")]
    BadId,
}

/// Bits of a cluster-wide connection id that hold the node-local id.
pub const LOCAL_CONN_BITS: u32 = 40;

/// The cluster-wide id of a node's local connection.
pub fn global_conn(node: u64, local: ConnId) -> ConnId {
    (node << LOCAL_CONN_BITS) | (local & ((1 << LOCAL_CONN_BITS) - 1))
}

/// The node a cluster-wide connection id belongs to.
pub fn node_of(conn: ConnId) -> u64 {
    conn >> LOCAL_CONN_BITS
}

impl LogEntry {
    /// The JSON text of the entry.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"k":"tick"}"#.to_owned())
    }

    /// Parses an entry, checking its size first.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| EntryError::Malformed(e.to_string()))
    }
}

/// The millisecond part of a stream entry id (`<ms>-<seq>`).
pub fn id_millis(id: &str) -> Result<u64, EntryError> {
    let (ms, seq) = id.split_once('-').ok_or(EntryError::BadId)?;
    seq.parse::<u64>().map_err(|_| EntryError::BadId)?;
    ms.parse().map_err(|_| EntryError::BadId)
}

/// Decodes one stream entry (its id and the value of [`ENTRY_FIELD`]) without panicking:
/// what a node does with every entry it reads from Redis.
pub fn decode_stream_entry(
    id: &str,
    value: Option<&redis::Value>,
) -> Result<(u64, LogEntry), EntryError> {
    let ms = id_millis(id)?;
    let bytes: &[u8] = match value {
        Some(redis::Value::BulkString(b)) => b,
        Some(redis::Value::SimpleString(s)) => s.as_bytes(),
        _ => return Err(EntryError::Malformed("no entry field".into())),
    };
    Ok((ms, LogEntry::decode(bytes)?))
}

/// The stream field of the `i`-th log entry packed into one stream entry.
pub fn packed_field(i: usize) -> std::borrow::Cow<'static, str> {
    match i {
        0 => ENTRY_FIELD.into(),
        i => format!("{ENTRY_FIELD}{i}").into(),
    }
}

/// Decodes every log entry packed into one stream entry (fields [`packed_field`] 0, 1, ...
/// up to the first missing one, at most [`MAX_PACKED`]), in order, all stamped with the
/// stream id's milliseconds. Never panics; a field that does not decode is an error in its
/// place, and the others still decode.
pub fn decode_stream_pack(
    id: &str,
    fields: &std::collections::HashMap<String, redis::Value>,
) -> Vec<Result<(u64, LogEntry), EntryError>> {
    let mut out = Vec::new();
    for i in 0..MAX_PACKED {
        let value = fields.get(packed_field(i).as_ref());
        if value.is_none() && i > 0 {
            break;
        }
        out.push(decode_stream_entry(id, value));
    }
    out
}

/// Fuzzing entry point: `data` is split into lines, each `<stream id> <entry bytes>`;
/// every line is decoded as a node decodes what it reads from Redis (a body with tabs is a
/// packed stream entry, one field per tab-separated part), and what decodes is
/// applied to a replica, whose invariants must hold after every entry. Never panics on any
/// input, except to report a broken invariant (the bug the fuzzer looks for). Returns the
/// number of entries applied.
pub fn fuzz_stream_entries(data: &[u8]) -> usize {
    let mut replica = super::Replica::new(crate::hub::HubConfig::default(), 1, 1, 0);
    let mut applied = 0;
    for line in data.split(|b| *b == b'\n') {
        let (id, body) = match line.iter().position(|b| *b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[..0]),
        };
        let id = String::from_utf8_lossy(id);
        let fields: std::collections::HashMap<String, redis::Value> = body
            .split(|b| *b == b'\t')
            .enumerate()
            .map(|(i, part)| {
                (
                    packed_field(i).into_owned(),
                    redis::Value::BulkString(part.to_vec()),
                )
            })
            .collect();
        for (ms, entry) in decode_stream_pack(&id, &fields).into_iter().flatten() {
            replica.apply(ms, entry);
            while replica.poll_output().is_some() {}
            applied += 1;
            if let Err(e) = replica.hub().check_invariants() {
                panic!("invariant broken: {e}");
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::JoinLobby;

    #[test]
    fn entries_round_trip() {
        let entries = [
            LogEntry::Connect {
                conn: global_conn(3, 7),
                player: "alice".into(),
                name: "Alice".into(),
            },
            LogEntry::Message {
                conn: 9,
                msg: ClientMessage::JoinLobby(JoinLobby::new("alice", "Alice")),
            },
            LogEntry::Disconnect { conn: 1 },
            LogEntry::Tick,
            LogEntry::NodeDown { node: 2 },
        ];
        for e in entries {
            assert_eq!(LogEntry::decode(e.encode().as_bytes()), Ok(e));
        }
        // The heartbeat script writes this one by hand.
        assert_eq!(
            LogEntry::decode(br#"{"k":"node_down","node":4}"#),
            Ok(LogEntry::NodeDown { node: 4 })
        );
    }

    #[test]
    fn bad_entries_are_errors() {
        assert!(matches!(
            LogEntry::decode(b"{"),
            Err(EntryError::Malformed(_))
        ));
        assert!(matches!(
            LogEntry::decode(br#"{"k":"message","conn":1,"msg":{"type":"nope"}}"#),
            Err(EntryError::Malformed(_))
        ));
        let big = vec![b' '; MAX_ENTRY_BYTES + 1];
        assert_eq!(
            LogEntry::decode(&big),
            Err(EntryError::TooLarge(MAX_ENTRY_BYTES + 1))
        );
        assert_eq!(id_millis("1700000000000-3"), Ok(1_700_000_000_000));
        for bad in ["", "12", "a-1", "1-b", "-"] {
            assert_eq!(id_millis(bad), Err(EntryError::BadId));
        }
    }

    #[test]
    fn fuzz_entry_point_applies_what_decodes() {
        let data = b"5-0 {\"k\":\"connect\",\"conn\":1,\"player\":\"a\",\"name\":\"a\"}\n\
                     6-0 {\"k\":\"tick\"}\nbad\n7-x {\"k\":\"tick\"}\n\xff\xfe {\n\
                     99999999999999999999999-0 {\"k\":\"tick\"}\n\
                     18446744073709551615-0 {\"k\":\"tick\"}\n8-0 {\"k\":\"node_down\",\"node\":0}\n\
                     9-0 {\"k\":\"tick\"}\t{\"k\":\"tick\"}\tnope";
        // The packed line applies its two good fields and skips the bad one.
        assert_eq!(fuzz_stream_entries(data), 6);
    }

    #[test]
    fn packed_entries_decode_in_order_and_bad_fields_stay_errors() {
        let mut fields = std::collections::HashMap::new();
        let tick = redis::Value::BulkString(br#"{"k":"tick"}"#.to_vec());
        let down = redis::Value::BulkString(br#"{"k":"node_down","node":2}"#.to_vec());
        fields.insert(packed_field(0).into_owned(), tick.clone());
        fields.insert(packed_field(1).into_owned(), down);
        fields.insert(packed_field(2).into_owned(), redis::Value::Nil);
        fields.insert(packed_field(4).into_owned(), tick);
        let got = decode_stream_pack("7-1", &fields);
        assert_eq!(got.len(), 3, "stops at the first missing field");
        assert_eq!(got[0], Ok((7, LogEntry::Tick)));
        assert_eq!(got[1], Ok((7, LogEntry::NodeDown { node: 2 })));
        assert!(matches!(got[2], Err(EntryError::Malformed(_))));
        assert_eq!(decode_stream_pack("7-1", &Default::default()).len(), 1);
        let many: std::collections::HashMap<_, _> = (0..MAX_PACKED + 5)
            .map(|i| (packed_field(i).into_owned(), redis::Value::Nil))
            .collect();
        assert_eq!(decode_stream_pack("1-0", &many).len(), MAX_PACKED);
    }

    #[test]
    fn connection_ids_carry_the_node() {
        let c = global_conn(5, 12);
        assert_eq!(node_of(c), 5);
        assert_ne!(global_conn(5, 12), global_conn(6, 12));
    }

    /// Found by the `cluster_entry` fuzz target: a `connect` that reuses another player's
    /// connection id broke the hub's connection map.
    #[test]
    fn a_connect_reusing_another_players_connection_id_replaces_it() {
        let log = concat!(
            "1000-0 {\"k\":\"connect\",\"conn\":1099511627777,\"player\":\"alice\",\"name\":\"Alice\"}\n",
            "1001-0 {\"k\":\"connect\",\"conn\":2199023255553,\"player\":\"bob\",\"name\":\"Bob\"}\n",
            "1002-0 {\"k\":\"message\",\"conn\":2199023255553,\"msg\":{\"type\":\"join_lobby\",\"payload\":{\"playerId\":\"bob\",\"playerName\":\"Bob\"}}}\n",
            "1003-0 {\"k\":\"connect\",\"conn\":2199023255553,\"player\":\"bo.\",\"name\":\"Bob\"}\n",
            "2000-0 {\"k\":\"node_down\",\"node\":2}\n",
            "2001-0 {\"k\":\"disconnect\",\"conn\":1099511627777}\n",
        );
        // Panics on a broken invariant; every line decodes and is applied.
        assert_eq!(fuzz_stream_entries(log.as_bytes()), 6);
    }
}
