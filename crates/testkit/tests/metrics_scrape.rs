//! `/metrics` after known traffic: exact per-route and per-upstream counts,
//! bytes and histogram counts, cross-checked against what the client sent and
//! what the origin saw; and the whole text parsed by an independent parser
//! (Python's `prometheus_client`), which must accept it and agree.
//!
//! The `metrics` recorder is process-global: every series a test asserts on
//! carries a route or upstream name unique to the test and driver, except
//! `route="(none)"`, which is measured as a difference under a lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use shardgate_testkit::{
    closed_addr, each_driver, handlers, wait_until, Client, Driver, Gateway, Origin,
};

const SETTLE: Duration = Duration::from_secs(5);

/// Held by whoever measures the shared `route="(none)"` series.
static NONE_ROUTE: Mutex<()> = Mutex::new(());

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "${NAME}-static"
path_prefix = "/static"
respond = { status = 200, body = "static\n" }

[[route]]
name = "${NAME}-proxy"
path_prefix = "/api/"
proxy = "${NAME}-up"

[[upstream]]
name = "${NAME}-up"
servers = ["${UP}"]
"#;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the text format as the gateway writes it: every family
/// has exactly one `# TYPE` line, and all its samples follow it as one group.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            let old = types.insert(name.to_string(), kind.to_string());
            assert!(old.is_none(), "second TYPE line for {name}");
            current = name.to_string();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                (name.to_string(), parse_labels(body))
            }
        };
        let family_ok = name == current
            || (types.get(&current).map(String::as_str) == Some("histogram")
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{current}{s}")));
        assert!(
            family_ok,
            "{name} outside its family's group (in {current})"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (samples, types)
}

/// `a="x",b="y\"z"` (values escaped as the format says).
fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label key");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("dangling escape in {body}"),
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.expect("closing quote");
        out.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

/// Sum of the samples named `name` whose labels include all of `want`
/// (summed over shards), and how many there were.
fn total(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> (f64, usize) {
    let hits: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    (hits.iter().map(|s| s.value).sum(), hits.len())
}

/// Like [`total`], but the series must exist.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let (v, n) = total(samples, name, want);
    assert!(n > 0, "no series {name}{want:?}");
    v
}

fn scrape(admin: SocketAddr) -> String {
    let mut c = Client::connect(admin).unwrap();
    let r = c.get("admin", "/metrics").unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    r.body_str()
}

/// Sends `request` (with `connection: close`) on a new connection; returns
/// the status and every byte of the response.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
    let mut c = Client::connect(addr).unwrap();
    c.send(request).unwrap();
    let bytes = c.read_to_close().unwrap();
    let status = String::from_utf8_lossy(&bytes)
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, bytes)
}

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
"#;

/// The families `prometheus_client` parsed: name → (type, samples).
fn python_parse(text: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PARSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install python3 and `pip install --break-system-packages prometheus-client` (.ci/test does)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "python3 lacks prometheus_client: `pip install --break-system-packages prometheus-client` (.ci/test does)"
    );
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {stderr}\n--- text ---\n{text}"
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("parser output")
}

