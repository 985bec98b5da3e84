//! Why a transition was refused.

use std::fmt;

use crate::State;

/// A transition the table refused; the slot is left exactly as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitionError {
    /// The slot is in `from`, and `from → to` is not an edge of the state machine
    /// (e.g. draining an idle slot, or releasing one twice).
    Illegal {
        /// The slot's index.
        index: usize,
        /// The state the slot was found in.
        from: State,
        /// The state the caller asked for.
        to: State,
    },
    /// The id's generation is not the slot's: the slot was released (and perhaps claimed
    /// again) since the id was handed out, so the id's connection is gone.
    Stale {
        /// The slot's index.
        index: usize,
        /// The state the caller asked for.
        to: State,
        /// The generation the caller's id carries.
        id_generation: u32,
        /// The slot's generation now.
        current_generation: u32,
    },
    /// The id names a slot past this table's end (it came from another table).
    OutOfRange {
        /// The id's index.
        index: usize,
        /// This table's capacity.
        capacity: usize,
    },
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TransitionError::Illegal { index, from, to } => {
                write!(f, "slot {index}: illegal transition {from} → {to}")
            }
            TransitionError::Stale {
                index,
                to,
                id_generation,
                current_generation,
            } => write!(
                f,
                "slot {index}: stale id (generation {id_generation}, slot is at \
                 {current_generation}) cannot move it to {to}"
            ),
            TransitionError::OutOfRange { index, capacity } => {
                write!(f, "slot {index} is out of range (capacity {capacity})")
            }
        }
    }
}

impl std::error::Error for TransitionError {}
