//! Loom models: every interleaving (up to the preemption bound) of small tables driven
//! by 2–3 threads. Run with `RUSTFLAGS="--cfg loom" cargo test -p shardgate-slots --lib`.

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::{SlotId, Slots, State, TransitionError};

/// Runs `f` under loom with a preemption bound of 3 unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise: 3 is where known concurrency bugs show up in practice and keeps the
/// whole suite to seconds.
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Orders a slot's words along its life: a later generation, or a later state in the
/// same generation, is later.
fn position(state: State, id: SlotId) -> (u32, u8) {
    let rank = match state {
        State::Idle => 0,
        State::Busy => 1,
        State::Draining => 2,
        State::Closed => 3,
    };
    (id.generation(), rank)
}

#[test]
fn two_claimers_of_one_slot_exactly_one_wins() {
    model(|| {
        let slots = Arc::new(Slots::new(1));
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let slots = Arc::clone(&slots);
                thread::spawn(move || slots.claim())
            })
            .collect();
        let won: Vec<SlotId> = claimers
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1);
        assert_eq!(slots.state(0), Some(State::Busy));
    });
}

#[test]
fn three_claimers_of_two_slots_get_distinct_slots() {
    model(|| {
        let slots = Arc::new(Slots::new(2));
        let claimers: Vec<_> = (0..3)
            .map(|_| {
                let slots = Arc::clone(&slots);
                thread::spawn(move || slots.claim())
            })
            .collect();
        let won: Vec<SlotId> = claimers
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        // A claim fails only after seeing both slots taken, and each winner takes one,
        // so exactly two win, on different slots.
        assert_eq!(won.len(), 2);
        assert_ne!(won[0].index(), won[1].index());
        assert_eq!(slots.counts().busy, 2);
    });
}

#[test]
fn claim_racing_release_sees_the_old_owners_writes_or_nothing() {
    model(|| {
        let slots = Arc::new(Slots::new(1));
        // Stands in for the caller's per-slot data; Relaxed, so only the slot word's
        // release/acquire pair can make the old owner's write visible to the new one.
        let payload = Arc::new(AtomicUsize::new(0));
        let old = slots.claim().unwrap();
        slots.close(old).unwrap();

        let releaser = {
            let (slots, payload) = (Arc::clone(&slots), Arc::clone(&payload));
            thread::spawn(move || {
                payload.store(42, Ordering::Relaxed);
                slots.release(old).unwrap();
            })
        };
        let claimer = {
            let (slots, payload) = (Arc::clone(&slots), Arc::clone(&payload));
            thread::spawn(move || {
                let new = slots.claim()?;
                assert_eq!(new.generation(), 1);
                assert_eq!(payload.load(Ordering::Relaxed), 42);
                assert!(matches!(
                    slots.drain(old),
                    Err(TransitionError::Stale { .. })
                ));
                Some(new)
            })
        };
        releaser.join().unwrap();
        let claimed = claimer.join().unwrap();
        let (state, id) = slots.observe(0).unwrap();
        assert_eq!(id.generation(), 1);
        let expected = if claimed.is_some() {
            State::Busy
        } else {
            State::Idle
        };
        assert_eq!(state, expected);
    });
}

#[test]
fn drain_racing_close_only_legal_transitions_win() {
    model(|| {
        let slots = Arc::new(Slots::new(1));
        let id = slots.claim().unwrap();
        let drainer = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || slots.drain(id))
        };
        let closer = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || slots.close(id))
        };
        let drained = drainer.join().unwrap();
        // Close is legal from Busy and from Draining, so it always wins.
        assert_eq!(closer.join().unwrap(), Ok(()));
        // Drain wins only if it came first; after the close it is Closed → Draining.
        if let Err(e) = drained {
            assert_eq!(
                e,
                TransitionError::Illegal {
                    index: 0,
                    from: State::Closed,
                    to: State::Draining
                }
            );
        }
        assert_eq!(slots.state(0), Some(State::Closed));
    });
}

#[test]
fn drain_racing_guard_drop_always_frees_the_slot() {
    model(|| {
        let slots = Arc::new(Slots::new(1));
        let guard = slots.claim_guard().unwrap();
        let id = guard.id();
        let drainer = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || slots.drain(id))
        };
        let owner = thread::spawn(move || drop(guard));
        let drained = drainer.join().unwrap();
        owner.join().unwrap();
        match drained {
            Ok(()) => {}
            // The drop got as far as Closed, or all the way to Idle (new generation).
            Err(TransitionError::Illegal {
                from: State::Closed,
                to: State::Draining,
                ..
            }) => {}
            Err(TransitionError::Stale {
                id_generation: 0,
                current_generation: 1,
                ..
            }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
        let (state, now) = slots.observe(0).unwrap();
        assert_eq!((state, now.generation()), (State::Idle, 1));
        assert_eq!(slots.counts().idle, 1);
    });
}

#[test]
fn reader_sees_valid_states_in_life_cycle_order() {
    model(|| {
        let slots = Arc::new(Slots::new(1));
        let owner = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || {
                let guard = slots.claim_guard().unwrap();
                guard.drain().unwrap();
                // Drop: Draining → Closed → Idle.
            })
        };
        let reader = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || {
                let mut last = (0, 0);
                for _ in 0..3 {
                    let (state, id) = slots.observe(0).unwrap();
                    let now = position(state, id);
                    assert!(now >= last, "went back from {last:?} to {now:?}");
                    assert!(now <= (1, 0), "beyond the one cycle run: {now:?}");
                    last = now;
                    let counts = slots.counts();
                    let total = counts.idle + counts.busy + counts.draining + counts.closed;
                    assert_eq!(total, 1);
                }
            })
        };
        owner.join().unwrap();
        reader.join().unwrap();
        assert_eq!(slots.counts().idle, 1);
    });
}
