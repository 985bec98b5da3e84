//! Its own test binary (own process) because monoio caches io_uring
//! detection per process: here the escape hatch is set before the first call.

use shardgate_net::{run_on_runtime, uring_available, ActiveDriver, Driver, Error};

#[test]
fn forced_legacy_driver_makes_io_uring_unavailable() {
    std::env::set_var("MONOIO_FORCE_LEGACY_DRIVER", "1");
    assert!(!uring_available());
    assert!(matches!(
        run_on_runtime(Driver::IoUring, 256, |_| async {}),
        Err(Error::UringUnavailable)
    ));
    let got = run_on_runtime(Driver::Auto, 256, |d| async move { d }).unwrap();
    assert_eq!(got, ActiveDriver::Epoll);
    // An explicit epoll request never depended on detection.
    let got = run_on_runtime(Driver::Epoll, 256, |d| async move { d }).unwrap();
    assert_eq!(got, ActiveDriver::Epoll);
}
