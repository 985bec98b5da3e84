//! A config generation: the validated config plus everything derived from it that
//! every shard reads (the route table). Built whole on the control thread, then
//! published with one `ArcSwap::store`, so a shard sees either the old or the new
//! generation, never a mix.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::ProducesTickets;
use shardgate_config::{Config, RouteAction};
use shardgate_proxy::Router;

use crate::Error;

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    pub router: Router,
    /// For each route, the index of the upstream it proxies to (resolved once
    /// here, so a request never compares names).
    pub route_upstream: Vec<Option<usize>>,
    /// For each listener, its TLS settings (None: cleartext).
    pub tls: Vec<Option<Arc<rustls::ServerConfig>>>,
}

impl Snapshot {
    pub fn new(
        config: Config,
        generation: u64,
        ticketer: &Arc<dyn ProducesTickets>,
    ) -> Result<Self, Error> {
        let tls = config
            .listeners
            .iter()
            .map(|l| {
                l.tls
                    .as_ref()
                    .map(|t| crate::tls::server_config(t, ticketer))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
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
        Ok(Self {
            generation,
            config,
            router,
            route_upstream,
            tls,
        })
    }
}

pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;
