//! The name of one occupancy of one slot.

use std::fmt;

/// Names a slot *and* the generation it was claimed in, so an id kept past its
/// connection's end cannot act on the slot's next occupant: every transition compares
/// the generation and fails with [`crate::TransitionError::Stale`] when it moved on.
///
/// Only [`crate::Slots::claim`] and [`crate::Slots::observe`] make ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotId {
    pub(crate) index: usize,
    pub(crate) generation: u32,
}

impl SlotId {
    /// The slot's position in the table, `0..capacity`.
    pub fn index(self) -> usize {
        self.index
    }

    /// The occupancy this id names (counts releases of the slot, modulo 2^30).
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slot {}#{}", self.index, self.generation)
    }
}
