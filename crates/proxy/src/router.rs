//! Request → route, built once per config generation.
//!
//! # Precedence
//! Among the routes attached to the request's listener (a route with no
//! `listeners` is attached to all):
//! 1. host class: a route naming the exact host beats one whose wildcard matches,
//!    a longer wildcard suffix beats a shorter one (`*.a.example.com` over
//!    `*.example.com`), and any host-specific route beats a catch-all (no `hosts`);
//! 2. within one host class, the longest matching `path_prefix` wins;
//! 3. remaining ties go to the route listed first.
//!
//! A class only wins if one of its routes' prefixes matches: a request for
//! `example.com/x` whose exact-host routes all want `/api` falls through to the
//! wildcards, then to the catch-alls. `*.example.com` matches `a.example.com` and
//! `a.b.example.com` but not `example.com`. Hosts compare ASCII case-insensitively,
//! ignoring the port and one trailing dot; IPv6 literals match without brackets.
//! The path prefix is a raw byte prefix of the target as received (no decoding,
//! no normalization), which is what the config documents.
//!
//! # Cost
//! Exact hosts and wildcard suffixes sit in sorted vectors searched with a
//! case-insensitive comparison (no lower-cased copy of the request host); each
//! bucket's routes are pre-sorted by precedence, so the first prefix that matches
//! is the answer. A lookup is O(log hosts × labels + routes in the bucket) and
//! never allocates.

mod host;

use std::cmp::Reverse;
use std::collections::BTreeMap;

use shardgate_config::{Config, RouteConfig};

#[derive(Debug, Clone)]
struct Entry {
    prefix: Box<[u8]>,
    route: usize,
}

/// Host key (lower case) → routes in precedence order.
type Buckets = Vec<(Box<[u8]>, Vec<Entry>)>;

#[derive(Debug, Clone, Default)]
struct Table {
    exact: Buckets,
    /// Keyed by the suffix after `*.`.
    wildcard: Buckets,
    /// Routes without hosts.
    any: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct Router {
    /// Indexed like `cfg.listeners`.
    tables: Vec<Table>,
}

impl Router {
    pub fn new(cfg: &Config) -> Router {
        let tables =
            cfg.listeners
                .iter()
                .map(|l| {
                    let attached =
                        cfg.routes.iter().enumerate().filter(|(_, r)| {
                            r.listeners.is_empty() || r.listeners.contains(&l.name)
                        });
                    build_table(attached)
                })
                .collect();
        Router { tables }
    }

    /// The index into `cfg.routes` for a request on `cfg.listeners[listener]` with
    /// Host field value `host` (`None` if absent) and request target `path`.
    pub fn lookup(&self, listener: usize, host: Option<&str>, path: &str) -> Option<usize> {
        let table = self.tables.get(listener)?;
        let path = path.as_bytes();
        if let Some(h) = host.and_then(host::normalize) {
            let h = h.as_bytes();
            if let Some(r) = find(&table.exact, h).and_then(|e| first_match(e, path)) {
                return Some(r);
            }
            if !table.wildcard.is_empty() {
                // Left to right over the dots = longest suffix first; the dot must
                // follow at least one character so `.example.com` is not a subdomain.
                for (i, _) in h.iter().enumerate().skip(1).filter(|(_, &b)| b == b'.') {
                    let suffix = h.get(i + 1..).unwrap_or_default();
                    if let Some(r) =
                        find(&table.wildcard, suffix).and_then(|e| first_match(e, path))
                    {
                        return Some(r);
                    }
                }
            }
        }
        first_match(&table.any, path)
    }
}

fn find<'t>(buckets: &'t Buckets, host: &[u8]) -> Option<&'t [Entry]> {
    let i = buckets
        .binary_search_by(|(key, _)| host::cmp_key(key, host))
        .ok()?;
    buckets.get(i).map(|(_, e)| e.as_slice())
}

fn first_match(entries: &[Entry], path: &[u8]) -> Option<usize> {
    entries
        .iter()
        .find(|e| path.starts_with(&e.prefix))
        .map(|e| e.route)
}

fn build_table<'a>(routes: impl Iterator<Item = (usize, &'a RouteConfig)>) -> Table {
    let mut exact: BTreeMap<Vec<u8>, Vec<Entry>> = BTreeMap::new();
    let mut wildcard: BTreeMap<Vec<u8>, Vec<Entry>> = BTreeMap::new();
    let mut any = Vec::new();
    for (index, route) in routes {
        let entry = Entry {
            prefix: route.path_prefix.as_bytes().into(),
            route: index,
        };
        if route.hosts.is_empty() {
            any.push(entry);
            continue;
        }
        for pattern in &route.hosts {
            let pattern = host::normalize_pattern(pattern);
            let (map, key) = match pattern.strip_prefix("*.") {
                Some(suffix) => (&mut wildcard, suffix),
                None => (&mut exact, pattern.as_str()),
            };
            // An empty key could never match a normalized host.
            if key.is_empty() {
                continue;
            }
            let bucket = map.entry(key.as_bytes().to_vec()).or_default();
            // A route listing the same host twice needs one entry.
            if !bucket.iter().any(|e| e.route == index) {
                bucket.push(entry.clone());
            }
        }
    }
    Table {
        exact: finish(exact),
        wildcard: finish(wildcard),
        any: sorted(any),
    }
}

