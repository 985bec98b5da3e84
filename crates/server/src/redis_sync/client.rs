//! One connection to Redis: connect with a timeout, load the sync script,
//! send a batch of script calls in one pipelined round trip.
//!
//! The `redis` crate's blocking API: the sync thread owns the connection and
//! does nothing else while it waits, so an async client (and its runtime)
//! would buy nothing. Every socket operation is bounded by the rule's
//! `timeout`; after any error the connection is dropped (a reply cut off by
//! a timeout leaves the stream mid-reply) and the caller reconnects later.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, ErrorKind, RedisError, RedisResult};

use super::script::{Call, SOURCE};

pub struct Client {
    con: redis::Connection,
    /// The script's SHA1 as this server knows it (`SCRIPT LOAD`'s reply).
    sha: String,
}

impl Client {
    /// Connects to `address` (`host:port`, `[v6]:port`) and loads the
    /// script. A Redis that restarted has forgotten the script: its
    /// `NOSCRIPT` error drops the connection, and the next one loads it again.
    pub fn connect(address: &str, timeout: Duration) -> RedisResult<Self> {
        let (host, port) = split_address(address)?;
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(host.to_string(), port),
            redis: Default::default(),
        };
        let mut con = redis::Client::open(info)?.get_connection_with_timeout(timeout)?;
        con.set_read_timeout(Some(timeout))?;
        con.set_write_timeout(Some(timeout))?;
        let sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(SOURCE)
            .query::<String>(&mut con)?;
        Ok(Client { con, sha })
    }

    /// Runs `calls` in one round trip; one reply (a count per key) per call,
    /// in order. An error reply to any call fails the whole batch.
    pub fn run<'a>(&mut self, calls: impl Iterator<Item = &'a Call>) -> RedisResult<Vec<Vec<i64>>> {
        let mut pipe = redis::pipe();
        for call in calls {
            pipe.cmd("EVALSHA")
                .arg(&self.sha)
                .arg(call.keys.len())
                .arg(&call.keys)
                .arg(&call.args);
        }
        pipe.query(&mut self.con)
    }
}

/// `host:port` or `[v6]:port`. The config validates the form; this only
/// refuses what it cannot split.
fn split_address(address: &str) -> RedisResult<(&str, u16)> {
    let bad = || RedisError::from((ErrorKind::InvalidClientConfig, "address is not host:port"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse().map_err(|_| bad())?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_address("127.0.0.1:6379").ok(),
            Some(("127.0.0.1", 6379))
        );
        assert_eq!(split_address("[::1]:7000").ok(), Some(("::1", 7000)));
        assert_eq!(
            split_address("redis.internal:1").ok(),
            Some(("redis.internal", 1))
        );
        assert!(split_address("127.0.0.1").is_err());
        assert!(split_address("h:port").is_err());
    }
}
