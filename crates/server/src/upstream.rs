//! The upstream side of a shard, in one place: per-server state (keep-alive
//! pool, reconnect backoff, open-connection accounting), choosing a server and
//! a connection for a request, giving the connection back, and rebuilding all
//! of it when a new config generation arrives; and the process-wide health
//! every shard shares (`shared`, `outlier`, `registry`: active-check state,
//! outlier ejection, panic), which the health thread and `/upstreams` read.
//!
//! Ownership is one-way, so nothing leaks: a [`ServerState`] owns its idle
//! sockets ([`IdleConn`], which point at nothing); a busy [`UpConn`] owns a
//! strong reference to its server only while a request holds it. When a reload
//! drops a server (removed, or its upstream renamed), the server is *retired*:
//! its idle sockets close at once and a busy one closes when its request
//! releases it (`tests/upstream_reload.rs` counts the origin's connections).
//!
//! This module knows nothing of shards or requests: the caller passes the
//! shard's random source and reads the outcome.

mod acquire;
mod adaptive;
mod budget;
mod build;
mod connect;
mod load;
mod outcome;
mod outlier;
mod pick;
mod registry;
mod server;
mod shared;
mod stream;
mod tend;
mod tls;
mod tried;
mod wait;

pub use acquire::{acquire, release, Want};
pub use adaptive::Slot;
pub use build::{build, retire_dropped, UpstreamState};
pub use outlier::is_panic;
pub use registry::HealthRegistry;
pub use server::UpConn;
pub use shared::{millis, Probe, ServerShared, ShardFigures, UpstreamShared};
pub use stream::UpStream;
pub use tls::client_config;
pub use tried::Tried;
