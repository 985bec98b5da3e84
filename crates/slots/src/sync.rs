//! The atomics the table is built on: loom's model-checked ones under `cfg(loom)`, the
//! standard library's otherwise. Everything in the crate takes its atomics from here, so a
//! loom run checks exactly the code that ships.
//!
//! `Arc` is deliberately not shimmed: [`crate::Slots::claim_guard`] takes `self: &Arc<Self>`,
//! which only the standard library's `Arc` allows as a receiver.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
