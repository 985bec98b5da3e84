//! Thread placement: a shard is only "per core" if its thread cannot migrate,
//! otherwise two shards share a core's cache and the scheduler's whims decide
//! latency.

use crate::{sys, Error};

/// Restricts the calling thread to `core` alone. Call it first thing in each
/// shard thread, before building the runtime, so the ring's kernel-side state
/// (and DEFER_TASKRUN's task work) is created on the core that will use it.
pub fn pin_current_thread(core: usize) -> Result<(), Error> {
    if core >= sys::CPU_SET_CAPACITY {
        return Err(Error::CoreOutOfRange {
            core,
            max: sys::CPU_SET_CAPACITY,
        });
    }
    sys::pin_thread_to(core).map_err(|source| Error::Sys {
        op: "sched_setaffinity",
        source,
    })
}

/// How many shards "one per core" means: std's `available_parallelism`, which
/// counts the CPUs in this thread's affinity mask and honours cgroup CPU
/// quotas; at least 1. Call it before pinning: on a pinned thread it is 1.
pub fn online_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU numbers this thread may run on, ascending. Shard `i` should be
/// pinned to `allowed_cores()[i % len]`, not to `i`: under `taskset` or a
/// cpuset cgroup the allowed CPUs need not start at 0 or be contiguous.
pub fn allowed_cores() -> Result<Vec<usize>, Error> {
    sys::thread_affinity().map_err(|source| Error::Sys {
        op: "sched_getaffinity",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own view, independent of our getaffinity wrapper.
    fn proc_cpus_allowed_list() -> String {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn pin_to_cpu0_leaves_only_cpu0() {
        std::thread::spawn(|| {
            pin_current_thread(0).unwrap();
            assert_eq!(allowed_cores().unwrap(), vec![0]);
            assert_eq!(proc_cpus_allowed_list(), "0");
            assert_eq!(online_cores(), 1, "available_parallelism follows the mask");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pin_out_of_range() {
        std::thread::spawn(|| {
            let before = allowed_cores().unwrap();
            match pin_current_thread(1 << 20) {
                Err(Error::CoreOutOfRange { core, .. }) => assert_eq!(core, 1 << 20),
                other => panic!("expected CoreOutOfRange, got {other:?}"),
            }
            let absent = sys::CPU_SET_CAPACITY - 1;
            if !before.contains(&absent) {
                let err = pin_current_thread(absent).unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Sys {
                            op: "sched_setaffinity",
                            ..
                        }
                    ),
                    "{err}"
                );
            }
            assert_eq!(allowed_cores().unwrap(), before);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn core_counts_agree() {
        let cores = std::thread::spawn(|| (online_cores(), allowed_cores().unwrap()))
            .join()
            .unwrap();
        assert!(cores.0 >= 1);
        // available_parallelism may be lower (cgroup quota), never higher.
        assert!(cores.0 <= cores.1.len());
    }
}
