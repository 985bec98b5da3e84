//! Building a shard's upstream state for a config generation, carrying pools
//! and health over for every (upstream name, server address) that stays.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use shardgate_config::Config;
use shardgate_proxy::{Backoff, Balancer, LoadUse, Maglev};

use super::server::ServerState;
use crate::metrics::UpstreamMetrics;

pub struct UpstreamState {
    pub name: String,
    pub servers: Vec<Rc<ServerState>>,
    pub balancer: RefCell<Balancer>,
    /// Which load figures the balancer reads (attempts keep only those).
    pub load_use: LoadUse,
    pub backoff: Backoff,
    pub metrics: UpstreamMetrics,
}

/// Passive health: a server that refused or timed out a connect is skipped for
/// 100 ms, doubling per consecutive failure up to 10 s (with jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// `tables`: by upstream index, the generation's Maglev table of each
/// `consistent_hash` upstream (shared by the shards).
pub fn build(
    cfg: &Config,
    tables: &[Option<Arc<Maglev>>],
    previous: &[UpstreamState],
    shard: usize,
) -> Vec<UpstreamState> {
    cfg.upstreams
        .iter()
        .enumerate()
        .map(|(index, u)| {
            let old = previous.iter().find(|p| p.name == u.name);
            let servers = u
                .servers
                .iter()
                .map(|s| {
                    let kept = old
                        .and_then(|o| o.servers.iter().find(|os| os.addr == s.address))
                        .filter(|k| !k.is_retired());
                    match kept {
                        Some(k) => {
                            k.reconfigure(&u.pool);
                            k.clone()
                        }
                        None => Rc::new(ServerState::new(&u.name, s.address, &u.pool)),
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
                backoff: Backoff::new(BACKOFF_BASE, BACKOFF_MAX),
                metrics: UpstreamMetrics::new(shard, &u.name),
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
