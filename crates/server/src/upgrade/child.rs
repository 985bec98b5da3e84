//! The new process's side of an upgrade (ADR 19): take the inherited
//! channel, receive and check every socket, report `ready` or `failed`,
//! wait for `go`, and notice when the old process is gone.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use shardgate_net::{adopt_inherited_fd, describe, recv_with_fds, send_with_fds, set_timeouts};

use super::wire::{Record, SocketRecord, MAX_RECORD, VERSION};
use super::{FD_VAR, RECORD_TIMEOUT};
use crate::listeners::inherited::{Inherited, InheritedListener};
use crate::Error;

/// Sockets per upgrade at most (listeners × shards, plus admin, forward,
/// hello and end): bounds what a broken sender can make us hold.
const MAX_RECORDS: usize = 1 << 16;
/// How long a failing new process waits for each record it discards.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// The forwarding socket's send buffer: the bound of the queue of
/// old-generation datagrams to the old process (ADR 19).
const FORWARD_BUFFER: usize = 1 << 20;

/// The channel to the old process, in a process an upgrade started.
pub struct Successor {
    sock: OwnedFd,
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::Upgrade(format!("hand-over: {why}"))
}

impl Successor {
    /// `None` when this process was not started by an upgrade.
    pub fn from_env() -> Option<Result<Successor, Error>> {
        let v = std::env::var(FD_VAR).ok()?;
        Some(
            v.parse::<RawFd>()
                .map_err(|_| bad(format!("{FD_VAR}={v:?} is not a descriptor")))
                .and_then(|fd| {
                    adopt_inherited_fd(fd).map_err(|e| bad(format!("{FD_VAR}={fd}: {e}")))
                })
                .and_then(|sock| {
                    set_timeouts(sock.as_fd(), Some(RECORD_TIMEOUT)).map_err(bad)?;
                    Ok(Successor { sock })
                }),
        )
    }

    fn send(&self, r: &Record) -> Result<(), Error> {
        send_with_fds(self.sock.as_fd(), &r.encode(), &[])
            .map(drop)
            .map_err(|e| bad(format!("sending to the old process: {e}")))
    }

    /// Tells the old process why this one will not serve (it keeps serving).
    pub fn fail(&self, errors: &str) {
        // Records left unread when this process exits would make the old
        // process's read fail with ECONNRESET instead of seeing this answer:
        // take (and close) whatever it is still sending, up to its `end`.
        let _ = set_timeouts(self.sock.as_fd(), Some(DRAIN_WAIT));
        let mut buf = vec![0u8; MAX_RECORD];
        while let Ok(r) = recv_with_fds(self.sock.as_fd(), &mut buf) {
            let end = matches!(
                Record::decode(buf.get(..r.len).unwrap_or_default()),
                Ok(Record::End { .. })
            );
            if r.len == 0 || end {
                break;
            }
        }
        if let Err(e) = self.send(&Record::Failed {
            errors: errors.to_string(),
        }) {
            tracing::error!("{e}");
        }
    }

    /// Receives every socket the old process hands over, checked.
    pub fn receive(&self) -> Result<Inherited, Error> {
        let mut buf = vec![0u8; MAX_RECORD];
        let mut got = Received::default();
        let mut count = 0usize;
        loop {
            let r = recv_with_fds(self.sock.as_fd(), &mut buf).map_err(bad)?;
            if r.len == 0 && r.fds.is_empty() {
                return Err(bad("the old process closed the channel"));
            }
            let record = Record::decode(buf.get(..r.len).unwrap_or_default()).map_err(bad)?;
            if let Record::End { records } = record {
                if records != count {
                    return Err(bad(format!("end says {records} records, {count} arrived")));
                }
                return got.finish();
            }
            count += 1;
            if count > MAX_RECORDS {
                return Err(bad("too many records"));
            }
            got.take(record, r.fds)?;
        }
    }

    /// Reports ready, then waits (bounded) for `go`: the old process has
    /// stopped reading the UDP sockets, and `open_gate` lets this one read
    /// them. Then watches the channel on a thread of its own: its closing
    /// means the old process exited, and `gone` runs.
    pub fn ready(
        self,
        open_gate: impl FnOnce(),
        gone: impl FnOnce() + Send + 'static,
    ) -> Result<(), Error> {
        self.send(&Record::Ready {
            pid: std::process::id(),
        })?;
        let mut buf = [0u8; 64];
        let go = recv_with_fds(self.sock.as_fd(), &mut buf);
        match go
            .as_ref()
            .map(|r| Record::decode(buf.get(..r.len).unwrap_or_default()))
        {
            Ok(Ok(Record::Go)) => {}
            // Without `go` (the old process died, or is stuck) this process
            // reads the sockets anyway: it is the one serving now.
            _ => tracing::warn!("no go from the old process; reading the QUIC sockets anyway"),
        }
        open_gate();
        let sock = self.sock;
        std::thread::Builder::new()
            .name("predecessor".into())
            .spawn(move || {
                let _ = set_timeouts(sock.as_fd(), None);
                let mut b = [0u8; 64];
                // Nothing more is sent; the read returns when the old end closes.
                while matches!(recv_with_fds(sock.as_fd(), &mut b), Ok(r) if r.len > 0) {}
                drop(sock);
                gone();
            })
            .map_err(Error::Thread)?;
        Ok(())
    }
}

