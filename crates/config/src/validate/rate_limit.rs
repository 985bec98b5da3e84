//! `[[route.rate_limit]]`: the key, the rate and burst, the answer, how the
//! buckets are kept (sharing, table size) and the backend.

use std::time::Duration;

use serde_spanned::Spanned;

use super::headers::is_tchar;
use super::value::{address, at, choice, duration_within, int, quoted_list, required};
use crate::model::{Rate, RateLimitBackend, RateLimitConfig, RateLimitKey, RedisConfig, Sharing};
use crate::raw::{List, RawRateLimit, RawRedis};
use crate::report::Report;

const KEY_FORMS: [&str; 3] = ["client_ip", "header:NAME", "route"];
const UNITS: [(&str, u64); 3] = [("s", 1), ("min", 60), ("h", 3600)];

/// Every rule of one route (`base` = `route[N].rate_limit`).
pub(crate) fn rules(
    r: &mut Report<'_>,
    raw: Option<&Spanned<List<RawRateLimit>>>,
    base: &str,
) -> Vec<RateLimitConfig> {
    let Some(list) = raw else {
        return Vec::new();
    };
    let items = &list.get_ref().0;
    if items.len() > RateLimitConfig::MAX_RULES {
        r.error(
            at(list),
            base,
            format!(
                "at most {} rate limits per route (got {})",
                RateLimitConfig::MAX_RULES,
                items.len()
            ),
        );
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| rule(r, item, &format!("{base}[{i}]")))
        .collect()
}

fn rule(r: &mut Report<'_>, raw: &Spanned<RawRateLimit>, base: &str) -> RateLimitConfig {
    let table_at = at(raw);
    let raw = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let rate = required(r, raw.rate.as_ref(), table_at, &key("rate"))
        .and_then(|v| rate(r, v, &key("rate")))
        .unwrap_or(RateLimitConfig::PLACEHOLDER_RATE);
    let burst = int(
        r,
        raw.burst.as_ref(),
        &key("burst"),
        rate.per_second(),
        1..=RateLimitConfig::MAX_BURST,
    );
    // The whole burst must drain within the GCRA clock's reach.
    let drain = Duration::from_nanos(rate.interval_ns().saturating_mul(u64::from(burst)));
    if drain > RateLimitConfig::MAX_BURST_TIME {
        let (at_, k) = match (raw.burst.as_ref(), raw.rate.as_ref()) {
            (Some(b), _) => (at(b), key("burst")),
            (None, Some(v)) => (at(v), key("rate")),
            (None, None) => (table_at, base.to_string()),
        };
        r.error(
            at_,
            k,
            format!(
                "a burst of {burst} at this rate takes {}h to refill; at most 24h",
                drain.as_secs() / 3600
            ),
        );
    }
    let status = int(
        r,
        raw.status.as_ref(),
        &key("status"),
        RateLimitConfig::DEFAULT_STATUS,
        400..=599,
    );
    let body = raw.body.as_ref().map(|b| {
        if b.get_ref().len() > RateLimitConfig::MAX_BODY {
            r.error(
                at(b),
                key("body"),
                format!(
                    "at most {} bytes (the answer is written into the connection's buffer)",
                    RateLimitConfig::MAX_BODY
                ),
            );
        }
        b.get_ref().clone()
    });
    let sharing = choice(
        r,
        raw.sharing.as_ref(),
        &key("sharing"),
        RateLimitConfig::DEFAULT_SHARING,
        &[("atomic", Sharing::Atomic), ("split", Sharing::Split)],
    );
    let table_size = int(
        r,
        raw.table_size.as_ref(),
        &key("table_size"),
        RateLimitConfig::DEFAULT_TABLE_SIZE,
        1..=RateLimitConfig::MAX_TABLE_SIZE,
    )
    .next_power_of_two();
    let limit_key = raw
        .key
        .as_ref()
        .and_then(|v| limit_key(r, v, &key("key")))
        .unwrap_or(RateLimitKey::ClientIp);
    RateLimitConfig {
        key: limit_key,
        rate,
        burst,
        status,
        body,
        sharing,
        table_size,
        backend: backend(r, raw, base),
    }
}

