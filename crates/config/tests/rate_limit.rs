//! `[[route.rate_limit]]` and `[route.rate_limit.redis]`: what the model
//! holds, and each mistake reported at its `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use std::time::Duration;

use diagnostics::*;
use shardgate_config::{
    Rate, RateLimitBackend, RateLimitConfig, RateLimitKey, RedisConfig, Sharing,
};

fn ok(src: &str) -> shardgate_config::Config {
    parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A route (line 8) with one rule table starting at line 10.
fn rule(lines: &[&str]) -> String {
    let mut all = vec!["[[route]]", "proxy = \"backend\"", "[[route.rate_limit]]"];
    all.extend_from_slice(lines);
    with_base(&all)
}

#[test]
fn defaults_are_one_second_of_burst_per_client_address() {
    let c = ok(&rule(&["rate = \"6000/min\""]));
    assert_eq!(
        c.routes[0].rate_limits,
        [RateLimitConfig {
            key: RateLimitKey::ClientIp,
            rate: Rate {
                count: 6000,
                per: Duration::from_secs(60)
            },
            burst: 100,
            status: 429,
            body: None,
            sharing: Sharing::Atomic,
            table_size: 65_536,
            backend: RateLimitBackend::Local,
        }]
    );
    assert_eq!(c.routes[0].rate_limits[0].rate.interval_ns(), 10_000_000);
    // A slow rate still has a burst of one.
    let c = ok(&rule(&["rate = \"10/h\""]));
    assert_eq!(c.routes[0].rate_limits[0].burst, 1);
    // No rule: no limit.
    let c = ok(&with_base(&["[[route]]", "proxy = \"backend\""]));
    assert!(c.routes[0].rate_limits.is_empty());
}

#[test]
fn every_key_reaches_the_model() {
    let c = ok(&with_base(&[
        "[[route]]",
        "respond = { status = 200 }",
        "[[route.rate_limit]]",
        "key = \"header:X-Client\"",
        "rate = \"50/s\"",
        "burst = 5",
        "status = 503",
        "body = \"slow down\\n\"",
        "sharing = \"split\"",
        "table_size = 1000",
        "backend = \"redis\"",
        "[route.rate_limit.redis]",
        "address = \"127.0.0.1:6379\"",
        "key_prefix = \"gw:\"",
        "timeout = \"20ms\"",
        "sync_interval = \"250ms\"",
        "[[route.rate_limit]]",
        "key = \"route\"",
        "rate = \"1000/s\"",
    ]));
    let rules = &c.routes[0].rate_limits;
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0],
        RateLimitConfig {
            key: RateLimitKey::Header("x-client".into()),
            rate: Rate {
                count: 50,
                per: Duration::from_secs(1)
            },
            burst: 5,
            status: 503,
            body: Some("slow down\n".into()),
            sharing: Sharing::Split,
            table_size: 1024,
            backend: RateLimitBackend::Redis(RedisConfig {
                address: "127.0.0.1:6379".parse().unwrap(),
                key_prefix: "gw:".into(),
                timeout: Duration::from_millis(20),
                sync_interval: Duration::from_millis(250),
            }),
        }
    );
    assert_eq!(rules[1].key, RateLimitKey::Route);
    assert_eq!(rules[1].burst, 1000);
    // Redis defaults.
    let c = ok(&rule(&[
        "rate = \"1/s\"",
        "backend = \"redis\"",
        "redis = { address = \"10.0.0.1:6379\" }",
    ]));
    let RateLimitBackend::Redis(redis) = &c.routes[0].rate_limits[0].backend else {
        panic!("redis");
    };
    assert_eq!(redis.key_prefix, "shardgate:rl:");
    assert_eq!(redis.timeout, Duration::from_millis(50));
    assert_eq!(redis.sync_interval, Duration::from_millis(100));
}

#[test]
fn bad_rates_are_reported_at_their_value() {
    for (value, message) in [
        (
            "\"100\"",
            "\"100\" is not a rate; write N/s, N/min or N/h (e.g. \"100/s\")",
        ),
        (
            "\"100/d\"",
            "\"100/d\": unknown unit \"d\"; use s, min or h",
        ),
        (
            "\"0/s\"",
            "\"0/s\": the count must be a whole number from 1 to 4294967295",
        ),
        (
            "\"1.5/s\"",
            "\"1.5/s\": the count must be a whole number from 1 to 4294967295",
        ),
        (
            "\"2000000/s\"",
            "\"2000000/s\" is faster than the most a rule can count (1000000/s)",
        ),
    ] {
        let line = format!("rate = {value}");
        assert_error(
            &rule(&[&line]),
            &format!("t.toml:11:8: route[0].rate_limit[0].rate: {message}"),
        );
    }
    assert_error_like(
        &rule(&["rate = 100"]),
        "t.toml:11:8: route[0].rate_limit[0].rate: ",
        "string",
    );
}

