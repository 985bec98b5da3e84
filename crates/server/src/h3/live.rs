//! A shard-local count of live things, each held by a guard that gives its
//! unit back when dropped (so a task cancelled mid-way cannot leak one). Two
//! counts use it: a listener's connections still in their handshake
//! ("half-open", what `[listener.quic] retry_threshold` compares against: a
//! spoofed-source flood of Initials shows up there first), and a
//! connection's requests in flight (what its drain waits for).

use std::cell::Cell;
use std::rc::Rc;

/// The count, shared by whoever enters and whoever reads it.
#[derive(Clone, Default)]
pub struct Live(Rc<Cell<usize>>);

impl Live {
    pub fn get(&self) -> usize {
        self.0.get()
    }

    /// Whether `threshold` things are live already (0 never is: the rule is
    /// off).
    pub fn at(&self, threshold: usize) -> bool {
        threshold > 0 && self.get() >= threshold
    }

    /// Counts one until the guard is dropped.
    pub fn enter(&self) -> Held {
        self.0.set(self.0.get() + 1);
        Held(self.0.clone())
    }
}

/// One live thing.
pub struct Held(Rc<Cell<usize>>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::Live;

    #[test]
    fn counts_while_guards_live_and_compares_with_the_threshold() {
        let h = Live::default();
        assert!(!h.at(0) && !h.at(1));
        let a = h.enter();
        let b = h.enter();
        assert_eq!(h.get(), 2);
        assert!(h.at(2) && h.at(1) && !h.at(3));
        assert!(!h.at(0), "0 never");
        drop(a);
        assert!(!h.at(2));
        drop(b);
        assert_eq!(h.get(), 0);
    }
}
