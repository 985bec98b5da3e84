//! The shard's fixed-size connection table.
//!
//! Capacity comes from `server.max_connections_per_shard` and every slot is
//! allocated at start-up. A connection holds a [`Slot`] for its whole life; when
//! none is free the accept loops stop accepting (the kernel backlog becomes the
//! queue, which is what pushes back on clients) until a slot is released.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use rustls::ServerConnection;

use crate::clients::ClientCharge;
use crate::conn::secure::handshake::TlsInfo;

/// What a connection is doing, so a graceful stop knows which ones it may close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    Free,
    /// Taken by an accept loop waiting for its next connection (a slot is
    /// taken before accepting): not a connection yet.
    Reserved,
    /// Between requests: may be closed by a drain at once.
    Idle,
    /// A request is in flight: a drain lets it finish.
    Busy,
    /// Idle past the hot window: no task holds it; its socket is in the
    /// shard's parking lot and its state in [`Parked`], in this table.
    Parked,
}

/// Everything a parked connection needs to resume, with its socket.
pub struct Parked {
    pub fd: OwnedFd,
    pub peer: SocketAddr,
    /// Its listener's id (`ListenerId.0`).
    pub listener: u32,
    /// No request served yet (the header timeout applies to the first wait).
    pub first: bool,
    pub accepted: Instant,
    /// End of its idle time (`keepalive`, or `header_read` before the first request).
    pub deadline: Instant,
    /// A TLS connection's session (None: cleartext). Boxed so a slot stays
    /// small for the cleartext connections that are most of them.
    pub tls: Option<Box<ParkedTls>>,
    /// When its last response ended, in ms after `accepted` (`u32::MAX`:
    /// none yet): its cadence when it comes back (`wait::next_window`).
    pub idle_from_ms: u32,
}

impl Parked {
    /// `idle_from` as stored in a slot (4 bytes instead of 16).
    pub fn idle_from_ms(accepted: Instant, idle_from: Option<Instant>) -> u32 {
        idle_from.map_or(u32::MAX, |t| {
            u32::try_from(t.saturating_duration_since(accepted).as_millis()).unwrap_or(u32::MAX - 1)
        })
    }

    pub fn idle_from(&self) -> Option<Instant> {
        (self.idle_from_ms != u32::MAX)
            .then(|| self.accepted + std::time::Duration::from_millis(u64::from(self.idle_from_ms)))
    }
}

/// What a parked TLS connection keeps: its rustls session (keys, sequence
/// numbers, no record buffer) and what its access-log lines record (ADR 20).
pub struct ParkedTls {
    pub session: Box<ServerConnection>,
    pub info: TlsInfo,
}

pub struct ConnTable {
    states: RefCell<Vec<SlotState>>,
    /// Preallocated like the states, so parking allocates nothing.
    parked: RefCell<Vec<Option<Parked>>>,
    free: RefCell<Vec<u32>>,
    /// Each slot's count against its client's `max_connections_per_client`,
    /// given back when the slot is released (so a parked connection keeps
    /// it). Empty until a listener with a limit admits a connection, then
    /// one entry per slot.
    charges: RefCell<Vec<Option<ClientCharge>>>,
    active: Cell<usize>,
    /// Accept loops parked because the table is full (one per listener at most).
    acceptors: RefCell<Vec<Waker>>,
    /// Drain waits here for the table to empty.
    drained: RefCell<Option<Waker>>,
    /// Slots in each state, by [`SlotState::index`], kept exact on every
    /// move (a `Cell` add, free on the shard): the shard publishes them for
    /// the admin API on its tick without walking the table.
    counts: [Cell<usize>; 5],
}

/// How many connections are in each state (see [`SlotState`]); slots
/// reserved by accept loops are not connections and not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub idle: usize,
    pub busy: usize,
    pub parked: usize,
}

impl SlotState {
    const fn index(self) -> usize {
        match self {
            SlotState::Free => 0,
            SlotState::Idle => 1,
            SlotState::Busy => 2,
            SlotState::Parked => 3,
            SlotState::Reserved => 4,
        }
    }
}