/// `"100/s"`, `"6000/min"`, `"10/h"`.
fn rate(r: &mut Report<'_>, value: &Spanned<String>, key: &str) -> Option<Rate> {
    let text = value.get_ref().as_str();
    let parsed = match text.split_once('/') {
        None => Err(format!(
            "{text:?} is not a rate; write N/s, N/min or N/h (e.g. \"100/s\")"
        )),
        Some((count, unit)) => {
            let per = UNITS
                .iter()
                .find(|(u, _)| *u == unit.trim())
                .map(|(_, s)| *s);
            match (count.trim().parse::<u32>(), per) {
                (_, None) => Err(format!(
                    "{text:?}: unknown unit {:?}; use s, min or h",
                    unit.trim()
                )),
                (Ok(0) | Err(_), _) => Err(format!(
                    "{text:?}: the count must be a whole number from 1 to {}",
                    u32::MAX
                )),
                (Ok(count), Some(secs)) => Ok(Rate {
                    count,
                    per: Duration::from_secs(secs),
                }),
            }
        }
    };
    let checked = parsed.and_then(|rate| {
        if rate.interval_ns() < RateLimitConfig::MIN_INTERVAL_NS {
            Err(format!(
                "{text:?} is faster than the most a rule can count ({}/s)",
                1_000_000_000 / RateLimitConfig::MIN_INTERVAL_NS
            ))
        } else {
            Ok(rate)
        }
    });
    checked
        .map_err(|message| r.error(at(value), key, message))
        .ok()
}

fn limit_key(r: &mut Report<'_>, value: &Spanned<String>, key: &str) -> Option<RateLimitKey> {
    let text = value.get_ref().as_str();
    let problem = match text.split_once(':') {
        None if text == "client_ip" => return Some(RateLimitKey::ClientIp),
        None if text == "route" => return Some(RateLimitKey::Route),
        Some(("header", "")) => format!("{text:?} names no header"),
        Some(("header", name)) => match name.chars().find(|&c| !is_tchar(c)) {
            None => return Some(RateLimitKey::Header(name.to_ascii_lowercase())),
            Some(c) => format!("{text:?}: {c:?} is not allowed in a header name"),
        },
        _ => format!(
            "unknown key {text:?}; expected one of {}",
            quoted_list(KEY_FORMS)
        ),
    };
    r.error(at(value), key, problem);
    None
}

/// `backend`, and `[route.rate_limit.redis]` exactly when it is `"redis"`.
fn backend(r: &mut Report<'_>, raw: &RawRateLimit, base: &str) -> RateLimitBackend {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Local,
        Redis,
    }
    let key = format!("{base}.backend");
    let kind = choice(
        r,
        raw.backend.as_ref(),
        &key,
        Kind::Local,
        &[("local", Kind::Local), ("redis", Kind::Redis)],
    );
    let redis_key = format!("{base}.redis");
    match (kind, raw.redis.as_ref()) {
        (Kind::Redis, Some(table)) => {
            redis(r, table, &redis_key).map_or(RateLimitBackend::Local, RateLimitBackend::Redis)
        }
        (Kind::Redis, None) => {
            if !r.is_pruned(&redis_key) {
                let place = raw.backend.as_ref().map_or(0, at);
                r.error(
                    place,
                    key,
                    "backend = \"redis\" needs a [route.rate_limit.redis] table (address, …)",
                );
            }
            RateLimitBackend::Local
        }
        (Kind::Local, Some(table)) => {
            // Unless `backend` itself was a wrong word (reported already).
            let word_ok = raw.backend.as_ref().is_none_or(|w| w.get_ref() == "local");
            if word_ok {
                r.error(
                    at(table),
                    redis_key,
                    "only a rule with backend = \"redis\" has a redis table",
                );
            }
            RateLimitBackend::Local
        }
        (Kind::Local, None) => RateLimitBackend::Local,
    }
}

fn redis(r: &mut Report<'_>, table: &Spanned<RawRedis>, base: &str) -> Option<RedisConfig> {
    let table_at = at(table);
    let raw = table.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let address = required(r, raw.address.as_ref(), table_at, &key("address"))
        .and_then(|a| address(r, a, &key("address")));
    let key_prefix = raw.key_prefix.as_ref().map_or_else(
        || RedisConfig::DEFAULT_KEY_PREFIX.to_string(),
        |p| p.get_ref().clone(),
    );
    if key_prefix
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ')
    {
        if let Some(p) = raw.key_prefix.as_ref() {
            r.error(
                at(p),
                key("key_prefix"),
                "no spaces or control characters in a Redis key prefix",
            );
        }
    }
    let timeout = duration_within(
        r,
        raw.timeout.as_ref(),
        &key("timeout"),
        RedisConfig::DEFAULT_TIMEOUT,
        Duration::from_millis(1)..=Duration::from_secs(10),
    );
    let sync_interval = duration_within(
        r,
        raw.sync_interval.as_ref(),
        &key("sync_interval"),
        RedisConfig::DEFAULT_SYNC_INTERVAL,
        Duration::from_millis(10)..=Duration::from_secs(60),
    );
    Some(RedisConfig {
        address: address?,
        key_prefix,
        timeout,
        sync_interval,
    })
}
