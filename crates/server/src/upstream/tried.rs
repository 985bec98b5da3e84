//! The servers of an upstream one request has tried, so that a retry goes to
//! another one: one bit per server index in a `u64`, kept in the request's
//! context without allocating. Servers past the 64th are not tracked: they
//! always count as untried (a retry may then reach one of them twice).

/// Indices this mask can hold.
const TRACKED: usize = u64::BITS as usize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tried(u64);

impl Tried {
    fn bit(i: usize) -> u64 {
        if i < TRACKED {
            1 << i
        } else {
            0
        }
    }

    pub fn add(&mut self, i: usize) {
        self.0 |= Self::bit(i);
    }

    pub fn has(self, i: usize) -> bool {
        self.0 & Self::bit(i) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_first_64_servers() {
        let mut t = Tried::default();
        assert!(!t.has(0));
        t.add(0);
        t.add(2);
        assert!(t.has(0) && t.has(2) && !t.has(1));
        t.add(63);
        assert!(t.has(63));
        // Past the 64th: never marked, always untried.
        t.add(64);
        t.add(1000);
        assert!(!t.has(64) && !t.has(1000));
    }
}
