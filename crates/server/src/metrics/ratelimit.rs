//! Rate-limit metric handles. Refused requests are counted with the other
//! flow-control refusals (`shardgate_requests_shed_total{reason =
//! "rate_limited"}`, see `route`); this is the tables' own figure.

use metrics::{counter, Counter};
use shardgate_config::RouteConfig;

/// `shardgate_rate_limit_evictions_total{route}`: one series per route with
/// rate limits (shared by every shard); a no-op handle for the others.
pub fn evictions(route: &RouteConfig) -> Counter {
    if route.rate_limits.is_empty() {
        return Counter::noop();
    }
    counter!("shardgate_rate_limit_evictions_total", "route" => route.name.clone())
}
