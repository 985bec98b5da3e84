//! Setting up an `h3` listener's sockets before the shards start: one
//! `SO_REUSEPORT` UDP socket per shard steered by connection ID, the
//! start-up self-test of the steering, the redirect hub for datagrams that
//! reach the wrong shard anyway, and each shard's connection table.

use std::net::SocketAddr;
use std::sync::Arc;

use shardgate_config::{ListenerConfig, QuicConfig, Steering};
use shardgate_quic::{CidLayout, RedirectHub};
use shardgate_slots::Slots;

use crate::listeners::ListenerId;
use crate::Error;

/// The generation after `g`: a binary upgrade's new process uses it, so
/// the IDs of the two processes differ (ADR 19). 0–6, wrapping; 7 is
/// QUIC-LB's "unroutable".
pub fn next_generation(g: u8) -> u8 {
    if g >= shardgate_quic::MAX_GENERATION {
        0
    } else {
        g + 1
    }
}

/// One shard's QUIC connection table of one listener, as the admin thread
/// sees it.
#[derive(Clone)]
pub struct QuicTable {
    pub listener: String,
    pub shard: usize,
    pub slots: Arc<shardgate_slots::Slots>,
}

/// One shard's part of an `h3` listener (see `crate::quic::bind`).
pub struct QuicSpec {
    pub listener: ListenerId,
    pub socket: std::net::UdpSocket,
    pub inbox: shardgate_quic::Inbox,
    pub hub: Arc<shardgate_quic::RedirectHub>,
    pub layout: shardgate_quic::CidLayout,
    pub slots: Arc<shardgate_slots::Slots>,
    /// After a binary upgrade: where datagrams of the old process's
    /// connections go while it drains (ADR 19).
    pub predecessor: Option<shardgate_quic::Predecessor>,
}

/// A bound (or adopted) `h3` listener: its address, each shard's part,
/// each shard's connection table and the redirect hub its shards share.
pub struct QuicGroup {
    pub local: SocketAddr,
    pub specs: Vec<QuicSpec>,
    pub tables: Vec<QuicTable>,
    pub hub: Arc<RedirectHub>,
}

fn error(idx: usize, l: &ListenerConfig) -> impl Fn(String) -> Error + '_ {
    move |reason| Error::Quic {
        idx,
        name: l.name.clone(),
        addr: l.address,
        reason,
    }
}

/// The connection-ID layout of `l` under `generation`.
pub fn layout(
    idx: usize,
    l: &ListenerConfig,
    q: &QuicConfig,
    generation: u8,
) -> Result<CidLayout, Error> {
    CidLayout::new(generation, &q.server_id)
        .ok_or_else(|| error(idx, l)("server_id longer than 6 bytes".into()))
}

/// Binds the listener's group (`listener[idx]` of the config) with IDs of
/// `generation`.
pub fn bind(
    id: ListenerId,
    idx: usize,
    l: &ListenerConfig,
    q: &QuicConfig,
    shards: usize,
    steering: Steering,
    generation: u8,
) -> Result<QuicGroup, Error> {
    let err = error(idx, l);
    let layout = layout(idx, l, q, generation)?;
    // `steering = "none"` leaves every datagram to the kernel's hash; the
    // redirect hub then does all the steering in user space.
    let offset = layout.shard_offset();
    let steer = (steering != Steering::None).then_some(offset);
    let group =
        shardgate_net::bind_udp_group(l.address, shards, steer).map_err(|e| err(e.to_string()))?;
    if steer.is_some() && shards > 1 {
        // A reuseport group can renumber (a closed member, a lingering socket
        // of a previous process): refuse to start rather than mis-steer.
        shardgate_net::verify_udp_steering(&group, offset).map_err(|e| err(e.to_string()))?;
    }
    assemble(id, idx, l, q, group, layout, |_| None)
}

/// Each shard's part of a group of bound sockets (`group[i]` for shard i);
/// `predecessor(shard)` is the forwarding of an adopted group.
pub fn assemble(
    id: ListenerId,
    idx: usize,
    l: &ListenerConfig,
    q: &QuicConfig,
    group: Vec<std::net::UdpSocket>,
    layout: CidLayout,
    predecessor: impl Fn(usize) -> Option<shardgate_quic::Predecessor>,
) -> Result<QuicGroup, Error> {
    let local = group
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or(l.address);
    let (hub, inboxes) = RedirectHub::new(group.len()).map_err(|e| error(idx, l)(e.to_string()))?;
    let mut specs = Vec::with_capacity(group.len());
    let mut tables = Vec::with_capacity(group.len());
    for (shard, (socket, inbox)) in group.into_iter().zip(inboxes).enumerate() {
        let slots = Arc::new(Slots::new(q.max_connections));
        tables.push(QuicTable {
            listener: l.name.clone(),
            shard,
            slots: slots.clone(),
        });
        specs.push(QuicSpec {
            listener: id,
            socket,
            inbox,
            hub: hub.clone(),
            layout: layout.clone(),
            slots,
            predecessor: predecessor(shard),
        });
    }
    Ok(QuicGroup {
        local,
        specs,
        tables,
        hub,
    })
}
