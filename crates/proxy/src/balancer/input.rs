//! What a policy reads per pick besides which servers are available.

use std::time::Instant;

use super::ewma::PeakEwma;
use crate::Rng;

/// What a policy may read of one server's load at pick time (this shard's
/// view of it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    /// Requests of this shard between getting a connection to the server
    /// and giving it back.
    pub in_flight: u32,
    pub latency: PeakEwma,
}

/// Per-pick inputs besides availability and load.
pub struct PickInput<'r> {
    pub now: Instant,
    pub rng: &'r mut Rng,
    /// The request's hash key (`consistent_hash` only).
    pub key: Option<u64>,
}

/// Which load figures the policy reads, so the caller keeps only those up
/// to date (a policy that reads none costs nothing per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadUse {
    Nothing,
    InFlight,
    InFlightAndLatency,
}
