//! The sync loop's logic on stand-in tables, against a real `redis-server`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::script::Gcra;
use super::syncer::{Pending, RuleSpec, Syncer};
use super::test_redis::RedisServer;

/// A table that records what it is charged and hands out what the test
/// says was admitted.
#[derive(Default)]
struct FakeTable {
    pending: Mutex<Vec<(u64, u32)>>,
    charged: Mutex<HashMap<u64, u32>>,
}

impl FakeTable {
    fn admit(&self, key: u64, n: u32) {
        self.pending.lock().unwrap().push((key, n));
    }

    fn charged(&self) -> HashMap<u64, u32> {
        std::mem::take(&mut *self.charged.lock().unwrap())
    }
}

impl Pending for Arc<FakeTable> {
    fn drain_pending(&self, f: &mut dyn FnMut(u64, u32)) {
        for (k, n) in self.pending.lock().unwrap().drain(..) {
            f(k, n);
        }
    }

    fn charge(&self, key: u64, n: u32, _now: Instant) {
        *self.charged.lock().unwrap().entry(key).or_default() += n;
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(self, other)
    }
}

const INTERVAL: Duration = Duration::from_millis(100);

fn spec(table: &Arc<FakeTable>, address: SocketAddr, rule: usize) -> RuleSpec<Arc<FakeTable>> {
    RuleSpec {
        table: table.clone(),
        route: "api".into(),
        rule,
        // 4/s, burst 20: T = 250 ms, far longer than a test's stalls.
        gcra: Gcra::new(Duration::from_millis(250), 20),
        address,
        key_prefix: "sg:".into(),
        timeout: Duration::from_millis(500),
        interval: INTERVAL,
    }
}

/// A gateway: its syncer and its table for rule 0 of route `api`.
fn gateway(id: u64, redis: &RedisServer) -> (Syncer<Arc<FakeTable>>, Arc<FakeTable>) {
    let table = Arc::new(FakeTable::default());
    let mut s = Syncer::new(id, id);
    s.follow(vec![spec(&table, redis.address, 0)], Instant::now());
    (s, table)
}

#[test]
fn two_gateways_are_charged_each_others_admissions() {
    let redis = RedisServer::start();
    let (mut a, ta) = gateway(1, &redis);
    let (mut b, tb) = gateway(2, &redis);
    ta.admit(10, 5);
    ta.admit(11, 1);
    a.step(Instant::now());
    assert!(ta.charged().is_empty());
    tb.admit(10, 3);
    b.step(Instant::now());
    assert_eq!(tb.charged(), HashMap::from([(10, 5)]), "key 11 B never saw");
    ta.admit(10, 1);
    // Due again one interval after the last sync.
    a.step(Instant::now() + INTERVAL);
    assert_eq!(ta.charged(), HashMap::from([(10, 3)]));
}

#[test]
fn rules_sync_on_their_interval_only() {
    let redis = RedisServer::start();
    let (mut a, ta) = gateway(1, &redis);
    let t0 = Instant::now();
    assert_eq!(a.step(t0), Some(t0 + INTERVAL));
    ta.admit(1, 1);
    a.step(t0 + INTERVAL / 2);
    assert_eq!(ta.pending.lock().unwrap().len(), 1, "not due: not drained");
    a.step(t0 + INTERVAL);
    assert!(ta.pending.lock().unwrap().is_empty());
}

#[test]
fn redis_gone_means_local_limits_and_sync_resumes_when_it_is_back() {
    let mut redis = RedisServer::start();
    let (mut a, ta) = gateway(1, &redis);
    let (mut b, tb) = gateway(2, &redis);
    redis.kill();
    let mut now = Instant::now();
    ta.admit(1, 4);
    a.step(now);
    assert!(a.in_fallback(0));
    assert!(
        ta.pending.lock().unwrap().is_empty(),
        "drained and dropped while Redis is away"
    );
    redis.restart();
    // The backoff (at most 100 ms after one failure) passes; sync resumes.
    let deadline = now + Duration::from_secs(10);
    while a.in_fallback(0) {
        assert!(now < deadline, "no reconnect");
        now += INTERVAL;
        ta.admit(1, 1);
        a.step(now);
    }
    tb.admit(1, 1);
    b.step(Instant::now());
    // The restarted Redis knows only what A reported since it came back:
    // the one request of the step that reconnected (the 4 from before, and
    // those drained while the backoff ran, were dropped).
    assert_eq!(tb.charged(), HashMap::from([(1, 1)]));
    assert!(!b.in_fallback(0));
}

#[test]
fn a_reload_keeps_unchanged_rules_and_drops_servers_no_rule_names() {
    let (one, two) = (RedisServer::start(), RedisServer::start());
    let table = Arc::new(FakeTable::default());
    let other = Arc::new(FakeTable::default());
    let mut s = Syncer::new(1, 1);
    let t0 = Instant::now();
    s.follow(vec![spec(&table, one.address, 0)], t0);
    assert_eq!(s.step(t0), Some(t0 + INTERVAL));
    // Kept (same table, same settings): still due at t0 + INTERVAL. The new
    // rule on the second server is due at once.
    let t1 = t0 + INTERVAL / 2;
    s.follow(
        vec![spec(&table, one.address, 0), spec(&other, two.address, 1)],
        t1,
    );
    assert_eq!(s.links(), 2);
    assert_eq!(s.step(t1), Some(t0 + INTERVAL));
    s.follow(vec![spec(&other, two.address, 1)], t1);
    assert_eq!(s.links(), 1);
    // Same settings, another table (the rule changed): a new rule, due now.
    let replaced = Arc::new(FakeTable::default());
    s.follow(vec![spec(&replaced, two.address, 1)], t1);
    replaced.admit(5, 1);
    s.step(t1);
    assert!(replaced.pending.lock().unwrap().is_empty());
}
