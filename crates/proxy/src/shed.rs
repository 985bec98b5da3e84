//! Why the gateway turned a request away before (or instead of) sending it
//! upstream. One reason per flow-control mechanism, so metrics
//! (`shardgate_requests_shed_total{reason}`) and the access log's `error`
//! field say which limit acted.

/// A flow-control refusal. The order is the order the checks run in
/// (docs/flow-control.md): the cheapest and most client-specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// The shard already serves `[server.limits] max_in_flight` requests.
    ShardInFlight,
    /// The route already serves its `max_in_flight` requests.
    RouteInFlight,
    /// A `[[route.rate_limit]]` bucket is empty → 429.
    RateLimit,
    /// The upstream's adaptive concurrency limit is reached.
    Concurrency,
}

impl Shed {
    /// Every reason, in `index` order.
    pub const ALL: [Shed; 4] = [
        Shed::ShardInFlight,
        Shed::RouteInFlight,
        Shed::RateLimit,
        Shed::Concurrency,
    ];

    /// Dense index, for per-reason metric handles.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable snake_case name used in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Shed::ShardInFlight => "shard_in_flight",
            Shed::RouteInFlight => "route_in_flight",
            Shed::RateLimit => "rate_limited",
            Shed::Concurrency => "adaptive_concurrency",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all_order() {
        for (i, s) in Shed::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        let mut names: Vec<_> = Shed::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Shed::ALL.len());
    }
}
