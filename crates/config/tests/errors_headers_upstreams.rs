//! Invalid header edits and `[[upstream]]` tables: each must fail with a
//! diagnostic at the right `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use diagnostics::*;

// ---- headers ----------------------------------------------------------------

#[test]
fn header_names_must_be_tokens() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "request_headers = { set = { \"x env\" = \"prod\" }, remove = [\"bad:name\"] }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:29: route[0].request_headers.set.\"x env\": \"x env\" is not a valid header \
             name: ' ' is not allowed (RFC 9110 §5.1)",
            "t.toml:10:59: route[0].request_headers.remove[0]: \"bad:name\" is not a valid \
             header name: ':' is not allowed (RFC 9110 §5.1)",
        ]
    );
}

#[test]
fn header_values_may_not_contain_controls() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "response_headers = { add = { \"x-a\" = \"1\\r\\nSet-Cookie: evil\", \"x-b\" = \"\\u0007\" } }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:38: route[0].response_headers.add.x-a: header value contains CR, LF or \
             NUL (that would split the message)",
            "t.toml:10:71: route[0].response_headers.add.x-b: header value contains the \
             control character '\\u{7}'",
        ]
    );
    let src = with_base(&[
        "[[route]]",
        "respond = { status = 200, headers = { \"x\" = \" padded\" } }",
    ]);
    assert_error_like(
        &src,
        "t.toml:9:45: route[0].respond.headers.x: ",
        "leading or trailing",
    );
}

#[test]
fn request_edits_may_not_touch_hop_by_hop_or_framing_headers() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "request_headers = { set = { \"Transfer-Encoding\" = \"chunked\", host = \"a\" }, add = { \"host\" = \"b\", te = \"x\" } }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:29: route[0].request_headers.set.Transfer-Encoding: cannot set \
             `transfer-encoding`: hop-by-hop and framing headers are managed by the proxy",
            "t.toml:10:84: route[0].request_headers.add.host: cannot add `host`: a second Host \
             field makes the request invalid (RFC 9112 §3.2); use `set`",
            "t.toml:10:98: route[0].request_headers.add.te: cannot set `te`: hop-by-hop and \
             framing headers are managed by the proxy",
        ]
    );
}

#[test]
fn response_edits_may_not_touch_hop_by_hop_or_framing_headers() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "response_headers = { set = { connection = \"close\", host = \"fine\" }, remove = [\"Content-Length\"] }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:30: route[0].response_headers.set.connection: cannot set `connection`: \
             hop-by-hop and framing headers are managed by the proxy",
            "t.toml:10:79: route[0].response_headers.remove[0]: cannot remove \
             `content-length`: the proxy frames the message by it",
        ]
    );
}

#[test]
fn respond_headers_may_not_set_framing() {
    let src = with_base(&[
        "[[route]]",
        "respond = { status = 200, headers = { \"Content-Length\" = \"3\" } }",
    ]);
    assert_error(
        &src,
        "t.toml:9:39: route[0].respond.headers.Content-Length: cannot set `content-length` on a \
         static response: the gateway writes it from `body` and the connection",
    );
}

#[test]
fn set_twice_with_different_case() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "request_headers = { set = { \"X-Env\" = \"a\", \"x-env\" = \"b\" } }",
    ]);
    assert_error(
        &src,
        "t.toml:10:44: route[0].request_headers.set.x-env: header \"x-env\" is already set as \
         \"X-Env\" (names are case-insensitive)",
    );
}

// ---- upstreams --------------------------------------------------------------

#[test]
fn upstream_names_and_servers() {
    let src = doc(&[
        "[[listener]]",
        "name = \"l\"",
        "address = \"127.0.0.1:1\"",
        "[[upstream]]",
        "name = \"u\"",
        "servers = []",
        "[[upstream]]",
        "name = \"u\"",
        "servers = [\"10.0.0.1:80\", { address = \"10.0.0.1:80\", weight = 0 }, \"db\"]",
        "[[upstream]]",
        "name = \"v\"",
        "[[upstream]]",
        "name = \"w\"",
        "servers = [{ weight = 2 }, \"10.0.0.9:0\"]",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:6:11: upstream[0].servers: an upstream needs at least one server",
            "t.toml:8:8: upstream[1].name: duplicate upstream name \"u\" (also upstream[0])",
            "t.toml:9:39: upstream[1].servers[1].address: server 10.0.0.1:80 is listed twice \
             (also upstream[1].servers[0])",
            "t.toml:9:63: upstream[1].servers[1].weight: must be between 1 and 65535 (got 0)",
            "t.toml:9:68: upstream[1].servers[2]: \"db\" has no port; write an IP address or a \
             host name with a port, e.g. \"10.0.0.1:8080\", \"[::1]:8080\" or \"app.internal:8080\"",
            "t.toml:10:1: upstream[2].servers: required key is missing",
            "t.toml:14:12: upstream[3].servers[0].address: required key is missing",
            "t.toml:14:28: upstream[3].servers[1]: port 0 cannot be connected to",
        ]
    );
}

#[test]
fn pool_jitter_range() {
    let src = with_base(&["[upstream.pool]", "idle_timeout_jitter = 0.7"]);
    assert_error(
        &src,
        "t.toml:9:23: upstream[0].pool.idle_timeout_jitter: must be between 0.0 and 0.5 (got 0.7)",
    );
    let src = with_base(&["[upstream.pool]", "idle_timeout_jitter = nan"]);
    assert_error_like(
        &src,
        "t.toml:9:23: upstream[0].pool.idle_timeout_jitter: ",
        "got NaN",
    );
}

#[test]
fn round_robin_with_weights_is_allowed() {
    let src = doc(&[
        "[[listener]]",
        "name = \"l\"",
        "address = \"127.0.0.1:1\"",
        "[[upstream]]",
        "name = \"u\"",
        "lb = \"round_robin\"",
        "servers = [{ address = \"10.0.0.1:80\", weight = 5 }]",
    ]);
    assert_eq!(
        parse(&src, "t.toml").unwrap().upstreams[0].servers[0].weight,
        5
    );
}
