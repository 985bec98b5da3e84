//! The table itself: one atomic word per slot, moved between states by compare-and-swap.
//!
//! # Orderings
//!
//! A slot's word is the only thing that hands a connection's per-slot data (kept by the
//! caller, e.g. in a parallel array indexed by [`SlotId::index`]) from one owner to the
//! next, so the edges that pass ownership carry the synchronisation:
//!
//! * **release** (Closed → Idle) is `Release`: everything the old owner did with the
//!   slot happens-before
//! * **claim** (Idle → Busy), which is `Acquire`: the new owner sees the slot as the old
//!   one left it. Because every transition is a read-modify-write, the release sequence
//!   is never broken, so the claimer also synchronises with the close (and drain) before.
//! * **drain** and **close** are `AcqRel`: they may run on another thread than the owner
//!   (the admin API drains), so each publishes what its caller wrote before and sees what
//!   the previous transition published.
//! * A refused transition and the loads that find a candidate are `Relaxed`: they act on
//!   nothing, and the compare-and-swap re-checks the word anyway.
//! * Readers: [`Slots::state`] and [`Slots::observe`] are `Acquire`, so a caller that sees
//!   `Draining` or `Closed` also sees what the transition's caller published;
//!   [`Slots::counts`] is `Relaxed` — it is statistics and synchronises with nothing.
//!
//! The claim hint is `Relaxed` too: it only picks where a scan starts; a stale hint costs
//! a longer scan, never a wrong answer.

use crate::state::Word;
use crate::sync::{AtomicU32, AtomicUsize, Ordering};
use crate::{SlotId, State, TransitionError};

/// A fixed-size table of connection slots, shared as `Arc<Slots>` between the shard that
/// owns the connections and the threads that read or drain them. No operation blocks or
/// allocates after [`Slots::new`].
#[derive(Debug)]
pub struct Slots {
    /// One packed [`Word`] per slot.
    words: Box<[AtomicU32]>,
    /// Where the next claim starts scanning: just past the last slot claimed, so claims
    /// walk the table round-robin instead of rescanning a full prefix each time.
    hint: AtomicUsize,
}

/// How many slots were seen in each state by one [`Slots::counts`] scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Slots seen [`State::Idle`].
    pub idle: usize,
    /// Slots seen [`State::Busy`].
    pub busy: usize,
    /// Slots seen [`State::Draining`].
    pub draining: usize,
    /// Slots seen [`State::Closed`].
    pub closed: usize,
}

impl Slots {
    /// A table of `capacity` idle slots, all at generation 0. A zero capacity is allowed
    /// (every claim is refused).
    pub fn new(capacity: usize) -> Slots {
        let initial = Word::INITIAL.pack();
        Slots {
            words: (0..capacity).map(|_| AtomicU32::new(initial)).collect(),
            hint: AtomicUsize::new(0),
        }
    }

    /// The number of slots, fixed at [`Slots::new`].
    pub fn capacity(&self) -> usize {
        self.words.len()
    }

    /// Takes an idle slot (Idle → Busy) and names it, or `None` when a full pass over the
    /// table found no idle slot — the caller then refuses the connection; nothing queues.
    ///
    /// A slot released behind the scan's position during the pass is not seen, so `None`
    /// means "full at some point during the call", not "full now".
    pub fn claim(&self) -> Option<SlotId> {
        let capacity = self.words.len();
        if capacity == 0 {
            return None;
        }
        let start = self.hint.load(Ordering::Relaxed) % capacity;
        for index in (start..capacity).chain(0..start) {
            let Some(cell) = self.words.get(index) else {
                continue;
            };
            let current = Word::unpack(cell.load(Ordering::Relaxed));
            if current.state != State::Idle {
                continue;
            }
            let busy = current.with_state(State::Busy);
            // Strong CAS: a failure means another claimer took this slot (only claim
            // leaves Idle), so move on rather than retry it.
            if cell
                .compare_exchange(
                    current.pack(),
                    busy.pack(),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                self.hint.store(index + 1, Ordering::Relaxed);
                return Some(SlotId {
                    index,
                    generation: current.generation,
                });
            }
        }
        None
    }

    /// Busy → Draining: the connection sent GOAWAY or its idle timeout is expiring.
    pub fn drain(&self, id: SlotId) -> Result<(), TransitionError> {
        self.transition(id, &[State::Busy], State::Draining, Ordering::AcqRel)
    }

    /// Busy | Draining → Closed: the connection is gone; the slot awaits [`Slots::release`].
    pub fn close(&self, id: SlotId) -> Result<(), TransitionError> {
        self.transition(
            id,
            &[State::Busy, State::Draining],
            State::Closed,
            Ordering::AcqRel,
        )
    }

    /// Closed → Idle, bumping the slot's generation so every id of the old occupancy
    /// (including `id`) is stale from now on.
    pub fn release(&self, id: SlotId) -> Result<(), TransitionError> {
        self.transition(id, &[State::Closed], State::Idle, Ordering::Release)
    }

    /// The state of the slot at `index`, or `None` past the table's end.
    pub fn state(&self, index: usize) -> Option<State> {
        self.observe(index).map(|(state, _)| state)
    }

    /// The state of the slot at `index` together with the id of its current occupancy
    /// (read in one load, so they belong together), or `None` past the table's end. The
    /// admin API drains a connection it listed through this id: if the slot has been
    /// recycled since, the drain fails as stale instead of hitting the new connection.
    pub fn observe(&self, index: usize) -> Option<(State, SlotId)> {
        let word = Word::unpack(self.words.get(index)?.load(Ordering::Acquire));
        Some((
            word.state,
            SlotId {
                index,
                generation: word.generation,
            },
        ))
    }

    /// Counts the slots in each state by loading every word once.
    ///
    /// Each slot's count comes from a real state of that slot, and the four counts sum to
    /// [`Slots::capacity`], but the loads happen one after another while other threads
    /// keep transitioning: the result is a per-slot-consistent snapshot, not a global
    /// atomic one (it may show a state the table as a whole was never in at one instant).
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for cell in self.words.iter() {
            let slot = match Word::unpack(cell.load(Ordering::Relaxed)).state {
                State::Idle => &mut counts.idle,
                State::Busy => &mut counts.busy,
                State::Draining => &mut counts.draining,
                State::Closed => &mut counts.closed,
            };
            *slot += 1;
        }
        counts
    }

    /// Moves `id`'s slot from one of `from` to `to` (release also bumps the generation),
    /// retrying only while the word changes under it to another state that still allows
    /// the move — so it is lock-free: a retry means another thread's transition succeeded.
    fn transition(
        &self,
        id: SlotId,
        from: &[State],
        to: State,
        success: Ordering,
    ) -> Result<(), TransitionError> {
        let cell = self
            .words
            .get(id.index)
            .ok_or(TransitionError::OutOfRange {
                index: id.index,
                capacity: self.words.len(),
            })?;
        let mut current = Word::unpack(cell.load(Ordering::Relaxed));
        loop {
            if current.generation != id.generation {
                return Err(TransitionError::Stale {
                    index: id.index,
                    to,
                    id_generation: id.generation,
                    current_generation: current.generation,
                });
            }
            if !from.contains(&current.state) {
                return Err(TransitionError::Illegal {
                    index: id.index,
                    from: current.state,
                    to,
                });
            }
            let next = if to == State::Idle {
                current.released()
            } else {
                current.with_state(to)
            };
            match cell.compare_exchange(current.pack(), next.pack(), success, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => current = Word::unpack(actual),
            }
        }
    }
}
