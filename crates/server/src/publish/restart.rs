//! What a reload cannot change: the shard layout, the runtime driver, the
//! steering programs already attached, the connection tables and buffers
//! allocated at start, and the admin listener's address. Listeners themselves reload
//! (ADR 18).

use shardgate_config::Config;

use crate::Error;

/// Refuses `config` when it changes something only a restart applies,
/// naming every key that changed.
pub fn check(old: &Config, config: &Config) -> Result<(), Error> {
    let (o, n) = (&old.server, &config.server);
    let changed: Vec<&str> = [
        ("server.shards", o.shards != n.shards),
        ("server.driver", o.driver != n.driver),
        ("server.steering", o.steering != n.steering),
        (
            "server.max_connections_per_shard",
            o.max_connections_per_shard != n.max_connections_per_shard,
        ),
        ("server.buffer_size", o.buffer_size != n.buffer_size),
        // The admin socket is bound once; its token file is read again by
        // every reload (the admin thread reads the token from the snapshot).
        (
            "admin.address",
            old.admin.as_ref().map(|a| a.address) != config.admin.as_ref().map(|a| a.address),
        ),
    ]
    .into_iter()
    .filter_map(|(key, differs)| differs.then_some(key))
    .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(Error::Reload(format!(
        "{} changed: restart needed (a reload cannot apply {})",
        changed.join(", "),
        if changed.len() == 1 { "it" } else { "them" }
    )))
}