impl ConnTable {
    pub fn new(capacity: usize) -> Rc<Self> {
        let cap = u32::try_from(capacity).unwrap_or(u32::MAX) as usize;
        Rc::new(Self {
            states: RefCell::new(vec![SlotState::Free; cap]),
            parked: RefCell::new(std::iter::repeat_with(|| None).take(cap).collect()),
            // Popped from the end: slot 0 is handed out first.
            free: RefCell::new((0..cap as u32).rev().collect()),
            charges: RefCell::new(Vec::new()),
            active: Cell::new(0),
            acceptors: RefCell::new(Vec::with_capacity(8)),
            drained: RefCell::new(None),
            counts: [
                Cell::new(cap),
                Cell::new(0),
                Cell::new(0),
                Cell::new(0),
                Cell::new(0),
            ],
        })
    }

    pub fn capacity(&self) -> usize {
        self.states.borrow().len()
    }

    /// Connections by state, exact as of now.
    pub fn counts(&self) -> TableCounts {
        let get = |s: SlotState| self.counts.get(s.index()).map_or(0, Cell::get);
        TableCounts {
            idle: get(SlotState::Idle),
            busy: get(SlotState::Busy),
            parked: get(SlotState::Parked),
        }
    }

    /// Sets slot `idx`'s state and keeps `counts` in step.
    fn set(&self, idx: usize, to: SlotState) -> Option<SlotState> {
        let mut states = self.states.borrow_mut();
        let s = states.get_mut(idx)?;
        let from = std::mem::replace(s, to);
        if let Some(c) = self.counts.get(from.index()) {
            c.set(c.get().saturating_sub(1));
        }
        if let Some(c) = self.counts.get(to.index()) {
            c.set(c.get() + 1);
        }
        Some(from)
    }

    pub fn active(&self) -> usize {
        self.active.get()
    }

