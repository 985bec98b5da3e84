//! A TCP echo round trip through monoio on each driver.

use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use shardgate_net::{
    bind_tcp_group, run_driver_half, run_on_runtime, uring_available, ActiveDriver, Driver,
    ListenOpts, Steering,
};

/// Listener from our own group (the path the server takes), one client, one
/// echoed message. Returns what the client read back.
async fn echo_round_trip() -> Vec<u8> {
    let opts = ListenOpts {
        backlog: 16,
        tcp_fast_open: 0,
        steering: Steering::None,
        defer_accept: false,
    };
    let std_listener = bind_tcp_group("127.0.0.1:0".parse().unwrap(), 1, &opts)
        .unwrap()
        .pop()
        .unwrap();
    let listener = TcpListener::from_std(std_listener).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = monoio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let (res, buf) = conn.read_exact(vec![0u8; 11]).await;
        res.unwrap();
        let (res, _) = conn.write_all(buf).await;
        res.unwrap();
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.set_nodelay(true).unwrap();
    let (res, _) = client.write_all(b"hello shard".to_vec()).await;
    res.unwrap();
    let (res, back) = client.read_exact(vec![0u8; 11]).await;
    res.unwrap();
    server.await;
    // The timer is enabled on both drivers.
    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
    back
}

fn run(driver: Driver) -> (ActiveDriver, Vec<u8>) {
    std::thread::spawn(move || {
        run_on_runtime(driver, 256, |active| async move {
            (active, echo_round_trip().await)
        })
        .unwrap()
    })
    .join()
    .unwrap()
}

#[test]
fn echo_on_epoll() {
    let (active, back) = run(Driver::Epoll);
    assert_eq!(active, ActiveDriver::Epoll);
    assert_eq!(back, b"hello shard");
}

#[test]
fn echo_on_io_uring() {
    if !run_driver_half("echo_on_io_uring", ActiveDriver::IoUring, uring_available()) {
        return;
    }
    let (active, back) = run(Driver::IoUring);
    assert_eq!(active, ActiveDriver::IoUring);
    assert_eq!(back, b"hello shard");
}

#[test]
fn auto_follows_availability() {
    let (active, back) = run(Driver::Auto);
    let want = if uring_available() {
        ActiveDriver::IoUring
    } else {
        ActiveDriver::Epoll
    };
    assert_eq!(active, want);
    assert_eq!(back, b"hello shard");
}