#[test]
fn missing_rate_and_bad_numbers() {
    assert_error(
        &rule(&["burst = 3"]),
        "t.toml:10:1: route[0].rate_limit[0].rate: required key is missing",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "burst = 0"]),
        "t.toml:12:9: route[0].rate_limit[0].burst: must be between 1 and 1000000 (got 0)",
    );
    assert_error(
        &rule(&["rate = \"1/h\"", "burst = 100"]),
        "t.toml:12:9: route[0].rate_limit[0].burst: a burst of 100 at this rate takes 100h to refill; at most 24h",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "status = 200"]),
        "t.toml:12:10: route[0].rate_limit[0].status: must be between 400 and 599 (got 200)",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "table_size = 0"]),
        "t.toml:12:14: route[0].rate_limit[0].table_size: must be between 1 and 16777216 (got 0)",
    );
    let long = format!("body = \"{}\"", "x".repeat(1025));
    assert_error_like(
        &rule(&["rate = \"10/s\"", &long]),
        "t.toml:12:8: route[0].rate_limit[0].body: at most 1024 bytes",
        "buffer",
    );
}

#[test]
fn unknown_words_and_keys() {
    assert_error(
        &rule(&["rate = \"10/s\"", "key = \"cookie:sid\""]),
        "t.toml:12:7: route[0].rate_limit[0].key: unknown key \"cookie:sid\"; expected one of \"client_ip\", \"header:NAME\", \"route\"",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "key = \"header:\""]),
        "t.toml:12:7: route[0].rate_limit[0].key: \"header:\" names no header",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "key = \"header:a b\""]),
        "t.toml:12:7: route[0].rate_limit[0].key: \"header:a b\": ' ' is not allowed in a header name",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "sharing = \"shared\""]),
        "t.toml:12:11: route[0].rate_limit[0].sharing: unknown value \"shared\"; expected one of \"atomic\", \"split\"",
    );
    assert_error_like(
        &rule(&["rate = \"10/s\"", "burts = 3"]),
        "t.toml:12:1: route[0].rate_limit[0]",
        "burts",
    );
}

#[test]
fn redis_table_exactly_with_the_redis_backend() {
    assert_error(
        &rule(&["rate = \"10/s\"", "backend = \"redis\""]),
        "t.toml:12:11: route[0].rate_limit[0].backend: backend = \"redis\" needs a [route.rate_limit.redis] table (address, …)",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "[route.rate_limit.redis]", "address = \"127.0.0.1:6379\""]),
        "t.toml:12:1: route[0].rate_limit[0].redis: only a rule with backend = \"redis\" has a redis table",
    );
    assert_error(
        &rule(&[
            "rate = \"10/s\"",
            "backend = \"redis\"",
            "[route.rate_limit.redis]",
            "timeout = \"20ms\"",
        ]),
        "t.toml:13:1: route[0].rate_limit[0].redis.address: required key is missing",
    );
    assert_error(
        &rule(&[
            "rate = \"10/s\"",
            "backend = \"redis\"",
            "[route.rate_limit.redis]",
            "address = \"127.0.0.1:6379\"",
            "sync_interval = \"1ms\"",
        ]),
        "t.toml:15:17: route[0].rate_limit[0].redis.sync_interval: must be between 10ms and 1m (got 1ms)",
    );
    assert_error(
        &rule(&["rate = \"10/s\"", "backend = \"memcached\""]),
        "t.toml:12:11: route[0].rate_limit[0].backend: unknown value \"memcached\"; expected one of \"local\", \"redis\"",
    );
}

#[test]
fn at_most_eight_rules_per_route() {
    let mut lines = vec!["[[route]]", "proxy = \"backend\""];
    for _ in 0..9 {
        lines.extend(["[[route.rate_limit]]", "rate = \"1/s\""]);
    }
    assert_error_like(
        &with_base(&lines),
        "t.toml:",
        "route[0].rate_limit: at most 8 rate limits per route (got 9)",
    );
}
