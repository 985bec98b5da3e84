//! Per-shard counters owned by one server instance, readable from any thread.
//!
//! The `metrics` recorder is process-wide; these belong to one `Server`, which is
//! what tests and `Server::shard_stats` need (several servers may run in one
//! process). Each shard writes only its own entry, padded to a cache line so
//! shards never contend on one.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
#[repr(align(128))]
pub struct ShardCounters {
    accepted: AtomicU64,
    active: AtomicU64,
    table_full: AtomicU64,
    parked: AtomicU64,
}

/// A copy of one shard's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardStats {
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections open now.
    pub active: u64,
    /// Times an accept loop found the connection table full and paused.
    pub table_full: u64,
    /// Times a connection went idle past the hot window and was parked (its
    /// request task ended; its socket waits in the shard's parking lot).
    pub parked: u64,
}

impl ShardCounters {
    pub fn on_accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn on_close(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn on_table_full(&self) {
        self.table_full.fetch_add(1, Ordering::Relaxed);
    }

    pub fn on_park(&self) {
        self.parked.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> ShardStats {
        ShardStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
            table_full: self.table_full.load(Ordering::Relaxed),
            parked: self.parked.load(Ordering::Relaxed),
        }
    }
}
