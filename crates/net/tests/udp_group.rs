//! UDP reuseport groups with QUIC connection-ID steering, on real sockets.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use shardgate_net::{bind_udp_group, quic_owner, verify_udp_steering, Error};

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The loopback addresses this host can bind (IPv6 may be disabled).
fn loopbacks() -> Vec<SocketAddr> {
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    if UdpSocket::bind(v6).is_ok() {
        vec![v4(), v6]
    } else {
        eprintln!("note: no ::1 on this host; IPv6 cases skipped");
        vec![v4()]
    }
}

/// Sends `datagram` and returns the index of the one member that received
/// it (checking it arrived intact).
fn receiver(group: &[UdpSocket], client: &UdpSocket, datagram: &[u8]) -> usize {
    let dest = group[0].local_addr().unwrap();
    client.send_to(datagram, dest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    loop {
        for (i, s) in group.iter().enumerate() {
            match s.recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], datagram, "socket {i} got another datagram");
                    return i;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("recv on socket {i}: {e}"),
            }
        }
        assert!(Instant::now() < deadline, "no member received {datagram:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A short-header packet whose DCID byte at `offset` is `byte`; every other
/// DCID byte is `byte + 1`, so reading the wrong position changes the answer.
fn short_header(byte: u8, offset: u8) -> Vec<u8> {
    let mut d = vec![0x41];
    d.extend((0..8u8).map(|i| {
        if i == offset {
            byte
        } else {
            byte.wrapping_add(1)
        }
    }));
    d.extend_from_slice(b"payload and tag.................");
    d
}

/// A long-header (Initial) packet with an 8-byte DCID, built the same way.
fn long_header(byte: u8, offset: u8) -> Vec<u8> {
    let mut d = vec![0xc3, 0, 0, 0, 1, 8];
    d.extend((0..8u8).map(|i| {
        if i == offset {
            byte
        } else {
            byte.wrapping_add(1)
        }
    }));
    d.extend_from_slice(&[8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x44, 0xd0]);
    d
}

const BYTES: [u8; 14] = [0, 1, 2, 3, 4, 5, 7, 11, 100, 127, 128, 200, 254, 255];

/// The kernel's choice (program + group order) equals `byte % n` and
/// `quic_owner`, for both header forms: this also proves that element i of
/// the returned vector is the group's index i (UDP joins at bind()).
#[test]
fn datagrams_reach_the_shard_in_their_connection_id() {
    for addr in loopbacks() {
        for n in [2usize, 3, 4] {
            for offset in [0u8, 3, 6] {
                let group = bind_udp_group(addr, n, Some(offset)).unwrap();
                // One source address: without steering the kernel's 4-tuple
                // hash would send everything to one member.
                let client = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
                for byte in BYTES {
                    for d in [short_header(byte, offset), long_header(byte, offset)] {
                        let got = receiver(&group, &client, &d);
                        assert_eq!(got, usize::from(byte) % n, "{addr} n={n} off={offset}");
                        assert_eq!(got, quic_owner(&d, n, offset), "{d:?}");
                    }
                }
            }
        }
    }
}

/// A failed load ends a classic BPF program with 0: socket 0, and
/// `quic_owner` says the same.
#[test]
fn datagrams_too_short_for_the_shard_byte_go_to_socket_0() {
    let group = bind_udp_group(v4(), 3, Some(4)).unwrap();
    let client = UdpSocket::bind(v4()).unwrap();
    let short: [&[u8]; 4] = [
        &[],
        &[0x42],
        &[0x40, 2, 2, 2, 2],                // shard byte would be at 5
        &[0xc0, 0, 0, 0, 1, 8, 2, 2, 2, 2], // shard byte would be at 10
    ];
    for d in short {
        assert_eq!(quic_owner(d, 3, 4), 0);
        assert_eq!(receiver(&group, &client, d), 0, "{d:?}");
    }
    // One byte longer and the same datagrams are steered by that byte.
    let d = [0x40, 2, 2, 2, 2, 2];
    assert_eq!(receiver(&group, &client, &d), 2);
}

#[test]
fn verify_passes_on_fresh_groups() {
    for addr in loopbacks() {
        for n in 1..=4 {
            for offset in [0u8, 6] {
                let group = bind_udp_group(addr, n, Some(offset)).unwrap();
                verify_udp_steering(&group, offset).unwrap();
                // Verified twice: the first call's probes are all consumed.
                verify_udp_steering(&group, offset).unwrap();
            }
        }
    }
}

#[test]
fn verify_on_unspecified_address() {
    let group = bind_udp_group("0.0.0.0:0".parse().unwrap(), 2, Some(1)).unwrap();
    verify_udp_steering(&group, 1).unwrap();
}

/// Closing member 0 makes the kernel move the last member into its place, so
/// the program's indices now name other sockets.
#[test]
fn verify_fails_on_a_renumbered_group() {
    let mut group = bind_udp_group(v4(), 3, Some(0)).unwrap();
    drop(group.remove(0));
    // The kernel's side of the claim: index 0 is now the old member 2.
    let client = UdpSocket::bind(v4()).unwrap();
    assert_eq!(receiver(&group, &client, &short_header(0, 0)), 1);
    match verify_udp_steering(&group, 0) {
        Err(Error::SteeringMismatch {
            expected, reached, ..
        }) => {
            assert_ne!(expected, reached);
            assert!(expected < 2 && reached < 2, "{expected} {reached}");
        }
        other => panic!("renumbered group passed the self-test: {other:?}"),
    }
}

/// A previous process's lingering socket bound first is index 0 of the
/// group our sockets join: its shard's traffic is stolen and ours shifted.
#[test]
fn verify_fails_when_a_foreign_socket_joined_first() {
    let foreign = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    foreign.set_reuse_port(true).unwrap();
    foreign.bind(&v4().into()).unwrap();
    let addr = foreign.local_addr().unwrap().as_socket().unwrap();
    let group = bind_udp_group(addr, 2, Some(0)).unwrap();
    let err = verify_udp_steering(&group, 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SteeringMismatch {
                expected: 1,
                reached: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("another process"), "{msg}");
    assert!(msg.contains(&addr.to_string()), "{msg}");
    // The foreign socket got shard 0's probe.
    let foreign = UdpSocket::from(foreign);
    foreign
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = foreign.recv(&mut buf).unwrap();
    assert_eq!((buf[0], buf[1]), (0x40, 0), "{:?}", &buf[..n]);
}

/// Member 0 of the group is not among the sockets we verify (it belongs to
/// someone else): shard 0's probe never arrives, after about a second.
#[test]
fn verify_reports_a_probe_no_member_received() {
    let group = bind_udp_group(v4(), 2, Some(0)).unwrap();
    let started = Instant::now();
    let err = verify_udp_steering(&group[1..], 0).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, Error::SteeringProbeLost { expected: 0, .. }),
        "{err:?}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(err.to_string().contains("reached no socket"), "{err}");
}

/// Client traffic queued before the self-test is dropped, not mistaken for
/// a probe.
#[test]
fn verify_discards_datagrams_that_are_not_probes() {
    let group = bind_udp_group(v4(), 2, Some(0)).unwrap();
    let client = UdpSocket::bind(v4()).unwrap();
    let dest = group[0].local_addr().unwrap();
    for byte in 0..4u8 {
        client.send_to(&short_header(byte, 0), dest).unwrap();
        client.send_to(&[0x40; 26], dest).unwrap();
    }
    verify_udp_steering(&group, 0).unwrap();
}

#[test]
fn no_program_binds_and_the_kernel_hashes() {
    let group = bind_udp_group(v4(), 3, None).unwrap();
    let mut used = HashSet::new();
    for _ in 0..60 {
        // A new source port each time: a new 4-tuple hash.
        let client = UdpSocket::bind(v4()).unwrap();
        used.insert(receiver(&group, &client, &short_header(0, 0)));
    }
    assert!(used.len() >= 2, "all 60 datagrams on one member: {used:?}");
}

#[test]
fn port_zero_gives_every_member_one_port() {
    for addr in loopbacks() {
        for n in [2, 4] {
            let group = bind_udp_group(addr, n, Some(0)).unwrap();
            assert_eq!(group.len(), n);
            let ports: HashSet<u16> = group
                .iter()
                .map(|s| s.local_addr().unwrap().port())
                .collect();
            assert_eq!(ports.len(), 1, "{ports:?}");
            assert_ne!(*ports.iter().next().unwrap(), 0);
            // Non-blocking: recv with nothing queued must not hang.
            let mut buf = [0u8; 8];
            assert_eq!(
                group[0].recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        }
    }
}

#[test]
fn ipv6_group_is_v6only() {
    let v6: SocketAddr = "[::]:0".parse().unwrap();
    let group = match bind_udp_group(v6, 2, Some(0)) {
        Ok(g) => g,
        Err(Error::Socket { source, .. }) if source.kind() == ErrorKind::AddrNotAvailable => {
            eprintln!("note: no IPv6 on this host; test skipped");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    for s in &group {
        assert!(socket2::SockRef::from(s).only_v6().unwrap());
    }
    // v6only: the port is still free for a plain v4 socket (no SO_REUSEPORT,
    // so a dual-stack [::] member would make this bind fail).
    let port = group[0].local_addr().unwrap().port();
    let plain = UdpSocket::bind(SocketAddr::new(v4().ip(), port)).unwrap();
    assert_eq!(plain.local_addr().unwrap().port(), port);
}

/// Linux reports twice the granted size; the grant is the request capped at
/// the sysctl. With the default sysctl the test only shows "not less than
/// allowed".
#[test]
fn socket_buffers_are_raised() {
    fn sysctl(name: &str) -> usize {
        let path = format!("/proc/sys/net/core/{name}");
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
    let want = 4usize << 20;
    let group = bind_udp_group(v4(), 2, None).unwrap();
    for s in &group {
        let s = socket2::SockRef::from(s);
        let rcv = s.recv_buffer_size().unwrap();
        let snd = s.send_buffer_size().unwrap();
        assert!(rcv >= 2 * want.min(sysctl("rmem_max")), "SO_RCVBUF {rcv}");
        assert!(snd >= 2 * want.min(sysctl("wmem_max")), "SO_SNDBUF {snd}");
    }
}

#[test]
fn bad_arguments_are_refused() {
    assert!(matches!(
        bind_udp_group(v4(), 0, None),
        Err(Error::InvalidShards(0))
    ));
    assert!(matches!(
        bind_udp_group(v4(), 70_000, None),
        Err(Error::InvalidShards(70_000))
    ));
    assert!(matches!(
        bind_udp_group(v4(), 2, Some(7)),
        Err(Error::InvalidQuicSteering {
            shard_offset: 7,
            ..
        })
    ));
    assert!(matches!(
        bind_udp_group(v4(), 257, Some(0)),
        Err(Error::InvalidQuicSteering { shards: 257, .. })
    ));
    assert!(matches!(
        verify_udp_steering(&[], 0),
        Err(Error::InvalidShards(0))
    ));
    let group = bind_udp_group(v4(), 1, Some(0)).unwrap();
    assert!(matches!(
        verify_udp_steering(&group, 7),
        Err(Error::InvalidQuicSteering { .. })
    ));
}

#[test]
fn group_on_a_port_held_without_reuseport_fails() {
    let plain = UdpSocket::bind(v4()).unwrap();
    match bind_udp_group(plain.local_addr().unwrap(), 2, Some(0)) {
        Err(Error::Socket {
            op: "bind", source, ..
        }) => assert_eq!(source.kind(), ErrorKind::AddrInUse),
        other => panic!("expected EADDRINUSE, got {other:?}"),
    }
}
