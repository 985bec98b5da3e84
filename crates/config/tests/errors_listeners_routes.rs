//! Invalid `[[listener]]`, `[admin]` and `[[route]]` tables: each must fail
//! with a diagnostic at the right `file:line:col: key:`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use diagnostics::*;

// ---- listeners and admin ----------------------------------------------------

#[test]
fn at_least_one_listener() {
    assert_error(
        "",
        "t.toml:1:1: listener: at least one [[listener]] is required",
    );
    // Inside [server] it is an unknown key, and there is still no listener.
    assert_eq!(
        errors("[server]\nlistener = []\n"),
        [
            "t.toml:1:1: listener: at least one [[listener]] is required",
            "t.toml:2:1: server.listener: unknown key `listener`, expected one of `shards`, \
             `driver`, `steering`, `max_connections_per_shard`, `buffer_size`, `splice`, \
             `normalize_path`, `merge_slashes`, `pid_file`, `timeouts`, `limits`",
        ]
    );
    assert_error(
        "\nlistener = []\n",
        "t.toml:2:1: listener: at least one [[listener]] is required",
    );
}

#[test]
fn listener_name_is_required_valid_and_unique() {
    let src = doc(&[
        "[[listener]]",
        "address = \"127.0.0.1:1\"",
        "[[listener]]",
        "name = \"my listener\"",
        "address = \"127.0.0.1:2\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:3\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:4\"",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:1:1: listener[0].name: required key is missing",
            "t.toml:4:8: listener[1].name: invalid name \"my listener\": use only letters, \
             digits, `_` and `-`",
            "t.toml:10:8: listener[3].name: duplicate listener name \"b\" (also listener[2])",
        ]
    );
}

#[test]
fn listener_addresses_are_ip_literals_and_unique() {
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"localhost:8080\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"[::1]:8080\"",
        "[[listener]]",
        "name = \"c\"",
        "address = \"[::1]:8080\"",
        "[[listener]]",
        "name = \"d\"",
        "address = \"127.0.0.1\"",
        "[[listener]]",
        "name = \"e\"",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:3:11: listener[0].address: \"localhost:8080\" is not an IP address with a \
             port; write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)",
            "t.toml:9:11: listener[2].address: address [::1]:8080 is already used by \
             listener[1] (\"b\")",
            "t.toml:12:11: listener[3].address: \"127.0.0.1\" is not an IP address with a port; \
             write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)",
            "t.toml:13:1: listener[4].address: required key is missing",
        ]
    );
}

#[test]
fn port_zero_listeners_never_clash() {
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:0\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:0\"",
    ]);
    assert_eq!(parse(&src, "t.toml").unwrap().listeners.len(), 2);
}

#[test]
fn admin_address_must_differ_from_listeners() {
    let src = with_base(&["[admin]", "address = \"127.0.0.1:8080\""]);
    assert_error(
        &src,
        "t.toml:9:11: admin.address: address 127.0.0.1:8080 is already used by listener[0] \
         (\"public\")",
    );
    let src = doc(&[
        "[admin]",
        "",
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:9901\"",
    ]);
    assert_error(
        &src,
        "t.toml:1:1: admin.address: address 127.0.0.1:9901 is already used by listener[0] (\"a\")",
    );
}

// ---- routes -------------------------------------------------------------

#[test]
fn route_references_unknown_listener_or_upstream() {
    let src = doc(&[
        "[[listener]]",
        "name = \"public\"",
        "address = \"127.0.0.1:1\"",
        "[[listener]]",
        "name = \"internal\"",
        "address = \"127.0.0.1:2\"",
        "[[upstream]]",
        "name = \"a\"",
        "servers = [\"127.0.0.1:3\"]",
        "[[upstream]]",
        "name = \"b\"",
        "servers = [\"127.0.0.1:4\"]",
        "[[route]]",
        "listeners = [\"public\", \"pubilc\"]",
        "proxy = \"c\"",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:14:24: route[0].listeners[1]: unknown listener \"pubilc\"; known listeners: \
             \"public\", \"internal\"",
            "t.toml:15:9: route[0].proxy: unknown upstream \"c\"; known upstreams: \"a\", \"b\"",
        ]
    );
    let src = doc(&[
        "[[listener]]",
        "name = \"public\"",
        "address = \"127.0.0.1:1\"",
        "[[route]]",
        "proxy = \"x\"",
    ]);
    assert_error(
        &src,
        "t.toml:5:9: route[0].proxy: unknown upstream \"x\"; no [[upstream]] is defined",
    );
}

#[test]
fn unreadable_listener_does_not_cascade_into_unknown_references() {
    let src = doc(&[
        "[[listener]]",
        "name = 7",
        "address = \"127.0.0.1:1\"",
        "[[route]]",
        "listeners = [\"public\"]",
        "respond = { status = 200 }",
    ]);
    assert_error(
        &src,
        "t.toml:2:8: listener[0].name: invalid type: integer `7`, expected a string",
    );
}

#[test]
fn route_listener_list_rules() {
    let src = with_base(&["[[route]]", "proxy = \"backend\"", "listeners = []"]);
    assert_error(
        &src,
        "t.toml:10:13: route[0].listeners: empty list; leave the key out to apply the route to \
         every listener",
    );
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "listeners = [\"public\", \"public\"]",
    ]);
    assert_error(
        &src,
        "t.toml:10:24: route[0].listeners[1]: \"public\" is listed twice",
    );
}

