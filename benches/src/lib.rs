#![forbid(unsafe_code)]
//! Shared inputs for shardgate's micro-benchmarks and allocation tests.
//!
//! The criterion benches (`benches/`) and the allocation test (`tests/alloc.rs`)
//! must measure the same requests and route tables, or their numbers cannot be
//! compared; so the fixtures live here once. The origin and client are plain
//! std threads and sockets that allocate nothing per request after start-up, so
//! a process-wide allocation counter sees only the gateway's allocations.

pub mod client;
pub mod origin;
pub mod requests;
pub mod routes;
