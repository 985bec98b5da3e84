//! `GET /ready`: 200 when a config generation is loaded and every shard is
//! accepting (serving, not draining, with a free slot in its connection
//! table); 503 with the first reason otherwise. A load balancer probing it
//! takes the node out while it drains (`POST /drain`, SIGTERM) and while a
//! shard's table is full (new connections steered to that shard would wait
//! in the kernel backlog).

use serde_json::json;

use super::reply::Reply;
use crate::control::Control;
use crate::status::Phase;

pub fn render(control: &Control, generation: u64) -> Reply {
    let shards: Vec<_> = control.shared.status.iter().map(|s| s.read()).collect();
    let accepting = shards.iter().filter(|s| s.accepting()).count();
    let reason = if generation == 0 {
        Some("no config generation loaded".to_string())
    } else if control.stopping() {
        Some("draining: a stop was requested".to_string())
    } else {
        shards
            .iter()
            .enumerate()
            .find(|(_, s)| !s.accepting())
            .map(|(i, s)| match s.phase {
                Phase::Serving => format!(
                    "shard {i} is not accepting: its connection table is full ({} of {})",
                    s.open(),
                    s.capacity
                ),
                p => format!("shard {i} is not accepting: {}", p.name()),
            })
    };
    let body = json!({
        "ready": reason.is_none(),
        "reason": reason,
        "generation": generation,
        "shards": shards.len(),
        "shards_accepting": accepting,
    });
    Reply::json(if reason.is_none() { 200 } else { 503 }, &body)
}
