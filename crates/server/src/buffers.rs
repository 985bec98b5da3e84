//! The shard's pool of I/O buffers.
//!
//! A connection borrows a buffer only while it is reading a head or moving a body,
//! and gives it back when it goes idle. An idle keep-alive connection therefore
//! pins no buffer memory (it waits for readiness with nothing allocated), and the
//! pool only ever holds as many buffers as were active at once. After warm-up,
//! taking and returning buffers allocates nothing.
//!
//! After a burst the pool would keep its peak forever (thousands of buffers
//! after a flood of first requests, ≈1 KB per idle connection at 15,000), so
//! the shard's sweep calls [`BufferPool::trim`] ([`IdleStack`] says how).

use crate::idle::IdleStack;

/// A TLS record buffer (`conn::secure::stream`): room for two whole records
/// (16 KiB of plaintext and at most 256 bytes of header, tag and padding
/// each), so a large response goes out in 32 KiB sends and one read takes two
/// records.
pub const TLS_BUFFER: usize = 2 * ((1 << 14) + 256);

pub struct BufferPool {
    size: usize,
    free: IdleStack<Vec<u8>>,
    /// Idle buffers kept beyond this are freed, so a burst does not pin memory forever.
    keep: usize,
}

/// Idle buffers a trim never frees: enough for the ordinary ebb and flow of
/// concurrent requests, so a steady load neither frees nor allocates.
const TRIM_FLOOR: usize = 64;

impl BufferPool {
    pub fn new(size: usize, keep: usize) -> Self {
        Self {
            size,
            free: IdleStack::new(keep, TRIM_FLOOR),
            keep,
        }
    }

    /// An empty buffer with `size` bytes of capacity.
    pub fn take(&self) -> Vec<u8> {
        match self.free.pop() {
            Some(b) => b,
            None => Vec::with_capacity(self.size),
        }
    }

    /// Frees half of the buffers that stayed idle since the last trim (keeping
    /// at least `TRIM_FLOOR`); returns the bytes freed.
    pub fn trim(&self) -> usize {
        self.free.trim() * self.size
    }

    pub fn give(&self, mut buf: Vec<u8>) {
        // A buffer that was grown or shrunk by someone is not ours to keep.
        if buf.capacity() != self.size {
            return;
        }
        if self.free.len() < self.keep {
            buf.clear();
            self.free.push(buf);
        }
    }

    pub fn buffer_size(&self) -> usize {
        self.size
    }

    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_and_caps_what_it_keeps() {
        let pool = BufferPool::new(4096, 2);
        let a = pool.take();
        let ptr = a.as_ptr();
        assert_eq!(a.capacity(), 4096);
        pool.give(a);
        let b = pool.take();
        assert_eq!(b.as_ptr(), ptr, "the same allocation comes back");
        let c = pool.take();
        let d = pool.take();
        pool.give(b);
        pool.give(c);
        pool.give(d);
        assert_eq!(pool.idle(), 2);
        pool.give(Vec::with_capacity(10));
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn trim_frees_half_of_what_stayed_idle_down_to_the_floor() {
        let pool = BufferPool::new(1024, 1000);
        let burst: Vec<_> = (0..300).map(|_| pool.take()).collect();
        for b in burst {
            pool.give(b);
        }
        assert_eq!(
            pool.trim(),
            0,
            "the burst used every buffer: none was idle all along"
        );
        assert_eq!(pool.idle(), 300);
        // An interval where only 10 are in use at once: 290 stayed idle.
        let ten: Vec<_> = (0..10).map(|_| pool.take()).collect();
        for b in ten {
            pool.give(b);
        }
        assert_eq!(pool.trim(), 1024 * 113, "half of 290 - 64, rounded up");
        assert_eq!(pool.idle(), 187);
        // Quiet intervals keep halving the surplus, never below the floor.
        for _ in 0..20 {
            pool.trim();
        }
        assert_eq!(pool.idle(), TRIM_FLOOR);
        assert_eq!(pool.trim(), 0);
    }
}
