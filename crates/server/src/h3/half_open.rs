//! Connections of one listener on one shard that are still in their
//! handshake ("half-open"): what `[listener.quic] retry_threshold` compares
//! against. A spoofed-source flood of Initials shows up here first: each
//! holds a table slot and costs a handshake until `tls_handshake` ends it,
//! and never completes.

use std::cell::Cell;
use std::rc::Rc;

/// The count; shard-local, shared by the listener's accept loop and its
/// connection tasks.
#[derive(Clone, Default)]
pub struct HalfOpen(Rc<Cell<usize>>);

impl HalfOpen {
    pub fn get(&self) -> usize {
        self.0.get()
    }

    /// Whether a new connection must prove its address first: `threshold`
    /// handshakes are already under way (0 turns the rule off).
    pub fn over(&self, threshold: usize) -> bool {
        threshold > 0 && self.get() >= threshold
    }

    /// Counts one connection until its guard is dropped (the handshake
    /// completed, failed or timed out).
    pub fn enter(&self) -> Handshaking {
        self.0.set(self.0.get() + 1);
        Handshaking(self.0.clone())
    }
}

/// One connection in its handshake.
pub struct Handshaking(Rc<Cell<usize>>);

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::HalfOpen;

    #[test]
    fn counts_while_guards_live_and_compares_with_the_threshold() {
        let h = HalfOpen::default();
        assert!(!h.over(0) && !h.over(1));
        let a = h.enter();
        let b = h.enter();
        assert_eq!(h.get(), 2);
        assert!(h.over(2) && h.over(1) && !h.over(3));
        assert!(!h.over(0), "0 never retries");
        drop(a);
        assert!(!h.over(2));
        drop(b);
        assert_eq!(h.get(), 0);
    }
}
