//! `lb` and `hash_key` of an `[[upstream]]`: the policy words, and the key
//! that `consistent_hash` needs (and no other policy takes).

use serde_spanned::Spanned;

use super::headers::is_tchar;
use super::value::{at, quoted_list};
use crate::model::{HashKey, LbPolicy};
use crate::report::Report;

pub(crate) const POLICIES: [(&str, LbPolicy); 6] = [
    ("round_robin", LbPolicy::RoundRobin),
    ("weighted_round_robin", LbPolicy::WeightedRoundRobin),
    ("least_request", LbPolicy::LeastRequest),
    ("p2c", LbPolicy::P2c),
    ("random", LbPolicy::Random),
    ("consistent_hash", LbPolicy::ConsistentHash),
];

const KEY_FORMS: [&str; 4] = ["client_ip", "path", "header:NAME", "cookie:NAME"];

/// `hash_key` for a policy `lb` (written as `raw_lb`): required with
/// `consistent_hash`, refused with any other policy. An unknown `lb` word
/// was reported already, so only the key's own form is checked then.
pub(crate) fn hash_key(
    r: &mut Report<'_>,
    raw_lb: Option<&Spanned<String>>,
    lb: LbPolicy,
    raw: Option<&Spanned<String>>,
    key: &str,
) -> Option<HashKey> {
    let lb_known = raw_lb.is_none_or(|w| POLICIES.iter().any(|(n, _)| n == w.get_ref()));
    match (lb, raw, raw_lb) {
        (LbPolicy::ConsistentHash, Some(v), _) => parse(r, v, key),
        // Absent, unless it was removed after a type error (reported).
        (LbPolicy::ConsistentHash, None, Some(word)) if !r.is_pruned(key) => {
            r.error(
                at(word),
                key,
                format!(
                    "required with lb = \"consistent_hash\": one of {}",
                    quoted_list(KEY_FORMS)
                ),
            );
            None
        }
        (other, Some(v), _) if lb_known => {
            let word = POLICIES
                .iter()
                .find(|(_, p)| *p == other)
                .map_or("", |(n, _)| n);
            r.error(
                at(v),
                key,
                format!(
                    "only lb = \"consistent_hash\" uses a hash key (this upstream's lb is {word:?})"
                ),
            );
            None
        }
        // The `lb` word itself is wrong (reported): check the key's form.
        (_, Some(v), _) => parse(r, v, key).and(None),
        _ => None,
    }
}

fn parse(r: &mut Report<'_>, value: &Spanned<String>, key: &str) -> Option<HashKey> {
    let text = value.get_ref().as_str();
    let (kind, name) = match text.split_once(':') {
        Some((kind, name)) => (kind, Some(name)),
        None => (text, None),
    };
    let key_of = |name: &str| match kind {
        "header" => Some(HashKey::Header(name.to_ascii_lowercase())),
        "cookie" => Some(HashKey::Cookie(name.to_string())),
        _ => None,
    };
    let problem = match (kind, name) {
        ("client_ip", None) => return Some(HashKey::ClientIp),
        ("path", None) => return Some(HashKey::Path),
        ("header" | "cookie", Some("")) => format!("{text:?} names no {kind}"),
        ("header" | "cookie", Some(name)) => match name.chars().find(|&c| !is_tchar(c)) {
            // Header and cookie names are both RFC 9110 tokens (RFC 6265 §4.1.1).
            None => return key_of(name),
            Some(c) => format!("{text:?}: {c:?} is not allowed in a {kind} name"),
        },
        _ => format!(
            "unknown hash key {text:?}; expected one of {}",
            quoted_list(KEY_FORMS)
        ),
    };
    r.error(at(value), key, problem);
    None
}
