//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("QUIC socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error("QUIC TLS settings: {0}")]
    Tls(String),
    #[error("shard {0} does not fit the connection ID's shard byte (at most 256 shards)")]
    TooManyShards(usize),
    #[error("QUIC transport settings: {0}")]
    Transport(String),
}
