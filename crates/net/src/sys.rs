//! The only place in shardgate with `unsafe`: thin, typed wrappers over the
//! few syscalls that neither std, socket2 nor monoio expose.
//!
//! Every wrapper takes ownership-checked inputs where it can (`BorrowedFd`,
//! slices) and returns `io::Result`, so callers stay in safe code. Each
//! `unsafe` block states why it is sound and is exercised by a test below.
#![allow(unsafe_code)]

pub(crate) mod epoll;
pub(crate) mod fdpass;
pub(crate) mod iobuf;
pub(crate) mod splice;

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Size of `cpu_set_t` in CPUs (1024 on glibc). Machines with more CPUs need
/// a dynamically sized mask; shardgate does not target them.
pub(crate) const CPU_SET_CAPACITY: usize = libc::CPU_SETSIZE as usize;

fn cvt(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog)`: the group the
/// socket belongs to gets the program (a TCP socket must already listen, a
/// UDP socket be bound).
pub(crate) fn attach_reuseport_cbpf(
    fd: BorrowedFd<'_>,
    prog: &[libc::sock_filter],
) -> io::Result<()> {
    let len =
        u16::try_from(prog.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fprog = libc::sock_fprog {
        len,
        // The C ABI says *mut, but the kernel only copies the program in.
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` is a live local whose `filter` points at `len` valid
    // instructions borrowed from `prog` for the whole call; the kernel copies
    // them (copy_from_user) and never writes through the pointer. optlen is the
    // exact size of `sock_fprog`. `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    cvt(rc)
}

/// `setsockopt` for an `int` option (socket2 has no TCP_FASTOPEN setter).
pub(crate) fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: optval points at a live c_int and optlen is its exact size; the
    // kernel only reads it. `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    cvt(rc)
}

/// `getsockopt` for an `int` option.
pub(crate) fn get_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: optval/optlen point at live, writable locals and optlen holds
    // optval's size, so the kernel writes at most that many bytes (and updates
    // len). `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    cvt(rc).map(|()| value)
}

