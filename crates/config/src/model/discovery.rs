//! Servers given by host name, and `[resolver]`: how the gateway resolves
//! them. The config crate only checks the names' syntax; resolving them is
//! the server's job (at start, on reload, and periodically after).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

/// A `servers` entry written as `"host:port"`. Each address the name
/// resolves to becomes a server with this entry's weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedServer {
    /// Lower-case, without a trailing dot.
    pub host: String,
    pub port: u16,
    pub weight: u32,
    /// Where the entry is written (`file:line:col: upstream[0].servers[1]`),
    /// for the messages of a name that does not resolve.
    pub site: String,
}

/// `[resolver]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolverConfig {
    /// DNS servers asked directly (UDP; TCP when an answer is truncated),
    /// in order. Empty: the system's resolver (`getaddrinfo`: `/etc/hosts`,
    /// `/etc/resolv.conf`), which gives no TTLs.
    pub nameservers: Vec<SocketAddr>,
    /// How long one query may wait for one nameserver's answer.
    pub timeout: Duration,
}
