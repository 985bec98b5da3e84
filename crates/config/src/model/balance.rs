//! What a load-balancing policy needs besides the policy itself.

use serde::Serialize;

/// `hash_key`: the part of a request `lb = "consistent_hash"` hashes, so
/// that requests with the same key go to the same server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// `"client_ip"`: the client's address (without port).
    ClientIp,
    /// `"path"`: the request path, without the query.
    Path,
    /// `"header:NAME"`: the value of the first field `NAME` (stored
    /// lower-case; header names are case-insensitive).
    Header(String),
    /// `"cookie:NAME"`: the value of cookie `NAME` (case-sensitive, as
    /// cookie names are).
    Cookie(String),
}
