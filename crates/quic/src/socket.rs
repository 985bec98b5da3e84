//! A shard's UDP socket as quinn sees it: quinn-udp does the I/O on the raw
//! socket (GSO, GRO, ECN, packet info), monoio tells when to try again (the
//! readiness of a duplicate descriptor, so the same code waits on io_uring
//! and on epoll), and datagrams owned by another shard are handed over
//! instead of being fed to the wrong endpoint (see `redirect`).

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use metrics::Counter;
use quinn::udp::{RecvMeta, Transmit, UdpSocketState};
use quinn::{AsyncUdpSocket, UdpPoller};

use crate::bound::ShardBound;
use crate::forward::Predecessor;
use crate::redirect::{Inbox, RedirectHub, Redirected, Sent};
use crate::split::keep_owned;

type Wait = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// Where a shard's datagrams may belong, and the counters of those that
/// did not belong here.
pub struct Steer {
    pub shard: usize,
    pub shards: usize,
    /// Offset of the shard byte inside a connection ID.
    pub shard_offset: u8,
    pub hub: Arc<RedirectHub>,
    pub inbox: Inbox,
    /// Datagrams this shard handed to their owner.
    pub redirected: Counter,
    /// Datagrams dropped because the owner's inbox was full.
    pub dropped: Counter,
    /// Whether this process reads the UDP socket (ADR 19): closed in a new
    /// process until the old one has stopped reading, and in the old one
    /// from then on (it is fed through its inbox). Shared by every endpoint
    /// of the process; [`RedirectHub::nudge_all`] makes them look again.
    pub gate: Arc<AtomicBool>,
    /// Set while a previous process still serves connections of its
    /// generation: their datagrams are forwarded to it.
    pub predecessor: Option<Predecessor>,
}

struct Inner {
    io: std::net::UdpSocket,
    state: UdpSocketState,
    /// A duplicate of `io`'s descriptor registered with monoio, for readiness.
    ready: Rc<monoio::net::udp::UdpSocket>,
    read_wait: RefCell<Option<Wait>>,
    steer: Option<SteerInner>,
}

struct SteerInner {
    cfg: Steer,
    wake: Rc<monoio::net::unix::UnixDatagram>,
    wake_wait: RefCell<Option<Wait>>,
}

pub struct ShardSocket {
    inner: ShardBound<Inner>,
    local: SocketAddr,
    max_tx: usize,
    max_rx: usize,
    may_fragment: bool,
}

impl std::fmt::Debug for ShardSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSocket")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl ShardSocket {
    /// Must be called on the shard's thread, inside its runtime.
    pub fn new(io: std::net::UdpSocket, steer: Option<Steer>) -> io::Result<ShardSocket> {
        io.set_nonblocking(true)?;
        let state = UdpSocketState::new((&io).into())?;
        let local = io.local_addr()?;
        let ready = Rc::new(monoio::net::udp::UdpSocket::from_std(io.try_clone()?)?);
        let steer = match steer {
            Some(cfg) => {
                let wake = cfg.inbox.wake.try_clone()?;
                Some(SteerInner {
                    wake: Rc::new(monoio::net::unix::UnixDatagram::from_std(wake)?),
                    wake_wait: RefCell::new(None),
                    cfg,
                })
            }
            None => None,
        };
        Ok(ShardSocket {
            max_tx: state.max_gso_segments(),
            max_rx: state.gro_segments(),
            may_fragment: state.may_fragment(),
            local,
            inner: ShardBound::new(Inner {
                io,
                state,
                ready,
                read_wait: RefCell::new(None),
                steer,
            }),
        })
    }

    pub(crate) fn plain(io: std::net::UdpSocket) -> io::Result<ShardSocket> {
        ShardSocket::new(io, None)
    }
}

/// Polls the readiness future in `slot`, creating it with `make` if needed.
/// `Ready` clears the slot so the next wait asks the kernel again.
fn poll_wait(
    slot: &RefCell<Option<Wait>>,
    cx: &mut Context,
    make: impl FnOnce() -> Wait,
) -> Poll<io::Result<()>> {
    let mut slot = slot.borrow_mut();
    let fut = slot.get_or_insert_with(make);
    match fut.as_mut().poll(cx) {
        Poll::Ready(r) => {
            *slot = None;
            Poll::Ready(r)
        }
        Poll::Pending => Poll::Pending,
    }
}

