//! HTTP/3: the QUIC listener of every shard (see docs/http3.md).
//!
//! ```text
//! listener ── Incoming ──► connection table slot (or CONNECTION_REFUSED)
//!   └─► connection (handshake, h3 session, GOAWAY drain)
//!         └─► request task per stream: RequestView → admit → route →
//!               (respond | select → send → receive) → log
//! ```
//!
//! quinn objects never leave their shard: the endpoint is built on the
//! shard's thread and every task here is a shard-local monoio task.

pub mod connection;
pub mod forward;
pub mod head;
pub mod listener;
pub mod live;
pub mod outgoing;
pub mod receive;
pub mod request;
pub mod stream;
pub mod upload;
