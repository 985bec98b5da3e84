//! `[upstream.retry_budget]`: under a full outage retries stop at the
//! budget (counted, and the client gets the failure it had), by the share of
//! active requests and by the minimum per second. One shard: the budget is
//! per shard.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod retry_support;

use retry_support::{answers, gateway};
use shardgate_testkit::{each_driver, handler, handlers, After, Client, Driver, Gate, Origin};

each_driver!(
    a_full_outage_is_retried_only_within_the_budget,
    retrying_requests_stay_within_the_share_of_active_ones,
);

fn a_full_outage_is_retried_only_within_the_budget(driver: Driver) {
    let a = Origin::start(answers(503, "a")).unwrap();
    let b = Origin::start(answers(503, "b")).unwrap();
    // One request at a time: 20 % of one active request is no retry, so
    // only the minimum of 5 per second lets retries through.
    let gw = gateway(
        driver,
        "outage",
        &[a.addr(), b.addr()],
        "[route.retry]\nattempts = 2\non = [\"503\"]",
        "[upstream.retry_budget]\npercent = 20\nmin_per_second = 5",
    );
    const N: usize = 60;
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = Instant::now();
    for i in 0..N {
        let r = c.get("a", &format!("/r{i}")).unwrap();
        // Retried or not, the client gets an origin's 503.
        assert_eq!(r.status, 503);
        assert!(r.header("x-from").is_some());
    }
    let secs = t0.elapsed().as_secs() as usize;
    let sent = a.requests() + b.requests() - N;
    let refused = gw.exhausted() as usize;
    // Each request wants exactly one retry: it is sent or refused.
    assert_eq!(sent + refused, N, "sent {sent}, refused {refused}");
    assert_eq!(gw.retries("503") as usize, sent);
    // A window of one second starts at most once per second.
    let bound = 5 * (secs + 1);
    assert!(
        N > bound,
        "the run took {secs}s: too slow to show the budget"
    );
    assert!(sent >= 5, "the minimum lets 5 through at once: {sent}");
    assert!(sent <= bound, "{sent} retries in {secs}s: over the budget");
}

/// Origin for the share test: holds every request's first attempt until
/// `n` have arrived (so all are active in the gateway at once), answers them
/// 503, and holds every retry until `gate` opens, then 200.
fn first_503_then_held(n: usize, gate: Gate) -> shardgate_testkit::Handler {
    let seen: Arc<(Mutex<HashMap<String, usize>>, Condvar)> = Arc::default();
    let retry = handlers::gated(gate, handlers::fixed(200, &[], b"second"));
    handler(move |req, r| {
        let (m, cv) = &*seen;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        let times = g.entry(req.target.clone()).or_default();
        *times += 1;
        if *times > 1 {
            drop(g);
            return retry(req, r);
        }
        cv.notify_all();
        let (g, _) = cv
            .wait_timeout_while(g, Duration::from_secs(10), |s| s.len() < n)
            .unwrap_or_else(|p| p.into_inner());
        drop(g);
        r.write(&handlers::response_bytes(503, &[], b"first"))?;
        Ok(After::KeepAlive)
    })
}

fn retrying_requests_stay_within_the_share_of_active_ones(driver: Driver) {
    const N: usize = 10;
    let gate = Gate::new();
    let origin = Origin::start(first_503_then_held(N, gate.clone())).unwrap();
    // Half of the active requests may be retrying; no minimum per second.
    let gw = gateway(
        driver,
        "share",
        &[origin.addr()],
        "[route.retry]\nattempts = 2\non = [\"503\"]",
        "[upstream.retry_budget]\npercent = 50\nmin_per_second = 0",
    );
    let addr = gw.addr("public");
    let clients: Vec<_> = (0..N)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                c.set_timeout(Duration::from_secs(20)).unwrap();
                c.get("a", &format!("/c{i}")).unwrap()
            })
        })
        .collect();
    // All ten get their 503 at once. While the first five retries are held
    // at the origin, five of ten requests retry (50 %); each refusal ends a
    // request, and 5 of 9, 8 … would be over half, so the other five are
    // refused and get the 503.
    assert!(
        shardgate_testkit::wait_until(Duration::from_secs(10), || gw.exhausted() >= 5.0),
        "refused: {}",
        gw.exhausted()
    );
    assert!(origin.wait_requests(N + 5, Duration::from_secs(10)));
    gate.open();
    let statuses: Vec<u16> = clients
        .into_iter()
        .map(|t| t.join().unwrap().status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(origin.requests(), N + 5);
    assert_eq!(gw.exhausted(), 5.0);
    assert_eq!(gw.retries("503"), 5.0);
}
