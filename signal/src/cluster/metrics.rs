//! Per-node cluster figures, rendered with the server's other metrics at `GET /metrics`
//! (all zero when the node runs without `--redis`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Redis traffic and health of one node.
#[derive(Debug)]
pub struct ClusterMetrics {
    /// Round trips to Redis (a pipeline of appends is one).
    pub redis_round_trips: Counter,
    /// Log entries this node appended.
    pub entries_published: Counter,
    /// Log entries this node read and applied.
    pub entries_received: Counter,
    /// Log entries skipped because they did not decode.
    pub entries_invalid: Counter,
    /// Messages answered with `error 503` because Redis was unreachable.
    pub unavailable: Counter,
    /// Seconds from a message's append (Redis clock) to its application on this node,
    /// for messages from connections on other nodes: the cross-node relay latency.
    pub cross_node_latency: Histogram,
    /// The same for messages from this node's own connections.
    pub same_node_latency: Histogram,
    /// 1 while the node cannot reach Redis (`/healthz` then says `degraded`).
    pub degraded: Gauge,
}

impl ClusterMetrics {
    /// Creates and registers the metrics under `cluster_*`.
    pub fn register(r: &mut Registry) -> Self {
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let histogram = |r: &mut Registry, name: &str, help: &str| {
            let h = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
            r.register(name, help, h.clone());
            h
        };
        let degraded = Gauge::default();
        r.register(
            "cluster_degraded",
            "1 while this node cannot reach Redis",
            degraded.clone(),
        );
        Self {
            redis_round_trips: counter(r, "cluster_redis_round_trips", "Round trips to Redis"),
            entries_published: counter(
                r,
                "cluster_entries_published",
                "Log entries appended by this node",
            ),
            entries_received: counter(
                r,
                "cluster_entries_received",
                "Log entries applied by this node",
            ),
            entries_invalid: counter(
                r,
                "cluster_entries_invalid",
                "Log entries skipped as undecodable",
            ),
            unavailable: counter(
                r,
                "cluster_unavailable",
                "Messages answered 503 while Redis was unreachable",
            ),
            cross_node_latency: histogram(
                r,
                "cluster_cross_node_latency_seconds",
                "Append-to-apply latency of messages from other nodes",
            ),
            same_node_latency: histogram(
                r,
                "cluster_same_node_latency_seconds",
                "Append-to-apply latency of messages from this node",
            ),
            degraded,
        }
    }

    /// True while the node cannot reach Redis.
    pub fn is_degraded(&self) -> bool {
        self.degraded.get() != 0
    }
}