/// What has arrived so far.
#[derive(Default)]
struct Received {
    hello: Option<(u8, usize, String, u32)>,
    listeners: Vec<(InheritedListener, Vec<Option<OwnedFd>>)>,
    admin: Option<(std::net::SocketAddr, OwnedFd)>,
    forward: Option<UnixDatagram>,
}

fn one(fds: Vec<OwnedFd>, what: &str) -> Result<OwnedFd, Error> {
    let n = fds.len();
    let mut it = fds.into_iter();
    match (it.next(), n) {
        (Some(fd), 1) => Ok(fd),
        _ => Err(bad(format!("{what} record with {n} descriptors"))),
    }
}

impl Received {
    fn take(&mut self, record: Record, fds: Vec<OwnedFd>) -> Result<(), Error> {
        let needs_hello = !matches!(record, Record::Hello { .. });
        if needs_hello == self.hello.is_none() {
            return Err(bad("hello must come first, once"));
        }
        match record {
            Record::Hello {
                version,
                generation,
                shards,
                steering,
                pid,
            } => {
                if version != VERSION {
                    return Err(bad(format!(
                        "protocol version {version}, this binary speaks {VERSION}"
                    )));
                }
                if generation > shardgate_quic::MAX_GENERATION || shards == 0 || shards > 65_535 {
                    return Err(bad(format!("generation {generation}, {shards} shards")));
                }
                if !fds.is_empty() {
                    return Err(bad("hello with descriptors"));
                }
                self.hello = Some((generation, shards, steering, pid));
            }
            Record::Socket(s) => {
                let fd = one(fds, "socket")?;
                self.socket(s, fd)?;
            }
            Record::Admin { configured } => {
                let fd = one(fds, "admin")?;
                let d = describe(fd.as_fd()).map_err(bad)?;
                if !d.listening || self.admin.is_some() {
                    return Err(bad("admin: not a listening TCP socket, or twice"));
                }
                self.admin = Some((configured, fd));
            }
            Record::Forward => {
                let sock = UnixDatagram::from(one(fds, "forward")?);
                sock.set_nonblocking(true).map_err(bad)?;
                shardgate_net::set_send_buffer(sock.as_fd(), FORWARD_BUFFER).map_err(bad)?;
                self.forward = Some(sock);
            }
            other => return Err(bad(format!("unexpected record {other:?}"))),
        }
        Ok(())
    }

    fn socket(&mut self, s: SocketRecord, fd: OwnedFd) -> Result<(), Error> {
        let shards = self.hello.as_ref().map_or(0, |h| h.1);
        let d = describe(fd.as_fd()).map_err(bad)?;
        let what = format!("listener \"{}\" shard {}", s.name, s.shard);
        if d.stream == s.udp || (d.stream && !d.listening) || d.local != s.local {
            return Err(bad(format!(
                "{what}: the descriptor is a {} socket on {} (listening: {}), the record says {} on {}",
                if d.stream { "TCP" } else { "UDP" },
                d.local,
                d.listening,
                if s.udp { "UDP" } else { "TCP" },
                s.local
            )));
        }
        if s.shard >= shards || s.offset > shardgate_net::MAX_SHARD_OFFSET {
            return Err(bad(format!(
                "{what}: out of range ({shards} shards, offset {})",
                s.offset
            )));
        }
        let at = match self.listeners.iter().position(|(l, _)| l.name == s.name) {
            Some(at) => at,
            None => {
                self.listeners.push((
                    InheritedListener {
                        name: s.name.clone(),
                        udp: s.udp,
                        old_id: s.id,
                        offset: s.offset,
                        configured: s.configured,
                        local: s.local,
                        sockets: Vec::new(),
                    },
                    (0..shards).map(|_| None).collect(),
                ));
                self.listeners.len() - 1
            }
        };
        let Some((l, slots)) = self.listeners.get_mut(at) else {
            return Err(bad(what));
        };
        let same = l.udp == s.udp
            && l.old_id == s.id
            && l.offset == s.offset
            && l.configured == s.configured
            && l.local == s.local;
        match slots.get_mut(s.shard) {
            Some(slot @ None) if same => *slot = Some(fd),
            _ => return Err(bad(format!("{what}: twice, or unlike its other shards"))),
        }
        Ok(())
    }

    fn finish(self) -> Result<Inherited, Error> {
        let Some((generation, shards, steering, old_pid)) = self.hello else {
            return Err(bad("no hello"));
        };
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for (mut l, slots) in self.listeners {
            let n = slots.len();
            l.sockets = slots.into_iter().flatten().collect();
            if l.sockets.len() != n {
                return Err(bad(format!(
                    "listener \"{}\": not every shard's socket arrived",
                    l.name
                )));
            }
            listeners.push(l);
        }
        let alive = Arc::new(AtomicBool::new(self.forward.is_some()));
        Ok(Inherited {
            generation,
            shards,
            steering,
            old_pid,
            listeners,
            admin: self.admin,
            forward: Arc::new(ArcSwapOption::from(self.forward.map(Arc::new))),
            alive,
        })
    }
}
