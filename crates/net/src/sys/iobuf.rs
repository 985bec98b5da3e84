//! Safe views of monoio's owned I/O buffers, for streams that produce or
//! consume bytes in user space instead of handing the buffer to the kernel.
//!
//! monoio's buffer traits (`IoBuf`, `IoBufMut` and their vectored forms) only
//! give raw pointers: they are made for the kernel. shardgate's own TLS
//! stream (ADR 20) implements monoio's read and write traits on top of a
//! rustls session, so it needs the bytes of a buffer to encrypt, and to copy
//! decrypted bytes into one. These four functions are the whole of that
//! boundary; everything above them is safe code. (The safe alternative, a
//! staging copy through monoio's `BufWriter`, costs a copy of every byte
//! written and a 16 KiB stage per connection.)

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};

/// The initialised bytes of `buf`.
pub fn init_bytes<B: IoBuf>(buf: &B) -> &[u8] {
    let len = buf.bytes_init();
    if len == 0 {
        return &[];
    }
    // SAFETY: the `IoBuf` contract: `read_ptr` points at `bytes_init`
    // initialised bytes that stay valid and unmoved while `buf` is borrowed.
    unsafe { std::slice::from_raw_parts(buf.read_ptr(), len) }
}

/// Copies as much of `src` as fits into the uninitialised room of `buf`
/// (from its start: a read fills a buffer from its beginning) and marks it
/// initialised; returns the bytes copied.
pub fn put<B: IoBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let n = buf.bytes_total().min(src.len());
    if n == 0 {
        return 0;
    }
    // SAFETY: the `IoBufMut` contract: `write_ptr` points at `bytes_total`
    // writable bytes owned by `buf`, borrowed mutably here, so they cannot
    // overlap `src` (a shared borrow); n ≤ both lengths. The copied bytes
    // are then initialised, which is what `set_init(n)` declares.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), buf.write_ptr(), n);
        buf.set_init(n);
    }
    n
}

/// The first non-empty slice of a vectored buffer (a write may take part of
/// what it is given, so writing only this much is a correct write).
pub fn first_iovec<B: IoVecBuf>(buf: &B) -> &[u8] {
    let count = buf.read_iovec_len();
    let base = buf.read_iovec_ptr();
    for i in 0..count {
        // SAFETY: the `IoVecBuf` contract: `read_iovec_ptr` points at
        // `read_iovec_len` iovecs, each describing initialised bytes that
        // stay valid while `buf` is borrowed.
        let v = unsafe { &*base.add(i) };
        if v.iov_len > 0 {
            // SAFETY: as above, `iov_base` points at `iov_len` initialised bytes.
            return unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) };
        }
    }
    &[]
}

/// [`put`] for a vectored buffer: copies into its first non-empty slice
/// only (a read may return fewer bytes than there is room for).
pub fn put_first_iovec<B: IoVecBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let count = buf.write_iovec_len();
    let base = buf.write_iovec_ptr();
    for i in 0..count {
        // SAFETY: the `IoVecBufMut` contract: `write_iovec_ptr` points at
        // `write_iovec_len` iovecs describing writable memory owned by `buf`,
        // borrowed mutably here.
        let v = unsafe { &*base.add(i) };
        if v.iov_len > 0 {
            let n = v.iov_len.min(src.len());
            // SAFETY: as above; `src` is a shared borrow, so it cannot
            // overlap memory `buf` owns exclusively; n ≤ both lengths. The
            // first `n` bytes of the buffer are then initialised.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), v.iov_base.cast::<u8>(), n);
                buf.set_init(n);
            }
            return n;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use monoio::buf::{IoBufMut, VecBuf};

    use super::*;

    #[test]
    fn init_bytes_sees_exactly_the_initialised_part() {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"hello");
        assert_eq!(init_bytes(&v), b"hello");
        assert_eq!(init_bytes(&v.slice(1..4)), b"ell");
        assert_eq!(init_bytes(&Vec::<u8>::new()), b"");
    }

    #[test]
    fn put_copies_what_fits_and_marks_it_initialised() {
        let v: Vec<u8> = Vec::with_capacity(4);
        let mut s = v.slice_mut(0..4);
        assert_eq!(put(&mut s, b"abcdef"), 4, "only the room is filled");
        assert_eq!(s.into_inner(), b"abcd");

        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"xy");
        let mut s = v.slice_mut(2..8);
        assert_eq!(put(&mut s, b"123"), 3);
        assert_eq!(s.into_inner(), b"xy123");

        let mut full: Vec<u8> = Vec::new();
        assert_eq!(put(&mut full, b"abc"), 0);
        let mut v: Vec<u8> = Vec::with_capacity(4);
        assert_eq!(put(&mut v, b""), 0);
        assert!(v.is_empty());
    }

    /// Two iovecs over owned storage, like monoio's vectored buffers.
    struct TwoVecs {
        store: [Vec<u8>; 2],
        iov: Vec<libc::iovec>,
        init: usize,
    }

    impl TwoVecs {
        fn new(cap: usize) -> Self {
            let mut store = [vec![7u8; cap], vec![7u8; cap]];
            let iov = store
                .iter_mut()
                .map(|v| libc::iovec {
                    iov_base: v.as_mut_ptr().cast(),
                    iov_len: v.len(),
                })
                .collect();
            Self {
                store,
                iov,
                init: 0,
            }
        }
    }

    // SAFETY: the iovecs point into `store`, whose heap buffers never move
    // while `self` lives.
    unsafe impl IoVecBufMut for TwoVecs {
        fn write_iovec_ptr(&mut self) -> *mut libc::iovec {
            self.iov.as_mut_ptr()
        }
        fn write_iovec_len(&mut self) -> usize {
            self.iov.len()
        }
        unsafe fn set_init(&mut self, pos: usize) {
            self.init = pos;
        }
    }

    #[test]
    fn vectored_views_use_the_first_non_empty_slice() {
        let vb = VecBuf::from(vec![Vec::new(), b"abc".to_vec(), b"de".to_vec()]);
        assert_eq!(first_iovec(&vb), b"abc");
        let empty = VecBuf::from(Vec::<Vec<u8>>::new());
        assert_eq!(first_iovec(&empty), b"");

        let mut out = TwoVecs::new(4);
        assert_eq!(put_first_iovec(&mut out, b"xyz"), 3);
        assert_eq!(out.init, 3);
        assert_eq!(&out.store[0][..], b"xyz\x07");
        assert_eq!(out.store[1], [7u8; 4], "only the first slice is written");
        let mut out = TwoVecs::new(2);
        assert_eq!(
            put_first_iovec(&mut out, b"abcdef"),
            2,
            "bounded by the slice"
        );
        assert_eq!(&out.store[0][..], b"ab");
    }
}
