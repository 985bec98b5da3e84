//! `SCM_RIGHTS`: passing descriptors over a Unix socket (binary upgrade,
//! ADR 19), and adopting the one descriptor a parent process left open for
//! us. std's ancillary-data API is unstable; these are the raw calls.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one message may carry. The control buffer is sized for
/// exactly this many: a sender that attaches more gets `MSG_CTRUNC` here
/// (the kernel closes the excess) and the message is refused.
pub(crate) const MAX_FDS: usize = 4;

/// Control buffer: `CMSG_SPACE(MAX_FDS * sizeof(int))`, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 64]);

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation (no memory access).
    unsafe { libc::CMSG_SPACE((fds * size_of::<RawFd>()) as u32) as usize }
}

/// `sendmsg(sock, data, SCM_RIGHTS fds, MSG_NOSIGNAL)`: one message with
/// `data` and up to [`MAX_FDS`] descriptors (the kernel duplicates them into
/// the receiver). Returns the bytes sent.
pub(crate) fn send_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_FDS || cmsg_space(MAX_FDS) > size_of::<Control>() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut control = Control([0; 64]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = cmsg_space(fds.len()) as _;
        // SAFETY: msg_control points at `control`, which is live, aligned for
        // cmsghdr and at least CMSG_SPACE(fds.len() ints) bytes long (checked
        // above against MAX_FDS), so CMSG_FIRSTHDR is non-null and the header
        // plus CMSG_LEN(n) data bytes written below lie inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            if cmsg.is_null() {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            }
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * size_of::<RawFd>()) as u32) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                // CMSG_DATA need not be aligned for int: write unaligned.
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: `msg` points at the live `iov` (covering `data`, which the
        // kernel only reads) and at `control` (initialised above); the
        // descriptors in it are borrowed, open, and only duplicated by the
        // kernel. MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &raw const msg, libc::MSG_NOSIGNAL) };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// One message received by [`recv_fds`].
#[derive(Debug)]
pub struct Received {
    /// Bytes of data (0 with no descriptors: the peer closed).
    pub len: usize,
    pub fds: Vec<OwnedFd>,
}

/// `recvmsg(sock, buf, MSG_CMSG_CLOEXEC)`: one message and the descriptors
/// it carried, owned (and close-on-exec). A message longer than `buf`
/// (`MSG_TRUNC`) or with more than [`MAX_FDS`] descriptors (`MSG_CTRUNC`) is
/// an error; the descriptors that did arrive are closed.
pub(crate) fn recv_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = Control([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = cmsg_space(MAX_FDS) as _;
    let n = loop {
        // SAFETY: `msg` points at `iov` (covering the writable `buf`) and at
        // `control` (writable, msg_controllen bytes); the kernel writes at
        // most those lengths and updates msg_controllen/msg_flags.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
        match usize::try_from(n) {
            Ok(n) => break n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    };
    let mut fds = Vec::new();
    // SAFETY: after a successful recvmsg, msg_control/msg_controllen describe
    // the control data the kernel wrote into `control`; CMSG_FIRSTHDR/NXTHDR
    // only return headers lying wholly inside it (or null). Each SCM_RIGHTS
    // payload holds (cmsg_len - CMSG_LEN(0)) / sizeof(int) descriptors that
    // the kernel just installed in this process for us: nobody else owns
    // them, so wrapping each in an OwnedFd exactly once is sound.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    if msg.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
        // `fds` is dropped: whatever arrived is closed.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message or its descriptors truncated",
        ));
    }
    Ok(Received { len: n, fds })
}

/// Takes ownership of descriptor `fd`, left open by the process that
/// executed us, after checking that it is an open socket; makes it
/// close-on-exec so it is not passed on further.
///
/// Sound only if nothing else in this process owns `fd`: the caller takes the
/// number from the environment its parent set, once, at start-up (an
/// inherited descriptor is open from exec on, so no other code can have been
/// handed the same number).
pub(crate) fn adopt_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: fstat writes at most sizeof(stat) bytes into the live local;
    // on a closed descriptor it fails with EBADF and touches nothing.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::fstat(fd, &raw mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a socket"));
    }
    // SAFETY: fcntl(F_SETFD) takes no pointers; the descriptor is open (fstat).
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open (checked) and, per this function's contract, owned by no
    // one else in this process.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, IntoRawFd};
    use std::os::unix::net::UnixDatagram;

    fn pair() -> (UnixDatagram, UnixDatagram) {
        UnixDatagram::pair().unwrap()
    }

    #[test]
    fn descriptors_arrive_owned_and_usable() {
        let (a, b) = pair();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let sent = send_fds(a.as_fd(), b"listener", &[l.as_fd()]).unwrap();
        assert_eq!(sent, 8);
        drop(l);
        let mut buf = [0u8; 64];
        let r = recv_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"listener");
        assert_eq!(r.fds.len(), 1);
        // The same listening socket: a client connects and it accepts.
        let got = std::net::TcpListener::from(r.fds.into_iter().next().unwrap());
        assert_eq!(got.local_addr().unwrap(), addr);
        let _c = std::net::TcpStream::connect(addr).unwrap();
        got.accept().unwrap();
    }

    #[test]
    fn plain_messages_and_too_many_descriptors() {
        let (a, b) = pair();
        send_fds(a.as_fd(), b"x", &[]).unwrap();
        let mut buf = [0u8; 8];
        let r = recv_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((r.len, r.fds.len()), (1, 0));
        let many: Vec<_> = (0..MAX_FDS + 1).map(|_| a.as_fd()).collect();
        assert_eq!(
            send_fds(a.as_fd(), b"x", &many).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn truncated_messages_are_refused() {
        let (a, b) = pair();
        send_fds(a.as_fd(), b"0123456789", &[a.as_fd()]).unwrap();
        let mut small = [0u8; 4];
        assert_eq!(
            recv_fds(b.as_fd(), &mut small).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn only_open_sockets_are_adopted() {
        assert!(adopt_inherited(1).is_err(), "stdio is never ours");
        assert!(adopt_inherited(999_999).is_err(), "closed");
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let raw = f.as_raw_fd();
        assert!(adopt_inherited(raw).is_err(), "a file, not a socket");
        let (a, _b) = pair();
        let raw = a.into_raw_fd();
        let owned = adopt_inherited(raw).unwrap();
        // SAFETY (test): reading the flags of a descriptor we own.
        let flags = unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
