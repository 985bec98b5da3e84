#![forbid(unsafe_code)]
//! The proxy's policy layer: which route a request takes, which upstream server it
//! goes to, whether a pooled connection may be reused, how long a failing server
//! is left alone, and how heads are rewritten on the way through.
//!
//! Nothing in here does I/O, reads a clock or draws entropy: the server crate
//! passes `Instant`s, `SystemTime`s and an [`Rng`] in. That keeps every decision
//! unit-testable without sockets and keeps each shard's state shard-local. The
//! per-request functions borrow their inputs and write into caller-owned buffers,
//! so steady-state proxying allocates nothing here.

mod balancer;
mod concurrency;
mod date;
mod error;
mod health;
mod method;
mod pool;
mod ratelimit;
mod rewrite;
mod rng;
mod router;
mod shed;
mod status;
#[cfg(test)]
mod testutil;

pub use balancer::{
    cookie_value, hash_bytes, hash_ip, Balancer, Load, LoadUse, Maglev, PeakEwma, PickInput,
};
pub use concurrency::{is_sample, Gradient2, Permit};
pub use date::DateCache;
pub use error::{Error, ErrorKind, Side};
pub use health::{Backoff, ServerHealth};
pub use method::{is_idempotent, is_safe};
pub use pool::{ConnState, Pool, PoolCounts, PoolStats};
pub use ratelimit::{key_hash, key_hash_ip, Limit, Table, Verdict, WAYS as RATE_LIMIT_WAYS};
pub use rewrite::{
    absolute_authority, max_forwards, offered_upgrade, origin_form, put_alt_svc,
    write_downstream_response, write_error_response, write_error_response_for, write_final_answer,
    write_limited_response, write_static_response, write_upstream_request, FinalAnswer, ForwardCtx,
    Framing, Limited, Reflected, VIA_HTTP11, VIA_HTTP3,
};
pub use rng::Rng;
pub use router::Router;
pub use shed::Shed;
pub use status::reason;
