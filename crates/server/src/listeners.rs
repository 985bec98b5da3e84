//! Listeners that come and go with reloads (ADR 18).
//!
//! A listener's identity is its name: a kept name with the same socket
//! parameters keeps its sockets (a TCP listener also when only its
//! `backlog`, `tcp_fast_open` or `defer_accept` change: they are set on
//! the same sockets), anything else is a removal plus an addition. Files, each depending only on those listed before it: `id`
//! (the stable [`ListenerId`] and the socket parameters that decide
//! "kept"), `bind` (a whole `SO_REUSEPORT` group for one listener, on the
//! control thread), `handoff` (bound sockets waiting for their shard),
//! `inherited` (sockets a binary upgrade handed over), `adopt` (taking
//! such a group instead of binding), `retune` (new socket options on a
//! kept TCP listener's sockets), `plan` (what a reload keeps, adds and
//! removes, and the binding of the added ones), `local` (a shard's view: the listeners it runs, their drain
//! events, and the generation a removed one drains under).

pub mod adopt;
pub mod bind;
pub mod handoff;
pub mod id;
pub mod inherited;
pub mod local;
pub mod plan;
pub mod retune;

pub use id::ListenerId;
