//! Many threads hammering one table with random operations while an admin thread drains
//! whatever it sees busy and a reader checks counts and per-slot order. Each worker keeps
//! its own books of what it owns; a shared owner array catches any slot handed to two
//! owners at once.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use shardgate_slots::{SlotId, Slots, State, TransitionError};

const SLOTS: usize = 64;
const WORKERS: usize = 4;
const OPS: usize = 100_000;
/// Per worker: 4 × 24 > 64, so the table fills up and claims get refused.
const MAX_HELD: usize = 24;

/// xorshift64: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn position(state: State, id: SlotId) -> (u32, u8) {
    let rank = match state {
        State::Idle => 0,
        State::Busy => 1,
        State::Draining => 2,
        State::Closed => 3,
    };
    (id.generation(), rank)
}

struct Shared {
    slots: Arc<Slots>,
    /// 0 = nobody, `w + 1` = worker `w`.
    owners: Vec<AtomicUsize>,
}

impl Shared {
    fn take(&self, id: SlotId, me: usize) {
        let previous = self.owners[id.index()].swap(me, Ordering::SeqCst);
        assert_eq!(previous, 0, "{id} handed to {me} while owned by {previous}");
    }

    fn give_back(&self, id: SlotId, me: usize) {
        let previous = self.owners[id.index()].swap(0, Ordering::SeqCst);
        assert_eq!(
            previous, me,
            "{id} released by {me} but owned by {previous}"
        );
    }
}

/// Returns (claims that succeeded, claims refused because the table was full).
fn worker(shared: &Shared, me: usize) -> (usize, usize) {
    let slots = &shared.slots;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (me as u64 * 0x1234_5678_9ABC));
    let mut held: Vec<SlotId> = Vec::new();
    let mut stale: Vec<SlotId> = Vec::new();
    let (mut claimed, mut refused) = (0, 0);
    for _ in 0..OPS {
        match rng.below(10) {
            0..=2 if held.len() < MAX_HELD => match slots.claim() {
                Some(id) => {
                    shared.take(id, me);
                    held.push(id);
                    claimed += 1;
                }
                None => refused += 1,
            },
            3 | 4 if !held.is_empty() => {
                let id = held[rng.below(held.len())];
                // Busy → Draining, unless this worker or the admin drained it already.
                match slots.drain(id) {
                    Ok(()) => {}
                    Err(TransitionError::Illegal {
                        from: State::Draining,
                        ..
                    }) => {}
                    Err(e) => panic!("worker {me} draining its own {id}: {e}"),
                }
            }
            5..=7 if !held.is_empty() => {
                let id = held.swap_remove(rng.below(held.len()));
                slots.close(id).unwrap();
                assert_eq!(slots.state(id.index()), Some(State::Closed));
                // Books first: once released the slot may be claimed at once.
                shared.give_back(id, me);
                slots.release(id).unwrap();
                if stale.len() == 8 {
                    stale.swap_remove(rng.below(8));
                }
                stale.push(id);
            }
            8 if !stale.is_empty() => {
                let id = stale[rng.below(stale.len())];
                let result = match rng.below(3) {
                    0 => slots.drain(id),
                    1 => slots.close(id),
                    _ => slots.release(id),
                };
                assert!(
                    matches!(result, Err(TransitionError::Stale { .. })),
                    "stale {id} was accepted: {result:?}"
                );
            }
            _ => {
                // A whole guarded connection: claim, maybe drain, end.
                if let Some(guard) = slots.claim_guard() {
                    shared.take(guard.id(), me);
                    if rng.below(2) == 0 {
                        let _ = guard.drain();
                    }
                    assert_ne!(guard.state(), State::Idle);
                    shared.give_back(guard.id(), me);
                }
            }
        }
    }
    for id in held {
        slots.close(id).unwrap();
        shared.give_back(id, me);
        slots.release(id).unwrap();
    }
    (claimed, refused)
}

/// Drains what it sees busy, as the admin API would, through ids read by `observe`.
fn admin(slots: &Slots, done: &AtomicBool) -> usize {
    let mut rng = Rng(0xA5A5_5A5A_DEAD_BEEF);
    let mut drained = 0;
    while !done.load(Ordering::Relaxed) {
        let Some((State::Busy, id)) = slots.observe(rng.below(SLOTS)) else {
            continue;
        };
        match slots.drain(id) {
            Ok(()) => drained += 1,
            // Its owner got there first: drained it, closed it, or released it.
            Err(TransitionError::Illegal {
                from: State::Draining | State::Closed,
                ..
            })
            | Err(TransitionError::Stale { .. }) => {}
            Err(e) => panic!("admin draining observed {id}: {e}"),
        }
    }
    drained
}

/// Checks that counts always cover the table and that no slot ever goes backwards.
fn reader(slots: &Slots, done: &AtomicBool) -> usize {
    let mut last = vec![(0, 0); SLOTS];
    let mut rounds = 0;
    while !done.load(Ordering::Relaxed) {
        let counts = slots.counts();
        assert_eq!(
            counts.idle + counts.busy + counts.draining + counts.closed,
            SLOTS
        );
        for (index, last) in last.iter_mut().enumerate() {
            let (state, id) = slots.observe(index).unwrap();
            let now = position(state, id);
            assert!(*last <= now, "slot {index} went from {last:?} to {now:?}");
            *last = now;
        }
        rounds += 1;
    }
    rounds
}

#[test]
fn random_operations_never_hand_a_slot_to_two_owners() {
    let shared = Arc::new(Shared {
        slots: Arc::new(Slots::new(SLOTS)),
        owners: (0..SLOTS).map(|_| AtomicUsize::new(0)).collect(),
    });
    let done = Arc::new(AtomicBool::new(false));
    let watchers = {
        let (admin_slots, admin_done) = (Arc::clone(&shared.slots), Arc::clone(&done));
        let (reader_slots, reader_done) = (Arc::clone(&shared.slots), Arc::clone(&done));
        (
            thread::spawn(move || admin(&admin_slots, &admin_done)),
            thread::spawn(move || reader(&reader_slots, &reader_done)),
        )
    };
    let workers: Vec<_> = (1..=WORKERS)
        .map(|me| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || worker(&shared, me))
        })
        .collect();
    let (mut claimed, mut refused) = (0, 0);
    for w in workers {
        let (c, r) = w.join().unwrap();
        claimed += c;
        refused += r;
    }
    done.store(true, Ordering::Relaxed);
    let drained = watchers.0.join().unwrap();
    let rounds = watchers.1.join().unwrap();

    assert!(
        claimed > 0 && refused > 0,
        "claimed {claimed}, refused {refused}"
    );
    let counts = shared.slots.counts();
    assert_eq!(counts.idle, SLOTS, "{counts:?}");
    assert!(shared.owners.iter().all(|o| o.load(Ordering::SeqCst) == 0));
    eprintln!(
        "claimed {claimed}, refused {refused}, admin drained {drained}, reader rounds {rounds}"
    );
}
