//! `GET /shards`: per shard, its driver, the core it is pinned to, whether
//! it accepts, and its connections by state: the TCP connection table (as
//! the shard last published it, at most 25 ms old) and each `h3` listener's
//! QUIC connection table (read directly: its slots are atomics), also of a
//! removed listener while it drains. Nothing here waits on a shard.

use serde_json::{json, Value};

use super::reply::Reply;
use crate::control::Control;

pub fn render(control: &Control) -> Reply {
    let shared = &control.shared;
    // The running generation's `h3` listeners, then removed ones whose
    // tables still hold connections (`removed: true`).
    let snap = shared.snapshot.load();
    let running = snap.quic_tables.iter().map(|t| (t, false));
    let removed = snap.draining_quic.iter().map(|t| (t, true));
    let shards: Vec<Value> = shared
        .status
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v = s.read();
            let quic: Vec<Value> = running
                .clone()
                .chain(removed.clone())
                .filter(|(t, _)| t.shard == i)
                .filter_map(|(t, removed)| {
                    let c = t.slots.counts();
                    // A removed listener leaves the list once it is empty.
                    if removed && c.idle == t.slots.capacity() {
                        return None;
                    }
                    // The slots crate's Idle is a free slot, not an idle
                    // connection: named `free` here to avoid the mix-up.
                    Some(json!({
                        "listener": t.listener,
                        "removed": removed,
                        "capacity": t.slots.capacity(),
                        "busy": c.busy,
                        "draining": c.draining,
                        "closed": c.closed,
                        "free": c.idle,
                    }))
                })
                .collect();
            let accepted = shared.stats.get(i).map_or(0, |c| c.read().accepted);
            json!({
                "shard": i,
                "driver": v.driver.map(|d| d.to_string()),
                "core": v.core,
                "phase": v.phase.name(),
                "accepting": v.accepting(),
                "tcp": {
                    "capacity": v.capacity,
                    "open": v.open(),
                    "idle": v.tcp.idle,
                    "busy": v.tcp.busy,
                    "parked": v.tcp.parked,
                    "accepted_total": accepted,
                },
                "quic": quic,
            })
        })
        .collect();
    Reply::json(
        200,
        &json!({ "generation": snap.generation, "shards": shards }),
    )
}
