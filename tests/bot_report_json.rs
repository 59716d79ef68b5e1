//! `bot --json` prints strict JSON: every object key appears once. (The report used to
//! print `"completed"` twice, a serde `flatten` clash that strict parsers reject and that
//! `serde_json::Value` silently hides by keeping the last one.)

use std::collections::BTreeSet;
use std::fmt;

use netplay::bot_report::BotReport;
use netplay::netmatch::PlayOutcome;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, deserialized strictly: a repeated key in an object is an error.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<Strict>()?;
        }
        Ok(Strict)
    }
}

fn strict_parse(json: &str) -> Result<(), String> {
    serde_json::from_str::<Strict>(json)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn the_strict_parser_rejects_duplicate_keys() {
    assert!(strict_parse(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#).is_ok());
    let error = strict_parse(r#"{"completed": true, "x": 1, "completed": true}"#).unwrap_err();
    assert!(error.contains("duplicate key \"completed\""), "{error}");
    assert!(strict_parse(r#"{"a": [{"b": 1, "b": 2}]}"#).is_err());
}

#[test]
fn the_bot_report_is_strict_json_with_every_field_once() {
    let report = BotReport {
        connected: true,
        link: peer::LinkKind::Relay,
        player_id: "alice".into(),
        opponent_id: "bob".into(),
        opponent_name: "Bob".into(),
        role: peer::Role::Offerer,
        time_to_connect_ms: 12.5,
        frames: 600,
        desyncs: 0,
        outcome: PlayOutcome {
            completed: true,
            checksum: Some("00ff".into()),
            winner: "p0".into(),
            ..PlayOutcome::default()
        },
    };
    let json = serde_json::to_string(&report).expect("serializes");
    strict_parse(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let value: serde_json::Value = serde_json::from_str(&json).expect("parses");
    assert_eq!(value["completed"], true);
    assert_eq!(value["checksum"], "00ff");
    assert_eq!(value["player_id"], "alice");
    assert_eq!(value["link"], "relay");
    assert!(value["transport"].is_object(), "{json}");
    assert_eq!(json.matches("\"completed\"").count(), 1);
}
