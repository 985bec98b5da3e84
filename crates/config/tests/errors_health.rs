//! `[upstream.health_check]`, `[upstream.outlier]` and `[upstream.backoff]`:
//! every bad value is reported at its `file:line:col` with the key path; a
//! valid set of them comes out as written.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use std::time::Duration;

use diagnostics::*;
use shardgate_config::{HealthCheckKind, StatusRange};

#[test]
fn a_full_valid_set_is_read_as_written() {
    let src = with_base(&[
        "[upstream.health_check]",
        "kind = \"http\"",
        "path = \"/healthz?deep=1\"",
        "host = \"app.internal\"",
        "expect_status = \"204\"",
        "interval = \"1s\"",
        "jitter = 0.2",
        "timeout = \"300ms\"",
        "healthy_threshold = 1",
        "unhealthy_threshold = 4",
        "[upstream.outlier]",
        "consecutive_failures = 0",
        "on_5xx = true",
        "base_ejection_time = \"1s\"",
        "max_ejection_time = \"1s\"",
        "max_ejection_percent = 100",
        "panic_threshold = 0",
        "[upstream.backoff]",
        "base = \"10ms\"",
        "factor = 1",
        "cap = \"10ms\"",
    ]);
    let config = parse(&src, "t.toml").unwrap();
    let u = &config.upstreams[0];
    let c = u.health_check.as_ref().unwrap();
    assert_eq!(c.kind, HealthCheckKind::Http);
    assert_eq!(c.path, "/healthz?deep=1");
    assert_eq!(c.host.as_deref(), Some("app.internal"));
    assert_eq!(
        c.expect_status,
        StatusRange {
            low: 204,
            high: 204
        }
    );
    assert_eq!(
        (c.interval, c.timeout),
        (Duration::from_secs(1), Duration::from_millis(300))
    );
    assert_eq!(c.jitter, 0.2);
    assert_eq!((c.healthy_threshold, c.unhealthy_threshold), (1, 4));
    assert_eq!(u.outlier.consecutive_failures, 0);
    assert!(u.outlier.on_5xx);
    assert_eq!(u.outlier.max_ejection_time, Duration::from_secs(1));
    assert_eq!(
        (u.outlier.max_ejection_percent, u.outlier.panic_threshold),
        (100, 0)
    );
    assert_eq!(u.backoff.base, Duration::from_millis(10));
    assert_eq!(u.backoff.factor, 1.0);
}

#[test]
fn an_empty_health_check_table_is_a_tcp_check_with_defaults() {
    let config = parse(&with_base(&["[upstream.health_check]"]), "t.toml").unwrap();
    let c = config.upstreams[0].health_check.as_ref().unwrap();
    assert_eq!(c.kind, HealthCheckKind::Tcp);
    assert_eq!(c.interval, Duration::from_secs(5));
    // A short interval set alone shortens the default timeout with it.
    let src = with_base(&["[upstream.health_check]", "interval = \"500ms\""]);
    let config = parse(&src, "t.toml").unwrap();
    let c = config.upstreams[0].health_check.as_ref().unwrap();
    assert_eq!(c.timeout, Duration::from_millis(500));
    let config = parse(&with_base(&[]), "t.toml").unwrap();
    assert_eq!(config.upstreams[0].health_check, None);
}

#[test]
fn unknown_kind() {
    let src = with_base(&["[upstream.health_check]", "kind = \"icmp\""]);
    assert_error(
        &src,
        "t.toml:9:8: upstream[0].health_check.kind: unknown value \"icmp\"; expected one of \"tcp\", \"http\"",
    );
}

#[test]
fn http_keys_on_a_tcp_check() {
    let src = with_base(&["[upstream.health_check]", "kind = \"tcp\"", "path = \"/x\""]);
    assert_error(
        &src,
        "t.toml:10:8: upstream[0].health_check.path: only for kind = \"http\"",
    );
    let src = with_base(&["[upstream.health_check]", "expect_status = \"200\""]);
    assert_error(
        &src,
        "t.toml:9:17: upstream[0].health_check.expect_status: only for kind = \"http\" (the default kind is \"tcp\")",
    );
}

#[test]
fn bad_paths_and_hosts() {
    let http = |line: &str| with_base(&["[upstream.health_check]", "kind = \"http\"", line]);
    assert_error(
        &http("path = \"healthz\""),
        "t.toml:10:8: upstream[0].health_check.path: \"healthz\" must start with `/`",
    );
    assert_error_like(
        &http("path = \"/a b\""),
        "t.toml:10:8: upstream[0].health_check.path: ",
        "only visible ASCII without spaces",
    );
    assert_error(
        &http("host = \"\""),
        "t.toml:10:8: upstream[0].health_check.host: must not be empty",
    );
    assert_error_like(
        &http("host = \"a\\r\\nx: y\""),
        "t.toml:10:8: upstream[0].health_check.host: ",
        "only visible ASCII without spaces",
    );
    let long = format!("path = \"/{}\"", "a".repeat(1024));
    assert_error(
        &http(&long),
        "t.toml:10:8: upstream[0].health_check.path: must be at most 1024 bytes long",
    );
}

