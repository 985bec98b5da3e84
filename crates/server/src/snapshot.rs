//! A config generation: the validated config plus everything derived from it that
//! every shard reads (the route table). Built whole on the control thread, then
//! published with one `ArcSwap::store`, so a shard sees either the old or the new
//! generation, never a mix.

use std::sync::Arc;

use arc_swap::ArcSwap;
use shardgate_config::{Config, RouteAction};
use shardgate_proxy::Router;

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    pub router: Router,
    /// For each route, the index of the upstream it proxies to (resolved once
    /// here, so a request never compares names).
    pub route_upstream: Vec<Option<usize>>,
}

impl Snapshot {
    pub fn new(config: Config, generation: u64) -> Self {
        let router = Router::new(&config);
        let route_upstream = config
            .routes
            .iter()
            .map(|r| match &r.action {
                RouteAction::Proxy { upstream } => {
                    config.upstreams.iter().position(|u| &u.name == upstream)
                }
                RouteAction::Respond(_) => None,
            })
            .collect();
        Self {
            generation,
            config,
            router,
            route_upstream,
        }
    }
}

pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;
