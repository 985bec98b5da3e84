//! The driver matrix: every proxy-path test runs on epoll and on io_uring.

use std::fmt;

use shardgate_config::Driver as ConfigDriver;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Epoll,
    IoUring,
}

impl Driver {
    pub const ALL: [Driver; 2] = [Driver::Epoll, Driver::IoUring];

    /// Whether this machine can run the driver (io_uring may be blocked by
    /// seccomp or the kernel).
    pub fn available(self) -> bool {
        match self {
            Driver::Epoll => true,
            Driver::IoUring => shardgate_net::uring_available(),
        }
    }

    pub fn config(self) -> ConfigDriver {
        match self {
            Driver::Epoll => ConfigDriver::Epoll,
            Driver::IoUring => ConfigDriver::IoUring,
        }
    }

    pub fn active(self) -> shardgate_server::ActiveDriver {
        match self {
            Driver::Epoll => shardgate_server::ActiveDriver::Epoll,
            Driver::IoUring => shardgate_server::ActiveDriver::IoUring,
        }
    }

    /// Runs `f` on this driver. An unavailable driver (only io_uring can be)
    /// fails the test, so a machine without io_uring cannot report its half as
    /// passed, unless `SHARDGATE_ALLOW_SKIP_DRIVER` names the driver (or is
    /// `all`); then the half is skipped with a note.
    pub fn run_half(self, test: &str, f: impl FnOnce(Driver)) {
        if shardgate_net::run_driver_half(test, self.active(), self.available()) {
            f(self);
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Epoll => "epoll",
            Driver::IoUring => "io_uring",
        })
    }
}

/// Declares, for each named `fn name(driver: Driver)`, a module `name` with
/// `#[test] fn epoll` and `#[test] fn io_uring`, so the two halves run (and
/// fail) separately and show up as `name::epoll` / `name::io_uring`.
///
/// ```text
/// fn get_is_proxied(driver: Driver) { /* … */ }
/// shardgate_testkit::each_driver!(get_is_proxied);
/// ```
#[macro_export]
macro_rules! each_driver {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn epoll() {
                    $crate::Driver::Epoll.run_half(module_path!(), super::$name);
                }

                #[test]
                fn io_uring() {
                    $crate::Driver::IoUring.run_half(module_path!(), super::$name);
                }
            }
        )*
    };
}
