//! `[route.retry]`, `[route.timeouts]`, `[upstream.retry_budget]` and
//! `total_timeout`: what the model holds, and each mistake reported at its
//! `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use std::time::Duration;

use diagnostics::*;
use shardgate_config::{RetryBudgetConfig, RetryConfig, RetryOn, TimeoutOverrides};

fn ok(src: &str) -> shardgate_config::Config {
    parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_keep_connect_failover_and_the_keepalive_race() {
    let c = ok(&with_base(&["[[route]]", "proxy = \"backend\""]));
    let r = &c.routes[0];
    assert_eq!(
        r.retry,
        RetryConfig {
            attempts: 3,
            on: RetryOn {
                connect_failure: true,
                ..RetryOn::NONE
            },
            buffer_body: 0,
        }
    );
    assert_eq!(r.timeouts, TimeoutOverrides::default());
    let u = &c.upstreams[0];
    assert_eq!(u.total_timeout, None);
    assert_eq!(
        u.retry_budget,
        RetryBudgetConfig {
            percent: 20,
            min_per_second: 10
        }
    );
}

#[test]
fn every_key_reaches_the_model() {
    let c = ok(&doc(&[
        "[[listener]]",
        "name = \"public\"",
        "address = \"127.0.0.1:8080\"",
        "",
        "[[upstream]]",
        "name = \"backend\"",
        "servers = [\"127.0.0.1:9000\"]",
        "total_timeout = \"45s\"",
        "[upstream.retry_budget]",
        "percent = 0",
        "min_per_second = 3",
        "",
        "[[route]]",
        "proxy = \"backend\"",
        "[route.retry]",
        "attempts = 5",
        "on = [\"reset\", \"503\", \"502\"]",
        "buffer_body = \"16KiB\"",
        "[route.timeouts]",
        "connect_timeout = \"250ms\"",
        "read_timeout = \"3s\"",
        "total_timeout = \"1m\"",
    ]));
    let r = &c.routes[0];
    assert_eq!(r.retry.attempts, 5);
    assert_eq!(
        r.retry.on,
        RetryOn {
            reset: true,
            status_502: true,
            status_503: true,
            ..RetryOn::NONE
        },
        "connect-failure is off once `on` is written without it"
    );
    assert!(r.retry.on.status(503) && !r.retry.on.status(504) && !r.retry.on.status(500));
    assert_eq!(r.retry.buffer_body, 16 * 1024);
    assert_eq!(
        r.timeouts,
        TimeoutOverrides {
            connect_timeout: Some(Duration::from_millis(250)),
            response_timeout: None,
            read_timeout: Some(Duration::from_secs(3)),
            total_timeout: Some(Duration::from_secs(60)),
        }
    );
    let u = &c.upstreams[0];
    assert_eq!(u.total_timeout, Some(Duration::from_secs(45)));
    assert_eq!(
        u.retry_budget,
        RetryBudgetConfig {
            percent: 0,
            min_per_second: 3
        }
    );
}

#[test]
fn retry_values_out_of_range_or_unknown() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "[route.retry]",
        "attempts = 0",
        "on = [\"503\", \"timeout\", \"503\"]",
        "buffer_body = \"1MiB\"",
        "tries = 3",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:11:12: route[0].retry.attempts: must be between 1 and 10 (got 0)",
            "t.toml:12:14: route[0].retry.on[1]: unknown condition \"timeout\"; expected one \
             of \"connect-failure\", \"reset\", \"502\", \"503\", \"504\"",
            "t.toml:12:25: route[0].retry.on[2]: \"503\" is listed twice",
            "t.toml:13:15: route[0].retry.buffer_body: must be between 0 and 64KiB (got 1MiB)",
            "t.toml:14:1: route[0].retry.tries: unknown key `tries`, expected one of \
             `attempts`, `on`, `buffer_body`",
        ]
    );
    assert_error(
        &with_base(&[
            "[[route]]",
            "proxy = \"backend\"",
            "retry = { attempts = 11 }",
        ]),
        "t.toml:10:22: route[0].retry.attempts: must be between 1 and 10 (got 11)",
    );
}

#[test]
fn an_empty_on_list_is_refused() {
    assert_error(
        &with_base(&["[[route]]", "proxy = \"backend\"", "retry = { on = [] }"]),
        "t.toml:10:16: route[0].retry.on: empty list; leave the key out for the default, or \
         set `attempts = 1` to turn retries off",
    );
}

#[test]
fn a_respond_route_has_no_retries_or_upstream_timeouts() {
    let src = with_base(&[
        "[[route]]",
        "respond = { status = 200 }",
        "retry = { attempts = 2 }",
        "timeouts = { connect_timeout = \"1s\" }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:9: route[0].retry: only a route with `proxy` has retries",
            "t.toml:11:12: route[0].timeouts: only a route with `proxy` has upstream timeouts",
        ]
    );
}

#[test]
fn route_timeouts_are_durations() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "[route.timeouts]",
        "total_timeout = \"0s\"",
        "response_timeout = 30",
        "idle = \"1s\"",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:11:17: route[0].timeouts.total_timeout: must be greater than 0",
            "t.toml:12:20: route[0].timeouts.response_timeout: a duration needs a unit: write \
             \"30s\" or \"30ms\" (units: ms, s, m, h)",
            "t.toml:13:1: route[0].timeouts.idle: unknown key `idle`, expected one of \
             `connect_timeout`, `response_timeout`, `read_timeout`, `total_timeout`",
        ]
    );
}

#[test]
fn the_budget_and_total_timeout_are_checked() {
    let src = doc(&[
        "[[listener]]",
        "name = \"public\"",
        "address = \"127.0.0.1:8080\"",
        "",
        "[[upstream]]",
        "name = \"backend\"",
        "servers = [\"127.0.0.1:9000\"]",
        "total_timeout = \"25h\"",
        "[upstream.retry_budget]",
        "percent = 150",
        "min_per_second = -1",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:8:17: upstream[0].total_timeout: must be at most 24h",
            "t.toml:10:11: upstream[0].retry_budget.percent: must be between 0 and 100 (got 150)",
            "t.toml:11:18: upstream[0].retry_budget.min_per_second: must be between 0 and \
             100000 (got -1)",
        ]
    );
}
