//! `sys` on real sockets: what the proxy relies on, including the kernel
//! behaviour its teardown is built around.

use super::{Config, Cqe, Uring};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

const RECV: u64 = 7;
const SEND: u64 = 9;

fn ring(bufs: u16, peer: std::net::SocketAddr) -> Uring {
    let cfg = Config {
        entries: 64,
        files: 8,
        alloc_files: 4,
        bufs,
        buf_size: 4096,
    };
    Uring::new(&cfg, peer).unwrap()
}

/// The completions that arrive within ~2 s until `done` says enough.
fn until(u: &mut Uring, mut done: impl FnMut(&[Cqe]) -> bool) -> Vec<Cqe> {
    let mut all = Vec::new();
    let mut batch = Vec::with_capacity(64);
    for _ in 0..40 {
        u.wait_ms(50).unwrap();
        u.drain(&mut batch);
        all.extend_from_slice(&batch);
        if done(&all) {
            break;
        }
    }
    all
}

fn with_ud(cqes: &[Cqe], ud: u64) -> Vec<Cqe> {
    cqes.iter().copied().filter(|c| c.user_data == ud).collect()
}

/// A connected pair whose server side lives only in fixed slot 5 (above
/// the allocation range).
fn fixed_pair() -> (Uring, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (server, _) = l.accept().unwrap();
    let u = ring(4, l.local_addr().unwrap());
    u.register_file(5, server.as_fd()).unwrap();
    (u, client)
}

#[test]
fn multishot_receive_and_send_back_from_the_provided_buffer() {
    let (mut u, mut client) = fixed_pair();
    u.recv_multi(5, true, RECV).unwrap();
    for msg in [&b"one"[..], b"second", b"3"] {
        client.write_all(msg).unwrap();
        let got = until(&mut u, |c| !with_ud(c, RECV).is_empty());
        let [c] = with_ud(&got, RECV)[..] else {
            panic!("{got:?}")
        };
        assert!(c.more, "the receive stays armed");
        let bid = c.buf.unwrap();
        assert_eq!(u.buf(bid, 0, c.result as u32).unwrap(), msg);
        u.send(5, bid, 0, msg.len() as u32, SEND).unwrap();
        assert!(!u.recycle(bid), "not while a send reads it");
        let got = until(&mut u, |c| !with_ud(c, SEND).is_empty());
        assert_eq!(with_ud(&got, SEND)[0].result, msg.len() as i32);
        u.send_done(bid);
        assert!(u.recycle(bid));
        assert!(
            u.buf(bid, 0, 1).is_none(),
            "not once it is back in the ring"
        );
        let mut back = vec![0; msg.len()];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    assert_eq!(u.free_buffers(), 4);
}

#[test]
fn an_empty_ring_ends_the_receive_with_enobufs_until_buffers_return() {
    let (mut u, mut client) = fixed_pair();
    u.recv_multi(5, false, RECV).unwrap();
    let mut held = Vec::new();
    for i in 0..5u8 {
        client.write_all(&[b'a' + i]).unwrap();
        let got = until(&mut u, |c| !with_ud(c, RECV).is_empty());
        let [c] = with_ud(&got, RECV)[..] else {
            panic!("{got:?}")
        };
        if i < 4 {
            assert!(c.more);
            held.push(c.buf.unwrap());
        } else {
            assert_eq!((c.result, c.more, c.buf), (-libc::ENOBUFS, false, None));
        }
    }
    assert_eq!(u.free_buffers(), 0);
    for bid in held {
        assert!(u.recycle(bid));
    }
    u.recv_multi(5, false, RECV).unwrap();
    let got = until(&mut u, |c| !with_ud(c, RECV).is_empty());
    let c = with_ud(&got, RECV)[0];
    assert_eq!(u.buf(c.buf.unwrap(), 0, c.result as u32).unwrap(), b"e");
}

#[test]
fn a_fixed_close_alone_leaves_the_socket_open_under_an_armed_receive() {
    // Why teardown cancels before it closes: the armed receive holds the
    // file, so the peer sees no FIN and no completion comes.
    let (mut u, mut client) = fixed_pair();
    u.recv_multi(5, false, RECV).unwrap();
    u.close(5, 11).unwrap();
    let got = until(&mut u, |c| !c.is_empty());
    assert!(got.is_empty(), "{got:?}");
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = client.read(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    // Cancelling the receive by its user_data releases it: EOF.
    u.cancel(RECV, 12).unwrap();
    let got = until(&mut u, |c| !with_ud(c, RECV).is_empty());
    assert_eq!(with_ud(&got, RECV)[0].result, -libc::ECANCELED);
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(client.read(&mut [0; 8]).unwrap(), 0);
}

#[test]
fn cancel_by_file_then_close_ends_the_receive_and_the_connection() {
    let (mut u, mut client) = fixed_pair();
    u.recv_multi(5, false, RECV).unwrap();
    u.cancel_file(5, 12).unwrap();
    u.close(5, 11).unwrap();
    let got = until(&mut u, |c| !with_ud(c, RECV).is_empty());
    let c = with_ud(&got, RECV)[0];
    assert_eq!((c.result, c.more), (-libc::ECANCELED, false));
    assert!(
        with_ud(&got, 11).is_empty(),
        "a successful close posts nothing"
    );
    assert_eq!(client.read(&mut [0; 8]).unwrap(), 0);
}

#[test]
fn accept_into_allocated_slots_and_connect_a_fixed_socket() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut u = ring(4, l.local_addr().unwrap());
    u.register_file(7, l.as_fd()).unwrap();
    u.accept_multi(7, 1).unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    u.register_file(6, s.as_fd()).unwrap();
    drop(s);
    u.connect(6, 2).unwrap();
    let _plain = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let got = until(&mut u, |c| {
        with_ud(c, 1).len() == 2 && !with_ud(c, 2).is_empty()
    });
    assert_eq!(with_ud(&got, 2)[0].result, 0);
    let mut slots: Vec<i32> = with_ud(&got, 1).iter().map(|c| c.result).collect();
    slots.sort_unstable();
    assert!(with_ud(&got, 1).iter().all(|c| c.more));
    assert_eq!(slots, [0, 1], "from the allocation range, not 6 or 7");
}
