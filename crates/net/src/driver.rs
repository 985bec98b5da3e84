//! The driver names shared by the runtime builder, its errors and the test
//! skip rule; in their own module so none of those depends on another for them.

use std::fmt;

/// Which driver a shard's runtime should use: the request, before it meets
/// the kernel. Net keeps its own copy of the config's enum so the crate that
/// holds the `unsafe` does not pull in the config parser (toml, serde,
/// rustls); the server converts at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring when the kernel (and seccomp) allow it, else epoll.
    Auto,
    /// io_uring or an error; never falls back.
    IoUring,
    /// epoll, even where io_uring would work.
    Epoll,
}

/// The driver a runtime actually runs on (`Driver::Auto` resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveDriver {
    IoUring,
    Epoll,
}

impl fmt::Display for ActiveDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActiveDriver::IoUring => "io_uring",
            ActiveDriver::Epoll => "epoll",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(ActiveDriver::IoUring.to_string(), "io_uring");
        assert_eq!(ActiveDriver::Epoll.to_string(), "epoll");
    }
}