#[test]
fn a_wrongly_typed_key_does_not_cascade() {
    // `proxy` is dropped after its type error; "missing proxy or respond" would
    // only repeat it.
    let src = with_base(&["[[route]]", "proxy = 5"]);
    assert_error(
        &src,
        "t.toml:9:9: route[0].proxy: invalid type: integer `5`, expected a string",
    );
    // An unknown key in a listener leaves its name readable: references to
    // names that really are undefined are still reported.
    let src = with_base(&[
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:2\"",
        "typo = 1",
        "[[route]]",
        "listeners = [\"c\"]",
        "proxy = \"backend\"",
    ]);
    let all = errors(&src);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all[0].starts_with("t.toml:11:1: listener[1].typo: unknown key `typo`"));
    assert_eq!(
        all[1],
        "t.toml:13:14: route[0].listeners[0]: unknown listener \"c\"; known listeners: \
         \"public\", \"b\""
    );
}

#[test]
fn route_needs_exactly_one_of_proxy_and_respond() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "respond = { status = 200 }",
        "[[route]]",
        "path_prefix = \"/x\"",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:10:11: route[0].respond: a route has either `proxy` or `respond`, not both",
            "t.toml:11:1: route[1]: missing `proxy` or `respond`: a route must forward to an \
             upstream or answer itself",
        ]
    );
}

#[test]
fn respond_status_and_body() {
    let src = with_base(&["[[route]]", "respond = { status = 600 }"]);
    assert_error(
        &src,
        "t.toml:9:22: route[0].respond.status: must be between 200 and 599 (got 600)",
    );
    let src = with_base(&["[[route]]", "respond = { body = \"hi\" }"]);
    assert_error(
        &src,
        "t.toml:9:11: route[0].respond.status: required key is missing",
    );
    let src = with_base(&["[[route]]", "respond = { status = 204, body = \"x\" }"]);
    assert_error(
        &src,
        "t.toml:9:34: route[0].respond.body: a 204 response cannot have a body",
    );
}

#[test]
fn host_patterns() {
    let cases = [
        (
            "\"*.*.example.com\"",
            "`*` is only allowed as a whole leading label",
        ),
        (
            "\"api.*.com\"",
            "`*` is only allowed as a whole leading label",
        ),
        ("\"a..example.com\"", "empty label"),
        ("\"example.com:443\"", "has no port"),
        ("\"exa_mple!.com\"", "invalid character '!'"),
        ("\"*\"", "leave out `hosts` to match any host"),
    ];
    for (pattern, needle) in cases {
        let src = with_base(&[
            "[[route]]",
            "proxy = \"backend\"",
            &format!("hosts = [\"ok.example.com\", {pattern}]"),
        ]);
        assert_error_like(&src, "t.toml:10:28: route[0].hosts[1]: ", needle);
    }
    let src = with_base(&["[[route]]", "proxy = \"backend\"", "hosts = []"]);
    assert_error(
        &src,
        "t.toml:10:9: route[0].hosts: empty list; leave the key out to match any host",
    );
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "hosts = [\"Example.com\", \"example.com.\"]",
    ]);
    assert_error(
        &src,
        "t.toml:10:25: route[0].hosts[1]: host \"example.com\" is listed twice",
    );
}

#[test]
fn path_prefix_rules() {
    for (prefix, needle) in [
        ("api", "must start with \"/\""),
        ("/a b", "whitespace or a control character"),
        ("/a\\u0000", "whitespace or a control character"),
        ("/search?q=", "without `?` query"),
    ] {
        let src = with_base(&[
            "[[route]]",
            "proxy = \"backend\"",
            &format!("path_prefix = \"{prefix}\""),
        ]);
        assert_error_like(&src, "t.toml:10:15: route[0].path_prefix: ", needle);
    }
}

#[test]
fn overlapping_routes_are_reported_on_the_later_one() {
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:1\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:2\"",
        "[[route]]",
        "listeners = [\"b\"]",
        "path_prefix = \"/api\"",
        "respond = { status = 200 }",
        "[[route]]",
        "name = \"api\"",
        "hosts = [\"x.com\", \"API.example.com\"]",
        "path_prefix = \"/api\"",
        "respond = { status = 200 }",
        "[[route]]",
        "listeners = [\"a\"]",
        "hosts = [\"api.example.com.\"]",
        "path_prefix = \"/api\"",
        "respond = { status = 404 }",
        // Same path on the same listener, but a different host pattern: fine.
        "[[route]]",
        "hosts = [\"*.example.com\"]",
        "path_prefix = \"/api\"",
        "respond = { status = 200 }",
        // Listener set ∩ (all) and both "any host": clashes with route[0].
        "[[route]]",
        "path_prefix = \"/api\"",
        "respond = { status = 200 }",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:16:1: route[2]: same hosts and path_prefix as route[1] (\"api\")",
            "t.toml:25:1: route[4]: same hosts and path_prefix as route[0] (\"route[0]\")",
        ]
    );
}

#[test]
fn routes_on_disjoint_listeners_do_not_overlap() {
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:1\"",
        "[[listener]]",
        "name = \"b\"",
        "address = \"127.0.0.1:2\"",
        "[[route]]",
        "listeners = [\"a\"]",
        "respond = { status = 200 }",
        "[[route]]",
        "listeners = [\"b\"]",
        "respond = { status = 200 }",
    ]);
    assert_eq!(parse(&src, "t.toml").unwrap().routes.len(), 2);
}

#[test]
fn duplicate_route_names() {
    let src = with_base(&[
        "[[route]]",
        "name = \"x\"",
        "proxy = \"backend\"",
        "[[route]]",
        "name = \"x\"",
        "path_prefix = \"/y\"",
        "proxy = \"backend\"",
    ]);
    assert_error(
        &src,
        "t.toml:12:8: route[1].name: duplicate route name \"x\" (also route[0])",
    );
}
