//! Binding one listener's whole `SO_REUSEPORT` group: one socket per shard
//! with the steering program attached, or for `h3` the UDP group, its
//! verified index → shard mapping, the redirect hub and a connection table
//! per shard. Runs on the control thread only (at start and in a reload);
//! the sockets reach their shards through [`super::handoff`].

use std::net::SocketAddr;

use shardgate_config::{ListenerConfig, Protocol, Steering};
use shardgate_net::{bind_tcp_group, ListenOpts};

use super::ListenerId;
use crate::quic::{self, QuicSpec, QuicTable};
use crate::Error;

/// One shard's member of a listener's group.
pub enum ShardSockets {
    Tcp(std::net::TcpListener),
    Quic(QuicSpec),
}

/// A bound listener: its local address and each shard's part, by shard index.
pub struct Bound {
    pub local: SocketAddr,
    pub shards: Vec<ShardSockets>,
    pub quic_tables: Vec<QuicTable>,
}

/// Binds `l` (the config's `listener[idx]`, for error messages) on every
/// shard. A failure names the key; the sockets bound so far are closed
/// when the partial group is dropped.
pub fn bind(
    id: ListenerId,
    idx: usize,
    l: &ListenerConfig,
    shards: usize,
    steering: Steering,
) -> Result<Bound, Error> {
    if let Some(q) = l.quic.as_ref().filter(|_| l.protocol == Protocol::H3) {
        let (local, specs, quic_tables) = quic::bind(id, idx, l, q, shards, steering)?;
        return Ok(Bound {
            local,
            shards: specs.into_iter().map(ShardSockets::Quic).collect(),
            quic_tables,
        });
    }
    let opts = ListenOpts {
        backlog: l.backlog,
        tcp_fast_open: l.tcp_fast_open,
        defer_accept: l.defer_accept,
        steering: net_steering(steering),
    };
    let group = bind_tcp_group(l.address, shards, &opts).map_err(|source| Error::Bind {
        idx,
        name: l.name.clone(),
        addr: l.address,
        source,
    })?;
    let local = group
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or(l.address);
    Ok(Bound {
        local,
        shards: group.into_iter().map(ShardSockets::Tcp).collect(),
        quic_tables: Vec::new(),
    })
}

// shardgate-net keeps its own copy of this enum so the crate holding the
// `unsafe` does not depend on the config parser; this is where the config's
// value crosses into it.
fn net_steering(s: Steering) -> shardgate_net::Steering {
    match s {
        Steering::Cpu => shardgate_net::Steering::Cpu,
        Steering::Hash => shardgate_net::Steering::Hash,
        Steering::None => shardgate_net::Steering::None,
    }
}
