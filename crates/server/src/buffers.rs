//! The shard's pool of I/O buffers.
//!
//! A connection borrows a buffer only while it is reading a head or moving a body,
//! and gives it back when it goes idle. An idle keep-alive connection therefore
//! pins no buffer memory (it waits for readiness with nothing allocated), and the
//! pool only ever holds as many buffers as were active at once. After warm-up,
//! taking and returning buffers allocates nothing.

use std::cell::RefCell;

pub struct BufferPool {
    size: usize,
    free: RefCell<Vec<Vec<u8>>>,
    /// Idle buffers kept beyond this are freed, so a burst does not pin memory forever.
    keep: usize,
}

impl BufferPool {
    pub fn new(size: usize, keep: usize) -> Self {
        Self {
            size,
            free: RefCell::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// An empty buffer with `size` bytes of capacity.
    pub fn take(&self) -> Vec<u8> {
        match self.free.borrow_mut().pop() {
            Some(b) => b,
            None => Vec::with_capacity(self.size),
        }
    }

    pub fn give(&self, mut buf: Vec<u8>) {
        // A buffer that was grown or shrunk by someone is not ours to keep.
        if buf.capacity() != self.size {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < self.keep {
            buf.clear();
            free.push(buf);
        }
    }

    pub fn buffer_size(&self) -> usize {
        self.size
    }

    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.free.borrow().len()
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
}
