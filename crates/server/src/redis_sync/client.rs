//! One connection to Redis: connect with a timeout, load the sync script,
//! send a batch of script calls in one pipelined round trip.
//!
//! The `redis` crate's blocking API: the sync thread owns the connection and
//! does nothing else while it waits, so an async client (and its runtime)
//! would buy nothing. Every socket operation is bounded by the rule's
//! `timeout`; after any error the connection is dropped (a reply cut off by
//! a timeout leaves the stream mid-reply) and the caller reconnects later.

use std::net::SocketAddr;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, RedisResult};

use super::script::{Call, SOURCE};

pub struct Client {
    con: redis::Connection,
    /// The script's SHA1 as this server knows it (`SCRIPT LOAD`'s reply).
    sha: String,
}

impl Client {
    /// Connects to `address` and loads the script. A Redis that restarted
    /// has forgotten the script: its `NOSCRIPT` error drops the connection,
    /// and the next one loads it again.
    pub fn connect(address: SocketAddr, timeout: Duration) -> RedisResult<Self> {
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(address.ip().to_string(), address.port()),
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
