//! Every `unsafe` of `floor-uring` is in this module: the ring, the provided
//! buffer ring and the SQEs that point into it. The other modules hold no
//! `unsafe` (the crate root denies it; only this module is allowed it) and
//! reach the kernel only through the safe methods here, whose runtime checks
//! carry what the SQEs need.
//!
//! What it all rests on: the kernel writes a provided buffer only while that
//! buffer sits in the buffer ring. A buffer leaves the ring in a receive CQE
//! (`drain` then marks it *owned*), may be read and sent from while owned, and
//! goes back (`recycle`) only when no send is reading it (`sends` counts
//! them). So no Rust reference aliases memory the kernel may write, and no
//! send reads memory a receive may be filling.
//!
//! Teardown: `ring` is the first field, so the ring is closed before the
//! buffers are freed. With `DEFER_TASKRUN` receives copy data only inside this
//! thread's `io_uring_enter` (or inline at submission), so none writes after
//! that; the kernel only reads the ring entries, from pages it pinned.

mod buf_ring;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use buf_ring::BufRing;

/// The buffer group every receive draws from.
const BGID: u16 = 0;
const IORING_REGISTER_FILE_ALLOC_RANGE: libc::c_uint = 25;
/// `sqe->ioprio`'s byte offset in the uapi `struct io_uring_sqe` (after the
/// u8 opcode and u8 flags). io-uring 0.6.4's `RecvMulti` sets `ioprio` but
/// has no way to add `IORING_RECVSEND_POLL_FIRST` to it.
const SQE_IOPRIO: usize = 2;
const IORING_RECVSEND_POLL_FIRST: u16 = 1;
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

/// One completion, copied out of the CQ.
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
    pub user_data: u64,
    pub result: i32,
    /// A multishot operation stays armed after this one.
    pub more: bool,
    /// The provided buffer a receive filled, now owned by the caller: it must
    /// come back through `recycle`, whatever the completion means.
    pub buf: Option<u16>,
}

/// Sizes of the ring and of its tables.
pub struct Config {
    pub entries: u32,
    /// Slots in the registered file table.
    pub files: u32,
    /// Slots `[0, alloc_files)` are the ones `accept_multi` allocates from;
    /// the rest are the caller's to fill with `register_file`.
    pub alloc_files: u32,
    /// Provided buffers: a power of two, at most 32768.
    pub bufs: u16,
    pub buf_size: u32,
}

pub struct Uring {
    ring: IoUring,
    bufs: BufRing,
    /// What `connect` connects to; the kernel copies it at submission.
    peer: socket2::SockAddr,
}

