//! The outcome of resolving one host name.

use std::net::IpAddr;
use std::time::Duration;

/// What a name resolved to: its addresses, sorted, without duplicates, and
/// how long the DNS answer may be cached (None: the resolver gives no TTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub addrs: Vec<IpAddr>,
    pub ttl: Option<Duration>,
}
