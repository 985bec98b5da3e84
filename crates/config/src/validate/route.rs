//! `[[route]]`: matching (listeners, hosts, path prefix), the action, header
//! edits, references to listeners and upstreams, and overlap between routes.

use std::collections::HashMap;

use serde_spanned::Spanned;

use super::headers::{respond_headers, rewrite, Side};
use super::host;
use super::retry;
use super::value::{at, int, name, quoted_list, required};
use crate::model::{ForwardedHeaders, RouteAction, RouteConfig, StaticResponse};
use crate::raw::{List, RawForwarded, RawRespond, RawRoute, Section};
use crate::report::Report;

/// Names defined elsewhere that routes refer to. `complete` is false when a
/// section had unreadable elements: an unknown name may then be defined there.
pub(crate) struct Known<'a> {
    pub listeners: &'a [String],
    pub listeners_complete: bool,
    pub upstreams: &'a [String],
    pub upstreams_complete: bool,
}

pub(crate) fn routes(
    r: &mut Report<'_>,
    section: &Section<RawRoute>,
    known: &Known<'_>,
) -> Vec<RouteConfig> {
    let mut configs = Vec::new();
    // Routes taking part in the overlap check: (index, offset, route).
    let mut out: Vec<(usize, usize, RouteConfig)> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, raw) in &section.items {
        let config = route(r, *i, raw, known);
        if let Some(first) = names.get(&config.name) {
            let name_at = raw.get_ref().name.as_ref().map_or(at(raw), at);
            r.error(
                name_at,
                format!("route[{i}].name"),
                format!(
                    "duplicate route name {:?} (also route[{first}])",
                    config.name
                ),
            );
        } else {
            names.insert(config.name.clone(), *i);
        }
        // A route whose matching keys were unreadable would be compared with
        // defaults in their place: no overlap report for it.
        let damaged = ["listeners", "hosts", "path_prefix"]
            .iter()
            .any(|field| r.is_pruned(&format!("route[{i}].{field}")));
        if !damaged {
            out.push((*i, at(raw), config.clone()));
        }
        configs.push(config);
    }
    overlaps(r, &out, known.listeners);
    configs
}

fn route(r: &mut Report<'_>, i: usize, raw: &Spanned<RawRoute>, known: &Known<'_>) -> RouteConfig {
    let table_at = at(raw);
    let raw = raw.get_ref();
    let base = format!("route[{i}]");
    let key = |field: &str| format!("{base}.{field}");

    let route_name = match raw.name.as_ref() {
        Some(v) => {
            name(r, v, &key("name"));
            v.get_ref().clone()
        }
        None => RouteConfig::default_name(i),
    };

    let listeners = listeners(r, raw.listeners.as_ref(), &key("listeners"), known);

    let mut hosts: Vec<String> = Vec::new();
    if let Some(list) = non_empty(r, raw.hosts.as_ref(), &key("hosts"), "match any host") {
        for (k, pattern) in list.iter().enumerate() {
            let host_key = format!("{base}.hosts[{k}]");
            match host::normalize(pattern.get_ref()) {
                Ok(h) if hosts.contains(&h) => {
                    r.error(at(pattern), host_key, format!("host {h:?} is listed twice"));
                }
                Ok(h) => hosts.push(h),
                Err(message) => r.error(at(pattern), host_key, message),
            }
        }
    }

    let path_prefix = match raw.path_prefix.as_ref() {
        Some(v) => {
            if let Err(message) = check_path_prefix(v.get_ref()) {
                r.error(at(v), key("path_prefix"), message);
            }
            v.get_ref().clone()
        }
        None => RouteConfig::DEFAULT_PATH_PREFIX.to_string(),
    };

    let action = action(r, raw, table_at, &base, known);
    let proxied = matches!(action, RouteAction::Proxy { .. });
    RouteConfig {
        name: route_name,
        listeners,
        hosts,
        path_prefix,
        action,
        request_headers: rewrite(
            r,
            raw.request_headers.as_ref(),
            &key("request_headers"),
            Side::Request,
        ),
        response_headers: rewrite(
            r,
            raw.response_headers.as_ref(),
            &key("response_headers"),
            Side::Response,
        ),
        forwarded: forwarded(raw.forwarded.as_ref().map(Spanned::get_ref)),
        access_log: raw.access_log.unwrap_or(RouteConfig::DEFAULT_ACCESS_LOG),
        retry: retry::retry(r, raw.retry.as_ref(), &key("retry"), proxied),
        timeouts: retry::route_timeouts(r, raw.timeouts.as_ref(), &key("timeouts"), proxied),
        rate_limits: super::rate_limit::rules(r, raw.rate_limit.as_ref(), &key("rate_limit")),
        max_in_flight: super::flow::max_in_flight(
            r,
            raw.max_in_flight.as_ref(),
            &key("max_in_flight"),
        ),
    }
}

