//! Binding one listener's whole `SO_REUSEPORT` group: one socket per shard
//! with the steering program attached, or for `h3` the UDP group, its
//! verified index → shard mapping, the redirect hub and a connection table
//! per shard. Runs on the control thread only (at start and in a reload);
//! the sockets reach their shards through [`super::handoff`].

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use shardgate_config::{ListenerConfig, Protocol, Steering};
use shardgate_net::{bind_tcp_group, ListenOpts};
use shardgate_quic::RedirectHub;

use super::ListenerId;
use crate::quic::{self, QuicGroup, QuicSpec, QuicTable};
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
    /// `h3`: the redirect hub (a retiring process feeds forwarded datagrams
    /// into it) and the shard byte's offset the group's program reads.
    pub quic: Option<(Arc<RedirectHub>, u8)>,
}

impl Bound {
    pub fn quic_group(g: QuicGroup) -> Bound {
        let offset = g.specs.first().map_or(0, |s| s.layout.shard_offset());
        Bound {
            local: g.local,
            shards: g.specs.into_iter().map(ShardSockets::Quic).collect(),
            quic_tables: g.tables,
            quic: Some((g.hub, offset)),
        }
    }

    /// A duplicate of each shard's socket, kept on the control thread so a
    /// binary upgrade can hand the group over (ADR 19).
    pub fn duplicates(&self) -> std::io::Result<Vec<OwnedFd>> {
        self.shards
            .iter()
            .map(|s| match s {
                ShardSockets::Tcp(l) => l.as_fd().try_clone_to_owned(),
                ShardSockets::Quic(q) => q.socket.as_fd().try_clone_to_owned(),
            })
            .collect()
    }
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
    generation: u8,
) -> Result<Bound, Error> {
    if let Some(q) = l.quic.as_ref().filter(|_| l.protocol == Protocol::H3) {
        let g = quic::bind(id, idx, l, q, shards, steering, generation)?;
        return Ok(Bound::quic_group(g));
    }
    let group = bind_tcp_group(l.address, shards, &listen_opts(l, steering)).map_err(|source| {
        Error::Bind {
            idx,
            name: l.name.clone(),
            addr: l.address,
            source,
        }
    })?;
    let local = group
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or(l.address);
    Ok(Bound {
        local,
        shards: group.into_iter().map(ShardSockets::Tcp).collect(),
        quic_tables: Vec::new(),
        quic: None,
    })
}

// shardgate-net keeps its own copy of this enum so the crate holding the
// `unsafe` does not depend on the config parser; this is where the config's
// value crosses into it.
/// How `l`'s TCP sockets are set up (bound anew, or retuned when adopted).
pub fn listen_opts(l: &ListenerConfig, steering: Steering) -> ListenOpts {
    ListenOpts {
        backlog: l.backlog,
        tcp_fast_open: l.tcp_fast_open,
        defer_accept: l.defer_accept,
        steering: net_steering(steering),
    }
}

pub fn net_steering(s: Steering) -> shardgate_net::Steering {
    match s {
        Steering::Cpu => shardgate_net::Steering::Cpu,
        Steering::Hash => shardgate_net::Steering::Hash,
        Steering::None => shardgate_net::Steering::None,
    }
}