/// `recv(fd, 1 byte, MSG_PEEK | MSG_DONTWAIT)`, retried on EINTR: how many
/// bytes are waiting (0 = orderly shutdown), without consuming them.
///
/// Takes a raw fd because pooled connections are owned by monoio types; the
/// call neither consumes data nor changes the descriptor, so a stale or
/// foreign fd can only yield an error (EBADF/ENOTSOCK), never memory effects.
pub(crate) fn peek_one(fd: RawFd) -> io::Result<usize> {
    loop {
        let mut byte = 0u8;
        // SAFETY: the buffer is a live, writable 1-byte local and len is 1, so
        // the kernel writes at most one byte into it. MSG_DONTWAIT keeps the
        // call from blocking; MSG_PEEK leaves the data queued.
        let n = unsafe {
            libc::recv(
                fd,
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// `shutdown(fd, SHUT_RDWR)`: on a listening TCP socket this stops listening at
/// once (the socket leaves its reuseport group; new SYNs are refused), whereas
/// an io_uring runtime closes the fd asynchronously and the kernel may keep the
/// socket listening for milliseconds after the shard thread is gone.
pub(crate) fn shutdown_fd(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes no pointers; on a stale or foreign fd it fails with
    // EBADF/ENOTSOCK and changes nothing else.
    let rc = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    cvt(rc)
}

/// `SO_LINGER` on with a zero timeout: the socket's close sends RST and
/// drops whatever it still had to send (the kernel keeps no orphan).
pub(crate) fn linger_zero(fd: RawFd) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: optval points at a live `linger` and optlen is its exact size;
    // the kernel only reads it. A stale or foreign fd fails with
    // EBADF/ENOTSOCK and changes nothing.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const value).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    cvt(rc)
}

/// `kill(pid, sig)`: `shardgate upgrade` signals the running process.
pub(crate) fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
    // 0 and "negative" PIDs address process groups: refused, only one
    // process is ever meant.
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill takes no pointers; a PID that does not exist is ESRCH.
    cvt(unsafe { libc::kill(pid, sig) })
}

/// `malloc_trim(0)`: glibc gives the free pages inside its heaps back to the
/// kernel (`MADV_DONTNEED`), not only the top of each heap. Without it, memory
/// freed after a burst stays in the process's RSS. Other C libraries have no
/// such call; there it does nothing.
pub(crate) fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only releases memory the
    // allocator holds as free; glibc's allocator is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn empty_cpu_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain array of integers (a bit mask); all-zero is
    // a valid value and means the empty set, exactly what CPU_ZERO produces.
    unsafe { std::mem::zeroed() }
}

/// Restricts the calling thread to exactly one CPU.
pub(crate) fn pin_thread_to(core: usize) -> io::Result<()> {
    if core >= CPU_SET_CAPACITY {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut set = empty_cpu_set();
    // SAFETY: core < CPU_SETSIZE (checked above), so the bit lies inside `set`,
    // which we own mutably.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 means the calling thread; cpusetsize is the exact size of
    // the live `set`, which the kernel only reads.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
    cvt(rc)
}

/// The CPUs the calling thread may run on, ascending.
pub(crate) fn thread_affinity() -> io::Result<Vec<usize>> {
    let mut set = empty_cpu_set();
    // SAFETY: pid 0 means the calling thread; the kernel writes at most
    // cpusetsize bytes into `set`, which is live, writable and exactly that size.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut set) };
    cvt(rc)?;
    Ok((0..CPU_SET_CAPACITY)
        // SAFETY: cpu < CPU_SETSIZE, so the bit lies inside the initialised `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[test]
    fn malloc_trim_returns_fragmented_free_memory() {
        fn rss_kib() -> usize {
            let s = std::fs::read_to_string("/proc/self/statm").unwrap();
            let pages: usize = s.split_whitespace().nth(1).unwrap().parse().unwrap();
            pages * 4
        }
        // A thread of its own gets its own glibc arena, away from other tests.
        std::thread::spawn(|| {
            let mut big = Vec::new();
            let mut small = Vec::new();
            for i in 0..4096u32 {
                // Non-zero, so every page is touched (calloc'd zero pages are not).
                big.push(vec![(i as u8) | 1; 16 * 1024]);
                // Kept: it pins the heap's top, so free() alone cannot shrink it.
                small.push(vec![i as u8; 64]);
            }
            let before = rss_kib();
            drop(big);
            let freed = rss_kib();
            malloc_trim();
            let after = rss_kib();
            assert!(
                freed.saturating_sub(after) >= 32 * 1024,
                "RSS {before} KiB, after free {freed} KiB, after trim {after} KiB"
            );
            drop(small);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn shutdown_stops_a_listener_at_once() {
        use std::os::fd::AsRawFd;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        TcpStream::connect(addr).unwrap();
        shutdown_fd(l.as_raw_fd()).unwrap();
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(shutdown_fd(-1).is_err());
    }

    #[test]
    fn kill_signals_one_process_only() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        kill(child.id(), 0).unwrap();
        kill(child.id(), libc::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert_eq!(kill(0, 0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            kill(u32::MAX, 0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    pub(crate) fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[test]
    fn int_opt_round_trip() {
        let (c, _s) = pair();
        set_int_opt(c.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1).unwrap();
        assert_eq!(
            get_int_opt(c.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap(),
            1
        );
        set_int_opt(c.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 0).unwrap();
        assert_eq!(
            get_int_opt(c.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap(),
            0
        );
        // An unknown option surfaces the kernel's error instead of a value.
        assert!(get_int_opt(c.as_fd(), libc::IPPROTO_TCP, 9999).is_err());
        assert!(set_int_opt(c.as_fd(), libc::IPPROTO_TCP, 9999, 1).is_err());
    }

    #[test]
    fn cbpf_attaches_to_a_reuseport_listener_only() {
        let prog = [
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ret #0
        ];
        // A listener without SO_REUSEPORT has no group: the kernel says EINVAL.
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = attach_reuseport_cbpf(plain.as_fd(), &prog).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));

        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_reuse_port(true).unwrap();
        sock.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        sock.listen(8).unwrap();
        attach_reuseport_cbpf(sock.as_fd(), &prog).unwrap();
        // An empty program is rejected by the kernel, not by us.
        let err = attach_reuseport_cbpf(sock.as_fd(), &[]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn cbpf_program_too_long_is_refused_before_the_syscall() {
        let prog = vec![
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0
            };
            70_000
        ];
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = attach_reuseport_cbpf(l.as_fd(), &prog).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn peek_sees_data_without_consuming_it() {
        let (c, mut s) = pair();
        c.set_nonblocking(true).unwrap();
        let err = peek_one(c.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        s.write_all(b"xy").unwrap();
        for _ in 0..2 {
            // Peeking twice still sees the byte: nothing was consumed.
            assert_eq!(wait_peek(c.as_raw_fd()).unwrap(), 1);
        }
        drop(s);
        // Data still queued before the FIN: peek keeps reporting it.
        assert_eq!(peek_one(c.as_raw_fd()).unwrap(), 1);
        assert_eq!(peek_one(-1).unwrap_err().raw_os_error(), Some(libc::EBADF));
    }

    fn wait_peek(fd: RawFd) -> io::Result<usize> {
        for _ in 0..1000 {
            match peek_one(fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                other => return other,
            }
        }
        peek_one(fd)
    }

    #[test]
    fn peek_reports_eof_after_fin() {
        let (c, s) = pair();
        drop(s);
        assert_eq!(wait_peek(c.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn affinity_pin_and_read_back() {
        std::thread::spawn(|| {
            let before = thread_affinity().unwrap();
            assert!(!before.is_empty());
            let last = *before.last().unwrap();
            pin_thread_to(last).unwrap();
            assert_eq!(thread_affinity().unwrap(), vec![last]);
            assert_eq!(
                pin_thread_to(CPU_SET_CAPACITY).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            // In range for the mask but not a CPU of this machine: kernel EINVAL.
            let absent = CPU_SET_CAPACITY - 1;
            if !before.contains(&absent) {
                assert_eq!(
                    pin_thread_to(absent).unwrap_err().raw_os_error(),
                    Some(libc::EINVAL)
                );
            }
            // A refused pin leaves the previous mask in place.
            assert_eq!(thread_affinity().unwrap(), vec![last]);
        })
        .join()
        .unwrap();
    }
}
