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

/// The generation every connection ID of this process carries (ADR 10):
/// fixed until binary upgrades hand listeners to a successor.
pub const GENERATION: u8 = 0;

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
}

/// Binds the listener's group (`listener[idx]` of the config); returns the
/// bound address, each shard's part and each shard's connection table.
pub fn bind(
    id: ListenerId,
    idx: usize,
    l: &ListenerConfig,
    q: &QuicConfig,
    shards: usize,
    steering: Steering,
) -> Result<(SocketAddr, Vec<QuicSpec>, Vec<QuicTable>), Error> {
    let err = |e: String| Error::Quic {
        idx,
        name: l.name.clone(),
        addr: l.address,
        reason: e,
    };
    let layout = CidLayout::new(GENERATION, &q.server_id)
        .ok_or_else(|| err("server_id longer than 6 bytes".into()))?;
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
    let local = group
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or(l.address);
    let (hub, inboxes) = RedirectHub::new(shards).map_err(|e| err(e.to_string()))?;
    let mut specs = Vec::with_capacity(shards);
    let mut tables = Vec::with_capacity(shards);
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
        });
    }
    Ok((local, specs, tables))
}