impl AsyncUdpSocket for ShardSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        let ready = self.inner.get().ready.clone();
        Box::pin(Writable(ShardBound::new(WritableInner {
            ready,
            wait: RefCell::new(None),
        })))
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let inner = self.inner.get();
        inner.state.send((&inner.io).into(), transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let inner = self.inner.get();
        loop {
            if let Some(st) = &inner.steer {
                let n = st.take_redirected(bufs, meta);
                if n > 0 {
                    return Poll::Ready(Ok(n));
                }
            }
            let reading = inner
                .steer
                .as_ref()
                .is_none_or(|st| st.cfg.gate.load(Ordering::Relaxed));
            if reading {
                match inner.state.recv((&inner.io).into(), bufs, meta) {
                    Ok(n) => {
                        if let Some(st) = &inner.steer {
                            st.hand_over_foreign(bufs, meta, n);
                        }
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            // Nothing to read: wait for the socket or a nudge, whichever first.
            if let Some(st) = &inner.steer {
                let wake = st.wake.clone();
                if let Poll::Ready(r) = poll_wait(&st.wake_wait, cx, move || {
                    Box::pin(async move { wake.readable(false).await })
                }) {
                    r?;
                    st.cfg.inbox.clear_nudges();
                    continue;
                }
            }
            if !reading {
                // The gate is shut: only a nudge (polled above) wakes us, not
                // the socket, which the other process reads.
                return Poll::Pending;
            }
            let ready = inner.ready.clone();
            match poll_wait(&inner.read_wait, cx, move || {
                Box::pin(async move { ready.readable(false).await })
            }) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn may_fragment(&self) -> bool {
        self.may_fragment
    }

    fn max_transmit_segments(&self) -> usize {
        self.max_tx
    }

    fn max_receive_segments(&self) -> usize {
        self.max_rx
    }
}

impl SteerInner {
    /// Copies waiting redirected datagrams into quinn's buffers, one per entry.
    fn take_redirected(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> usize {
        let mut n = 0;
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()) {
            let Ok(d) = self.cfg.inbox.rx.try_recv() else {
                break;
            };
            // quinn's buffers hold the largest datagram it accepts; anything
            // longer would be dropped by quinn too.
            let Some(dst) = buf.get_mut(..d.data.len()) else {
                self.cfg.dropped.increment(1);
                continue;
            };
            dst.copy_from_slice(&d.data);
            *m = RecvMeta {
                addr: d.addr,
                len: d.data.len(),
                stride: d.data.len(),
                ecn: d.ecn,
                dst_ip: d.dst_ip,
            };
            n += 1;
        }
        n
    }

    /// Moves every datagram another shard owns out of the received batch
    /// (see `split`); an entry left empty is skipped by quinn.
    fn hand_over_foreign(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta], n: usize) {
        let c = &self.cfg;
        let old = c.predecessor.as_ref();
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()).take(n) {
            let (addr, ecn, dst_ip) = (m.addr, m.ecn, m.dst_ip);
            m.len = keep_owned(
                buf,
                m.len,
                m.stride,
                |d| {
                    !old.is_some_and(|p| p.owns(d))
                        && shardgate_net::quic_owner(d, c.shards, c.shard_offset) == c.shard
                },
                |d| {
                    let owner = shardgate_net::quic_owner(d, c.shards, c.shard_offset);
                    let r = Redirected {
                        data: d.to_vec(),
                        addr,
                        ecn,
                        dst_ip,
                    };
                    if let Some(p) = old.filter(|p| p.owns(d)) {
                        p.forward(owner, &r);
                        return;
                    }
                    match c.hub.send(owner, r) {
                        Sent::Queued => c.redirected.increment(1),
                        Sent::Dropped => c.dropped.increment(1),
                    }
                },
            );
        }
    }
}

struct WritableInner {
    ready: Rc<monoio::net::udp::UdpSocket>,
    wait: RefCell<Option<Wait>>,
}

struct Writable(ShardBound<WritableInner>);

impl std::fmt::Debug for Writable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writable")
    }
}

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        let w = self.0.get();
        let ready = w.ready.clone();
        poll_wait(&w.wait, cx, move || {
            Box::pin(async move { ready.writable(false).await })
        })
    }
}
