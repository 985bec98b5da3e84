//! Per-route request metric handles, labelled with the shard and the route's
//! name. Requests that match no route (404, malformed heads) are counted
//! under [`NO_ROUTE`]. Registered per config generation; recording is a handle
//! increment.

use metrics::{counter, histogram, Counter, Histogram};
use shardgate_proxy::Shed;

/// The `route` label of requests no route took.
pub const NO_ROUTE: &str = "(none)";

pub struct RouteMetrics {
    /// By status class, index = status / 100 - 1 (1xx..5xx; 499 counts as 4xx).
    pub requests: [Counter; 5],
    /// First byte of the request in → last byte of the response out.
    pub duration: Histogram,
    /// Request bytes received from the client (head and body).
    pub bytes_in: Counter,
    /// Response bytes sent to the client (head and body).
    pub bytes_out: Counter,
    /// Requests a flow-control limit turned away, by [`Shed::index`].
    pub shed: [Counter; Shed::ALL.len()],
}

impl RouteMetrics {
    pub fn new(shard: usize, route: &str) -> Self {
        let s = shard.to_string();
        let r = route.to_string();
        let class = |c: &'static str| counter!("shardgate_requests_total", "shard" => s.clone(), "route" => r.clone(), "class" => c);
        let labels = [("shard", s.clone()), ("route", r.clone())];
        Self {
            requests: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            duration: histogram!("shardgate_request_duration_seconds", &labels),
            bytes_in: counter!("shardgate_request_bytes_total", &labels),
            bytes_out: counter!("shardgate_response_bytes_total", &labels),
            shed: Shed::ALL.map(|reason| {
                counter!("shardgate_requests_shed_total", "shard" => s.clone(), "route" => r.clone(), "reason" => reason.name())
            }),
        }
    }

    pub fn record(&self, status: u16, seconds: f64, bytes_in: u64, bytes_out: u64) {
        let i = usize::from((status / 100).clamp(1, 5)) - 1;
        if let Some(c) = self.requests.get(i) {
            c.increment(1);
        }
        self.duration.record(seconds);
        self.bytes_in.increment(bytes_in);
        self.bytes_out.increment(bytes_out);
    }

    /// Counts a request a flow-control limit turned away.
    pub fn shed(&self, reason: Shed) {
        if let Some(c) = self.shed.get(reason.index()) {
            c.increment(1);
        }
    }
}
