//! What request streams waiting for their HEADERS cost the shard. A client
//! may keep `max_streams_per_connection` (100) of them open per connection
//! for up to `header_read`; each holds quinn's and h3's stream state and the
//! gateway's request task. The task used to be the whole request's future
//! (≈13 KB) from the stream's first byte: ≈15 KiB of RSS per pending stream.
//! Now everything after the head lives in an allocation made when the head is
//! complete, and a pending stream costs ≈4 KiB. The real binary, so VmRSS is
//! the gateway's alone; aioquic on real sockets (`tools/h3pending.py`), both
//! drivers.

use shardgate_testkit::binary::Running;
use shardgate_testkit::h3probe;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{each_driver, free_port, Driver, TestCert};

each_driver!(pending_streams_hold_a_few_kib_each);

const CONNS: usize = 20;
const STREAMS: usize = 100;
/// Generous for a connection's own state (≈120 KiB measured: quinn's
/// connection, its TLS session, h3's control streams, the task).
const PER_CONN_KIB: u64 = 192;
/// The bound per pending stream: ≈3.9 KiB measured, ≈15 KiB before.
const PER_STREAM_KIB: u64 = 6;

fn pending_streams_hold_a_few_kib_each(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let dir = TempDir::new("h3-pending").unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let config = dir
        .write(
            "gw.toml",
            format!(
                r#"
[server]
shards = 1
driver = "{driver}"

[admin]
address = "127.0.0.1:{admin}"

[[listener]]
name = "h3"
address = "127.0.0.1:{port}"
protocol = "h3"
[listener.tls]
certificates = [{certs}]

[[route]]
respond = {{ status = 200, body = "ok" }}
"#,
                certs = cert.toml()
            ),
        )
        .unwrap();
    let gw = Running::start(&config, admin, &[], None).unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let admin_addr = format!("127.0.0.1:{admin}").parse().unwrap();

    // Warm-up: one request brings the shard's buffers and pools to size.
    let res = h3probe::new_client_get(addr, &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
    let accepted = scrape_sum(admin_addr, "shardgate_quic_streams_total", &[]);

    let pid = gw.0.id().to_string();
    let r = shardgate_testkit::h3probe::run(
        "h3pending.py",
        addr,
        &cert,
        &[&CONNS.to_string(), &STREAMS.to_string(), &pid],
    )
    .unwrap();
    assert_eq!(r["connected"], CONNS, "{r}");
    assert_eq!(r["server_closes"].as_array().map(Vec::len), Some(0), "{r}");
    // Every stream reached the gateway and waits in a request task.
    let held = scrape_sum(admin_addr, "shardgate_quic_streams_total", &[]) - accepted;
    assert_eq!(held, (CONNS * STREAMS) as f64, "{r}");

    let before = r["rss_before_kib"].as_u64().unwrap();
    let after = r["rss_after_kib"].as_u64().unwrap();
    let grew = after.saturating_sub(before);
    let bound = CONNS as u64 * PER_CONN_KIB + (CONNS * STREAMS) as u64 * PER_STREAM_KIB;
    eprintln!(
        "{driver}: VmRSS {before} -> {after} KiB for {CONNS} connections x {STREAMS} pending streams \
         ({grew} KiB; bound {bound} KiB)"
    );
    assert!(
        grew <= bound,
        "{CONNS}x{STREAMS} pending streams grew VmRSS by {grew} KiB (bound {bound} KiB): {r}"
    );

    // The shard still serves.
    let res = h3probe::new_client_get(addr, &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}
