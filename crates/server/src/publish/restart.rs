//! What a reload cannot change: the sockets, the QUIC connection tables and
//! the shard layout are set up once, at start.

use shardgate_config::Config;

use crate::Error;

/// Refuses `config` when it changes something only a restart applies.
pub fn check(old: &Config, config: &Config) -> Result<(), Error> {
    // Certificates and TLS settings reload; sockets do not.
    let sockets = |c: &Config| {
        c.listeners
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    l.address,
                    l.protocol,
                    l.tcp_fast_open,
                    l.defer_accept,
                    l.backlog,
                )
            })
            .collect::<Vec<_>>()
    };
    if sockets(old) != sockets(config) {
        return Err(Error::Reload(
            "listener names, addresses or socket options changed: restart needed".into(),
        ));
    }
    // The QUIC connection table is allocated at start, and connection IDs
    // already handed out carry the server id.
    let tables = |c: &Config| {
        c.listeners
            .iter()
            .map(|l| {
                l.quic
                    .as_ref()
                    .map(|q| (q.max_connections, q.server_id.clone()))
            })
            .collect::<Vec<_>>()
    };
    if tables(old) != tables(config) {
        return Err(Error::Reload(
            "listener.quic max_connections or server_id changed: restart needed".into(),
        ));
    }
    if old.server.shards != config.server.shards
        || old.server.driver != config.server.driver
        || old.server.steering != config.server.steering
        || old.server.max_connections_per_shard != config.server.max_connections_per_shard
        || old.server.buffer_size != config.server.buffer_size
        || old.admin != config.admin
    {
        return Err(Error::Reload(
            "server.shards/driver/steering/max_connections_per_shard/buffer_size or admin changed: restart needed".into(),
        ));
    }
    Ok(())
}
