use std::io;

/// Why a harness operation failed. Tests usually `unwrap()` these: the message
/// says which side (gateway, origin, client, tool) went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(io::Error),
    /// A read or write did not finish within the socket's timeout.
    #[error("timed out")]
    Timeout,
    /// The peer closed before any byte of the expected message arrived.
    #[error("connection closed")]
    Closed,
    /// Bytes arrived where silence or a close was expected.
    #[error("unexpected bytes: {0:?}")]
    UnexpectedBytes(String),
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    #[error("config: {0}")]
    Config(#[from] shardgate_config::Error),
    #[error("server: {0}")]
    Server(#[from] shardgate_server::Error),
    /// The TOML template still has a `${NAME}` nobody provided.
    #[error("placeholder ${{{0}}} has no value")]
    Unbound(String),
    #[error("wanted driver {wanted}, the shards run {got}")]
    DriverMismatch { wanted: String, got: String },
    #[error("no listener named {0:?}")]
    NoListener(String),
    /// An external program (curl, wrk, cargo, shardgate) failed or printed
    /// something unexpected.
    #[error("{tool}: {message}")]
    Tool { tool: String, message: String },
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
