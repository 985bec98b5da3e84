//! What one QUIC connection can make a shard hold with out-of-order stream
//! data: one-byte STREAM frames with a gap before each are buffered as
//! separate pieces (nothing is readable, nothing merges), each costing far
//! more bookkeeping than its byte. quinn capped the pieces per stream
//! (1,024) but not per connection: 100 streams x 1,024 pieces made a
//! connection hold ~11 MB for 650 KB sent. Patched (vendor/quinn-proto,
//! PATCH.md): at most 8,192 pieces per connection once contiguous ones are
//! merged, past that the connection is closed with INTERNAL_ERROR; a client
//! below it is served. aioquic on real sockets (`tools/h3gaps.py`), both
//! drivers.

use serde_json::Value;
use shardgate_testkit::h3probe;
use shardgate_testkit::{each_driver, Driver, Gateway, TestCert};

each_driver!(gapped_pieces_past_the_connection_budget_close_it);

fn gaps(gw: &Gateway, name: &str, cert: &TestCert, streams: &str, per_stream: &str) -> Value {
    shardgate_testkit::h3probe::run("h3gaps.py", gw.addr(name), cert, &[streams, per_stream])
        .unwrap()
}

fn gapped_pieces_past_the_connection_budget_close_it(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("gaps-{driver}");
    let gw = shardgate_testkit::h3probe::answering_gateway(driver, &cert, &name).unwrap();

    // 3,000 pieces on 30 streams: under the budget, the connection is served.
    let r = gaps(&gw, &name, &cert, "30", "100");
    assert_eq!(r["frames"], 3000, "{r}");
    assert!(r["server_close"].is_null(), "closed under the budget: {r}");
    assert_eq!(r["get_status"], 200, "{r}");

    // 10,800 pieces on 90 streams (each under quinn's per-stream cap of
    // 1,024): over the connection's budget even at its 1.25x slack.
    let r = gaps(&gw, &name, &cert, "90", "120");
    assert_eq!(r["frames"], 10800, "{r}");
    assert_eq!(r["server_close"]["code"], 0x1, "INTERNAL_ERROR: {r}");
    assert!(
        r["server_close"]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("too many gaps")),
        "{r}"
    );

    // Other clients are not affected.
    let res = h3probe::new_client_get(gw.addr(&name), &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}
