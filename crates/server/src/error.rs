use std::net::SocketAddr;

/// Why the server could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("listener[{idx}].address: listener \"{name}\" ({addr}): {source}")]
    Bind {
        /// The listener's index in the config (for the key in the message).
        idx: usize,
        name: String,
        addr: SocketAddr,
        source: shardgate_net::Error,
    },
    #[error("listener[{idx}].address: h3 listener \"{name}\" ({addr}): {reason}")]
    Quic {
        idx: usize,
        name: String,
        addr: SocketAddr,
        reason: String,
    },
    #[error("admin listener ({addr}): {source}")]
    Admin {
        addr: SocketAddr,
        source: shardgate_net::Error,
    },
    #[error("shard start-up failed: {0}")]
    Shard(String),
    #[error("could not spawn a thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("{0}")]
    Config(#[from] shardgate_config::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("access log {path}: {source}")]
    AccessLog {
        path: String,
        source: std::io::Error,
    },
    #[error("listener \"{name}\": duplicating its sockets for a binary upgrade: {source}")]
    Handover {
        name: String,
        source: std::io::Error,
    },
    /// A binary upgrade refused (by either process, ADR 19).
    #[error("upgrade refused: {0}")]
    Upgrade(String),
    #[error("reload refused: {0}")]
    Reload(String),
    /// A host name in `servers` did not resolve (the message is a
    /// `file:line:col: key: …` line).
    #[error("{0}")]
    Resolve(String),
}
