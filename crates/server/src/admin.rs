//! The admin listener's transport: one request per connection, blocking I/O
//! on plain threads. It is not on the request path, and keeping it off the
//! shards means a busy shard cannot make the health check lie. The endpoints
//! are in `admin/route.rs` (docs/operations.md, "Admin API", lists them).
//!
//! One thread accepts; each connection gets its own short-lived thread, so a
//! slow or silent client cannot hold up a health probe. At most
//! [`MAX_CONNECTIONS`] are served at once (past that a connection is closed at
//! once and counted), and each must send its head within [`HEAD_DEADLINE`].
//! The listener keeps answering through a drain (`/ready` says 503 then) and
//! stops when the shards are done (`Server::join`).

mod auth;
mod config;
mod ops;
mod ready;
mod reply;
mod request;
mod route;
mod shards;
mod upstreams;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::metrics::control::admin_rejected;
use crate::metrics::recorder::PromRecorder;
use reply::Reply;
use request::Request;

/// Enough for every prober and scraper of one process; bounds the threads a
/// flood of admin connections can make.
const MAX_CONNECTIONS: usize = 32;
/// For the whole head, not per read: a client trickling a byte at a time must
/// not keep its thread (and one of the slots) for long.
const HEAD_DEADLINE: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
/// Accept errors (EMFILE and the like) can be caused by clients: pause so the
/// loop does not spin, and log at most once per window.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts until `Server::join` sets `admin_stop`; [`wake`] unblocks the
/// accept then.
pub fn run(listener: TcpListener, control: Arc<Control>, recorder: Option<&'static PromRecorder>) {
    // The socket comes non-blocking from the shared bind helper; this thread
    // waits in accept instead.
    if let Err(e) = listener.set_nonblocking(false) {
        tracing::error!(error = %e, "admin listener unusable");
        return;
    }
    // accept() wakes at least this often to see a hand-over (ADR 19): the
    // socket is shared with the successor then, so neither shutdown(2) nor a
    // wake-up connection can end this thread alone.
    if let Err(e) = socket_timeout(&listener) {
        tracing::warn!(error = %e, "admin listener: no accept timeout; a binary upgrade leaves this thread accepting");
    }
    let rejected = admin_rejected();
    let active = Arc::new(AtomicUsize::new(0));
    let mut last_error_log: Option<Instant> = None;
    loop {
        let accepted = listener.accept();
        // Retiring (ADR 19): the socket is the successor's now, and what
        // it accepts must be answered by the successor, not by this process.
        if control.admin_stop.load(Ordering::Relaxed)
            || control.shared.retiring.load(Ordering::Relaxed)
        {
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                // Over the cap the stream is dropped here, which closes it.
                let Some(slot) = Slot::take(&active) else {
                    rejected.increment(1);
                    continue;
                };
                let control = control.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("admin-conn".into())
                        .spawn(move || {
                            let _slot = slot;
                            serve(stream, &control, recorder);
                        });
                if spawned.is_err() {
                    rejected.increment(1);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // Nothing came: look at the flags again (see above).
                continue;
            }
            Err(e) => {
                if last_error_log.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
                    tracing::warn!(error = %e, "admin accept failed (logged at most every 10 s)");
                    last_error_log = Some(Instant::now());
                }
                std::thread::sleep(ACCEPT_ERROR_PAUSE);
            }
        }
    }
}

/// See `run`: how long an accept waits before looking at the hand-over flag.
const ACCEPT_WAKE: Duration = Duration::from_millis(200);

fn socket_timeout(listener: &TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    // SO_RCVTIMEO bounds accept() too (socket(7)).
    shardgate_net::set_timeouts(listener.as_fd(), Some(ACCEPT_WAKE))
}

/// Connects to the admin listener once so that its blocking accept returns
/// and `run` sees `admin_stop`. Called by `Server::join`, off the shards.
pub fn wake(addr: SocketAddr) {
    let ip = match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        a => a.ip(),
    };
    if let Err(e) = TcpStream::connect_timeout(&SocketAddr::new(ip, addr.port()), WAKE_TIMEOUT) {
        tracing::warn!(error = %e, %addr, "could not wake the admin listener to stop it");
    }
}

/// One of the [`MAX_CONNECTIONS`] places, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Option<Slot> {
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(active.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

enum Head {
    Request(Request),
    /// Answer with this status and close.
    Bad(u16),
    /// The client went away (or the socket broke) before a byte worth answering.
    Gone,
}

fn serve(mut stream: TcpStream, control: &Control, recorder: Option<&PromRecorder>) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let (reply, head_only) = match read_head(&mut stream) {
        Head::Request(req) => (route::handle(&req, control, recorder), req.method == "HEAD"),
        Head::Bad(408) => (
            Reply::text(408, "request head not received in time\n"),
            false,
        ),
        Head::Bad(431) => (Reply::text(431, "request head too large\n"), false),
        Head::Bad(status) => (Reply::text(status, "bad request\n"), false),
        Head::Gone => return,
    };
    let out = reply.encode(head_only);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    if stream.write_all(&out).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

fn read_head(stream: &mut TcpStream) -> Head {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Head::Bad(408);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Head::Gone;
        }
        let Some(free) = buf.get_mut(len..) else {
            return Head::Bad(431);
        };
        match stream.read(free) {
            Ok(0) if len == 0 => return Head::Gone,
            Ok(0) => return Head::Bad(400),
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Head::Bad(408)
            }
            Err(_) => return Head::Gone,
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf.get(..len).unwrap_or_default()) {
            Ok(httparse::Status::Complete(_)) => {
                let target = req.path.unwrap_or_default();
                let authorization = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned());
                return Head::Request(Request {
                    method: req.method.unwrap_or_default().to_string(),
                    path: target.split('?').next().unwrap_or("").to_string(),
                    authorization,
                });
            }
            Ok(httparse::Status::Partial) if len == buf.len() => return Head::Bad(431),
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Head::Bad(431),
            Err(_) => return Head::Bad(400),
        }
    }
}
