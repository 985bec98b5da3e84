//! The one `unsafe` of this crate: values that quinn requires to be
//! `Send + Sync` but that hold monoio futures and `Rc`s, which are neither.
//!
//! quinn's [`Runtime`](quinn::Runtime) traits are written for work-stealing
//! runtimes, so they demand `Send + Sync` timers, sockets and spawned futures.
//! On a shard nothing ever leaves the shard's thread: the endpoint, its
//! connections and every task quinn spawns are created on the shard and
//! driven by the shard's own monoio runtime, which never moves a task. The
//! markers are therefore never exercised — but the compiler cannot know, so
//! [`ShardBound`] asserts it and re-checks it on every access: touching the
//! value from another thread aborts the process (a wrong-thread access would
//! be undefined behaviour; aborting is the only sound answer, and it is a bug
//! in shardgate or quinn, never something a peer can cause). Dropping it on
//! another thread leaks the value instead of running its destructor there.
//!
//! What would break the promise: calling `Endpoint::connect`, `rebind`, or
//! dropping a `Connection` on another thread. shardgate does none of these;
//! quinn objects never leave their shard (the server crate keeps them in
//! shard-local tasks only).
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};

/// Hands out thread numbers; never reused (unlike a thread-local's address,
/// which a later thread may get), and cheaper to read than
/// `std::thread::current().id()`, which clones an `Arc` per call.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

fn thread_mark() -> u64 {
    THREAD.with(|t| *t)
}

pub(crate) struct ShardBound<T> {
    value: ManuallyDrop<T>,
    owner: u64,
}

// SAFETY: every access to `value` goes through `get`/`get_mut`, which abort
// unless called on the thread that created it, and `Drop` only drops `value`
// on that thread (it leaks it otherwise). So `T` is only ever touched by one
// thread, which is what `T: !Send + !Sync` requires. Tested in `tests` below.
unsafe impl<T> Send for ShardBound<T> {}
// SAFETY: as above: shared references are only dereferenced on the owner.
unsafe impl<T> Sync for ShardBound<T> {}

impl<T> ShardBound<T> {
    pub(crate) fn new(value: T) -> Self {
        ShardBound {
            value: ManuallyDrop::new(value),
            owner: thread_mark(),
        }
    }

    /// Whether the current thread is the one that created the value.
    pub(crate) fn on_owner(&self) -> bool {
        self.owner == thread_mark()
    }

    fn check(&self) {
        if !self.on_owner() {
            tracing::error!("a shard-bound QUIC object was used on another thread; aborting");
            std::process::abort();
        }
    }

    pub(crate) fn get(&self) -> &T {
        self.check();
        &self.value
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.check();
        &mut self.value
    }
}

impl<T> Drop for ShardBound<T> {
    fn drop(&mut self) {
        if self.on_owner() {
            // SAFETY: `value` is dropped exactly once, here, on its own thread.
            unsafe { ManuallyDrop::drop(&mut self.value) }
        }
        // On another thread: leaked, never dropped in the wrong place.
    }
}

impl<T> std::fmt::Debug for ShardBound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardBound").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    struct CountDrop(Rc<Cell<u32>>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn owner_thread_reads_writes_and_drops() {
        let drops = Rc::new(Cell::new(0));
        let mut b = ShardBound::new((CountDrop(drops.clone()), 1u32));
        assert!(b.on_owner());
        b.get_mut().1 = 7;
        assert_eq!(b.get().1, 7);
        drop(b);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn another_thread_is_not_the_owner_and_leaks_instead_of_dropping() {
        // An Arc-counted payload shows whether the destructor ran on the
        // foreign thread (it must not: it leaks there).
        let marker = std::sync::Arc::new(());
        let b = ShardBound::new(marker.clone());
        let seen = std::thread::spawn(move || {
            let foreign = b.on_owner();
            drop(b);
            foreign
        })
        .join()
        .expect("thread");
        assert!(!seen, "the foreign thread must not count as the owner");
        assert_eq!(
            std::sync::Arc::strong_count(&marker),
            2,
            "dropped on a foreign thread: the value must leak, not run its destructor"
        );
    }
}