impl Uring {
    pub fn new(cfg: &Config, peer: SocketAddr) -> io::Result<Uring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            // Multishot receives post without a new SQE each time: room for
            // bursts so the kernel does not fall back to its overflow list.
            .setup_cqsize(cfg.entries.saturating_mul(4))
            .build(cfg.entries)?;
        ring.submitter().register_files_sparse(cfg.files)?;
        register_alloc_range(&ring, 0, cfg.alloc_files)?;
        let bufs = BufRing::new(cfg.bufs, cfg.buf_size)?;
        // SAFETY: `bufs.ring` holds `cfg.bufs` entries, is page-aligned and
        // is freed only after `ring` is dropped (field order of `Uring`).
        unsafe {
            ring.submitter()
                .register_buf_ring(bufs.ring_addr(), cfg.bufs, BGID)?
        };
        let mut uring = Uring {
            ring,
            bufs,
            peer: peer.into(),
        };
        for bid in 0..cfg.bufs {
            uring.bufs.give(bid);
        }
        Ok(uring)
    }

    /// Puts `fd` at `slot` of the file table; the table keeps its own
    /// reference, so the caller may close `fd` afterwards.
    pub fn register_file(&self, slot: u32, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.ring
            .submitter()
            .register_files_update(slot, &[fd.as_raw_fd()])
            .map(drop)
    }

    /// Submits what is queued and waits for one completion at least.
    pub fn submit_and_wait(&self) -> io::Result<()> {
        match self.ring.submit_and_wait(1) {
            Ok(_) => Ok(()),
            // EBUSY: completions are waiting to be reaped first.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves up to `out.capacity()` completions into `out` (cleared first),
    /// taking ownership of the buffers receives filled.
    pub fn drain(&mut self, out: &mut Vec<Cqe>) {
        out.clear();
        let room = out.capacity();
        let bufs = &mut self.bufs;
        for e in self.ring.completion().take(room) {
            let flags = e.flags();
            out.push(Cqe {
                user_data: e.user_data(),
                result: e.result(),
                more: cqueue::more(flags),
                buf: cqueue::buffer_select(flags).filter(|&bid| bufs.take(bid)),
            });
        }
    }

    pub fn free_buffers(&self) -> usize {
        self.bufs.free
    }

    /// The bytes a receive put in buffer `bid`; `None` unless `bid` is owned
    /// and the range lies inside it.
    pub fn buf(&self, bid: u16, off: u32, len: u32) -> Option<&[u8]> {
        let start = self.bufs.owned_range(bid, off, len)?;
        // SAFETY: an owned buffer is out of the ring, so the kernel does not
        // write it, and `recycle` (which puts it back) takes `&mut self`, so
        // this borrow ends first. The range is inside the allocation
        // (`owned_range`) and was written by the receive.
        Some(unsafe {
            std::slice::from_raw_parts(self.bufs.data.as_ptr().add(start), len as usize)
        })
    }

    /// Gives buffer `bid` back to the kernel; refused (false) unless it is
    /// owned and no send reads it.
    pub fn recycle(&mut self, bid: u16) -> bool {
        let i = usize::from(bid);
        if !self.bufs.owned.get(i).copied().unwrap_or(false) || self.bufs.sends[i] > 0 {
            return false;
        }
        self.bufs.owned[i] = false;
        self.bufs.give(bid);
        true
    }

    /// A send from `bid` completed (or was cancelled): the kernel reads it no more.
    pub fn send_done(&mut self, bid: u16) {
        if let Some(n) = self.bufs.sends.get_mut(usize::from(bid)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Sends `len` bytes of owned buffer `bid` from `off`; the caller calls
    /// `send_done(bid)` on its completion.
    pub fn send(&mut self, file: u32, bid: u16, off: u32, len: u32, ud: u64) -> io::Result<()> {
        let start = self.bufs.owned_range(bid, off, len).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "send from a buffer not owned")
        })?;
        self.bufs.sends[usize::from(bid)] += 1;
        // SAFETY: in bounds (`owned_range`).
        let ptr = unsafe { self.bufs.data.as_ptr().add(start) };
        let sqe = opcode::Send::new(types::Fixed(file), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(ud);
        // SAFETY: the bytes stay valid and unwritten until the completion:
        // `sends` keeps `recycle` from handing the buffer back to the kernel
        // until `send_done`, and the allocation outlives the ring.
        unsafe { self.push(&sqe) }
    }

    /// A multishot receive into the buffer group. `poll_first`: the socket
    /// cannot have data yet, so skip the attempt and arm the poll at once.
    pub fn recv_multi(&mut self, file: u32, poll_first: bool, ud: u64) -> io::Result<()> {
        let mut sqe = opcode::RecvMulti::new(types::Fixed(file), BGID)
            .build()
            .user_data(ud);
        if poll_first {
            let p = ptr::from_mut(&mut sqe).cast::<u8>();
            // SAFETY: `Entry` is `repr(C)` around the 64-byte uapi
            // `io_uring_sqe` (size asserted above), whose u16 `ioprio` is at
            // byte 2; unaligned accesses assume no alignment.
            unsafe {
                let ioprio = p.add(SQE_IOPRIO).cast::<u16>();
                ioprio.write_unaligned(ioprio.read_unaligned() | IORING_RECVSEND_POLL_FIRST);
            }
        }
        // SAFETY: no pointer but the buffer group, registered for the ring's
        // whole life; the kernel writes only buffers that are in the ring.
        unsafe { self.push(&sqe) }
    }

    /// A multishot accept on fixed `listener`, each connection into a file
    /// slot the kernel picks from the allocation range (the CQE's result).
    pub fn accept_multi(&mut self, listener: u32, ud: u64) -> io::Result<()> {
        let sqe = opcode::AcceptMulti::new(types::Fixed(listener))
            .allocate_file_index(true)
            .build()
            .user_data(ud);
        // SAFETY: no pointers (no peer address is asked for).
        unsafe { self.push(&sqe) }
    }

    /// Connects fixed socket `file` to the peer given to `new`.
    pub fn connect(&mut self, file: u32, ud: u64) -> io::Result<()> {
        let sqe = opcode::Connect::new(
            types::Fixed(file),
            self.peer.as_ptr().cast(),
            self.peer.len(),
        )
        .build()
        .user_data(ud);
        // SAFETY: the address lives in `self` (never replaced), which
        // outlives the ring; the kernel copies it at submission anyway.
        unsafe { self.push(&sqe) }
    }

    /// Cancels every operation in flight on fixed `file`.
    pub fn cancel_file(&mut self, file: u32, ud: u64) -> io::Result<()> {
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fixed(file)).all())
            .build()
            .user_data(ud);
        // SAFETY: no pointers.
        unsafe { self.push(&sqe) }
    }

    /// Cancels the operation submitted with `user_data == target`.
    pub fn cancel(&mut self, target: u64, ud: u64) -> io::Result<()> {
        let sqe = opcode::AsyncCancel::new(target).build().user_data(ud);
        // SAFETY: no pointers.
        unsafe { self.push(&sqe) }
    }

    /// Closes fixed `file`; a completion comes only if it fails.
    pub fn close(&mut self, file: u32, ud: u64) -> io::Result<()> {
        let sqe = opcode::Close::new(types::Fixed(file))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(ud);
        // SAFETY: no pointers.
        unsafe { self.push(&sqe) }
    }

    /// Queues `sqe`, submitting what is queued first if the SQ is full.
    ///
    /// # Safety
    /// Every address `sqe` holds must stay valid (and, for what the kernel
    /// reads, unmodified) until its last completion.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Waits at most `ms` for one completion (tests: a bug must fail them,
    /// not hang them).
    #[cfg(test)]
    fn wait_ms(&self, ms: i64) -> io::Result<()> {
        let ts = types::Timespec::new().nsec(ms as u32 * 1_000_000);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            r => r.map(drop),
        }
    }
}

/// Keeps the kernel's slot allocation (multishot accept) inside `[off,
/// off + len)` so the slots above are the caller's to fill. Not in io-uring
/// 0.6.4's `Submitter`.
fn register_alloc_range(ring: &IoUring, off: u32, len: u32) -> io::Result<()> {
    #[repr(C)]
    struct Range {
        off: u32,
        len: u32,
        resv: u64,
    }
    let range = Range { off, len, resv: 0 };
    // SAFETY: IORING_REGISTER_FILE_ALLOC_RANGE reads one `struct
    // io_uring_file_index_range` (this layout) during the call, with
    // `nr_args` 0; `range` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            IORING_REGISTER_FILE_ALLOC_RANGE,
            ptr::from_ref(&range),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
