//! The sync script and the client against a real `redis-server`.

use std::time::{Duration, Instant};

use super::client::Client;
use super::script::{calls, charges, Gcra, KeyNames, CHUNK};
use super::test_redis::RedisServer;

/// 4/s (T = 250 ms, long enough that a loaded machine's stalls between two
/// calls stay well under the half a request the script rounds), burst 20.
fn gcra() -> Gcra {
    Gcra::new(Duration::from_millis(250), 20)
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// One gateway of the test: its id names its mirror keys.
struct Gw {
    client: Client,
    names: KeyNames,
}

impl Gw {
    fn new(redis: &RedisServer, id: u64) -> Self {
        Gw {
            client: Client::connect(redis.address, TIMEOUT).unwrap(),
            names: KeyNames::new("t:", "route", 0, id),
        }
    }

    /// Reports `drained`; returns the charge of every key (0s included).
    fn sync(&mut self, drained: &[(u64, u32)]) -> Vec<u32> {
        let calls = calls(&self.names, gcra(), drained);
        let replies = self.client.run(calls.iter()).unwrap();
        let mut out = vec![0; drained.len()];
        for (key, n) in charges(drained, &replies) {
            let i = drained.iter().position(|&(k, _)| k == key).unwrap();
            out[i] = n;
        }
        out
    }
}

#[test]
fn a_gateway_alone_is_never_charged() {
    let redis = RedisServer::start();
    let mut a = Gw::new(&redis, 1);
    assert_eq!(a.sync(&[(7, 5)]), [0]);
    assert_eq!(a.sync(&[(7, 3)]), [0]);
}

#[test]
fn each_gateway_is_charged_what_the_others_admitted_once() {
    let redis = RedisServer::start();
    let (mut a, mut b) = (Gw::new(&redis, 1), Gw::new(&redis, 2));
    assert_eq!(a.sync(&[(7, 5)]), [0]);
    assert_eq!(b.sync(&[(7, 3)]), [5], "B learns A's 5");
    assert_eq!(a.sync(&[(7, 1)]), [3], "A learns B's 3");
    assert_eq!(b.sync(&[(7, 1)]), [1], "B learns A's 1, not the 5 again");
    assert_eq!(a.sync(&[(7, 2)]), [1]);
    // Another key is another bucket.
    assert_eq!(b.sync(&[(8, 1)]), [0]);
}

#[test]
fn a_newcomer_is_charged_the_fleets_debt_as_it_stands_now() {
    let redis = RedisServer::start();
    let (mut a, mut b) = (Gw::new(&redis, 1), Gw::new(&redis, 2));
    assert_eq!(a.sync(&[(7, 10)]), [0]);
    let reported = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let waited = reported.elapsed();
    // Two intervals have paid back two of A's ten; B's own one is its own.
    let got = b.sync(&[(7, 1)]);
    assert!(
        waited < Duration::from_millis(600),
        "machine stalled: {waited:?}"
    );
    assert_eq!(got, [8]);
}

#[test]
fn the_fleets_state_is_capped_at_the_local_horizon() {
    let redis = RedisServer::start();
    let (mut a, mut b) = (Gw::new(&redis, 1), Gw::new(&redis, 2));
    assert_eq!(a.sync(&[(7, u32::MAX)]), [0]);
    // cap = 20 x 250 ms + 1 s = 24 T; B's own request is one of them.
    assert_eq!(b.sync(&[(7, 1)]), [23]);
}

#[test]
fn keys_expire_once_their_time_has_passed() {
    let redis = RedisServer::start();
    let mut a = Gw::new(&redis, 0xab);
    a.sync(&[(0x7f, 2)]);
    let mut con = redis.con().unwrap();
    let fleet = format!("t:route:0:{:016x}", 0x7f);
    let mirror = format!("{fleet}:{:016x}", 0xab);
    for key in [&fleet, &mirror] {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut con).unwrap();
        // Two requests of 250 ms ahead of now, plus the 1 s slack.
        assert!((1000..=1500).contains(&ttl), "{key}: {ttl} ms");
        let tat: String = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert!(tat.bytes().all(|b| b.is_ascii_digit()), "{key} = {tat}");
    }
}

#[test]
fn a_full_tables_worth_of_keys_pairs_every_reply_with_its_key() {
    let redis = RedisServer::start();
    let (mut a, mut b) = (Gw::new(&redis, 1), Gw::new(&redis, 2));
    let keys = 3 * CHUNK as u64 + 5;
    let from_a: Vec<(u64, u32)> = (0..keys).map(|k| (k * 7919, (k % 5) as u32 + 1)).collect();
    let from_b: Vec<(u64, u32)> = (0..keys).map(|k| (k * 7919, 1)).collect();
    assert!(a.sync(&from_a).iter().all(|&n| n == 0));
    let got = b.sync(&from_b);
    let want: Vec<u32> = from_a.iter().map(|&(_, c)| c).collect();
    assert_eq!(got, want);
}

#[test]
fn a_flushed_script_fails_the_batch_and_a_new_connection_loads_it_again() {
    let redis = RedisServer::start();
    let mut a = Gw::new(&redis, 1);
    let mut con = redis.con().unwrap();
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut con)
        .unwrap();
    let calls = calls(&a.names, gcra(), &[(1, 1)]);
    let err = a.client.run(calls.iter()).unwrap_err();
    assert_eq!(err.code(), Some("NOSCRIPT"), "{err}");
    a.client = Client::connect(redis.address, TIMEOUT).unwrap();
    assert_eq!(a.sync(&[(1, 1)]), [0]);
}

#[test]
fn a_server_that_never_answers_fails_within_the_timeout() {
    // Accepts (the backlog does) but never reads or writes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let started = Instant::now();
    let err = Client::connect(address, Duration::from_millis(100))
        .err()
        .expect("no reply to SCRIPT LOAD");
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Nothing listening: refused at once.
    drop(silent);
    assert!(Client::connect(address, Duration::from_millis(100)).is_err());
}
