//! The shard's fixed-size connection table.
//!
//! Capacity comes from `server.max_connections_per_shard` and every slot is
//! allocated at start-up. A connection holds a [`Slot`] for its whole life; when
//! none is free the accept loops stop accepting (the kernel backlog becomes the
//! queue, which is what pushes back on clients) until a slot is released.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// What a connection is doing, so a graceful stop knows which ones it may close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    Free,
    /// Between requests: may be closed by a drain at once.
    Idle,
    /// A request is in flight: a drain lets it finish.
    Busy,
    /// Idle past the hot window: its task waits for readiness only; the
    /// table's sweep enforces its idle deadline.
    Parked,
    /// The sweep ended a parked connection (deadline passed, or drain): its
    /// socket was shut down, which woke the parked task to close it.
    Expired,
}

/// Where a parked connection's socket is and until when it may stay idle.
#[derive(Clone, Copy)]
struct ParkInfo {
    fd: RawFd,
    deadline: Instant,
}

pub struct ConnTable {
    states: RefCell<Vec<SlotState>>,
    parked: RefCell<Vec<ParkInfo>>,
    free: RefCell<Vec<u32>>,
    active: Cell<usize>,
    /// Accept loops parked because the table is full (one per listener at most).
    acceptors: RefCell<Vec<Waker>>,
    /// Drain waits here for the table to empty.
    drained: RefCell<Option<Waker>>,
}

impl ConnTable {
    pub fn new(capacity: usize) -> Rc<Self> {
        let cap = u32::try_from(capacity).unwrap_or(u32::MAX) as usize;
        Rc::new(Self {
            states: RefCell::new(vec![SlotState::Free; cap]),
            parked: RefCell::new(vec![
                ParkInfo {
                    fd: -1,
                    deadline: Instant::now(),
                };
                cap
            ]),
            // Popped from the end: slot 0 is handed out first.
            free: RefCell::new((0..cap as u32).rev().collect()),
            active: Cell::new(0),
            acceptors: RefCell::new(Vec::with_capacity(8)),
            drained: RefCell::new(None),
        })
    }

    pub fn active(&self) -> usize {
        self.active.get()
    }

    pub fn try_acquire(self: &Rc<Self>) -> Option<Slot> {
        let idx = self.free.borrow_mut().pop()?;
        if let Some(s) = self.states.borrow_mut().get_mut(idx as usize) {
            *s = SlotState::Busy;
        }
        self.active.set(self.active.get() + 1);
        Some(Slot {
            table: self.clone(),
            idx,
        })
    }

