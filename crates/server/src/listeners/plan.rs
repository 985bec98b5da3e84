//! What a reload does to the listeners: which it keeps (same name, same
//! socket parameters), which it removes, and the binding of the ones it
//! adds — all before anything is published, so a failure changes nothing.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use shardgate_config::Config;
use shardgate_quic::RedirectHub;

use super::adopt::{adopt, check_leftovers};
use super::bind::{bind, ShardSockets};
use super::id::SocketParams;
use super::inherited::Inherited;
use super::retune::{in_place, Retune};
use super::ListenerId;
use crate::quic::QuicTable;
use crate::Error;

/// A listener of the running generation, as the control thread knows it.
#[derive(Clone)]
pub struct Running {
    pub id: ListenerId,
    pub name: String,
    pub params: SocketParams,
    /// Its bound address (the port the kernel chose for port 0).
    pub local: SocketAddr,
    /// Its QUIC connection tables, one per shard (none for TCP).
    pub quic_tables: Vec<QuicTable>,
    /// A duplicate of each shard's socket, by shard: what a binary upgrade
    /// hands over (ADR 19).
    pub fds: Arc<Vec<OwnedFd>>,
    /// `h3`: the redirect hub and the shard byte's offset.
    pub quic: Option<(Arc<RedirectHub>, u8)>,
}

/// The outcome of [`plan`]: the next generation's listeners in config order
/// and the sockets of the ones it adds, still to be handed to the shards;
/// kept listeners whose socket options change, to retune when the reload
/// can no longer be refused for another reason (`retune::apply`).
pub struct Plan {
    pub running: Vec<Running>,
    pub added: Vec<(ListenerId, Vec<ShardSockets>)>,
    pub retunes: Vec<Retune>,
}

/// Plans `config`'s listeners against `current` (empty at start), binding
/// the added ones (or, at the start of a binary upgrade's new process,
/// adopting the handed-over groups in `inherited`). `next_id` is the
/// publisher's id counter; `generation` the process's QUIC CID generation.
pub fn plan(
    current: &[Running],
    config: &Config,
    next_id: &mut u32,
    shards: usize,
    generation: u8,
    mut inherited: Option<&mut Inherited>,
) -> Result<Plan, Error> {
    let params: Vec<SocketParams> = config.listeners.iter().map(SocketParams::of).collect();
    // Kept: the same name and socket parameters, or a TCP listener whose
    // options alone change (retuned in place).
    let kept = |name: &str, p: &SocketParams| {
        current
            .iter()
            .find(|r| r.name == name && (&r.params == p || in_place(&r.params, p)))
    };
    // A reuseport bind on an address this process still holds joins the old
    // group instead of failing, and the old members closing afterwards would
    // renumber the new group under its steering program (ADR 18).
    for (idx, (l, p)) in config.listeners.iter().zip(&params).enumerate() {
        if kept(&l.name, p).is_some() || p.address.port() == 0 {
            continue;
        }
        let held = current.iter().find(|r| {
            r.params.address == p.address
                && r.params.udp() == p.udp()
                && !config
                    .listeners
                    .iter()
                    .zip(&params)
                    .any(|(k, kp)| kept(&k.name, kp).is_some_and(|kr| kr.name == r.name))
        });
        if let Some(old) = held {
            return Err(Error::Reload(format!(
                "listener[{idx}].address: {} is still bound by listener \"{}\", which this reload removes or changes; \
                 remove it in one reload and add \"{}\" in the next (or restart)",
                p.address, old.name, l.name
            )));
        }
    }
    let mut running = Vec::with_capacity(config.listeners.len());
    let mut added = Vec::new();
    let mut retunes = Vec::new();
    for (idx, (l, p)) in config.listeners.iter().zip(params).enumerate() {
        if let Some(r) = kept(&l.name, &p) {
            if r.params != p {
                let steering = config.server.steering;
                retunes.push(Retune::new(&r.name, r.fds.clone(), &r.params, &p, steering));
            }
            running.push(Running {
                params: p,
                ..r.clone()
            });
            continue;
        }
        let id = ListenerId(*next_id);
        *next_id = next_id.wrapping_add(1);
        // A failure drops what was bound for earlier listeners: closed.
        let adopted = match inherited.as_deref_mut() {
            Some(inh) => adopt(inh, id, idx, l, config.server.steering, generation)?,
            None => None,
        };
        let bound = match adopted {
            Some(b) => b,
            None => {
                if let Some(inh) = inherited.as_deref() {
                    check_leftovers(inh, l, idx)?;
                }
                bind(id, idx, l, shards, config.server.steering, generation)?
            }
        };
        let fds = bound.duplicates().map_err(|source| Error::Handover {
            name: l.name.clone(),
            source,
        })?;
        running.push(Running {
            id,
            name: l.name.clone(),
            params: p,
            local: bound.local,
            quic_tables: bound.quic_tables,
            fds: Arc::new(fds),
            quic: bound.quic,
        });
        added.push((id, bound.shards));
    }
    Ok(Plan {
        running,
        added,
        retunes,
    })
}
