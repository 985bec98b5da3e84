//! `[upstream.adaptive_concurrency]` and the `max_in_flight` caps: what the
//! model holds, and each mistake reported at its `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use std::time::Duration;

use diagnostics::*;
use shardgate_config::AdaptiveConcurrencyConfig;

fn ok(src: &str) -> shardgate_config::Config {
    parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn absent_means_off_and_no_caps() {
    let c = ok(&with_base(&["[[route]]", "proxy = \"backend\""]));
    assert_eq!(c.upstreams[0].adaptive_concurrency, None);
    assert_eq!(c.routes[0].max_in_flight, 0);
    assert_eq!(c.server.limits.max_in_flight, 0);
    // An empty table turns the limiter on with every default.
    let c = ok(&with_base(&["[upstream.adaptive_concurrency]"]));
    assert_eq!(
        c.upstreams[0].adaptive_concurrency,
        Some(AdaptiveConcurrencyConfig::default())
    );
}

#[test]
fn every_key_reaches_the_model() {
    let c = ok(&with_base(&[
        "[upstream.adaptive_concurrency]",
        "min_limit = 2",
        "max_limit = 50",
        "initial_limit = 10",
        "window = \"250ms\"",
        "window_samples = 7",
        "long_window = 30",
        "tolerance = 2.0",
        "smoothing = 0.5",
        "probe_interval = \"30s\"",
        "probe_jitter = 0.25",
        "probe_ratio = 0.3",
        "status = 429",
        "[[route]]",
        "proxy = \"backend\"",
        "max_in_flight = 64",
        "[server.limits]",
        "max_in_flight = 1000",
    ]));
    assert_eq!(
        c.upstreams[0].adaptive_concurrency,
        Some(AdaptiveConcurrencyConfig {
            min_limit: 2,
            max_limit: 50,
            initial_limit: 10,
            window: Duration::from_millis(250),
            window_samples: 7,
            long_window: 30,
            tolerance: 2.0,
            smoothing: 0.5,
            probe_interval: Duration::from_secs(30),
            probe_jitter: 0.25,
            probe_ratio: 0.3,
            status: 429,
        })
    );
    assert_eq!(c.routes[0].max_in_flight, 64);
    assert_eq!(c.server.limits.max_in_flight, 1000);
}

#[test]
fn out_of_range_values_are_reported_at_their_keys() {
    let src = with_base(&[
        "[upstream.adaptive_concurrency]",
        "min_limit = 0",
        "tolerance = 0.9",
        "smoothing = 0.0",
        "probe_jitter = 0.6",
        "probe_ratio = 1.5",
        "window = \"1ms\"",
        "status = 200",
        "[[route]]",
        "proxy = \"backend\"",
        "max_in_flight = -1",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:9:13: upstream[0].adaptive_concurrency.min_limit: must be between 1 and 1000000 (got 0)",
            "t.toml:10:13: upstream[0].adaptive_concurrency.tolerance: must be between 1.0 and 10.0 (got 0.9)",
            "t.toml:11:13: upstream[0].adaptive_concurrency.smoothing: must be greater than 0.0 and at most 1.0 (got 0)",
            "t.toml:12:16: upstream[0].adaptive_concurrency.probe_jitter: must be between 0.0 and 0.5 (got 0.6)",
            "t.toml:13:15: upstream[0].adaptive_concurrency.probe_ratio: must be greater than 0.0 and at most 1.0 (got 1.5)",
            "t.toml:14:10: upstream[0].adaptive_concurrency.window: must be between 10ms and 1m (got 1ms)",
            "t.toml:15:10: upstream[0].adaptive_concurrency.status: must be between 400 and 599 (got 200)",
            "t.toml:18:17: route[0].max_in_flight: must be between 0 and 16777216 (got -1)",
        ]
    );
}

#[test]
fn the_limits_must_be_ordered() {
    assert_error(
        &with_base(&[
            "[upstream.adaptive_concurrency]",
            "min_limit = 30",
            "max_limit = 20",
        ]),
        "t.toml:9:13: upstream[0].adaptive_concurrency.min_limit: must not be larger than `max_limit` (20)",
    );
    // The default initial limit (20) is above the written maximum: reported
    // as `initial_limit`'s problem, at the table (the key is not written).
    assert_error(
        &with_base(&["[upstream.adaptive_concurrency]", "max_limit = 10"]),
        "t.toml:8:1: upstream[0].adaptive_concurrency.initial_limit: must be between `min_limit` (3) and `max_limit` (10)",
    );
    assert_error(
        &with_base(&["[server.limits]", "max_in_flight = 16777217"]),
        "t.toml:9:17: server.limits.max_in_flight: must be between 0 and 16777216 (got 16777217)",
    );
}