fn action(
    r: &mut Report<'_>,
    raw: &RawRoute,
    table_at: usize,
    base: &str,
    known: &Known<'_>,
) -> RouteAction {
    let placeholder = || RouteAction::Proxy {
        upstream: String::new(),
    };
    match (raw.proxy.as_ref(), raw.respond.as_ref()) {
        (Some(proxy), Some(respond)) => {
            let (later_at, later) = if at(respond) > at(proxy) {
                (at(respond), "respond")
            } else {
                (at(proxy), "proxy")
            };
            r.error(
                later_at,
                format!("{base}.{later}"),
                "a route has either `proxy` or `respond`, not both",
            );
            placeholder()
        }
        (None, None)
            if r.is_pruned(&format!("{base}.proxy")) || r.is_pruned(&format!("{base}.respond")) =>
        {
            placeholder()
        }
        (None, None) => {
            r.error(
                table_at,
                base,
                "missing `proxy` or `respond`: a route must forward to an upstream or answer itself",
            );
            placeholder()
        }
        (Some(proxy), None) => {
            let upstream = proxy.get_ref();
            if known.upstreams_complete && !known.upstreams.contains(upstream) {
                let known_list = if known.upstreams.is_empty() {
                    "no [[upstream]] is defined".to_string()
                } else {
                    format!(
                        "known upstreams: {}",
                        quoted_list(known.upstreams.iter().map(String::as_str))
                    )
                };
                r.error(
                    at(proxy),
                    format!("{base}.proxy"),
                    format!("unknown upstream {upstream:?}; {known_list}"),
                );
            }
            RouteAction::Proxy {
                upstream: upstream.clone(),
            }
        }
        (None, Some(respond)) => {
            RouteAction::Respond(static_response(r, respond, &format!("{base}.respond")))
        }
    }
}

fn static_response(r: &mut Report<'_>, raw: &Spanned<RawRespond>, base: &str) -> StaticResponse {
    let table_at = at(raw);
    let raw = raw.get_ref();
    let status_key = format!("{base}.status");
    let status = required(r, raw.status.as_ref(), table_at, &status_key)
        .map_or(200, |v| int(r, Some(v), &status_key, 200, 200..=599));
    let body = raw
        .body
        .as_ref()
        .map(|b| b.get_ref().clone())
        .unwrap_or_default();
    // RFC 9110 §15.3.5 and §15.4.5: these responses end after the head.
    if matches!(status, 204 | 304) && !body.is_empty() {
        if let Some(b) = raw.body.as_ref() {
            r.error(
                at(b),
                format!("{base}.body"),
                format!("a {status} response cannot have a body"),
            );
        }
    }
    StaticResponse {
        status,
        headers: respond_headers(r, raw.headers.as_ref(), &format!("{base}.headers")),
        body,
    }
}

fn forwarded(raw: Option<&RawForwarded>) -> ForwardedHeaders {
    let d = ForwardedHeaders::default();
    let Some(raw) = raw else {
        return d;
    };
    ForwardedHeaders {
        x_forwarded_for: raw.x_forwarded_for.unwrap_or(d.x_forwarded_for),
        x_forwarded_proto: raw.x_forwarded_proto.unwrap_or(d.x_forwarded_proto),
        forwarded: raw.forwarded.unwrap_or(d.forwarded),
        via: raw.via.unwrap_or(d.via),
    }
}

