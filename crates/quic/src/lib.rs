#![deny(unsafe_code)]
//! QUIC on shardgate's shards: quinn driven by each shard's own monoio
//! runtime, on the shard's member socket of a `SO_REUSEPORT` UDP group,
//! with connection IDs that name the shard (so the steering program keeps a
//! connection's datagrams on its shard, even after the client migrates) and
//! a user-space hand-over for datagrams that reach the wrong shard anyway.
//!
//! `unsafe` is confined to [`bound`]: the `Send`/`Sync` markers quinn's
//! runtime traits demand, for values that never leave their shard.

mod bound;
mod cid;
mod endpoint;
mod error;
mod forward;
mod redirect;
mod runtime;
mod socket;
mod split;

pub use cid::{CidLayout, ShardCids, MAX_GENERATION, MAX_SERVER_ID};
pub use endpoint::{server_configs, shard_endpoint, Transport};
pub use error::Error;
pub use forward::{decode as decode_forwarded, of_generation, Frame, Predecessor, MAX_FRAME};
pub use redirect::{Inbox, RedirectHub};
pub use runtime::MonoioRuntime;
pub use socket::{ShardSocket, Steer};
