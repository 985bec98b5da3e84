#![forbid(unsafe_code)]
//! A fixed-size, lock-free table of connection slots for a shard's HTTP/3 listener.
//!
//! The table is allocated once ([`Slots::new`]); each QUIC connection claims a slot
//! before it is accepted and frees it when it ends. A slot moves
//! Idle → Busy → Draining → Closed → Idle (or Busy → Closed directly) by atomic
//! compare-and-swap only — no locks — so the admin API and metrics on other threads read
//! and drain slots without ever blocking the shard.
//!
//! # ABA safety and generations
//!
//! Each slot's word packs its [`State`] with a 30-bit generation that [`Slots::release`]
//! bumps. A [`SlotId`] carries the generation it was claimed in, and every transition
//! checks it, so an id kept after its connection ended (a stale admin listing, a late
//! timer) fails with [`TransitionError::Stale`] instead of acting on the slot's next
//! connection.
//!
//! The generation wraps after 2^30 (≈1.07 billion) releases of one slot. A stale id
//! would alias only if it were used after *exactly* a multiple of 2^30 recyclings of its
//! slot — at one connection per microsecond on a single slot, a stale id would have to
//! sit unused for about 18 minutes and then hit the exact cycle. Ids are short-lived (an
//! admin request, a timer), so this is accepted rather than paying for a 64-bit word.
//!
//! # Model checking
//!
//! Under `--cfg loom` the atomics come from loom and the `loom_models` tests check the
//! concurrent behaviour exhaustively (see `.ci/test`).

mod error;
mod guard;
mod id;
mod state;
mod sync;
mod table;

#[cfg(all(test, loom))]
mod loom_models;

pub use error::TransitionError;
pub use guard::Slot;
pub use id::SlotId;
pub use state::State;
pub use table::{Counts, Slots};
