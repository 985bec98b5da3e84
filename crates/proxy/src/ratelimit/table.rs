//! A fixed-size, lock-free table of GCRA buckets, 4-way set-associative.
//!
//! Every slot is one `AtomicU64` (see `gcra`): a check is a few loads and
//! one compare-and-swap, shared safely by every shard, and allocates
//! nothing. The table never grows: a flood of distinct keys only replaces
//! buckets, so memory is `8 × slots` bytes (16 more per slot with `sync`)
//! whatever the traffic.
//!
//! Finding a key's slot in its set of four: the slot whose tag matches;
//! else a slot whose bucket is full (TAT behind now: it carries no
//! information, reusing it loses nothing and is not counted); else the
//! slot with the smallest debt, which is evicted and counted. An evicted
//! key comes back with a full bucket, so under a key flood the limit of
//! the keys that are evicted loosens; keys over their limit hold the most
//! debt and are evicted last.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::gcra::{self, Gcra};

/// Slots per set.
pub const WAYS: usize = 4;
/// Largest table: 2^26 slots (512 MiB); validation keeps configs far below.
const MAX_SLOTS: usize = 1 << 26;

/// A rate: one request per `interval_ns`, with `burst` requests at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The emission interval T = 1 / rate, in nanoseconds.
    pub interval_ns: u64,
    /// Requests a full bucket admits at once (at least 1).
    pub burst: u32,
}

/// What [`Table::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted; `remaining` more would be admitted right now.
    Allowed { remaining: u32 },
    /// Over the limit; a request after `retry_after` would be admitted.
    Limited { retry_after: Duration },
}

/// The buckets of one rate-limit rule.
pub struct Table {
    words: Box<[AtomicU64]>,
    /// Sets - 1 (sets are a power of two).
    set_mask: u64,
    /// Remixed into the set index, so a client cannot aim its keys at one
    /// set without knowing the process's seed.
    seed: u64,
    epoch: Instant,
    gcra: Gcra,
    limit: Limit,
    evictions: AtomicU64,
    /// With `sync`: per slot, the key admitted in it since the last
    /// `drain_pending` and how many times.
    pending: Option<Pending>,
}

struct Pending {
    keys: Box<[AtomicU64]>,
    counts: Box<[AtomicU32]>,
}

/// Where a key's bucket is (or will be).
#[derive(Clone, Copy)]
enum Place {
    /// The key's own slot (tag match), holding `word`.
    Own(usize, u64),
    /// A slot with a full bucket, free to take.
    Free(usize, u64),
    /// The slot with the smallest debt: taking it is an eviction.
    Evict(usize, u64),
}

impl Table {
    /// A table of at least `slots` buckets (rounded up to a power of two, at
    /// least one set) with a random per-process set seed. `sync` keeps the
    /// per-slot admission counts `drain_pending` reports.
    pub fn new(slots: usize, limit: Limit, sync: bool) -> Self {
        // std seeds each RandomState from the OS once per thread, then
        // varies it: a seed an attacker cannot know.
        let seed = RandomState::new().hash_one(0x5eed_u64);
        Self::with_seed(slots, limit, sync, seed)
    }

    /// As [`Table::new`] with a given set seed (tests).
    pub fn with_seed(slots: usize, limit: Limit, sync: bool, seed: u64) -> Self {
        let n = slots.clamp(WAYS, MAX_SLOTS).next_power_of_two();
        let atomics64 = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        let pending = sync.then(|| Pending {
            keys: atomics64(n),
            counts: (0..n).map(|_| AtomicU32::new(0)).collect(),
        });
        Table {
            words: atomics64(n),
            set_mask: (n / WAYS) as u64 - 1,
            seed,
            epoch: Instant::now(),
            gcra: Gcra::new(limit.interval_ns, limit.burst),
            limit: Limit {
                burst: limit.burst.max(1),
                ..limit
            },
            evictions: AtomicU64::new(0),
            pending,
        }
    }

