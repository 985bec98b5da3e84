//! One upstream server as a shard sees it.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Instant;

use shardgate_config::PoolConfig;
use shardgate_proxy::{Pool, ServerHealth};

use monoio::net::TcpStream;

pub struct ServerState {
    pub addr: SocketAddr,
    pub pool: RefCell<Pool<IdleConn>>,
    pub health: RefCell<ServerHealth>,
    /// The pool settings in force (a reload may change them in place).
    pub(super) pool_config: RefCell<PoolConfig>,
    /// Dropped from the config by a reload: take no new requests, keep no
    /// idle connections.
    retired: Cell<bool>,
}

impl ServerState {
    pub(super) fn new(addr: SocketAddr, pool: &PoolConfig) -> Self {
        ServerState {
            addr,
            pool: RefCell::new(Pool::new(pool)),
            health: RefCell::new(ServerHealth::new()),
            pool_config: RefCell::new(pool.clone()),
            retired: Cell::new(false),
        }
    }

    /// Applies changed pool settings, keeping the pooled connections.
    pub(super) fn reconfigure(&self, pool: &PoolConfig) {
        if *self.pool_config.borrow() != *pool {
            self.pool.borrow_mut().reconfigure(pool);
            *self.pool_config.borrow_mut() = pool.clone();
        }
    }

    /// Closes the idle connections now; busy ones close when released.
    pub(super) fn retire(&self) {
        self.retired.set(true);
        self.pool.borrow_mut().clear_idle();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.get()
    }
}

/// What the pool keeps: the socket and when it went idle. It holds no
/// reference to the server, so a pool never keeps its owner alive.
pub struct IdleConn {
    pub(super) stream: TcpStream,
    pub(super) since: Instant,
}
