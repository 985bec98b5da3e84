//! A full connection table stops accepting (the kernel backlog queues) and
//! recovers as soon as a slot frees.

use std::time::Duration;

use shardgate_testkit::{each_driver, wait_until, Client, Driver, Gateway};

const CFG: &str = r#"
[server]
max_connections_per_shard = 4

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn full_table_queues_then_recovers(driver: Driver) {
    let gw = Gateway::builder(CFG)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    let addr = gw.addr("public");
    // Four kept-alive connections, each proven served (so each holds a slot).
    let mut held: Vec<Client> = (0..4)
        .map(|_| {
            let mut c = Client::connect(addr).unwrap();
            assert_eq!(c.get("a", "/").unwrap().status, 200);
            c
        })
        .collect();
    // The fifth connects (the kernel backlog takes it) but is not served.
    let mut fifth = Client::connect(addr).unwrap();
    fifth
        .send(b"GET /fifth HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    fifth.expect_silence(Duration::from_millis(300)).unwrap();
    let while_full = gw.shard_stats()[0];
    assert_eq!(while_full.active, 4, "{while_full:?}");
    assert_eq!(
        while_full.accepted, 4,
        "the fifth waits in the backlog: {while_full:?}"
    );
    // The held ones still work meanwhile.
    assert_eq!(held[1].get("a", "/").unwrap().status, 200);
    // One closes: its slot goes to the waiting connection.
    drop(held.remove(0));
    fifth.set_timeout(Duration::from_secs(3)).unwrap();
    let r = fifth.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    // Full again (3 held + fifth): a sixth waits until another slot frees.
    let mut sixth = Client::connect(addr).unwrap();
    sixth
        .send(b"GET /sixth HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    sixth.expect_silence(Duration::from_millis(200)).unwrap();
    drop(fifth);
    sixth.set_timeout(Duration::from_secs(3)).unwrap();
    assert_eq!(sixth.response().unwrap().status, 200);
    assert!(
        wait_until(Duration::from_secs(2), || gw.shard_stats()[0].accepted == 6),
        "{:?}",
        gw.shard_stats()
    );
    // Everyone left can go on.
    for c in &mut held {
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    // The metric shows the two full-table episodes once they are over …
    assert!(
        gw.shard_stats()[0].table_full >= 2,
        "{:?}",
        gw.shard_stats()
    );
    // … and must already show the first while it was going on, which is
    // when an operator (or an alert) looks at it.
    assert!(
        while_full.table_full >= 1,
        "table full for 300 ms, counter still 0: {while_full:?}"
    );
}

fn closed_connections_free_their_slots(driver: Driver) {
    let gw = Gateway::builder(CFG)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    for _ in 0..12 {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    // All twelve were closed by the client: none holds a slot any more.
    assert!(
        wait_until(Duration::from_secs(2), || gw.shard_stats()[0].active == 0),
        "{:?}",
        gw.shard_stats()
    );
    assert_eq!(gw.shard_stats()[0].accepted, 12);
}

/// Idle connections leave their tasks for the shard's parking lot: they come
/// back on their next request, and a client that leaves while parked frees
/// its slot.
fn parked_connections_resume_and_free_their_slots(driver: Driver) {
    let gw = Gateway::builder(&CFG.replace(
        "max_connections_per_shard = 4",
        "max_connections_per_shard = 64",
    ))
    .driver(driver)
    .shards(1)
    .start()
    .unwrap();
    let mut clients: Vec<Client> = (0..20)
        .map(|_| Client::connect(gw.addr("public")).unwrap())
        .collect();
    for c in &mut clients {
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    // Past the 20 ms hot window every one of them is parked.
    assert!(
        wait_until(Duration::from_secs(2), || gw.shard_stats()[0].parked >= 20),
        "{:?}",
        gw.shard_stats()
    );
    // Rounds further apart than the longest hot window (250 ms, ADR 5), so
    // every connection is parked again between them.
    for round in 0..2 {
        for c in &mut clients {
            assert_eq!(c.get("a", "/").unwrap().status, 200, "round {round}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(gw.shard_stats()[0].parked >= 60, "{:?}", gw.shard_stats());
    assert_eq!(gw.shard_stats()[0].active, 20);
    clients.truncate(10);
    assert!(
        wait_until(Duration::from_secs(2), || gw.shard_stats()[0].active == 10),
        "{:?}",
        gw.shard_stats()
    );
    for c in &mut clients {
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    assert_eq!(gw.shard_stats()[0].accepted, 20);
}

/// The hot window follows a connection's cadence (ADR 5): requests 50 ms
/// apart keep it in its task (a window of twice that) after the first gap,
/// while requests 400 ms apart (past the 250 ms cap) park it every time.
fn the_hot_window_follows_the_connections_cadence(driver: Driver) {
    let gw = Gateway::builder(CFG)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    let parked = || gw.shard_stats()[0].parked;
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    let before = parked();
    for i in 0..12 {
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(c.get("a", "/").unwrap().status, 200, "request {i}");
    }
    // The first 50 ms gap outlasts the initial 20 ms window (one park); from
    // then on the window is 100 ms.
    let frequent = parked() - before;
    assert!(frequent <= 2, "a 50 ms cadence parked {frequent} times");

    let before = parked();
    for i in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(c.get("a", "/").unwrap().status, 200, "slow request {i}");
    }
    let slow = parked() - before;
    assert!(slow >= 4, "a 400 ms cadence should park every time: {slow}");
}

fn many_short_connections_through_a_small_table(driver: Driver) {
    // 4 slots, 60 connections one after another in 6 threads: every one is
    // served, none is lost while the table cycles.
    let gw = Gateway::builder(CFG)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    let addr = gw.addr("public");
    let threads: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut c = Client::connect(addr).unwrap();
                    let r = c
                        .request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                        .unwrap();
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

each_driver!(
    full_table_queues_then_recovers,
    closed_connections_free_their_slots,
    parked_connections_resume_and_free_their_slots,
    the_hot_window_follows_the_connections_cadence,
    many_short_connections_through_a_small_table,
);
