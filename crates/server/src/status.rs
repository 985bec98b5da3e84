//! What each shard publishes about itself for the admin thread (`/shards`,
//! `/ready`): its phase, driver, core, and its TCP connection table's counts.
//!
//! The shard only stores (Relaxed, into its own cache line): the table
//! keeps its counts in `Cell`s, exact on every move, and the shard copies
//! them here on its stop-poll tick (every 25 ms), so the request path pays
//! nothing and the admin thread never waits on a shard. A reader may see
//! counts up to one tick old, and the fields of one shard are not read as
//! one snapshot (each is a separate load): fine for an operator's view.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use shardgate_net::ActiveDriver;

use crate::conn_table::TableCounts;

/// Where a shard is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The thread runs; its listeners are not served yet.
    Starting,
    /// Accept loops and QUIC endpoints are running.
    Serving,
    /// Stop requested (signal, `POST /drain`, `Server::shutdown`): listeners
    /// closed, connections finishing within the grace period.
    Draining,
    /// Done: every connection ended or the grace period ran out.
    Stopped,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Serving => "serving",
            Phase::Draining => "draining",
            Phase::Stopped => "stopped",
        }
    }

    fn code(self) -> u8 {
        match self {
            Phase::Starting => 0,
            Phase::Serving => 1,
            Phase::Draining => 2,
            Phase::Stopped => 3,
        }
    }

    fn from_code(c: u8) -> Phase {
        match c {
            0 => Phase::Starting,
            1 => Phase::Serving,
            2 => Phase::Draining,
            _ => Phase::Stopped,
        }
    }
}

/// One shard's published state; written only by that shard.
#[repr(align(128))]
pub struct ShardStatus {
    phase: AtomicU8,
    /// 0 not known yet, 1 io_uring, 2 epoll.
    driver: AtomicU8,
    /// The core the thread is pinned to, `usize::MAX` when not pinned.
    core: AtomicUsize,
    capacity: AtomicUsize,
    idle: AtomicUsize,
    busy: AtomicUsize,
    parked: AtomicUsize,
}

impl Default for ShardStatus {
    fn default() -> Self {
        ShardStatus {
            phase: AtomicU8::new(Phase::Starting.code()),
            driver: AtomicU8::new(0),
            core: AtomicUsize::new(usize::MAX),
            capacity: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
        }
    }
}

/// A copy of one shard's published state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusView {
    pub phase: Phase,
    pub driver: Option<ActiveDriver>,
    pub core: Option<usize>,
    /// Slots in the TCP connection table.
    pub capacity: usize,
    pub tcp: TableCounts,
}

impl StatusView {
    /// Open TCP connections (every slot in use).
    pub fn open(&self) -> usize {
        self.tcp.idle + self.tcp.busy + self.tcp.parked
    }

    /// Serving with a free slot: an accept loop is waiting in `accept`
    /// rather than parked on a full table.
    pub fn accepting(&self) -> bool {
        self.phase == Phase::Serving && self.open() < self.capacity
    }
}

impl ShardStatus {
    /// Once, when the shard thread has its runtime.
    pub fn started(&self, driver: ActiveDriver, core: Option<usize>, capacity: usize) {
        let code = match driver {
            ActiveDriver::IoUring => 1,
            ActiveDriver::Epoll => 2,
        };
        self.driver.store(code, Ordering::Relaxed);
        self.core
            .store(core.unwrap_or(usize::MAX), Ordering::Relaxed);
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase.code(), Ordering::Relaxed);
    }

    pub fn publish(&self, c: TableCounts) {
        self.idle.store(c.idle, Ordering::Relaxed);
        self.busy.store(c.busy, Ordering::Relaxed);
        self.parked.store(c.parked, Ordering::Relaxed);
    }

    pub fn read(&self) -> StatusView {
        let core = self.core.load(Ordering::Relaxed);
        StatusView {
            phase: Phase::from_code(self.phase.load(Ordering::Relaxed)),
            driver: match self.driver.load(Ordering::Relaxed) {
                1 => Some(ActiveDriver::IoUring),
                2 => Some(ActiveDriver::Epoll),
                _ => None,
            },
            core: (core != usize::MAX).then_some(core),
            capacity: self.capacity.load(Ordering::Relaxed),
            tcp: TableCounts {
                idle: self.idle.load(Ordering::Relaxed),
                busy: self.busy.load(Ordering::Relaxed),
                parked: self.parked.load(Ordering::Relaxed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_accepts_only_while_serving_with_a_free_slot() {
        let s = ShardStatus::default();
        assert_eq!(s.read().phase, Phase::Starting);
        assert!(!s.read().accepting());
        s.started(ActiveDriver::Epoll, Some(1), 2);
        s.set_phase(Phase::Serving);
        let v = s.read();
        assert_eq!((v.driver, v.core), (Some(ActiveDriver::Epoll), Some(1)));
        assert!(v.accepting());
        s.publish(TableCounts {
            idle: 1,
            busy: 0,
            parked: 1,
        });
        assert!(!s.read().accepting(), "a full table accepts nothing");
        s.publish(TableCounts::default());
        s.set_phase(Phase::Draining);
        assert!(!s.read().accepting());
    }
}
