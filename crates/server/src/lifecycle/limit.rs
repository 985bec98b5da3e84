//! Rate limits, right after route (they are per route): every rule of the
//! route must admit the request. A refusal is recorded in the context (the
//! log phase counts it in `shardgate_requests_shed_total{reason =
//! "rate_limited"}` and the access log shows `rate_limited`) and becomes a
//! [`Decision::Limited`] the front end answers with the 429.
//!
//! One clock read per request on a limited route (none on other routes; the
//! request's start time will not do: on a kept-alive connection it can lie
//! long before the head arrived, and shards sharing a bucket must agree on
//! the time), no allocation: a hash of the key and one CAS per rule.

use std::time::{Duration, Instant};

use shardgate_config::RateLimitKey;
use shardgate_proxy::{key_hash, key_hash_ip, Error, ErrorKind, Shed, Verdict};

use super::route::Refusal;
use super::{Decision, RequestCtx, RequestView};
use crate::ctx::ShardSnap;

/// Passes `decision` through when every rule admits the request.
pub fn check<'s>(
    shard: usize,
    snap: &'s ShardSnap,
    rq: &mut RequestCtx,
    view: &RequestView<'_>,
    decision: Decision<'s>,
) -> Decision<'s> {
    let Some(idx) = rq.route else {
        return decision;
    };
    let rules = snap.snap.rate_limits.route(idx);
    if rules.is_empty() {
        return decision;
    }
    let route = decision.route();
    let now = Instant::now();
    for (i, (cfg, rule)) in route.rate_limits.iter().zip(rules).enumerate() {
        let key = match &cfg.key {
            RateLimitKey::ClientIp => key_hash_ip(rq.client.ip()),
            RateLimitKey::Route => 0,
            // No such header: this rule does not apply (nginx's empty key).
            RateLimitKey::Header(name) => {
                match view.headers.find_map(name, |v| Some(key_hash(v))) {
                    Some(k) => k,
                    None => continue,
                }
            }
        };
        let Some(table) = rule.table(shard) else {
            continue;
        };
        if let Verdict::Limited { retry_after } = table.check(key, now) {
            rq.fail(Error::new(ErrorKind::Shed {
                reason: Shed::RateLimit,
                status: cfg.status,
            }));
            // Nothing goes upstream.
            rq.upstream = None;
            return Decision::Limited(
                route,
                Refusal {
                    rule: i,
                    retry_after: whole_seconds(retry_after),
                },
            );
        }
    }
    decision
}

/// Rounded up, at least 1 (`Retry-After: 0` would invite an immediate retry
/// that is still refused).
fn whole_seconds(d: Duration) -> u64 {
    let up = u64::from(d.subsec_nanos() > 0);
    (d.as_secs() + up).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3600)), 3600);
    }
}