/// BTreeMap iteration is in byte order, which is what `find`'s binary search needs.
fn finish(map: BTreeMap<Vec<u8>, Vec<Entry>>) -> Buckets {
    map.into_iter()
        .map(|(k, v)| (k.into_boxed_slice(), sorted(v)))
        .collect()
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_key(|e| (Reverse(e.prefix.len()), e.route));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{config, route};

    fn router(routes: Vec<RouteConfig>) -> Router {
        Router::new(&config(&["main"], routes))
    }

    #[test]
    fn exact_beats_wildcard_beats_catch_all() {
        let r = router(vec![
            route(&[], "/"),
            route(&["*.example.com"], "/"),
            route(&["a.example.com"], "/"),
        ]);
        assert_eq!(r.lookup(0, Some("a.example.com"), "/x"), Some(2));
        assert_eq!(r.lookup(0, Some("b.example.com"), "/x"), Some(1));
        assert_eq!(r.lookup(0, Some("other.org"), "/x"), Some(0));
        assert_eq!(r.lookup(0, None, "/x"), Some(0));
    }

    #[test]
    fn host_class_beats_longer_path() {
        let r = router(vec![
            route(&[], "/api/v1/long"),
            route(&["*.example.com"], "/api/v1"),
            route(&["a.example.com"], "/"),
        ]);
        assert_eq!(
            r.lookup(0, Some("a.example.com"), "/api/v1/long/x"),
            Some(2)
        );
        assert_eq!(
            r.lookup(0, Some("b.example.com"), "/api/v1/long/x"),
            Some(1)
        );
    }

    #[test]
    fn longest_wildcard_suffix_wins() {
        let r = router(vec![
            route(&["*.example.com"], "/"),
            route(&["*.b.example.com"], "/"),
        ]);
        assert_eq!(r.lookup(0, Some("a.b.example.com"), "/"), Some(1));
        assert_eq!(r.lookup(0, Some("x.a.b.example.com"), "/"), Some(1));
        assert_eq!(r.lookup(0, Some("a.c.example.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("b.example.com"), "/"), Some(0));
    }

    #[test]
    fn wildcard_needs_a_label() {
        let r = router(vec![route(&["*.example.com"], "/")]);
        assert_eq!(r.lookup(0, Some("a.example.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("a.b.example.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("example.com"), "/"), None);
        assert_eq!(r.lookup(0, Some(".example.com"), "/"), None);
        assert_eq!(r.lookup(0, Some("aexample.com"), "/"), None);
        assert_eq!(r.lookup(0, Some("example.com.evil"), "/"), None);
    }

    #[test]
    fn longest_prefix_within_class_then_earlier_route() {
        let r = router(vec![
            route(&["example.com"], "/"),
            route(&["example.com"], "/api"),
            route(&["example.com"], "/api/v2"),
            route(&["example.com"], "/api"),
        ]);
        assert_eq!(r.lookup(0, Some("example.com"), "/api/v2/x"), Some(2));
        assert_eq!(r.lookup(0, Some("example.com"), "/api/v1"), Some(1));
        assert_eq!(r.lookup(0, Some("example.com"), "/apix"), Some(1));
        assert_eq!(r.lookup(0, Some("example.com"), "/other"), Some(0));

        let r = router(vec![route(&[], "/"), route(&[], "/"), route(&[], "/a")]);
        assert_eq!(r.lookup(0, None, "/b"), Some(0));
        assert_eq!(r.lookup(0, None, "/a"), Some(2));
    }

    #[test]
    fn falls_through_when_class_prefix_does_not_match() {
        let r = router(vec![
            route(&["example.com"], "/api"),
            route(&["*.com"], "/static"),
            route(&[], "/"),
        ]);
        assert_eq!(r.lookup(0, Some("example.com"), "/api/x"), Some(0));
        assert_eq!(r.lookup(0, Some("example.com"), "/static/x"), Some(1));
        assert_eq!(r.lookup(0, Some("example.com"), "/other"), Some(2));
        // Nothing matches at all.
        let r = router(vec![route(&["example.com"], "/api")]);
        assert_eq!(r.lookup(0, Some("example.com"), "/"), None);
        assert_eq!(r.lookup(0, None, "/api"), None);
    }

    #[test]
    fn wildcard_falls_through_to_shorter_suffix() {
        let r = router(vec![
            route(&["*.b.example.com"], "/only"),
            route(&["*.example.com"], "/"),
        ]);
        assert_eq!(r.lookup(0, Some("a.b.example.com"), "/only"), Some(0));
        assert_eq!(r.lookup(0, Some("a.b.example.com"), "/x"), Some(1));
    }

    #[test]
    fn host_forms_are_normalized() {
        let r = router(vec![
            route(&["example.com"], "/"),
            route(&["*.example.net"], "/"),
            route(&["[::1]"], "/"),
            route(&["127.0.0.1"], "/"),
        ]);
        for h in [
            "example.com",
            "EXAMPLE.COM",
            "Example.Com:8080",
            "example.com.",
            "example.com.:80",
        ] {
            assert_eq!(r.lookup(0, Some(h), "/"), Some(0), "{h}");
        }
        assert_eq!(r.lookup(0, Some("WWW.Example.NET:443"), "/"), Some(1));
        assert_eq!(r.lookup(0, Some("www.example.net."), "/"), Some(1));
        assert_eq!(r.lookup(0, Some("[::1]:8080"), "/"), Some(2));
        assert_eq!(r.lookup(0, Some("[::1]"), "/"), Some(2));
        assert_eq!(r.lookup(0, Some("127.0.0.1:80"), "/"), Some(3));
        assert_eq!(r.lookup(0, Some("example.co"), "/"), None);
        assert_eq!(r.lookup(0, Some("example.comm"), "/"), None);
        assert_eq!(r.lookup(0, Some(""), "/"), None);
    }

    #[test]
    fn patterns_are_normalized_too() {
        let r = router(vec![
            route(&["Example.COM."], "/"),
            route(&["*.Foo.Org"], "/"),
        ]);
        assert_eq!(r.lookup(0, Some("example.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("a.foo.org"), "/"), Some(1));
    }

    #[test]
    fn route_with_several_hosts() {
        let r = router(vec![
            route(&["a.com", "b.com", "*.c.com", "a.com"], "/"),
            route(&["b.com"], "/b"),
        ]);
        assert_eq!(r.lookup(0, Some("a.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("b.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("b.com"), "/b"), Some(1));
        assert_eq!(r.lookup(0, Some("x.c.com"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some("c.com"), "/"), None);
    }

    #[test]
    fn many_exact_hosts_binary_search() {
        let hosts: Vec<String> = (0..200).map(|i| format!("h{i:03}.example")).collect();
        let routes = hosts.iter().map(|h| route(&[h.as_str()], "/")).collect();
        let r = router(routes);
        for (i, h) in hosts.iter().enumerate() {
            assert_eq!(r.lookup(0, Some(h), "/"), Some(i));
            assert_eq!(r.lookup(0, Some(&h.to_uppercase()), "/"), Some(i));
        }
        assert_eq!(r.lookup(0, Some("h200.example"), "/"), None);
    }

    #[test]
    fn path_prefix_is_raw_bytes_on_the_target() {
        let r = router(vec![route(&[], "/api"), route(&[], "/%41")]);
        assert_eq!(r.lookup(0, None, "/api?x=1"), Some(0));
        assert_eq!(r.lookup(0, None, "/API"), None);
        assert_eq!(r.lookup(0, None, "/%41"), Some(1));
        assert_eq!(r.lookup(0, None, "/A"), None);
        assert_eq!(r.lookup(0, None, ""), None);
    }

    #[test]
    fn routes_attach_to_named_listeners() {
        let mut internal = route(&[], "/");
        internal.listeners = vec!["internal".into()];
        let mut both = route(&[], "/both");
        both.listeners = vec!["public".into(), "internal".into()];
        let all = route(&["x.com"], "/");
        let cfg = config(&["public", "internal"], vec![internal, both, all]);
        let r = Router::new(&cfg);
        assert_eq!(r.lookup(0, None, "/"), None);
        assert_eq!(r.lookup(1, None, "/"), Some(0));
        assert_eq!(r.lookup(0, None, "/both"), Some(1));
        assert_eq!(r.lookup(1, None, "/both"), Some(1));
        assert_eq!(r.lookup(0, Some("x.com"), "/"), Some(2));
        assert_eq!(r.lookup(1, Some("x.com"), "/"), Some(2));
        // Unknown listener index: no route, no panic.
        assert_eq!(r.lookup(2, None, "/"), None);
        assert_eq!(r.lookup(usize::MAX, Some("x.com"), "/"), None);
    }

    #[test]
    fn hostile_host_values_do_not_panic() {
        let r = router(vec![route(&["*.a"], "/"), route(&[], "/")]);
        for h in [
            "[", "]", "[]", "[:", "...", "a..a", ".a", "a.", "..a", "é.a", ":", "[::1]x",
        ] {
            let got = r.lookup(0, Some(h), "/");
            assert!(got.is_some(), "{h}");
        }
        assert_eq!(r.lookup(0, Some("é.a"), "/"), Some(0));
        assert_eq!(r.lookup(0, Some(".a"), "/"), Some(1));
    }
}