    /// A free slot, waiting (and counting the event) while the table is full.
    pub async fn acquire(self: &Rc<Self>) -> Slot {
        if let Some(s) = self.try_acquire() {
            return s;
        }
        poll_fn(|cx| match self.try_acquire() {
            Some(s) => Poll::Ready(s),
            None => {
                let mut acc = self.acceptors.borrow_mut();
                if !acc.iter().any(|w| w.will_wake(cx.waker())) {
                    acc.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }

    /// Completes once no slot is in use.
    pub async fn wait_empty(&self) {
        poll_fn(|cx| {
            if self.active.get() == 0 {
                Poll::Ready(())
            } else {
                *self.drained.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Ends parked connections whose idle deadline has passed (all of them when
    /// `all`, for a drain): marks them expired and shuts their sockets down, so
    /// each parked task wakes and closes. One timer per shard does this instead
    /// of a timer per idle connection, which keeps a parked connection small.
    pub fn sweep(&self, now: Instant, all: bool) -> usize {
        let mut states = self.states.borrow_mut();
        let parked = self.parked.borrow();
        let mut ended = 0;
        for (state, info) in states.iter_mut().zip(parked.iter()) {
            if *state == SlotState::Parked && (all || info.deadline <= now) {
                *state = SlotState::Expired;
                // The fd belongs to the parked connection, which is still open
                // (it closes only after it sees this state).
                let _ = shardgate_net::shutdown_socket(info.fd);
                ended += 1;
            }
        }
        ended
    }

    #[cfg(test)]
    pub fn count(&self, state: SlotState) -> usize {
        self.states.borrow().iter().filter(|s| **s == state).count()
    }

    fn release(&self, idx: u32) {
        if let Some(s) = self.states.borrow_mut().get_mut(idx as usize) {
            *s = SlotState::Free;
        }
        self.free.borrow_mut().push(idx);
        self.active.set(self.active.get().saturating_sub(1));
        for w in self.acceptors.borrow_mut().drain(..) {
            w.wake();
        }
        if self.active.get() == 0 {
            if let Some(w) = self.drained.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// A held slot; dropping it frees the slot and wakes a parked accept loop.
pub struct Slot {
    table: Rc<ConnTable>,
    idx: u32,
}

impl Slot {
    pub fn set_state(&self, state: SlotState) {
        if let Some(s) = self.table.states.borrow_mut().get_mut(self.idx as usize) {
            *s = state;
        }
    }

    #[cfg(test)]
    pub fn index(&self) -> u32 {
        self.idx
    }

    /// Parks the connection on `fd` until `deadline` (see [`ConnTable::sweep`]).
    pub fn park(&self, fd: RawFd, deadline: Instant) {
        self.set_state(SlotState::Parked);
        if let Some(p) = self.table.parked.borrow_mut().get_mut(self.idx as usize) {
            *p = ParkInfo { fd, deadline };
        }
    }

    /// Back from parking: false when the sweep ended it meanwhile.
    pub fn unpark(&self) -> bool {
        let mut states = self.table.states.borrow_mut();
        match states.get_mut(self.idx as usize) {
            Some(s) if *s == SlotState::Parked => {
                *s = SlotState::Busy;
                true
            }
            _ => false,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.release(self.idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[monoio::test(enable_timer = true)]
    async fn full_table_parks_acceptor_until_release() {
        let t = ConnTable::new(2);
        let a = t.acquire().await;
        let b = t.acquire().await;
        assert!(t.try_acquire().is_none());
        assert_eq!(t.active(), 2);
        let t2 = t.clone();
        let waiter = monoio::spawn(async move { t2.acquire().await.index() });
        monoio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            t.try_acquire().is_none(),
            "still full while the acceptor is parked"
        );
        b.set_state(SlotState::Idle);
        assert_eq!(t.count(SlotState::Idle), 1);
        drop(b);
        assert_eq!(
            waiter.await,
            1,
            "the freed slot is handed to the parked acceptor"
        );
        drop(a);
        t.wait_empty().await;
        assert_eq!(t.active(), 0);
        assert_eq!(t.count(SlotState::Free), 2);
    }

    #[test]
    fn sweep_ends_only_expired_parked_connections() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peers = Vec::new();
        let mut socks = Vec::new();
        for _ in 0..2 {
            peers.push(std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
            socks.push(l.accept().unwrap().0);
        }
        let t = ConnTable::new(3);
        let (a, b, busy) = (
            t.try_acquire().unwrap(),
            t.try_acquire().unwrap(),
            t.try_acquire().unwrap(),
        );
        let now = Instant::now();
        a.park(socks[0].as_raw_fd(), now);
        b.park(socks[1].as_raw_fd(), now + Duration::from_secs(60));
        assert_eq!(t.sweep(now, false), 1, "only the one past its deadline");
        assert_eq!(t.count(SlotState::Expired), 1);
        assert!(!a.unpark(), "an expired connection does not come back");
        let mut byte = [0u8; 1];
        peers[0]
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(peers[0].read(&mut byte).unwrap(), 0, "the client sees FIN");
        assert!(b.unpark(), "a live parked connection comes back");
        b.park(socks[1].as_raw_fd(), now + Duration::from_secs(60));
        assert_eq!(t.sweep(now, true), 1, "drain ends every parked connection");
        assert_eq!(
            t.count(SlotState::Busy),
            1,
            "busy connections are left to finish"
        );
        drop(busy);
    }
}
