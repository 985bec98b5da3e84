//! Building a shard's monoio runtime with the driver and io_uring set-up the
//! measurements favour (see the crate docs for what this kernel accepted).

use std::future::Future;
use std::io;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, Runtime, RuntimeBuilder};

use crate::{ActiveDriver, Driver, Error};

/// Whether io_uring can run monoio's ops here. False under Docker's default
/// seccomp profile, on old kernels, and when `MONOIO_FORCE_LEGACY_DRIVER=1`
/// is set (the operator's escape hatch: `Auto` then means epoll). Cached for
/// the process after the first call.
pub fn uring_available() -> bool {
    monoio::utils::detect_uring()
}

/// io_uring set-ups in order of preference. Without them the ring's task work
/// runs from interrupts on whichever CPU, contending on the socket lock with
/// the shard itself; measured here: +35–40 % CPU per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UringSetup {
    /// SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+): completions are processed
    /// only when the shard waits, on the shard's own thread.
    DeferTaskrun,
    /// COOP_TASKRUN | TASKRUN_FLAG (Linux 5.19+): no IPI per completion.
    CoopTaskrun,
    /// Whatever the kernel does by default.
    Plain,
}

impl UringSetup {
    pub(crate) const PREFERENCE: [UringSetup; 3] = [
        UringSetup::DeferTaskrun,
        UringSetup::CoopTaskrun,
        UringSetup::Plain,
    ];

    fn builder(self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        match self {
            UringSetup::DeferTaskrun => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            UringSetup::CoopTaskrun => {
                b.setup_coop_taskrun().setup_taskrun_flag();
            }
            UringSetup::Plain => {}
        }
        b
    }

    fn name(self) -> &'static str {
        match self {
            UringSetup::DeferTaskrun => "SINGLE_ISSUER|DEFER_TASKRUN",
            UringSetup::CoopTaskrun => "COOP_TASKRUN|TASKRUN_FLAG",
            UringSetup::Plain => "default flags",
        }
    }
}

type UringRuntime = Runtime<TimeDriver<IoUringDriver>>;

/// Builds the ring with the most preferred set-up the kernel accepts. Only
/// EINVAL (unknown flag) moves on to the next set-up; anything else (ENOMEM,
/// EPERM from seccomp) would fail the same way and is returned as is.
pub(crate) fn build_uring(entries: u32) -> Result<(UringRuntime, UringSetup), Error> {
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for setup in UringSetup::PREFERENCE {
        match RuntimeBuilder::<IoUringDriver>::new()
            .uring_builder(setup.builder())
            .with_entries(entries)
            .enable_timer()
            .build()
        {
            Ok(rt) => {
                tracing::debug!(entries, flags = setup.name(), "io_uring ring built");
                return Ok((rt, setup));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::info!(entries, flags = setup.name(), error = %e, "io_uring set-up refused, trying the next");
                last = e;
            }
            Err(source) => {
                return Err(Error::Runtime {
                    driver: ActiveDriver::IoUring,
                    entries,
                    source,
                })
            }
        }
    }
    Err(Error::Runtime {
        driver: ActiveDriver::IoUring,
        entries,
        source: last,
    })
}

fn build_epoll(entries: u32) -> Result<Runtime<TimeDriver<LegacyDriver>>, Error> {
    RuntimeBuilder::<LegacyDriver>::new()
        .with_entries(entries)
        .enable_timer()
        .build()
        .map_err(|source| Error::Runtime {
            driver: ActiveDriver::Epoll,
            entries,
            source,
        })
}

/// Builds a monoio runtime on the current thread and runs `f(driver)` to
/// completion on it. `entries` is the io_uring ring size (the kernel allows up
/// to 32768) and, on epoll, the event batch per wait; monoio raises anything
/// below 256 to 256. Both drivers get a timer (timeouts need it).
///
/// `Auto` picks io_uring when available and falls back to epoll if the ring
/// cannot be built; `IoUring` never falls back (the operator asked for it).
/// Must not be called from inside another monoio runtime (monoio panics).
pub fn run_on_runtime<F, Fut>(driver: Driver, entries: u32, f: F) -> Result<Fut::Output, Error>
where
    F: FnOnce(ActiveDriver) -> Fut,
    Fut: Future,
{
    let uring = match driver {
        Driver::Epoll => None,
        Driver::IoUring if !uring_available() => return Err(Error::UringUnavailable),
        Driver::IoUring => Some(build_uring(entries)?),
        Driver::Auto if !uring_available() => None,
        Driver::Auto => match build_uring(entries) {
            Ok(rt) => Some(rt),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unusable, falling back to epoll");
                None
            }
        },
    };
    match uring {
        Some((mut rt, setup)) => {
            tracing::info!(
                driver = "io_uring",
                flags = setup.name(),
                entries,
                "shard runtime"
            );
            Ok(rt.block_on(f(ActiveDriver::IoUring)))
        }
        None => {
            let mut rt = build_epoll(entries)?;
            tracing::info!(driver = "epoll", entries, "shard runtime");
            Ok(rt.block_on(f(ActiveDriver::Epoll)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let maj: u32 = parts.next().unwrap().parse().unwrap();
        let min: u32 = parts.next().unwrap().parse().unwrap();
        (maj, min) >= (major, minor)
    }

    /// Each set-up is tried on its own: the preferred one must be accepted on
    /// kernels that support it, so a silent fall-back would show up here.
    #[test]
    fn uring_setups_accepted_by_this_kernel() {
        if !crate::run_driver_half("uring_setups", ActiveDriver::IoUring, uring_available()) {
            return;
        }
        std::thread::spawn(|| {
            for setup in UringSetup::PREFERENCE {
                let res = setup.builder().build(8);
                let want = match setup {
                    UringSetup::DeferTaskrun => kernel_at_least(6, 1),
                    UringSetup::CoopTaskrun => kernel_at_least(5, 19),
                    UringSetup::Plain => true,
                };
                assert_eq!(res.is_ok(), want, "{}: {:?}", setup.name(), res.err());
            }
            let (_rt, setup) = build_uring(256).unwrap();
            if kernel_at_least(6, 1) {
                assert_eq!(setup, UringSetup::DeferTaskrun);
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn oversized_ring_is_an_error_naming_the_entries() {
        if !crate::run_driver_half("oversized_ring", ActiveDriver::IoUring, uring_available()) {
            return;
        }
        // IORING_MAX_ENTRIES is 32768: every set-up gets EINVAL.
        let err = match build_uring(65_536) {
            Err(e) => e,
            Ok(_) => panic!("a 65536-entry ring was accepted"),
        };
        let msg = err.to_string();
        assert!(msg.contains("io_uring") && msg.contains("65536"), "{msg}");
        // The operator asked for io_uring: no silent fall-back.
        assert!(run_on_runtime(Driver::IoUring, 65_536, |_| async {}).is_err());
        // Auto degrades to epoll instead.
        let got = run_on_runtime(Driver::Auto, 65_536, |d| async move { d }).unwrap();
        assert_eq!(got, ActiveDriver::Epoll);
    }
}
