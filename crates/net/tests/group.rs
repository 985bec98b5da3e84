//! Listening groups on real loopback sockets.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use shardgate_net::{
    bind_tcp_group, bind_tcp_single, defer_accept_on, pin_current_thread, retune_tcp_listener,
    tcp_fast_open_queue, Error, ListenOpts, Steering,
};

fn opts(steering: Steering) -> ListenOpts {
    ListenOpts {
        backlog: 128,
        tcp_fast_open: 0,
        steering,
        defer_accept: false,
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Which listener accepted the connection that was just made (the handshake
/// is complete when connect returns, so the child is already queued).
fn accepting_index(listeners: &[TcpListener]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for (i, l) in listeners.iter().enumerate() {
            match l.accept() {
                Ok((s, _)) => {
                    // RST instead of FIN: no TIME_WAIT pile-up across runs.
                    socket2::SockRef::from(&s)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    return i;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no listener accepted the connection"
        );
        std::thread::yield_now();
    }
}

fn spread(listeners: &[TcpListener], connections: usize) -> Vec<usize> {
    let addr = listeners[0].local_addr().unwrap();
    let mut counts = vec![0; listeners.len()];
    for _ in 0..connections {
        let c = TcpStream::connect(addr).unwrap();
        counts[accepting_index(listeners)] += 1;
        drop(c);
    }
    counts
}

#[test]
fn group_shares_one_port() {
    for n in [2, 4] {
        let group = bind_tcp_group(any_port(), n, &opts(Steering::None)).unwrap();
        assert_eq!(group.len(), n);
        let ports: HashSet<u16> = group
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert_ne!(*ports.iter().next().unwrap(), 0);
        // Non-blocking: accept with nothing queued must not hang.
        assert_eq!(group[0].accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    }
}

#[test]
fn hash_steering_spreads_over_all_sockets() {
    let group = bind_tcp_group(any_port(), 4, &opts(Steering::Hash)).unwrap();
    let counts = spread(&group, 400);
    eprintln!("hash steering, 4 sockets: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 400);
    for (i, c) in counts.iter().enumerate() {
        assert!(*c >= 40, "socket {i} got {c} of 400: {counts:?}");
    }
}

#[test]
fn no_steering_still_accepts_on_every_socket() {
    let group = bind_tcp_group(any_port(), 2, &opts(Steering::None)).unwrap();
    let counts = spread(&group, 100);
    assert!(counts.iter().all(|&c| c >= 10), "{counts:?}");
}

/// On loopback the SYN is processed on the client's CPU, so a client pinned
/// to CPU c must land on socket c % n: this checks both the program and that
/// the returned order is the group's index order.
#[test]
fn cpu_steering_follows_the_client_cpu() {
    let group = bind_tcp_group(any_port(), 4, &opts(Steering::Cpu)).unwrap();
    let addr = group[0].local_addr().unwrap();
    let cpus = shardgate_net::allowed_cores().unwrap();
    for &cpu in cpus.iter().take(4) {
        let conns = std::thread::spawn(move || {
            pin_current_thread(cpu).unwrap();
            (0..10)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        for _ in &conns {
            assert_eq!(accepting_index(&group), cpu % 4, "client on cpu {cpu}");
        }
    }
}

#[test]
fn port_zero_with_one_shard_and_bad_counts() {
    let one = bind_tcp_group(any_port(), 1, &opts(Steering::Cpu)).unwrap();
    assert_eq!(one.len(), 1);
    assert!(matches!(
        bind_tcp_group(any_port(), 0, &opts(Steering::None)),
        Err(Error::InvalidShards(0))
    ));
    assert!(matches!(
        bind_tcp_group(any_port(), 70_000, &opts(Steering::None)),
        Err(Error::InvalidShards(70_000))
    ));
}

/// Documented behaviour, not a wish: SO_REUSEPORT lets a second group (same
/// user) join a live one on the same port, and the kernel then splits new
/// connections across both groups' sockets.
#[test]
fn second_group_on_a_busy_port_joins_the_first() {
    let first = bind_tcp_group(any_port(), 1, &opts(Steering::None)).unwrap();
    let addr = first[0].local_addr().unwrap();
    let second = bind_tcp_group(addr, 1, &opts(Steering::None)).unwrap();
    assert_eq!(second[0].local_addr().unwrap(), addr);
    let both: Vec<TcpListener> = first.into_iter().chain(second).collect();
    let counts = spread(&both, 60);
    assert!(
        counts.iter().all(|&c| c > 0),
        "both groups share traffic: {counts:?}"
    );
}

#[test]
fn group_on_a_port_held_without_reuseport_fails() {
    let plain = TcpListener::bind(any_port()).unwrap();
    let err = bind_tcp_group(plain.local_addr().unwrap(), 2, &opts(Steering::None)).unwrap_err();
    match &err {
        Error::Socket {
            op: "bind", source, ..
        } => assert_eq!(source.kind(), ErrorKind::AddrInUse),
        other => panic!("expected bind error, got {other:?}"),
    }
    assert!(err.to_string().starts_with("bind on 127.0.0.1:"), "{err}");
}

#[test]
fn single_listener_on_a_busy_port_is_an_error() {
    let group = bind_tcp_group(any_port(), 2, &opts(Steering::None)).unwrap();
    let addr = group[0].local_addr().unwrap();
    match bind_tcp_single(addr, 16) {
        Err(Error::Socket {
            op: "bind", source, ..
        }) => assert_eq!(source.kind(), ErrorKind::AddrInUse),
        other => panic!("expected EADDRINUSE, got {other:?}"),
    }
    let admin = bind_tcp_single(any_port(), 16).unwrap();
    let admin_addr = admin.local_addr().unwrap();
    assert!(bind_tcp_single(admin_addr, 16).is_err(), "single on single");
    assert!(
        bind_tcp_group(admin_addr, 2, &opts(Steering::None)).is_err(),
        "group on single"
    );
    // It really listens.
    let _c = TcpStream::connect(admin_addr).unwrap();
    assert_eq!(accepting_index(std::slice::from_ref(&admin)), 0);
}

#[test]
fn ipv6_group_is_v6only() {
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    let group = match bind_tcp_group(v6, 2, &opts(Steering::Hash)) {
        Ok(g) => g,
        Err(Error::Socket { source, .. }) if source.kind() == ErrorKind::AddrNotAvailable => {
            eprintln!("note: no ::1 on this host; IPv6 test skipped");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let sock = socket2::SockRef::from(&group[0]);
    assert!(sock.only_v6().unwrap());
    assert_eq!(spread(&group, 20).iter().sum::<usize>(), 20);
}

#[test]
fn tfo_queue_reads_back() {
    let o = ListenOpts {
        backlog: 64,
        tcp_fast_open: 77,
        steering: Steering::Hash,
        defer_accept: false,
    };
    let group = bind_tcp_group(any_port(), 2, &o).unwrap();
    for l in &group {
        assert_eq!(
            tcp_fast_open_queue(l).unwrap(),
            77,
            "sysctl = {:?}",
            shardgate_net::tfo_sysctl()
        );
    }
    let off = bind_tcp_group(any_port(), 1, &opts(Steering::None)).unwrap();
    assert_eq!(tcp_fast_open_queue(&off[0]).unwrap(), 0);
}

/// Each listening socket's accept-queue bound as `ss` reports it (Send-Q of
/// a LISTEN row).
fn backlogs(port: u16) -> Vec<u32> {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

/// Whether a connection that sends nothing is handed to `accept` within
/// 300 ms (with `TCP_DEFER_ACCEPT` the kernel holds it).
fn idle_connection_accepted(group: &[TcpListener]) -> bool {
    let _c = TcpStream::connect(group[0].local_addr().unwrap()).unwrap();
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        if group.iter().any(|l| l.accept().is_ok()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// What a binary upgrade does to a handed-over group when the new config
/// changes its socket options: the same sockets take the new backlog, Fast
/// Open queue and deferred accept, and keep their port and steering.
#[test]
fn retune_changes_a_listening_group_in_place() {
    let before = ListenOpts {
        backlog: 16,
        tcp_fast_open: 0,
        steering: Steering::Hash,
        defer_accept: false,
    };
    let group = bind_tcp_group(any_port(), 2, &before).unwrap();
    let port = group[0].local_addr().unwrap().port();
    assert_eq!(backlogs(port), vec![16, 16]);
    assert!(idle_connection_accepted(&group));
    let after = ListenOpts {
        backlog: 200,
        tcp_fast_open: 33,
        defer_accept: true,
        ..before
    };
    for l in &group {
        retune_tcp_listener(l, &after).unwrap();
        assert_eq!(tcp_fast_open_queue(l).unwrap(), 33);
        assert!(defer_accept_on(l).unwrap());
        assert_eq!(l.local_addr().unwrap().port(), port);
    }
    assert_eq!(backlogs(port), vec![200, 200]);
    assert!(!idle_connection_accepted(&group), "deferred accept not on");
    // Data-carrying connections still reach both sockets of the group.
    let mut seen = [false; 2];
    for _ in 0..64 {
        let mut c = TcpStream::connect(group[0].local_addr().unwrap()).unwrap();
        std::io::Write::write_all(&mut c, b"x").unwrap();
        seen[accepting_index(&group)] = true;
    }
    assert_eq!(seen, [true, true], "the group stopped spreading");
    for l in &group {
        retune_tcp_listener(l, &before).unwrap();
        assert_eq!(tcp_fast_open_queue(l).unwrap(), 0);
        assert!(!defer_accept_on(l).unwrap());
    }
    assert_eq!(backlogs(port), vec![16, 16]);
}

#[test]
fn tfo_sysctl_matches_procfs() {
    let raw = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").unwrap();
    assert_eq!(
        shardgate_net::tfo_sysctl(),
        Some(raw.trim().parse().unwrap())
    );
}

/// The server relies on this instead of a setsockopt per accepted connection.
#[test]
fn accepted_sockets_inherit_tcp_nodelay() {
    let group = bind_tcp_group(any_port(), 1, &opts(Steering::None)).unwrap();
    let addr = group[0].local_addr().unwrap();
    let _client = std::net::TcpStream::connect(addr).unwrap();
    group[0].set_nonblocking(false).unwrap();
    let (accepted, _) = group[0].accept().unwrap();
    assert!(accepted.nodelay().unwrap());
}

/// With TCP_DEFER_ACCEPT a connection that has sent nothing is not handed to
/// accept(); its first bytes make it acceptable at once.
#[test]
fn deferred_accept_waits_for_the_first_bytes() {
    use std::io::Write;
    let o = ListenOpts {
        defer_accept: true,
        ..opts(Steering::None)
    };
    let group = bind_tcp_group(any_port(), 1, &o).unwrap();
    let addr = group[0].local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let err = group[0].accept().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::WouldBlock,
        "silent connection accepted"
    );
    client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match group[0].accept() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("not accepted after its first bytes: {e}"),
        }
    }
    // Without the option the same silent connection is accepted at once.
    let plain = bind_tcp_group(any_port(), 1, &opts(Steering::None)).unwrap();
    let _c = TcpStream::connect(plain[0].local_addr().unwrap()).unwrap();
    assert_eq!(accepting_index(&plain), 0);
}
