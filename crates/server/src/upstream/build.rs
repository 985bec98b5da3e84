//! Building a shard's upstream state for a config generation, carrying pools
//! and health over for every (upstream name, server address) that stays.

use std::rc::Rc;
use std::time::Duration;

use shardgate_config::Config;
use shardgate_proxy::{Backoff, Balancer};
use std::cell::RefCell;

use super::server::ServerState;
use crate::metrics::UpstreamMetrics;

pub struct UpstreamState {
    pub name: String,
    pub servers: Vec<Rc<ServerState>>,
    pub balancer: RefCell<Balancer>,
    pub backoff: Backoff,
    pub metrics: UpstreamMetrics,
}

/// Passive health: a server that refused or timed out a connect is skipped for
/// 100 ms, doubling per consecutive failure up to 10 s (with jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub fn build(cfg: &Config, previous: &[UpstreamState], shard: usize) -> Vec<UpstreamState> {
    cfg.upstreams
        .iter()
        .map(|u| {
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
            let weights: Vec<u32> = u.servers.iter().map(|s| s.weight).collect();
            UpstreamState {
                name: u.name.clone(),
                servers,
                balancer: RefCell::new(Balancer::new(u.lb, &weights)),
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