    pub fn slots(&self) -> usize {
        self.words.len()
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Counts one request of `key` (a stable hash, see `key_hash`) at `now`.
    pub fn check(&self, key: u64, now: Instant) -> Verdict {
        let now = self.now(now);
        let tag = gcra::key_tag(key);
        loop {
            let place = self.place(key, tag, now);
            let (i, old, debt) = match place {
                Place::Own(i, w) => (i, w, self.gcra.debt(w, now)),
                Place::Free(i, w) | Place::Evict(i, w) => (i, w, 0),
            };
            let new = match self.gcra.admit(debt) {
                Ok(new) => new,
                Err(wait) => {
                    return Verdict::Limited {
                        retry_after: gcra::duration(wait),
                    }
                }
            };
            if self.swap(i, old, gcra::pack(tag, now.wrapping_add(new))) {
                self.counted(place);
                self.note_pending(i, key, matches!(place, Place::Own(..)));
                return Verdict::Allowed {
                    remaining: self.gcra.remaining(new),
                };
            }
            // Another shard changed the set under us: look again.
        }
    }

    /// Records `n` requests of `key` admitted elsewhere (other gateways):
    /// the bucket's debt grows by `n × T`, capped at `burst × T` plus one
    /// second of rate.
    pub fn charge(&self, key: u64, n: u32, now: Instant) {
        if n == 0 {
            return;
        }
        let now = self.now(now);
        let tag = gcra::key_tag(key);
        loop {
            let place = self.place(key, tag, now);
            let (i, old, debt) = match place {
                Place::Own(i, w) => (i, w, self.gcra.debt(w, now)),
                Place::Free(i, w) | Place::Evict(i, w) => (i, w, 0),
            };
            let new = self.gcra.charge(debt, n);
            if self.swap(i, old, gcra::pack(tag, now.wrapping_add(new))) {
                self.counted(place);
                return;
            }
        }
    }

    /// Hands over every key admitted locally since the last call, with its
    /// count, and starts counting afresh. Nothing without `sync`. A key whose
    /// slot was taken by another key before the call has its count dropped
    /// (the table holds one pending key per slot).
    pub fn drain_pending(&self, mut f: impl FnMut(u64, u32)) {
        let Some(p) = &self.pending else {
            return;
        };
        for (key, count) in p.keys.iter().zip(p.counts.iter()) {
            let n = count.swap(0, Ordering::AcqRel);
            if n > 0 {
                f(key.load(Ordering::Acquire), n);
            }
        }
    }

    /// Evictions since the last call (each counted once, whichever shard
    /// asks).
    pub fn take_evictions(&self) -> u64 {
        self.evictions.swap(0, Ordering::Relaxed)
    }

    /// `now` in time units since the epoch (wrapping at 48 bits).
    fn now(&self, now: Instant) -> u64 {
        gcra::units(now.saturating_duration_since(self.epoch)) & gcra::TAT_MASK
    }

    fn place(&self, key: u64, tag: u16, now: u64) -> Place {
        let set = (remix(key ^ self.seed) & self.set_mask) as usize * WAYS;
        let mut free: Option<(usize, u64)> = None;
        let mut victim: Option<(usize, u64, u64)> = None;
        for i in set..set + WAYS {
            let Some(slot) = self.words.get(i) else {
                continue;
            };
            let w = slot.load(Ordering::Acquire);
            if gcra::tag_of(w) == tag {
                return Place::Own(i, w);
            }
            let debt = self.gcra.debt(w, now);
            if debt == 0 {
                free = free.or(Some((i, w)));
            } else if victim.is_none_or(|(_, _, d)| debt < d) {
                victim = Some((i, w, debt));
            }
        }
        match (free, victim) {
            (Some((i, w)), _) => Place::Free(i, w),
            (None, Some((i, w, _))) => Place::Evict(i, w),
            // Unreachable: a set has WAYS slots, each free or a victim.
            (None, None) => Place::Free(set, 0),
        }
    }

    fn swap(&self, i: usize, old: u64, new: u64) -> bool {
        self.words.get(i).is_some_and(|slot| {
            slot.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    fn counted(&self, place: Place) {
        if matches!(place, Place::Evict(..)) {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn note_pending(&self, i: usize, key: u64, own: bool) {
        let Some(p) = &self.pending else {
            return;
        };
        let (Some(k), Some(c)) = (p.keys.get(i), p.counts.get(i)) else {
            return;
        };
        if own && k.load(Ordering::Acquire) == key {
            c.fetch_add(1, Ordering::AcqRel);
        } else {
            // A new key in this slot: the previous key's undrained count is
            // dropped (documented in `drain_pending`).
            k.store(key, Ordering::Release);
            c.store(1, Ordering::Release);
        }
    }
}

/// A 64-bit finaliser (SplitMix64): every key bit moves every set-index bit.
fn remix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
