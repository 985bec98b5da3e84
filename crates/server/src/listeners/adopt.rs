//! Adopting a handed-over group instead of binding (binary upgrade, ADR 19):
//! the same sockets in the same order, so the reuseport group and its
//! steering program are untouched and nothing can renumber. No probe
//! datagrams either: the old process still holds the sockets.

use std::net::{TcpListener, UdpSocket};

use shardgate_config::{ListenerConfig, Protocol, Steering};

use super::bind::{listen_opts, Bound, ShardSockets};
use super::inherited::{Inherited, InheritedListener};
use super::ListenerId;
use crate::quic;
use crate::Error;

/// Counters of forwarded old-generation datagrams (process-wide).
fn predecessor(
    inh: &Inherited,
    old: &InheritedListener,
) -> impl Fn(usize) -> Option<shardgate_quic::Predecessor> {
    let (generation, listener) = (inh.generation, old.old_id);
    let (sink, alive) = (inh.forward.clone(), inh.alive.clone());
    move |_| {
        Some(shardgate_quic::Predecessor {
            generation,
            listener,
            sink: sink.clone(),
            alive: alive.clone(),
            forwarded: metrics::counter!(crate::metrics::upgrade::FORWARDED),
            dropped: metrics::counter!(crate::metrics::upgrade::FORWARD_DROPPED),
        })
    }
}

/// Takes the handed-over group of `l` (`listener[idx]`) out of `inh`, if the
/// old process ran a listener of the same name, protocol and configured
/// address; `Ok(None)` means bind it anew. TCP sockets take this config's
/// backlog, Fast Open queue and deferred accept (the old process set its
/// own); an h3 group's table and QUIC settings are built from this config.
pub fn adopt(
    inh: &mut Inherited,
    id: ListenerId,
    idx: usize,
    l: &ListenerConfig,
    steering: Steering,
    generation: u8,
) -> Result<Option<Bound>, Error> {
    let udp = l.protocol == Protocol::H3;
    let Some(at) = inh
        .listeners
        .iter()
        .position(|o| o.name == l.name && o.udp == udp && o.configured == l.address)
    else {
        return Ok(None);
    };
    let old = inh.listeners.swap_remove(at);
    let refuse = |why: String| Error::Upgrade(format!("listener[{idx}] \"{}\": {why}", l.name));
    if old.sockets.len() != inh.shards {
        return Err(refuse(format!(
            "{} sockets for {} shards",
            old.sockets.len(),
            inh.shards
        )));
    }
    let Some(q) = l.quic.as_ref().filter(|_| udp) else {
        let opts = listen_opts(l, steering);
        let sockets: Vec<TcpListener> = old.sockets.into_iter().map(TcpListener::from).collect();
        for s in &sockets {
            shardgate_net::retune_tcp_listener(s, &opts)
                .map_err(|e| refuse(format!("socket options: {e}")))?;
        }
        return Ok(Some(Bound {
            local: old.local,
            shards: sockets.into_iter().map(ShardSockets::Tcp).collect(),
            quic_tables: Vec::new(),
            quic: None,
        }));
    };
    let layout = quic::layout(idx, l, q, generation)?;
    if layout.shard_offset() != old.offset {
        return Err(refuse(format!(
            "quic.server_id changed length: the handed-over group's steering program reads the shard byte at offset {}, this config puts it at {} (restart instead)",
            old.offset,
            layout.shard_offset()
        )));
    }
    let forward = predecessor(inh, &old);
    let group = old.sockets.into_iter().map(UdpSocket::from).collect();
    let g = quic::assemble(id, idx, l, q, group, layout, forward)?;
    Ok(Some(Bound::quic_group(g)))
}

/// Handed-over listeners the new config does not adopt are closed here; a
/// listener bound anew on one of their addresses would join their group,
/// which renumbers when the old process closes its copies (ADR 18).
pub fn check_leftovers(inh: &Inherited, l: &ListenerConfig, idx: usize) -> Result<(), Error> {
    let udp = l.protocol == Protocol::H3;
    match inh
        .listeners
        .iter()
        .find(|o| o.udp == udp && (o.local == l.address || o.configured == l.address))
    {
        Some(o) if l.address.port() != 0 => Err(Error::Upgrade(format!(
            "listener[{idx}].address: {} is held by the running process's listener \"{}\", which this config drops or changes; upgrade without it first, then add \"{}\" by a reload",
            l.address, o.name, l.name
        ))),
        _ => Ok(()),
    }
}
