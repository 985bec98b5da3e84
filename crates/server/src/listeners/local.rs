//! A shard's listeners: for each, its drain event (what its connections
//! wait on next to their socket), the task serving it, and, once a
//! generation without it has been published, the last generation that had
//! it (requests racing the drain are served under it until the grace
//! period ends).
//!
//! Shard-local (`RefCell` in the shard's context); generic over the kept
//! generation `G` so it does not depend on the context that holds it.

use std::time::Instant;

use monoio::task::JoinHandle;

use super::ListenerId;
use crate::event::LocalEvent;

struct Entry<G> {
    id: ListenerId,
    drain: LocalEvent,
    task: Option<JoinHandle<()>>,
    gone: Option<Gone<G>>,
}

struct Gone<G> {
    last: G,
    /// Past this the listener's entry (and its generation) is dropped.
    until: Instant,
    /// Its parked connections have been closed.
    swept: bool,
}

/// Bound: one entry per listener of the running generation, plus removed
/// ones for at most `shutdown_grace`.
pub struct Listeners<G> {
    entries: Vec<Entry<G>>,
}

impl<G: Clone> Listeners<G> {
    pub fn new() -> Self {
        Listeners {
            entries: Vec::new(),
        }
    }

    pub fn contains(&self, id: ListenerId) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    /// Starts tracking a listener this shard now serves (`task`: None when
    /// its sockets could not be taken or started; the entry still keeps the
    /// shard from trying again every tick).
    pub fn add(&mut self, id: ListenerId, drain: LocalEvent, task: Option<JoinHandle<()>>) {
        self.entries.push(Entry {
            id,
            drain,
            task,
            gone: None,
        });
    }

    /// The drain event of listener `id`, if this shard runs it.
    pub fn drain(&self, id: ListenerId) -> Option<LocalEvent> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.drain.clone())
    }

    /// A new generation was picked up: every listener it lacks starts
    /// draining, and keeps `previous` (the generation that had it) until
    /// `until`. Returns how many started draining.
    pub fn retire_missing(
        &mut self,
        running: &[ListenerId],
        previous: &G,
        until: impl Fn() -> Instant,
    ) -> usize {
        let mut retired = 0;
        for e in &mut self.entries {
            if e.gone.is_some() || running.contains(&e.id) {
                continue;
            }
            e.drain.set();
            e.gone = Some(Gone {
                last: previous.clone(),
                until: until(),
                swept: false,
            });
            retired += 1;
        }
        retired
    }

    /// The last generation of a removed listener still draining.
    pub fn last_generation(&self, id: ListenerId) -> Option<G> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.gone.as_ref())
            .map(|g| g.last.clone())
    }

    /// Removed listeners whose parked connections are still to be closed
    /// (each reported once).
    pub fn take_unswept(&mut self, out: &mut Vec<ListenerId>) {
        for e in &mut self.entries {
            if let Some(g) = e.gone.as_mut().filter(|g| !g.swept) {
                g.swept = true;
                out.push(e.id);
            }
        }
    }

    /// Forgets removed listeners past their grace period.
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|e| e.gone.as_ref().is_none_or(|g| g.until > now));
    }

    /// A stop: every listener drains; returns their tasks to wait for.
    pub fn drain_all(&mut self) -> Vec<JoinHandle<()>> {
        for e in &self.entries {
            e.drain.set();
        }
        self.entries
            .iter_mut()
            .filter_map(|e| e.task.take())
            .collect()
    }
}

impl<G: Clone> Default for Listeners<G> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_missing_listener_drains_once_and_is_forgotten_after_its_grace() {
        let mut l: Listeners<u64> = Listeners::new();
        let (a, b) = (LocalEvent::new(), LocalEvent::new());
        l.add(ListenerId(1), a.clone(), None);
        l.add(ListenerId(2), b.clone(), None);
        let now = Instant::now();
        let until = || now + Duration::from_secs(5);
        assert_eq!(
            l.retire_missing(&[ListenerId(1), ListenerId(2)], &7, until),
            0
        );
        assert_eq!(l.retire_missing(&[ListenerId(1)], &7, until), 1);
        assert!(b.is_set() && !a.is_set());
        // A later generation does not move the kept one.
        assert_eq!(l.retire_missing(&[ListenerId(1)], &8, until), 0);
        assert_eq!(l.last_generation(ListenerId(2)), Some(7));
        assert_eq!(l.last_generation(ListenerId(1)), None);
        let mut sweep = Vec::new();
        l.take_unswept(&mut sweep);
        l.take_unswept(&mut sweep);
        assert_eq!(sweep, vec![ListenerId(2)], "swept once");
        l.expire(now + Duration::from_secs(1));
        assert!(l.contains(ListenerId(2)));
        l.expire(now + Duration::from_secs(6));
        assert!(!l.contains(ListenerId(2)) && l.contains(ListenerId(1)));
        assert!(l.drain_all().is_empty());
        assert!(a.is_set());
    }
}
