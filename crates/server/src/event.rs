//! A shard-local, one-shot broadcast: "the shard is stopping".
//!
//! Every idle keep-alive connection waits on it next to its socket's readiness, so
//! a graceful stop can close idle connections at once. Waiters live in a slab with
//! a free list: a connection that re-polls does not add a second entry, and a
//! dropped waiter gives its slot back, so the waiter set never grows beyond the
//! number of connections.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    fired: Cell<bool>,
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

/// Cheap to clone (an `Rc`); clones observe the same event.
#[derive(Clone, Default)]
pub struct LocalEvent {
    inner: Rc<Inner>,
}

impl LocalEvent {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_set(&self) -> bool {
        self.inner.fired.get()
    }

    /// Wakes every waiter; later waits complete immediately.
    pub fn set(&self) {
        if self.inner.fired.replace(true) {
            return;
        }
        let waiters = std::mem::take(&mut *self.inner.waiters.borrow_mut());
        self.inner.free.borrow_mut().clear();
        for w in waiters.into_iter().flatten() {
            w.wake();
        }
    }

    pub fn wait(&self) -> Wait {
        Wait {
            inner: self.inner.clone(),
            slot: None,
        }
    }
}

pub struct Wait {
    inner: Rc<Inner>,
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.fired.get() {
            self.slot = None;
            return Poll::Ready(());
        }
        let mut waiters = self.inner.waiters.borrow_mut();
        match self.slot {
            Some(i) if i < waiters.len() => waiters[i] = Some(cx.waker().clone()),
            _ => {
                let i = match self.inner.free.borrow_mut().pop() {
                    Some(i) => {
                        waiters[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        waiters.push(Some(cx.waker().clone()));
                        waiters.len() - 1
                    }
                };
                drop(waiters);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            if self.inner.fired.get() {
                return;
            }
            if let Some(w) = self.inner.waiters.borrow_mut().get_mut(i) {
                *w = None;
            }
            self.inner.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[monoio::test(enable_timer = true)]
    async fn wakes_all_waiters_and_reuses_slots() {
        let ev = LocalEvent::new();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let w = ev.wait();
            tasks.push(monoio::spawn(w));
        }
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(ev.inner.waiters.borrow().len(), 3);
        // A dropped waiter frees its slot for the next one.
        {
            let mut w = Box::pin(ev.wait());
            let waker = futures_noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert_eq!(ev.inner.waiters.borrow().len(), 4);
        }
        assert_eq!(ev.inner.free.borrow().len(), 1);
        let mut w = Box::pin(ev.wait());
        let waker = futures_noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(w.as_mut().poll(&mut cx).is_pending());
        assert_eq!(ev.inner.waiters.borrow().len(), 4, "slot reused");
        ev.set();
        for t in tasks {
            t.await;
        }
        assert!(w.as_mut().poll(&mut cx).is_ready());
        assert!(ev.is_set());
        ev.wait().await;
    }

    fn futures_noop_waker() -> Waker {
        Waker::noop().clone()
    }
}
