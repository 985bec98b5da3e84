//! An owned slot that frees itself, however its connection task ends.

use std::sync::Arc;

use crate::{SlotId, Slots, State, TransitionError};

/// A claimed slot, made by [`Slots::claim_guard`]. Dropping it closes the slot (from Busy
/// or Draining) and releases it, so a connection task that returns, errors or is
/// cancelled never leaks its slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: SlotId,
}

impl Slots {
    /// [`Slots::claim`], wrapped in a guard that releases the slot on drop.
    pub fn claim_guard(self: &Arc<Self>) -> Option<Slot> {
        let id = self.claim()?;
        Some(Slot {
            slots: Arc::clone(self),
            id,
        })
    }
}

impl Slot {
    /// The id of this occupancy (to hand to metrics or the admin API).
    pub fn id(&self) -> SlotId {
        self.id
    }

    /// Busy → Draining; see [`Slots::drain`].
    pub fn drain(&self) -> Result<(), TransitionError> {
        self.slots.drain(self.id)
    }

    /// The slot's current state (the guard holds the slot, so it is never Idle while the
    /// guard lives unless someone else released it with a copy of the id).
    pub fn state(&self) -> State {
        // The guard's id came from this table, so the index is in range; Closed is the
        // honest answer should that ever not hold.
        self.slots.state(self.id.index).unwrap_or(State::Closed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Errors are expected and harmless here: close fails if the slot is already
        // Closed (someone else closed it through a copy of the id), and both fail as
        // stale if someone else already released it. Either way the slot is not ours to
        // touch any more, and the compare-and-swap guarantees we did not.
        let _ = self.slots.close(self.id);
        let _ = self.slots.release(self.id);
    }
}
