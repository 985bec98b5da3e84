//! Cluster-wide rate limits (`backend = "redis"`): the helper thread
//! (`shardgate-ratelimit-sync`) that shares each redis-backed rule's local
//! table with the other gateways through Redis (ADR 0016).
//!
//! The request path never waits on the network: shards decide from their
//! local table alone. Every `sync_interval` the thread drains the counts the
//! table admitted, reports them to Redis in one pipelined round trip (a Lua
//! script keeps GCRA state for the fleet), and charges the table with what
//! the other gateways admitted, so each gateway's buckets reflect the
//! fleet's use one interval late. While Redis is unreachable the local limit
//! alone applies (counted, logged once per state change), and the thread
//! reconnects with backoff.

mod client;
mod link;
mod script;
#[cfg(test)]
mod script_tests;
mod syncer;
#[cfg(test)]
mod syncer_tests;
#[cfg(test)]
mod test_redis;
