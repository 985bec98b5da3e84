//! A private epoll instance and descriptor duplication, for parking idle
//! connections outside the runtime (see `crate::poller`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// Events per `epoll_wait` call; `ready` loops while batches come back full.
const BATCH: usize = 256;

pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; it returns a new descriptor
        // or -1 with errno set.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody
        // else; OwnedFd closes it exactly once.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub(crate) fn try_clone(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// Watches `fd` for input, hang-up or error, once (`EPOLLONESHOT`):
    /// after one report it stays silent until deleted.
    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live local the kernel only reads during the call; a
        // bad `fd` makes the call fail with EBADF and changes nothing.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &raw mut ev) })
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: EPOLL_CTL_DEL ignores the event pointer (null is allowed since
        // Linux 2.6.9); a bad or unregistered fd yields EBADF/ENOENT.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })
    }

    /// Appends the tokens of every watched fd that is ready now (no waiting).
    pub(crate) fn ready(&self, out: &mut Vec<u64>) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            // SAFETY: `events` is a live array of BATCH entries and BATCH is
            // passed as its length, so the kernel writes only inside it.
            let n = unsafe {
                libc::epoll_wait(
                    self.fd.as_raw_fd(),
                    events.as_mut_ptr(),
                    BATCH as libc::c_int,
                    0,
                )
            };
            let n = match usize::try_from(n) {
                Ok(n) => n,
                Err(_) => {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
            };
            out.extend(events.iter().take(n).map(|e| e.u64));
            if n < BATCH {
                return Ok(());
            }
        }
    }
}

/// A new descriptor (close-on-exec) for the same open socket as `fd`.
///
/// Takes a raw fd because the runtime's stream types expose only that; the
/// caller owns `fd` for the duration of the call.
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; on a bad fd it fails
    // with EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor returned by the kernel, owned by
    // nobody else; OwnedFd closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::super::tests::pair;
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn reports_ready_fds_once_by_token() {
        let ep = Epoll::new().unwrap();
        let (mut c1, s1) = pair();
        let (c2, s2) = pair();
        ep.add(s1.as_raw_fd(), 7).unwrap();
        ep.add(s2.as_raw_fd(), 9).unwrap();
        let mut out = Vec::new();
        ep.ready(&mut out).unwrap();
        assert!(out.is_empty(), "nothing sent yet");
        c1.write_all(b"x").unwrap();
        drop(c2); // a hang-up is reported too
        std::thread::sleep(std::time::Duration::from_millis(20));
        ep.ready(&mut out).unwrap();
        out.sort_unstable();
        assert_eq!(out, [7, 9]);
        // One-shot: silent afterwards, though s1 still has data.
        out.clear();
        ep.ready(&mut out).unwrap();
        assert!(out.is_empty());
        ep.delete(s1.as_raw_fd()).unwrap();
        assert!(ep.delete(s1.as_raw_fd()).is_err(), "already deleted");
        assert!(ep.add(-1, 1).is_err());
    }

    #[test]
    fn many_ready_fds_come_back_in_several_batches() {
        let ep = Epoll::new().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut keep = Vec::new();
        for i in 0..(BATCH + 10) {
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            c.write_all(b"x").unwrap();
            ep.add(s.as_raw_fd(), i as u64).unwrap();
            keep.push((c, s));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut out = Vec::new();
        ep.ready(&mut out).unwrap();
        assert_eq!(out.len(), BATCH + 10);
    }

    #[test]
    fn dup_gives_an_independent_descriptor_for_the_same_socket() {
        let (mut c, s) = pair();
        let d = dup(s.as_raw_fd()).unwrap();
        assert_ne!(d.as_raw_fd(), s.as_raw_fd());
        drop(s);
        // The socket is still open through the duplicate.
        let mut s2 = TcpStream::from(d);
        c.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut s2, &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        assert!(dup(-1).is_err());
    }
}