    pub fn try_acquire(self: &Rc<Self>) -> Option<Slot> {
        let idx = self.free.borrow_mut().pop()?;
        self.set(idx as usize, SlotState::Busy);
        self.active.set(self.active.get() + 1);
        Some(Slot {
            table: Some(self.clone()),
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

    /// A parked connection whose socket became ready: its slot (held again)
    /// and its state. None when the slot is not parked (the sweep ended it).
    pub fn unpark(self: &Rc<Self>, idx: u32) -> Option<(Slot, Parked)> {
        let i = idx as usize;
        if *self.states.borrow().get(i)? != SlotState::Parked {
            return None;
        }
        self.set(i, SlotState::Busy);
        let p = self.parked.borrow_mut().get_mut(i)?.take()?;
        Some((
            Slot {
                table: Some(self.clone()),
                idx,
            },
            p,
        ))
    }

    /// Ends parked connections whose idle deadline has passed (all of them when
    /// `all`, for a drain): frees their slots and hands each one's state to
    /// `end`, which closes the socket. One timer per shard does this instead
    /// of a timer per idle connection.
    pub fn sweep(&self, now: Instant, all: bool, end: impl FnMut(Parked)) -> usize {
        self.sweep_where(|p| all || p.deadline <= now, end)
    }

    /// Ends the parked connections of listener `listener` (a reload removed
    /// it), as [`ConnTable::sweep`] does.
    pub fn sweep_listener(&self, listener: u32, end: impl FnMut(Parked)) -> usize {
        self.sweep_where(|p| p.listener == listener, end)
    }

    fn sweep_where(&self, due: impl Fn(&Parked) -> bool, mut end: impl FnMut(Parked)) -> usize {
        // A busy shard has no parked connection most of the time: walking
        // every slot (`max_connections_per_shard`, 20,000 in the benchmark)
        // every 100 ms for nothing is a pause the request path would wait on.
        if self.counts().parked == 0 {
            return 0;
        }
        let mut ended = 0;
        let len = self.states.borrow().len();
        for i in 0..len {
            let due = {
                let states = self.states.borrow();
                let parked = self.parked.borrow();
                matches!(states.get(i), Some(SlotState::Parked))
                    && parked.get(i).and_then(Option::as_ref).is_some_and(&due)
            };
            if !due {
                continue;
            }
            let p = self.parked.borrow_mut().get_mut(i).and_then(Option::take);
            self.release(i as u32);
            if let Some(p) = p {
                end(p);
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
        // Taken out before it drops: the drop touches only the shared
        // per-client table, never this one.
        let charge = self
            .charges
            .borrow_mut()
            .get_mut(idx as usize)
            .and_then(Option::take);
        drop(charge);
        self.set(idx as usize, SlotState::Free);
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

/// A held slot; dropping it frees the slot and wakes a parked accept loop,
/// unless it was handed to the table by [`Slot::park`].
pub struct Slot {
    /// None once parked: the table holds the slot then.
    table: Option<Rc<ConnTable>>,
    idx: u32,
}

impl Slot {
    pub fn set_state(&self, state: SlotState) {
        if let Some(t) = &self.table {
            t.set(self.idx as usize, state);
        }
    }

    pub fn index(&self) -> u32 {
        self.idx
    }

    /// Keeps `charge` until the slot is released.
    pub fn hold(&self, charge: ClientCharge) {
        let Some(t) = &self.table else { return };
        let mut charges = t.charges.borrow_mut();
        if charges.is_empty() {
            let cap = t.capacity();
            charges.resize_with(cap, || None);
        }
        if let Some(c) = charges.get_mut(self.idx as usize) {
            *c = Some(charge);
        }
    }

    /// Parks the connection: the table keeps the slot and `p` until
    /// [`ConnTable::unpark`] or the sweep.
    pub fn park(mut self, p: Parked) {
        // Taken out, so `Drop` leaves the slot in use.
        let Some(table) = self.table.take() else {
            return;
        };
        let idx = self.idx as usize;
        table.set(idx, SlotState::Parked);
        let mut parked = table.parked.borrow_mut();
        if let Some(slot) = parked.get_mut(idx) {
            *slot = Some(p);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(t) = &self.table {
            t.release(self.idx);
        }
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
        assert_eq!(
            t.counts(),
            TableCounts {
                idle: 1,
                busy: 1,
                parked: 0
            }
        );
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
    fn parked_connections_come_back_or_are_swept() {
        use std::io::Read;
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
        let (ia, ib) = (a.index(), b.index());
        let now = Instant::now();
        let parked = |s: std::net::TcpStream, deadline| Parked {
            fd: OwnedFd::from(s),
            peer: "127.0.0.1:1".parse().unwrap(),
            listener: 0,
            first: false,
            accepted: now,
            deadline,
            tls: None,
            idle_from_ms: u32::MAX,
        };
        let mut socks = socks.into_iter();
        a.park(parked(socks.next().unwrap(), now));
        b.park(parked(socks.next().unwrap(), now + Duration::from_secs(60)));
        assert_eq!(t.active(), 3, "parked slots stay taken");
        assert_eq!(t.count(SlotState::Parked), 2);
        assert_eq!(
            t.counts(),
            TableCounts {
                idle: 0,
                busy: 1,
                parked: 2
            }
        );
        let mut ended = Vec::new();
        assert_eq!(
            t.sweep(now, false, |p| ended.push(p)),
            1,
            "only the one past its deadline"
        );
        assert_eq!(t.active(), 2);
        assert!(
            t.unpark(ia).is_none(),
            "a swept connection does not come back"
        );
        drop(ended);
        let mut byte = [0u8; 1];
        peers[0]
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(peers[0].read(&mut byte).unwrap(), 0, "the client sees FIN");
        let (slot, p) = t.unpark(ib).expect("a live parked connection comes back");
        assert_eq!(t.count(SlotState::Busy), 2);
        assert!(t.unpark(ib).is_none(), "only once");
        slot.park(p);
        assert_eq!(
            t.sweep(now, true, drop),
            1,
            "drain ends every parked connection"
        );
        assert_eq!(
            t.count(SlotState::Busy),
            1,
            "busy connections are left to finish"
        );
        drop(busy);
        assert_eq!(t.active(), 0);
        assert_eq!(t.counts(), TableCounts::default(), "every count back to 0");
    }
}