/// `listeners`: non-empty when written, each name once, each defined.
fn listeners(
    r: &mut Report<'_>,
    raw: Option<&Spanned<List<String>>>,
    key: &str,
    known: &Known<'_>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let list = non_empty(r, raw, key, "apply the route to every listener").unwrap_or(&[]);
    for (k, v) in list.iter().enumerate() {
        let name = v.get_ref();
        if out.contains(name) {
            r.error(
                at(v),
                format!("{key}[{k}]"),
                format!("{name:?} is listed twice"),
            );
            continue;
        }
        if known.listeners_complete && !known.listeners.contains(name) {
            r.error(
                at(v),
                format!("{key}[{k}]"),
                format!(
                    "unknown listener {name:?}; known listeners: {}",
                    quoted_list(known.listeners.iter().map(String::as_str))
                ),
            );
        }
        out.push(name.clone());
    }
    out
}

/// An explicitly empty list is almost certainly a mistake: the default (key
/// left out) already means "all".
fn non_empty<'v>(
    r: &mut Report<'_>,
    raw: Option<&'v Spanned<List<String>>>,
    key: &str,
    meaning: &str,
) -> Option<&'v [Spanned<String>]> {
    let list = raw?;
    if list.get_ref().0.is_empty() {
        r.error(
            at(list),
            key,
            format!("empty list; leave the key out to {meaning}"),
        );
        return None;
    }
    Some(&list.get_ref().0)
}

/// The prefix is compared with the raw request path, which on the wire is
/// visible ASCII without a query or fragment.
fn check_path_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("{prefix:?} must start with \"/\""));
    }
    if let Some(c) = prefix.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{prefix:?} contains whitespace or a control character ({c:?})"
        ));
    }
    if !prefix.is_ascii() {
        return Err(format!(
            "{prefix:?} is not ASCII; percent-encode it as it appears in requests"
        ));
    }
    if prefix.contains(['?', '#']) {
        return Err(format!(
            "{prefix:?}: the prefix matches the path only, without `?` query or `#` fragment"
        ));
    }
    Ok(())
}

/// Two routes on a shared listener with an identical host pattern and path
/// prefix: the later one could never be chosen.
fn overlaps(r: &mut Report<'_>, routes: &[(usize, usize, RouteConfig)], all_listeners: &[String]) {
    for (j, (later_i, later_at, later)) in routes.iter().enumerate() {
        let earlier = routes.iter().take(j).find(|(_, _, earlier)| {
            earlier.path_prefix == later.path_prefix
                && share_listener(earlier, later, all_listeners)
                && share_host(earlier, later)
        });
        if let Some((first_i, _, first)) = earlier {
            r.error(
                *later_at,
                format!("route[{later_i}]"),
                format!(
                    "same hosts and path_prefix as route[{first_i}] ({:?})",
                    first.name
                ),
            );
        }
    }
}

fn share_listener(a: &RouteConfig, b: &RouteConfig, all: &[String]) -> bool {
    let resolve = |route: &RouteConfig| -> Vec<String> {
        if route.listeners.is_empty() {
            all.to_vec()
        } else {
            route.listeners.clone()
        }
    };
    let (a, b) = (resolve(a), resolve(b));
    a.iter().any(|name| b.contains(name))
}

/// An empty list is the "any host" pattern, identical only to itself.
fn share_host(a: &RouteConfig, b: &RouteConfig) -> bool {
    match (a.hosts.is_empty(), b.hosts.is_empty()) {
        (true, true) => true,
        (false, false) => a.hosts.iter().any(|h| b.hosts.contains(h)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefix_rules() {
        assert!(check_path_prefix("/").is_ok());
        assert!(check_path_prefix("/api/v1/").is_ok());
        assert!(check_path_prefix("/%7Euser").is_ok());
        for (input, needle) in [
            ("api", "must start with"),
            ("", "must start with"),
            ("/a b", "whitespace"),
            ("/a\tb", "whitespace"),
            ("/a\u{1}", "control"),
            ("/é", "not ASCII"),
            ("/a?b", "query"),
            ("/a#b", "fragment"),
        ] {
            let err = check_path_prefix(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }
}