fn metrics_count_known_traffic_exactly(driver: Driver) {
    let _none = NONE_ROUTE.lock().unwrap_or_else(|p| p.into_inner());
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let name = format!("scrape-{driver}");
    let gw = Gateway::builder(GW)
        .var("NAME", &name)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let admin = gw.admin().expect("admin listener");
    let addr = gw.addr("public");
    let (route, static_route, up) = (
        format!("{name}-proxy"),
        format!("{name}-static"),
        format!("{name}-up"),
    );

    let (before, _) = parse(&scrape(admin));
    let none_4xx_before = total(
        &before,
        "shardgate_requests_total",
        &[("route", "(none)"), ("class", "4xx")],
    )
    .0;
    let none_in_before = total(
        &before,
        "shardgate_request_bytes_total",
        &[("route", "(none)")],
    )
    .0;

    let (mut sent, mut received) = (0usize, 0usize);
    for i in 0..7 {
        let req = format!(
            "GET /api/item/{i} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n"
        );
        let (status, resp) = exchange(addr, req.as_bytes());
        assert_eq!(status, 200);
        sent += req.len();
        received += resp.len();
    }
    let post = b"POST /api/upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
    let (status, resp) = exchange(addr, post);
    assert_eq!(status, 200);
    sent += post.len();
    received += resp.len();
    let mut none_sent = 0;
    for i in 0..3 {
        let req =
            format!("GET /unknown/{i} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
        let (status, _) = exchange(addr, req.as_bytes());
        assert_eq!(status, 404);
        none_sent += req.len();
    }
    for _ in 0..2 {
        let (status, _) = exchange(
            addr,
            b"GET /static HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200);
    }
    assert_eq!(origin.requests(), 8);

    // Metrics are recorded once a response is out: wait for the last ones.
    let r = route.as_str();
    let mut text = String::new();
    let settled = wait_until(SETTLE, || {
        text = scrape(admin);
        let (s, _) = parse(&text);
        total(
            &s,
            "shardgate_requests_total",
            &[("route", r), ("class", "2xx")],
        )
        .0 == 8.0
            && total(
                &s,
                "shardgate_requests_total",
                &[("route", static_route.as_str()), ("class", "2xx")],
            )
            .0 == 2.0
            && total(
                &s,
                "shardgate_requests_total",
                &[("route", "(none)"), ("class", "4xx")],
            )
            .0 >= none_4xx_before + 3.0
    });
    assert!(settled, "counts never arrived:\n{text}");
    let (s, types) = parse(&text);

    // Per route, by class.
    let class = |route: &str, c: &str| {
        value(
            &s,
            "shardgate_requests_total",
            &[("route", route), ("class", c)],
        )
    };
    assert_eq!(class(r, "2xx"), 8.0);
    for c in ["1xx", "3xx", "4xx", "5xx"] {
        assert_eq!(class(r, c), 0.0, "{c}");
    }
    assert_eq!(class(&static_route, "2xx"), 2.0);
    assert_eq!(class("(none)", "4xx") - none_4xx_before, 3.0);
    assert_eq!(
        value(&s, "shardgate_request_bytes_total", &[("route", "(none)")]) - none_in_before,
        none_sent as f64
    );

    // Bytes and durations of the proxy route.
    assert_eq!(
        value(&s, "shardgate_request_bytes_total", &[("route", r)]),
        sent as f64
    );
    assert_eq!(
        value(&s, "shardgate_response_bytes_total", &[("route", r)]),
        received as f64
    );
    assert_eq!(
        value(
            &s,
            "shardgate_request_duration_seconds_count",
            &[("route", r)]
        ),
        8.0
    );
    assert_eq!(
        value(
            &s,
            "shardgate_request_duration_seconds_bucket",
            &[("route", r), ("le", "+Inf")]
        ),
        8.0
    );
    let sum = value(
        &s,
        "shardgate_request_duration_seconds_sum",
        &[("route", r)],
    );
    assert!(sum > 0.0 && sum < 8.0 * 5.0, "duration sum {sum}");
    let mut buckets: Vec<(f64, f64)> = s
        .iter()
        .filter(|x| {
            x.name == "shardgate_request_duration_seconds_bucket"
                && x.labels.get("route").map(String::as_str) == Some(r)
        })
        .map(|x| {
            let le = x.labels["le"].as_str();
            (
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                },
                x.value,
            )
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 2, "{buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "buckets not cumulative: {buckets:?}"
    );
    assert_eq!(
        value(
            &s,
            "shardgate_request_duration_seconds_count",
            &[("route", static_route.as_str())]
        ),
        2.0
    );

    // The upstream, cross-checked with what the origin saw.
    let u = |m: &str| value(&s, m, &[("upstream", up.as_str())]);
    assert_eq!(u("shardgate_upstream_requests_total"), 8.0);
    assert_eq!(u("shardgate_upstream_failures_total"), 0.0);
    assert_eq!(u("shardgate_upstream_retries_total"), 0.0);
    assert_eq!(u("shardgate_upstream_connect_errors_total"), 0.0);
    let conns = origin.connections() as f64;
    assert_eq!(u("shardgate_upstream_connects_total"), conns);
    assert_eq!(u("shardgate_upstream_reused_total"), 8.0 - conns);
    assert_eq!(
        u("shardgate_upstream_connect_duration_seconds_count"),
        conns
    );

    // Types as declared.
    for (family, kind) in [
        ("shardgate_requests_total", "counter"),
        ("shardgate_request_bytes_total", "counter"),
        ("shardgate_response_bytes_total", "counter"),
        ("shardgate_request_duration_seconds", "histogram"),
        ("shardgate_upstream_requests_total", "counter"),
        ("shardgate_upstream_failures_total", "counter"),
        ("shardgate_upstream_connects_total", "counter"),
        ("shardgate_upstream_reused_total", "counter"),
        ("shardgate_upstream_retries_total", "counter"),
        ("shardgate_upstream_connect_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }

    // An independent parser takes the whole text and reads the same numbers.
    let families = python_parse(&text);
    let family = |name: &str| -> &Value {
        families
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("prometheus_client has no family {name}"))
    };
    // prometheus_client names a counter family without `_total`.
    for (family_name, kind) in [
        ("shardgate_requests", "counter"),
        ("shardgate_request_bytes", "counter"),
        ("shardgate_response_bytes", "counter"),
        ("shardgate_request_duration_seconds", "histogram"),
        ("shardgate_upstream_requests", "counter"),
        ("shardgate_upstream_failures", "counter"),
        ("shardgate_upstream_connects", "counter"),
        ("shardgate_upstream_reused", "counter"),
        ("shardgate_upstream_retries", "counter"),
        ("shardgate_upstream_connect_duration_seconds", "histogram"),
    ] {
        assert_eq!(family(family_name)["type"], kind, "{family_name}");
    }
    let py_total = |family_name: &str, sample: &str, want: &[(&str, &str)]| -> f64 {
        family(family_name)["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["name"] == sample && want.iter().all(|(k, v)| x["labels"][*k] == *v))
            .map(|x| x["value"].as_f64().unwrap())
            .sum()
    };
    assert_eq!(
        py_total(
            "shardgate_requests",
            "shardgate_requests_total",
            &[("route", r), ("class", "2xx")]
        ),
        8.0
    );
    assert_eq!(
        py_total(
            "shardgate_request_bytes",
            "shardgate_request_bytes_total",
            &[("route", r)]
        ),
        sent as f64
    );
    assert_eq!(
        py_total(
            "shardgate_request_duration_seconds",
            "shardgate_request_duration_seconds_count",
            &[("route", r)]
        ),
        8.0
    );
    assert_eq!(
        py_total(
            "shardgate_upstream_requests",
            "shardgate_upstream_requests_total",
            &[("upstream", up.as_str())]
        ),
        8.0
    );
    // Every sample line is one sample there too.
    let py_samples: usize = families
        .iter()
        .map(|f| f["samples"].as_array().unwrap().len())
        .sum();
    assert_eq!(py_samples, s.len());
}

/// An upstream whose only server refuses connections: 502s, counted as 5xx
/// on the route and as connect failures (not as requests sent) upstream.
fn refused_connects_are_counted(driver: Driver) {
    let name = format!("refused-{driver}");
    let gw = Gateway::builder(GW)
        .var("NAME", &name)
        .var("UP", closed_addr().unwrap())
        .driver(driver)
        .start()
        .unwrap();
    let admin = gw.admin().expect("admin listener");
    let addr = gw.addr("public");
    for i in 0..3 {
        let req =
            format!("GET /api/r{i} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
        assert_eq!(exchange(addr, req.as_bytes()).0, 502);
    }
    let (route, up) = (format!("{name}-proxy"), format!("{name}-up"));
    let mut text = String::new();
    let settled = wait_until(SETTLE, || {
        text = scrape(admin);
        total(
            &parse(&text).0,
            "shardgate_requests_total",
            &[("route", route.as_str()), ("class", "5xx")],
        )
        .0 == 3.0
    });
    assert!(settled, "5xx count never reached 3:\n{text}");
    let (s, _) = parse(&text);
    assert_eq!(
        value(
            &s,
            "shardgate_requests_total",
            &[("route", route.as_str()), ("class", "2xx")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &s,
            "shardgate_request_duration_seconds_count",
            &[("route", route.as_str())]
        ),
        3.0
    );
    let u = |m: &str| value(&s, m, &[("upstream", up.as_str())]);
    assert_eq!(u("shardgate_upstream_connects_total"), 3.0);
    assert_eq!(u("shardgate_upstream_connect_errors_total"), 3.0);
    assert_eq!(u("shardgate_upstream_failures_total"), 3.0);
    assert_eq!(u("shardgate_upstream_requests_total"), 0.0);
    assert_eq!(u("shardgate_upstream_retries_total"), 0.0);
    assert_eq!(u("shardgate_upstream_reused_total"), 0.0);
    assert_eq!(u("shardgate_upstream_connect_duration_seconds_count"), 0.0);
    python_parse(&text);
}

each_driver!(
    metrics_count_known_traffic_exactly,
    refused_connects_are_counted
);
