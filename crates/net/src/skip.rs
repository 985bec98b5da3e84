//! When a test suite may skip a driver this machine cannot run.
//!
//! Every proxy-path test runs once per driver. A half that silently "passes"
//! because io_uring is blocked (Docker's default seccomp profile, old
//! kernels) hides a whole driver's worth of regressions, so an unavailable
//! driver fails the test unless the operator opted out by name. This lives
//! here, next to [`uring_available`](crate::uring_available), because it is
//! the lowest crate that every test suite with a driver half can reach
//! (net's own tests, the testkit, the benches).

use crate::ActiveDriver;

/// Set to `io_uring`, `epoll` or `all` to let tests skip that driver when it
/// is unavailable instead of failing.
pub const ALLOW_SKIP_DRIVER_VAR: &str = "SHARDGATE_ALLOW_SKIP_DRIVER";

/// What a test half does about its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverCheck {
    /// The driver runs here: run the test.
    Run,
    /// Unavailable, and the operator allowed skipping it: pass with a note.
    Skip,
    /// Unavailable and not allowed to be skipped: fail.
    Fail,
}

/// The decision, as a pure function of `SHARDGATE_ALLOW_SKIP_DRIVER`'s value
/// (`None` when unset or not UTF-8), the driver and whether it is available.
pub fn driver_check(allow: Option<&str>, driver: ActiveDriver, available: bool) -> DriverCheck {
    if available {
        return DriverCheck::Run;
    }
    let name = driver.to_string();
    match allow.map(str::trim) {
        Some(v) if v == "all" || v == name => DriverCheck::Skip,
        _ => DriverCheck::Fail,
    }
}

/// For tests: whether `test` should run its `driver` half. Returns `false`
/// (after printing a note) when the driver is unavailable and skipping it is
/// allowed; panics, failing the test, when it is unavailable and not allowed.
pub fn run_driver_half(test: &str, driver: ActiveDriver, available: bool) -> bool {
    let allow = std::env::var(ALLOW_SKIP_DRIVER_VAR).ok();
    decide(allow.as_deref(), test, driver, available)
}

fn decide(allow: Option<&str>, test: &str, driver: ActiveDriver, available: bool) -> bool {
    match driver_check(allow, driver, available) {
        DriverCheck::Run => true,
        DriverCheck::Skip => {
            eprintln!(
                "note: {test}: {driver} is not available on this machine; \
                 skipped ({ALLOW_SKIP_DRIVER_VAR}={})",
                allow.unwrap_or_default()
            );
            false
        }
        DriverCheck::Fail => panic!(
            "{test}: the {driver} driver is not available on this machine; set \
             {ALLOW_SKIP_DRIVER_VAR}={driver} (or all) to skip its tests instead of failing"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActiveDriver::{Epoll, IoUring};

    #[test]
    fn available_drivers_always_run() {
        for allow in [None, Some(""), Some("all"), Some("io_uring"), Some("epoll")] {
            assert_eq!(driver_check(allow, IoUring, true), DriverCheck::Run);
            assert_eq!(driver_check(allow, Epoll, true), DriverCheck::Run);
        }
    }

    #[test]
    fn unavailable_driver_fails_unless_named_or_all() {
        assert_eq!(driver_check(None, IoUring, false), DriverCheck::Fail);
        assert_eq!(driver_check(Some(""), IoUring, false), DriverCheck::Fail);
        assert_eq!(
            driver_check(Some("epoll"), IoUring, false),
            DriverCheck::Fail
        );
        assert_eq!(
            driver_check(Some("uring"), IoUring, false),
            DriverCheck::Fail
        );
        assert_eq!(
            driver_check(Some("IO_URING"), IoUring, false),
            DriverCheck::Fail
        );
        assert_eq!(driver_check(Some("1"), IoUring, false), DriverCheck::Fail);
        assert_eq!(
            driver_check(Some("io_uring"), IoUring, false),
            DriverCheck::Skip
        );
        assert_eq!(
            driver_check(Some(" io_uring\n"), IoUring, false),
            DriverCheck::Skip
        );
        assert_eq!(driver_check(Some("all"), IoUring, false), DriverCheck::Skip);
        assert_eq!(
            driver_check(Some("io_uring"), Epoll, false),
            DriverCheck::Fail
        );
        assert_eq!(driver_check(Some("epoll"), Epoll, false), DriverCheck::Skip);
        assert_eq!(driver_check(Some("all"), Epoll, false), DriverCheck::Skip);
    }

    #[test]
    #[should_panic(expected = "the io_uring driver is not available on this machine; \
                               set SHARDGATE_ALLOW_SKIP_DRIVER=io_uring (or all)")]
    fn an_unavailable_driver_fails_the_test_naming_driver_and_variable() {
        decide(None, "t", IoUring, false);
    }

    #[test]
    fn an_allowed_skip_does_not_run_the_half() {
        assert!(!decide(Some("all"), "t", IoUring, false));
        assert!(decide(None, "t", IoUring, true));
    }
}
