//! A slot's state and how it shares one atomic word with the slot's generation.
//!
//! The word is a `u32`: the low 2 bits hold the [`State`], the high 30 bits the
//! generation. Packing both into one word is what makes a transition a single
//! compare-and-swap that checks "this state *and* this occupant" at once (ABA safety).

use std::fmt;

/// Where a slot is in its life cycle. The only edges are
/// Idle → Busy → Draining → Closed → Idle, plus Busy → Closed (a connection that ends
/// without a GOAWAY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Free: [`crate::Slots::claim`] may take it.
    Idle,
    /// Held by a connection that is handshaking or serving streams.
    Busy,
    /// GOAWAY sent or idle timeout expiring: the connection is finishing its streams.
    Draining,
    /// The connection is gone; the slot waits for its owner to release it.
    Closed,
}

impl State {
    /// The 2-bit code stored in the word.
    const fn code(self) -> u32 {
        match self {
            State::Idle => 0,
            State::Busy => 1,
            State::Draining => 2,
            State::Closed => 3,
        }
    }

    /// Inverse of [`State::code`]; total because every 2-bit value is a state, so a
    /// reader can never decode an invalid one.
    const fn from_code(code: u32) -> State {
        match code & STATE_MASK {
            0 => State::Idle,
            1 => State::Busy,
            2 => State::Draining,
            _ => State::Closed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "idle",
            State::Busy => "busy",
            State::Draining => "draining",
            State::Closed => "closed",
        })
    }
}

const STATE_BITS: u32 = 2;
const STATE_MASK: u32 = (1 << STATE_BITS) - 1;

/// Generations count modulo 2^30 (the bits left over by the state).
pub(crate) const GENERATION_MASK: u32 = u32::MAX >> STATE_BITS;

/// One slot's atomic word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) state: State,
    pub(crate) generation: u32,
}

impl Word {
    /// A fresh table's slots: Idle, generation 0.
    pub(crate) const INITIAL: Word = Word {
        state: State::Idle,
        generation: 0,
    };

    pub(crate) const fn pack(self) -> u32 {
        ((self.generation & GENERATION_MASK) << STATE_BITS) | self.state.code()
    }

    pub(crate) const fn unpack(raw: u32) -> Word {
        Word {
            state: State::from_code(raw),
            generation: raw >> STATE_BITS,
        }
    }

    /// The same occupant in another state (every transition but release).
    pub(crate) const fn with_state(self, state: State) -> Word {
        Word {
            state,
            generation: self.generation,
        }
    }

    /// The word release leaves behind: Idle, next generation. Wraps after 2^30 releases
    /// of one slot; see the crate docs for why that is acceptable.
    pub(crate) const fn released(self) -> Word {
        Word {
            state: State::Idle,
            generation: self.generation.wrapping_add(1) & GENERATION_MASK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_every_state_and_edge_generations() {
        for state in [State::Idle, State::Busy, State::Draining, State::Closed] {
            for generation in [0, 1, 12345, GENERATION_MASK - 1, GENERATION_MASK] {
                let word = Word { state, generation };
                assert_eq!(Word::unpack(word.pack()), word);
            }
        }
    }

    #[test]
    fn release_bumps_the_generation_and_wraps_to_zero() {
        let closed = Word {
            state: State::Closed,
            generation: 7,
        };
        assert_eq!(
            closed.released(),
            Word {
                state: State::Idle,
                generation: 8
            }
        );
        let last = Word {
            state: State::Closed,
            generation: GENERATION_MASK,
        };
        assert_eq!(last.released(), Word::INITIAL);
    }
}
