//! The system's resolver (`getaddrinfo`: `/etc/hosts`, `/etc/resolv.conf`,
//! nsswitch), used when `[resolver] nameservers` is empty: the answer every
//! other program on the host gets. It gives no TTL.

use std::net::ToSocketAddrs;

use super::answer::Answer;

pub fn lookup(host: &str) -> Result<Answer, String> {
    let addrs = (host, 0)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .map(|a| a.ip())
        .collect();
    Ok(Answer { addrs, ttl: None })
}
