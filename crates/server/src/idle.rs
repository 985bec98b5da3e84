//! The idle half of a shard's pools: a stack of things lent out and given
//! back (buffers, pipes), which remembers how many of them were never needed
//! during an interval so that the sweep can give the surplus back.
//!
//! After a burst a pool would keep its peak forever, so the sweep calls
//! [`IdleStack::trim`]: items that sat unused through a whole sweep interval
//! are surplus, and half of them are dropped each time, down to a floor that
//! steady traffic never dips into. Halving, not dropping all, because a burst
//! that came once tends to come again; the floor, because a steady load must
//! neither allocate nor free.

use std::cell::{Cell, RefCell};

pub struct IdleStack<T> {
    items: RefCell<Vec<T>>,
    /// The fewest idle items seen since the last trim: that many were not
    /// needed at any moment of the interval.
    low_water: Cell<usize>,
    /// Idle items a trim never drops.
    floor: usize,
    /// The stack's room after a trim that dropped something: what it was
    /// made with, or less when fewer items (and the floor) remain.
    room: usize,
}

impl<T> IdleStack<T> {
    /// A stack with room for `room` items (so giving back never allocates
    /// while fewer are idle) that a trim keeps at least `floor` of.
    pub fn new(room: usize, floor: usize) -> Self {
        Self {
            items: RefCell::new(Vec::with_capacity(room)),
            low_water: Cell::new(0),
            floor,
            room,
        }
    }

    /// The most recently given back item, if any.
    pub fn pop(&self) -> Option<T> {
        let mut items = self.items.borrow_mut();
        let item = items.pop();
        if items.len() < self.low_water.get() {
            self.low_water.set(items.len());
        }
        item
    }

    pub fn push(&self, item: T) {
        self.items.borrow_mut().push(item);
    }

    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Drops half of the items that stayed idle since the last trim (keeping
    /// at least the floor); returns how many were dropped.
    pub fn trim(&self) -> usize {
        let mut items = self.items.borrow_mut();
        let surplus = self
            .low_water
            .get()
            .min(items.len())
            .saturating_sub(self.floor);
        let n = surplus.div_ceil(2);
        let keep = items.len() - n;
        items.truncate(keep);
        if n > 0 {
            items.shrink_to(self.room.min(keep.max(self.floor)));
        }
        self.low_water.set(items.len());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_drops_half_of_what_stayed_idle_down_to_the_floor() {
        let stack = IdleStack::new(1000, 64);
        for i in 0..300 {
            stack.push(i);
        }
        assert_eq!(
            stack.trim(),
            0,
            "nothing was taken since the stack was made: the low water is 0"
        );
        // An interval where only 10 are in use at once: 290 stayed idle.
        let ten: Vec<_> = (0..10).filter_map(|_| stack.pop()).collect();
        for i in ten {
            stack.push(i);
        }
        assert_eq!(stack.trim(), 113, "half of 290 - 64, rounded up");
        assert_eq!(stack.len(), 187);
        // Quiet intervals keep halving the surplus, never below the floor.
        for _ in 0..20 {
            stack.trim();
        }
        assert_eq!(stack.len(), 64);
        assert_eq!(stack.trim(), 0);
    }

    #[test]
    fn an_interval_that_used_everything_drops_nothing() {
        let stack = IdleStack::new(8, 0);
        for i in 0..8 {
            stack.push(i);
        }
        stack.trim();
        let all: Vec<_> = (0..8).filter_map(|_| stack.pop()).collect();
        assert!(stack.pop().is_none());
        for i in all {
            stack.push(i);
        }
        assert_eq!(stack.trim(), 0, "all eight were out at once");
        assert_eq!(stack.len(), 8);
    }
}
