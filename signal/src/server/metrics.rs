//! Prometheus metrics (prometheus-client), rendered at `GET /metrics`.

use std::collections::HashMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::hub::{HubStats, SessionState};
use crate::protocol::ErrorCode;

const CLIENT_TYPES: [&str; 11] = [
    "join_lobby",
    "leave_lobby",
    "request_match",
    "accept_match",
    "decline_match",
    "cancel_match_request",
    "send_sdp_offer",
    "send_sdp_answer",
    "send_ice_candidate",
    "report_connection",
    "end_match",
];

const SERVER_TYPES: [&str; 16] = [
    "welcome",
    "lobby_update",
    "lobby_delta",
    "match_request_sent",
    "match_request_received",
    "match_request_accepted",
    "match_request_declined",
    "match_request_cancelled",
    "sdp_offer_received",
    "sdp_answer_received",
    "ice_candidate_received",
    "match_started",
    "match_failed",
    "relay_assigned",
    "match_ended",
    "error",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

/// Every metric of the server; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    lobby_size: Gauge,
    lobbies: Gauge,
    sessions: [Gauge; SessionState::COUNT],
    messages_in: HashMap<&'static str, Counter>,
    messages_in_invalid: Counter,
    messages_out: HashMap<&'static str, Counter>,
    errors: HashMap<u16, Counter>,
    /// Lobby snapshots replaced before the connection sent them.
    pub lobby_updates_dropped: Counter,
    /// Delta-mode connections that fell behind and were sent a full `lobby_update` instead.
    pub lobby_resyncs: Counter,
    /// Connections closed with 1008 because their outbound queue filled.
    pub slow_consumers: Counter,
    /// ICE candidates relayed over a direct route, without the hub task (server/route.rs).
    pub ice_direct: Counter,
    /// Handshakes refused with HTTP 401.
    pub auth_failures: Counter,
    /// Cluster figures (Redis round trips, log traffic, cross-node latency).
    pub cluster: crate::cluster::ClusterMetrics,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("signal");
        let r = &mut registry;
        let connections = gauge(r, "connections", "Open WebSocket connections");
        let lobby_size = gauge(r, "lobby_size", "Players in a lobby (all lobbies)");
        let lobbies = gauge(r, "lobbies", "Lobbies with at least one member");
        let sessions_family = Family::<StatusLabel, Gauge>::default();
        r.register(
            "sessions",
            "Match sessions by status",
            sessions_family.clone(),
        );
        let sessions = SessionState::ALL.map(|s| {
            let label = StatusLabel {
                status: s.name().to_owned(),
            };
            sessions_family.get_or_create(&label).clone()
        });
        let in_family = Family::<TypeLabel, Counter>::default();
        r.register(
            "messages_in",
            "Client messages received by type",
            in_family.clone(),
        );
        let messages_in = label_counters(&in_family, &CLIENT_TYPES);
        let invalid = TypeLabel {
            kind: "invalid".into(),
        };
        let messages_in_invalid = in_family.get_or_create(&invalid).clone();
        let out_family = Family::<TypeLabel, Counter>::default();
        r.register(
            "messages_out",
            "Server messages sent by type",
            out_family.clone(),
        );
        let messages_out = label_counters(&out_family, &SERVER_TYPES);
        let err_family = Family::<CodeLabel, Counter>::default();
        r.register("errors", "Error messages sent by code", err_family.clone());
        let errors = ErrorCode::ALL
            .iter()
            .map(|c| {
                let label = CodeLabel {
                    code: c.as_u16().to_string(),
                };
                (c.as_u16(), err_family.get_or_create(&label).clone())
            })
            .collect();
        let lobby_updates_dropped = counter(
            r,
            "lobby_updates_dropped",
            "Lobby snapshots dropped by per-connection coalescing",
        );
        let lobby_resyncs = counter(
            r,
            "lobby_resyncs",
            "Delta-mode connections sent a full lobby_update after falling behind",
        );
        let slow_consumers = counter(
            r,
            "slow_consumers_disconnected",
            "Connections closed because their outbound queue filled",
        );
        let ice_direct = counter(
            r,
            "ice_direct_relays",
            "ICE candidates relayed by the sender's connection task over a granted route",
        );
        let auth_failures = counter(r, "auth_failures", "Handshakes refused with 401");
        let cluster = crate::cluster::ClusterMetrics::register(r);
        Self {
            registry,
            connections,
            lobby_size,
            lobbies,
            sessions,
            messages_in,
            messages_in_invalid,
            messages_out,
            errors,
            lobby_updates_dropped,
            lobby_resyncs,
            slow_consumers,
            ice_direct,
            auth_failures,
            cluster,
        }
    }

    /// Counts one received message (`None`: it did not parse).
    pub fn message_in(&self, kind: Option<&str>) {
        match kind.and_then(|k| self.messages_in.get(k)) {
            Some(c) => c.inc(),
            None => self.messages_in_invalid.inc(),
        };
    }

    /// Counts one sent message; `error` messages are also counted by code.
    pub fn message_out(&self, kind: &str, error_code: Option<u16>) {
        if let Some(c) = self.messages_out.get(kind) {
            c.inc();
        }
        if let Some(c) = error_code.and_then(|code| self.errors.get(&code)) {
            c.inc();
        }
    }

    /// Publishes the hub's counts.
    pub fn set_hub_stats(&self, stats: &HubStats) {
        self.lobby_size.set(to_i64(stats.lobby_size));
        self.lobbies.set(to_i64(stats.lobbies));
        for (gauge, count) in self.sessions.iter().zip(stats.sessions) {
            gauge.set(to_i64(count));
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let c = Counter::default();
    registry.register(name, help, c.clone());
    c
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    registry.register(name, help, g.clone());
    g
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn label_counters(
    family: &Family<TypeLabel, Counter>,
    kinds: &[&'static str],
) -> HashMap<&'static str, Counter> {
    kinds
        .iter()
        .map(|k| {
            let c = family
                .get_or_create(&TypeLabel {
                    kind: (*k).to_owned(),
                })
                .clone();
            (*k, c)
        })
        .collect()
}