#[test]
fn bad_status_ranges() {
    let http = |v: &str| {
        with_base(&[
            "[upstream.health_check]",
            "kind = \"http\"",
            &format!("expect_status = \"{v}\""),
        ])
    };
    assert_error_like(
        &http("600"),
        "t.toml:10:17: upstream[0].health_check.expect_status: \"600\": ",
        "100..=599",
    );
    assert_error(
        &http("399-200"),
        "t.toml:10:17: upstream[0].health_check.expect_status: \"399-200\": the range must go from low to high",
    );
    let src = with_base(&[
        "[upstream.health_check]",
        "kind = \"http\"",
        "expect_status = 200",
    ]);
    assert_error_like(
        &src,
        "t.toml:10:17: upstream[0].health_check.expect_status: invalid type",
        "expected a string",
    );
}

#[test]
fn interval_timeout_and_thresholds() {
    let check = |lines: &[&str]| {
        let mut all = vec!["[upstream.health_check]"];
        all.extend_from_slice(lines);
        with_base(&all)
    };
    assert_error(
        &check(&["interval = \"50ms\""]),
        "t.toml:9:12: upstream[0].health_check.interval: must be between 100ms and 24h (got 50ms)",
    );
    assert_error(
        &check(&["interval = \"1s\"", "timeout = \"2s\""]),
        "t.toml:10:11: upstream[0].health_check.timeout: must not be longer than `interval` (1s)",
    );
    assert_error(
        &check(&["healthy_threshold = 0"]),
        "t.toml:9:21: upstream[0].health_check.healthy_threshold: must be between 1 and 100 (got 0)",
    );
    assert_error(
        &check(&["unhealthy_threshold = 101"]),
        "t.toml:9:23: upstream[0].health_check.unhealthy_threshold: must be between 1 and 100 (got 101)",
    );
    assert_error(
        &check(&["jitter = 0.9"]),
        "t.toml:9:10: upstream[0].health_check.jitter: must be between 0.0 and 0.5 (got 0.9)",
    );
    assert_error_like(
        &check(&["intervall = \"1s\""]),
        "t.toml:9:1: upstream[0].health_check.intervall: unknown key `intervall`",
        "`interval`",
    );
}

#[test]
fn outlier_ranges_and_order() {
    let outlier = |line: &str| with_base(&["[upstream.outlier]", line]);
    assert_error(
        &outlier("max_ejection_percent = 101"),
        "t.toml:9:24: upstream[0].outlier.max_ejection_percent: must be between 0 and 100 (got 101)",
    );
    assert_error(
        &outlier("panic_threshold = -1"),
        "t.toml:9:19: upstream[0].outlier.panic_threshold: must be between 0 and 100 (got -1)",
    );
    assert_error(
        &outlier("consecutive_failures = 10001"),
        "t.toml:9:24: upstream[0].outlier.consecutive_failures: must be between 0 and 10000 (got 10001)",
    );
    assert_error(
        &outlier("on_5xx = \"yes\""),
        "t.toml:9:10: upstream[0].outlier.on_5xx: invalid type: string \"yes\", expected a boolean",
    );
    let src = with_base(&[
        "[upstream.outlier]",
        "base_ejection_time = \"2m\"",
        "max_ejection_time = \"1m\"",
    ]);
    assert_error(
        &src,
        "t.toml:9:22: upstream[0].outlier.base_ejection_time: must not be longer than `max_ejection_time` (1m)",
    );
    // Only the maximum written, below the default base: reported there.
    assert_error(
        &outlier("max_ejection_time = \"10s\""),
        "t.toml:9:21: upstream[0].outlier.max_ejection_time: must be at least `base_ejection_time` (30s)",
    );
    // A base above the default maximum raises it: not an error.
    parse(&outlier("base_ejection_time = \"10m\""), "t.toml").unwrap();
}

#[test]
fn backoff_factor_and_order() {
    let backoff = |line: &str| with_base(&["[upstream.backoff]", line]);
    assert_error(
        &backoff("factor = 0.5"),
        "t.toml:9:10: upstream[0].backoff.factor: must be between 1.0 and 10.0 (got 0.5)",
    );
    assert_error_like(
        &backoff("factor = nan"),
        "t.toml:9:10: upstream[0].backoff.factor: ",
        "got NaN",
    );
    assert_error(
        &backoff("cap = \"50ms\""),
        "t.toml:9:7: upstream[0].backoff.cap: must be at least `base` (100ms)",
    );
    assert_error(
        &backoff("base = 100"),
        "t.toml:9:8: upstream[0].backoff.base: a duration needs a unit: write \"100s\" or \"100ms\" (units: ms, s, m, h)",
    );
}
