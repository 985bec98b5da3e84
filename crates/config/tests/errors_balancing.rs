//! `lb` and `hash_key`: every policy word parses, `consistent_hash` needs a
//! well-formed `hash_key` and no other policy takes one, each with its
//! diagnostic at the right `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use diagnostics::*;
use shardgate_config::{HashKey, LbPolicy};

fn upstream_of(lines: &[&str]) -> shardgate_config::UpstreamConfig {
    let src = with_base(lines);
    match parse(&src, "t.toml") {
        Ok(c) => c.upstreams[0].clone(),
        Err(e) => panic!("{e}\nsource:\n{src}"),
    }
}

#[test]
fn every_policy_parses() {
    for (word, policy) in [
        ("round_robin", LbPolicy::RoundRobin),
        ("weighted_round_robin", LbPolicy::WeightedRoundRobin),
        ("least_request", LbPolicy::LeastRequest),
        ("p2c", LbPolicy::P2c),
        ("random", LbPolicy::Random),
    ] {
        let u = upstream_of(&[&format!("lb = \"{word}\"")]);
        assert_eq!((u.lb, u.hash_key), (policy, None), "{word}");
    }
    let u = upstream_of(&["lb = \"consistent_hash\"", "hash_key = \"client_ip\""]);
    assert_eq!(
        (u.lb, u.hash_key),
        (LbPolicy::ConsistentHash, Some(HashKey::ClientIp))
    );
}

#[test]
fn hash_key_forms() {
    for (text, key) in [
        ("client_ip", HashKey::ClientIp),
        ("path", HashKey::Path),
        // Header names are case-insensitive: kept lower-case.
        ("header:X-User", HashKey::Header("x-user".into())),
        // Cookie names are not.
        ("cookie:SessionID", HashKey::Cookie("SessionID".into())),
    ] {
        let u = upstream_of(&[
            "lb = \"consistent_hash\"",
            &format!("hash_key = \"{text}\""),
        ]);
        assert_eq!(u.hash_key, Some(key), "{text}");
    }
}

#[test]
fn consistent_hash_requires_a_hash_key() {
    let src = with_base(&["lb = \"consistent_hash\""]);
    assert_error(
        &src,
        "t.toml:8:6: upstream[0].hash_key: required with lb = \"consistent_hash\": one of \
         \"client_ip\", \"path\", \"header:NAME\", \"cookie:NAME\"",
    );
}

#[test]
fn a_hash_key_needs_consistent_hash() {
    // No lb: the default, round_robin.
    let src = with_base(&["hash_key = \"client_ip\""]);
    assert_error(
        &src,
        "t.toml:8:12: upstream[0].hash_key: only lb = \"consistent_hash\" uses a hash key \
         (this upstream's lb is \"round_robin\")",
    );
    let src = with_base(&["lb = \"p2c\"", "hash_key = \"header:x-user\""]);
    assert_error(
        &src,
        "t.toml:9:12: upstream[0].hash_key: only lb = \"consistent_hash\" uses a hash key \
         (this upstream's lb is \"p2c\")",
    );
}

#[test]
fn malformed_hash_keys() {
    for (text, col, message) in [
        (
            "ip",
            12,
            "unknown hash key \"ip\"; expected one of \"client_ip\", \"path\", \
             \"header:NAME\", \"cookie:NAME\"",
        ),
        (
            "path:/a",
            12,
            "unknown hash key \"path:/a\"; expected one of \"client_ip\", \"path\", \
             \"header:NAME\", \"cookie:NAME\"",
        ),
        ("header:", 12, "\"header:\" names no header"),
        ("cookie:", 12, "\"cookie:\" names no cookie"),
        (
            "header:x user",
            12,
            "\"header:x user\": ' ' is not allowed in a header name",
        ),
        (
            "cookie:a;b",
            12,
            "\"cookie:a;b\": ';' is not allowed in a cookie name",
        ),
    ] {
        let src = with_base(&[
            "lb = \"consistent_hash\"",
            &format!("hash_key = \"{text}\""),
        ]);
        assert_error(
            &src,
            &format!("t.toml:9:{col}: upstream[0].hash_key: {message}"),
        );
    }
}

#[test]
fn an_unknown_policy_is_reported_once_and_the_key_still_checked() {
    // A good key next to a misspelt policy: only the policy is wrong.
    let src = with_base(&["lb = \"consistent-hash\"", "hash_key = \"client_ip\""]);
    assert_error_like(
        &src,
        "t.toml:8:6: upstream[0].lb: unknown value \"consistent-hash\"",
        "\"consistent_hash\"",
    );
    // A bad key next to it: both.
    let src = with_base(&["lb = \"consistent-hash\"", "hash_key = \"ip\""]);
    let all = errors(&src);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all[1].starts_with("t.toml:9:12: upstream[0].hash_key: unknown hash key \"ip\""));
}

#[test]
fn hash_key_must_be_a_string() {
    let src = with_base(&["lb = \"consistent_hash\"", "hash_key = 3"]);
    assert_error_like(&src, "t.toml:9:12: upstream[0].hash_key: ", "string");
}
