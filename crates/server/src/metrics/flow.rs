//! Flow-control gauges: requests in flight per shard and per route, and each
//! upstream's adaptive concurrency limit and its requests in flight, per
//! shard. Set from the shard's 1 s tick, never per request.

use metrics::{gauge, Gauge};

pub fn shard_in_flight(shard: usize) -> Gauge {
    gauge!("shardgate_shard_in_flight", "shard" => shard.to_string())
}

pub fn route_in_flight(shard: usize, route: &str) -> Gauge {
    gauge!(
        "shardgate_route_in_flight",
        "shard" => shard.to_string(),
        "route" => route.to_string()
    )
}

/// `[upstream.adaptive_concurrency]`'s figures on one shard.
pub struct AdaptiveGauges {
    pub limit: Gauge,
    pub in_flight: Gauge,
}

impl AdaptiveGauges {
    pub fn new(shard: usize, upstream: &str) -> Self {
        let labels = [
            ("upstream", upstream.to_string()),
            ("shard", shard.to_string()),
        ];
        AdaptiveGauges {
            limit: gauge!("shardgate_upstream_concurrency_limit", &labels),
            in_flight: gauge!("shardgate_upstream_in_flight", &labels),
        }
    }
}
