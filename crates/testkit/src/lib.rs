#![forbid(unsafe_code)]
//! End-to-end test harness for shardgate.
//!
//! - [`Gateway`]: the real server started in-process from a TOML template,
//!   on a chosen driver and shard count.
//! - [`Origin`]: a scriptable upstream on std threads that counts connections
//!   and records every request byte for byte; [`handlers`] has the canned
//!   behaviours (echo, chunked, close-delimited, slow, dying, black hole,
//!   upgrade echo, gated).
//! - [`Client`]: a raw client for exact bytes, with a response reader that
//!   frames by Content-Length, chunked or close.
//! - [`each_driver!`]: one test per driver (epoll and io_uring).
//! - [`tls`]: certificates made per test and a TLS client; [`TlsOrigin`]: an
//!   origin behind rustls that records each handshake.
//! - [`DnsServer`]: a DNS server whose answers the test sets.
//! - [`RedisServer`]: a real `redis-server` the test can kill and restart.
//! - [`tools`] and [`binary`]: curl, wrk and the `shardgate` executable.
//! - [`h3client`]: HTTP/3 plans run by `tools/h3client.py` (aioquic).

pub mod binary;
pub mod bytes;
pub mod client;
pub mod dns;
pub mod driver;
pub mod error;
pub mod gateway;
pub mod h3client;
pub mod h3probe;
pub mod metrics;
pub mod net;
pub mod origin;
pub mod redis;
pub mod tls;
pub mod tools;
pub mod wire;

pub use client::{Client, Interim, Response, DEFAULT_TIMEOUT};
pub use dns::DnsServer;
pub use driver::Driver;
pub use error::{Error, Result};
pub use gateway::{start_file, Gateway, GatewayBuilder};
pub use h3client::{H3Plan, H3Request, H3Response, H3Results};
pub use net::{closed_addr, free_port, refuses, wait_until};
pub use origin::handlers::{self, Gate};
pub use origin::tls::{Handshake, TlsOrigin};
pub use origin::{handler, After, Handler, Origin, OriginOptions, Reply, Request};
pub use redis::RedisServer;
pub use shardgate_server::ShardStats;
pub use tls::{TestCert, TlsClient};
pub use wire::{Framing, Headers};
