//! Requests waiting for a connection to a server that has
//! `max_conns_per_host` connections open: a bounded FIFO per server per shard
//! (`max_pending`), each waiter parked until a connection or the right to
//! open one is handed to it, or `pending_timeout` passes.
//!
//! Hand-off, not wake-and-race: a connection released while requests wait
//! goes straight to the oldest waiter, and a closed one becomes a *permit*
//! (the open slot, already counted) for it. A request arriving meanwhile
//! cannot overtake the queue (`acquire` queues behind waiters), so waiters
//! are served in order and `max_conns_per_host` is never exceeded.
//!
//! Each waiter costs one small `Rc` allocation. That is only on the
//! saturated path (the steady state never waits), and the queue's bound
//! caps it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// One waiter's place: what is handed to it (`T`: a connection, or the right
/// to open one) and how to wake it.
pub(super) struct Slot<T> {
    waker: Cell<Option<Waker>>,
    item: RefCell<Option<T>>,
}

/// The waiters of one server on one shard.
pub(super) struct Waiters<T> {
    queue: VecDeque<Rc<Slot<T>>>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters {
            queue: VecDeque::new(),
        }
    }
}

impl<T> Waiters<T> {
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A place in the queue, or None when `max` already wait.
    pub(super) fn push(&mut self, max: usize) -> Option<Rc<Slot<T>>> {
        if self.queue.len() >= max {
            return None;
        }
        let slot = Rc::new(Slot {
            waker: Cell::new(None),
            item: RefCell::new(None),
        });
        self.queue.push_back(slot.clone());
        Some(slot)
    }

    /// The oldest waiter still waiting (its future holds the other `Rc`),
    /// taken out of the queue; abandoned slots met on the way are dropped.
    pub(super) fn pop_live(&mut self) -> Option<Rc<Slot<T>>> {
        while let Some(s) = self.queue.pop_front() {
            if Rc::strong_count(&s) > 1 {
                return Some(s);
            }
        }
        None
    }

    /// Takes `slot` out of the queue (its waiter gave up).
    pub(super) fn remove(&mut self, slot: &Rc<Slot<T>>) {
        self.queue.retain(|s| !Rc::ptr_eq(s, slot));
    }

    /// Every waiter, to be told the server is gone.
    pub(super) fn take_all(&mut self) -> VecDeque<Rc<Slot<T>>> {
        std::mem::take(&mut self.queue)
    }
}

impl<T> Slot<T> {
    /// Gives `h` to this slot's waiter and wakes it. Call it with no borrow
    /// of the server's state held: the waiter may drop `h` later, and
    /// dropping a connection touches the pool.
    pub(super) fn fill(&self, h: T) {
        let old = self.item.borrow_mut().replace(h);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        drop(old);
    }

    /// Resolves when something was handed over.
    pub(super) async fn wait(&self) -> T {
        poll_fn(|cx| match self.item.borrow_mut().take() {
            Some(h) => Poll::Ready(h),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// What was handed over but not collected (the waiter timed out just as
    /// it came): the caller drops it outside any borrow.
    pub(super) fn take(&self) -> Option<T> {
        self.item.borrow_mut().take()
    }
}
