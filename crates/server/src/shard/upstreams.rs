//! A shard's view of the upstreams: per-server keep-alive pools, passive health
//! and the balancer cursor. Owned by one shard (`Rc`/`RefCell`), rebuilt when a new
//! config generation arrives, carrying pools and health over for every
//! (upstream, server address) pair that still exists.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use shardgate_config::{Config, PoolConfig};
use shardgate_proxy::{Backoff, Balancer, Pool, ServerHealth};

use crate::conn::upstream::UpConn;

pub struct ServerState {
    pub addr: SocketAddr,
    pub pool: RefCell<Pool<UpConn>>,
    pub health: RefCell<ServerHealth>,
    /// Open connections (idle in the pool or busy), shared with every `UpConn`.
    pub open: Rc<Cell<usize>>,
    pool_config: PoolConfig,
}

impl ServerState {
    pub fn max_conns(&self) -> usize {
        self.pool_config.max_conns_per_host
    }
}

pub struct UpstreamState {
    pub name: String,
    pub servers: Vec<Rc<ServerState>>,
    pub balancer: RefCell<Balancer>,
    pub backoff: Backoff,
}

/// Passive health: a server that refused or timed out a connect is skipped for
/// 100 ms, doubling per consecutive failure up to 10 s (with jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub fn build(cfg: &Config, previous: &[UpstreamState]) -> Vec<UpstreamState> {
    cfg.upstreams
        .iter()
        .map(|u| {
            let old = previous.iter().find(|p| p.name == u.name);
            let servers = u
                .servers
                .iter()
                .map(|s| {
                    let reused = old.and_then(|o| {
                        o.servers
                            .iter()
                            .find(|os| os.addr == s.address && os.pool_config == u.pool)
                    });
                    match reused {
                        Some(r) => r.clone(),
                        None => Rc::new(ServerState {
                            addr: s.address,
                            pool: RefCell::new(Pool::new(&u.pool)),
                            health: RefCell::new(ServerHealth::new()),
                            open: Rc::new(Cell::new(0)),
                            pool_config: u.pool.clone(),
                        }),
                    }
                })
                .collect();
            let weights: Vec<u32> = u.servers.iter().map(|s| s.weight).collect();
            UpstreamState {
                name: u.name.clone(),
                servers,
                balancer: RefCell::new(Balancer::new(u.lb, &weights)),
                backoff: Backoff::new(BACKOFF_BASE, BACKOFF_MAX),
            }
        })
        .collect()
}
