//! The provided buffers and the ring that hands them to the kernel (part of
//! `sys`: see its doc for the ownership rule everything here keeps).

use std::alloc::{self, Layout};
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

const PAGE: usize = 4096;
const _: () = assert!(std::mem::size_of::<RawBuf>() == 16);

/// `struct io_uring_buf`, written field by field through raw pointers: the
/// first entry's `resv` is the ring's tail, which the kernel reads
/// concurrently, so no `&mut` may cover a whole entry.
#[repr(C)]
struct RawBuf {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// The provided buffers and the ring that hands them to the kernel.
pub(super) struct BufRing {
    ring: NonNull<RawBuf>,
    ring_layout: Layout,
    pub(super) data: NonNull<u8>,
    data_layout: Layout,
    count: u16,
    size: u32,
    /// Ring entries published so far (the kernel's view of the tail).
    tail: u16,
    pub(super) owned: Vec<bool>,
    pub(super) sends: Vec<u32>,
    /// Buffers in the ring.
    pub(super) free: usize,
}

impl BufRing {
    pub(super) fn new(count: u16, size: u32) -> io::Result<BufRing> {
        let invalid = |m| io::Error::new(io::ErrorKind::InvalidInput, m);
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(invalid("buffers: a power of two ≤ 32768, non-empty"));
        }
        let n = usize::from(count);
        let ring_layout = Layout::from_size_align(n * size_of::<RawBuf>(), PAGE)
            .map_err(|_| invalid("buffer ring layout"))?;
        let data_layout = Layout::from_size_align(n * size as usize, PAGE)
            .map_err(|_| invalid("buffer layout"))?;
        // SAFETY: both layouts have a non-zero size (count and size > 0).
        let (ring, data) = unsafe {
            (
                alloc::alloc_zeroed(ring_layout),
                alloc::alloc_zeroed(data_layout),
            )
        };
        let (Some(ring), Some(data)) = (NonNull::new(ring.cast::<RawBuf>()), NonNull::new(data))
        else {
            // SAFETY: each non-null pointer came from `alloc_zeroed` with
            // that layout and was not handed out.
            unsafe {
                if !ring.is_null() {
                    alloc::dealloc(ring, ring_layout);
                }
                if !data.is_null() {
                    alloc::dealloc(data, data_layout);
                }
            }
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        Ok(BufRing {
            ring,
            ring_layout,
            data,
            data_layout,
            count,
            size,
            tail: 0,
            owned: vec![false; n],
            sends: vec![0; n],
            free: 0,
        })
    }

    /// Where the ring's entries are, for registration.
    pub(super) fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    /// The byte offset of `[off, off + len)` inside owned buffer `bid`.
    pub(super) fn owned_range(&self, bid: u16, off: u32, len: u32) -> Option<usize> {
        let owned = *self.owned.get(usize::from(bid))?;
        let end = off.checked_add(len)?;
        (owned && end <= self.size).then(|| usize::from(bid) * self.size as usize + off as usize)
    }

    /// A receive completion handed `bid` over; false for an id that cannot
    /// be one (then the kernel still counts it as in the ring).
    pub(super) fn take(&mut self, bid: u16) -> bool {
        match self.owned.get_mut(usize::from(bid)) {
            Some(o) if !*o => {
                *o = true;
                self.free -= 1;
                true
            }
            _ => false,
        }
    }

    /// Appends `bid` to the ring and publishes the new tail.
    pub(super) fn give(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.count - 1));
        let addr = self.data.as_ptr() as u64 + u64::from(bid) * u64::from(self.size);
        // SAFETY: `idx < count`, inside the ring allocation. At most `count`
        // buffers are ever in the ring and `bid` is not one of them, so this
        // entry is not among those the kernel may read now. Fields are
        // written one by one: `resv` of entry 0 is the tail.
        unsafe {
            let e = self.ring.as_ptr().add(idx);
            ptr::addr_of_mut!((*e).addr).write(addr);
            ptr::addr_of_mut!((*e).len).write(self.size);
            ptr::addr_of_mut!((*e).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        self.free += 1;
        // SAFETY: the tail is the u16 at byte 14 of the page-aligned ring,
        // aligned and valid while the ring lives; the kernel reads it with
        // acquire semantics, hence the atomic release store after the entry.
        unsafe {
            let tail = ptr::addr_of_mut!((*self.ring.as_ptr()).resv);
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both came from `alloc_zeroed` with these layouts; the ring
        // using them is closed by now (`Uring` drops `ring` first).
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            alloc::dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}
