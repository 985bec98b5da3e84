//! Building a shard's upstream state for a config generation, carrying pools
//! and health over for every (upstream name, server address) that stays.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use shardgate_config::{Config, OutlierConfig};
use shardgate_proxy::{Backoff, Balancer, LoadUse, Maglev};

use super::adaptive::Adaptive;
use super::budget::RetryBudget;
use super::registry::HealthRegistry;
use super::server::ServerState;
use super::shared::UpstreamShared;
use super::tls::TlsClient;
use crate::metrics::UpstreamMetrics;

pub struct UpstreamState {
    pub name: String,
    pub servers: Vec<Rc<ServerState>>,
    pub balancer: RefCell<Balancer>,
    /// Which load figures the balancer reads (attempts keep only those).
    pub load_use: LoadUse,
    /// This shard's reconnect backoff curve (`[upstream.backoff]`).
    pub backoff: Backoff,
    pub outlier: OutlierConfig,
    /// The process-wide health of this upstream (same generation).
    pub shared: Arc<UpstreamShared>,
    pub metrics: UpstreamMetrics,
    /// Kept across reloads by upstream name.
    pub budget: Rc<RetryBudget>,
    /// `[upstream.tls]`: this shard's client (None: cleartext).
    pub tls: Option<TlsClient>,
    /// `[upstream.adaptive_concurrency]` on this shard (None: off); kept
    /// across reloads by upstream name while the table stays.
    pub adaptive: Option<Rc<Adaptive>>,
}

/// `tables`: by upstream index, the generation's Maglev table of each
/// `consistent_hash` upstream (shared by the shards). `registry` is the
/// generation's process-wide health state, in config order; a server's
/// shard-local state (pool, backoff) is kept when it belongs to the same
/// shared state, so a shard that skipped a generation in which the server
/// was removed and added again starts it fresh too. `tls`: the
/// generation's TLS client settings, by upstream index (None for a
/// cleartext upstream).
pub fn build(
    cfg: &Config,
    tables: &[Option<Arc<Maglev>>],
    registry: &HealthRegistry,
    tls: &[Option<Arc<rustls::ClientConfig>>],
    previous: &[UpstreamState],
    shard: usize,
) -> Vec<UpstreamState> {
    cfg.upstreams
        .iter()
        .zip(&registry.upstreams)
        .enumerate()
        .map(|(index, (u, shared))| {
            let old = previous.iter().find(|p| p.name == u.name);
            // The registry lists the config's servers in config order.
            let servers = shared
                .servers
                .iter()
                .zip(&u.servers)
                .map(|(s, conf)| {
                    let host = conf.host.as_deref();
                    // The same address under another name is another server
                    // (its connections were verified for the other name).
                    let kept = old
                        .and_then(|o| {
                            o.servers
                                .iter()
                                .find(|os| Arc::ptr_eq(&os.shared, s) && os.host() == host)
                        })
                        .filter(|k| !k.is_retired());
                    match kept {
                        Some(k) => {
                            k.reconfigure(&u.pool);
                            k.clone()
                        }
                        None => Rc::new(ServerState::new(s.clone(), host, &u.pool)),
                    }
                })
                .collect();
            let table = tables.get(index).cloned().flatten();
            let balancer = Balancer::new(u.lb, &u.servers, table);
            UpstreamState {
                name: u.name.clone(),
                servers,
                load_use: balancer.load_use(),
                balancer: RefCell::new(balancer),
                backoff: Backoff::from_config(&u.backoff),
                outlier: u.outlier,
                shared: shared.clone(),
                metrics: UpstreamMetrics::new(shard, &u.name),
                budget: old.map(|o| o.budget.clone()).unwrap_or_default(),
                tls: match (&u.tls, tls.get(index)) {
                    (Some(t), Some(Some(c))) => Some(TlsClient::new(c, t, &u.name, shard)),
                    _ => None,
                },
                adaptive: u.adaptive_concurrency.map(|cfg| {
                    match old.and_then(|o| o.adaptive.clone()) {
                        Some(kept) => {
                            kept.reconfigure(cfg);
                            kept
                        }
                        None => {
                            // Its own probe jitter per shard and process.
                            let seed = getrandom::u64().unwrap_or(shard as u64);
                            Rc::new(Adaptive::new(cfg, shard, &u.name, seed))
                        }
                    }
                }),
            }
        })
        .collect()
}

/// Retires every server of `old` that `new` no longer has: its idle
/// connections close now, its busy ones when their requests end.
pub fn retire_dropped(old: &[UpstreamState], new: &[UpstreamState]) {
    for s in old.iter().flat_map(|u| &u.servers) {
        let kept = new
            .iter()
            .flat_map(|u| &u.servers)
            .any(|n| Rc::ptr_eq(n, s));
        if !kept {
            s.retire();
        }
    }
}
