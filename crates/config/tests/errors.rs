//! Invalid configurations: each must fail with a diagnostic at the right
//! `file:line:col: key:` and a message that says what is wrong.

use shardgate_config::{load, parse, Error};

/// Lines 1–7 of most test documents: one listener and one upstream, valid.
const BASE: [&str; 7] = [
    "[[listener]]",
    "name = \"public\"",
    "address = \"127.0.0.1:8080\"",
    "",
    "[[upstream]]",
    "name = \"backend\"",
    "servers = [\"127.0.0.1:9000\"]",
];

/// A document from lines; `extra` starts at line 8.
fn with_base(extra: &[&str]) -> String {
    let mut lines: Vec<&str> = BASE.to_vec();
    lines.extend_from_slice(extra);
    lines.join("\n") + "\n"
}

fn doc(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

fn errors(src: &str) -> Vec<String> {
    match parse(src, "t.toml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(Error::Invalid(diags)) => diags.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected diagnostics, got {other}"),
    }
}

/// Exactly one diagnostic, equal to `expected`.
#[track_caller]
fn assert_error(src: &str, expected: &str) {
    assert_eq!(errors(src), [expected], "source:\n{src}");
}

/// Exactly one diagnostic, starting with `prefix` and containing `needle`.
#[track_caller]
fn assert_error_like(src: &str, prefix: &str, needle: &str) {
    let all = errors(src);
    assert_eq!(all.len(), 1, "{all:#?}\nsource:\n{src}");
    assert!(
        all[0].starts_with(prefix) && all[0].contains(needle),
        "got {:?}\nwanted prefix {prefix:?} and {needle:?}",
        all[0]
    );
}

#[test]
fn the_base_document_is_valid() {
    parse(&with_base(&[]), "t.toml").unwrap();
}

// ---- TOML syntax and serde ------------------------------------------------

#[test]
fn syntax_error_has_a_position() {
    let src = doc(&["[server]", "shards = = 2"]);
    assert_error_like(&src, "t.toml:2:10: server.shards: syntax error: ", "`=`");
}

#[test]
fn unclosed_table_header() {
    let src = doc(&["[server", "shards = 2"]);
    assert_error_like(&src, "t.toml:1:8: ", "syntax error: unclosed table");
}

#[test]
fn duplicate_keys_are_a_syntax_error() {
    let src = with_base(&["[server]", "shards = 1", "shards = 2"]);
    assert_error_like(&src, "t.toml:10:1: server.shards: ", "duplicate key");
}

#[test]
fn unknown_key_names_it_and_lists_the_allowed_ones() {
    let src = with_base(&["[server.timeouts]", "header_reed = \"5s\""]);
    assert_error(
        &src,
        "t.toml:9:1: server.timeouts.header_reed: unknown key `header_reed`, expected one of \
         `header_read`, `keepalive`, `body_read`, `send`, `shutdown_grace`, `tls_handshake`",
    );
}

#[test]
fn unknown_top_level_key() {
    let src = with_base(&["[[routes]]", "proxy = \"backend\""]);
    assert_error(
        &src,
        "t.toml:8:3: routes: unknown key `routes`, expected one of `server`, `admin`, \
         `listener`, `route`, `upstream`",
    );
}

#[test]
fn unknown_key_in_an_inline_table() {
    let src = with_base(&[
        "[[route]]",
        "proxy = \"backend\"",
        "forwarded = { xff = true }",
    ]);
    assert_error_like(
        &src,
        "t.toml:10:15: route[0].forwarded.xff: unknown key `xff`",
        "`x_forwarded_for`, `x_forwarded_proto`, `forwarded`, `via`",
    );
}

#[test]
fn type_errors_name_the_toml_type() {
    let src = with_base(&["[server]", "shards = \"four\""]);
    assert_error(
        &src,
        "t.toml:9:10: server.shards: invalid type: string \"four\", expected an integer",
    );
    let src = with_base(&[
        "[[route]]",
        "hosts = \"example.com\"",
        "proxy = \"backend\"",
    ]);
    assert_error_like(
        &src,
        "t.toml:9:9: route[0].hosts: invalid type: string",
        "an array",
    );
    let src = with_base(&["[admin]", "address = 9901"]);
    assert_error_like(
        &src,
        "t.toml:9:11: admin.address: invalid type: integer",
        "a string",
    );
}

#[test]
fn listener_must_be_an_array_of_tables() {
    let src = doc(&["[listener]", "name = \"a\"", "address = \"127.0.0.1:1\""]);
    assert_error(
        &src,
        "t.toml:1:1: listener: expected an array of tables: write each as a [[listener]] section",
    );
}

#[test]
fn serde_errors_and_validation_errors_of_one_table_are_all_reported() {
    let src = with_base(&[
        "[server]",
        "shards = -1",
        "bogus = true",
        "driver = \"kqueue\"",
        "buffer_size = \"16KiB \"",
        "[server.timeouts]",
        "keepalive = 60",
        "send = []",
    ]);
    let all = errors(&src);
    let keys: Vec<&str> = all
        .iter()
        .map(|e| e.split(": ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "server.shards",
            "server.bogus",
            "server.driver",
            "server.buffer_size",
            "server.timeouts.keepalive",
            "server.timeouts.send",
        ],
        "{all:#?}"
    );
}

// ---- durations and sizes ----------------------------------------------------

#[test]
fn bare_integer_duration_gets_a_helpful_message() {
    let src = with_base(&["[server.timeouts]", "header_read = 10"]);
    assert_error(
        &src,
        "t.toml:9:15: server.timeouts.header_read: a duration needs a unit: write \"10s\" or \
         \"10ms\" (units: ms, s, m, h)",
    );
    let src = with_base(&["[server.timeouts]", "header_read = \"10\""]);
    assert_error_like(
        &src,
        "t.toml:9:15: server.timeouts.header_read: ",
        "write \"10s\"",
    );
}

#[test]
fn durations_must_be_positive_and_well_formed() {
    let src = with_base(&["[upstream.pool]", "idle_timeout = \"0s\""]);
    assert_error(
        &src,
        "t.toml:9:16: upstream[0].pool.idle_timeout: must be greater than 0",
    );
    let src = with_base(&["connect_timeout = \"1.5s\""]);
    assert_error_like(
        &src,
        "t.toml:8:19: upstream[0].connect_timeout: ",
        "fractions are not supported",
    );
    let src = with_base(&["read_timeout = \"2d\""]);
    assert_error_like(
        &src,
        "t.toml:8:16: upstream[0].read_timeout: ",
        "unknown unit \"d\"",
    );
    let src = with_base(&["response_timeout = \"25h\""]);
    assert_error(
        &src,
        "t.toml:8:20: upstream[0].response_timeout: must be at most 24h",
    );
}

#[test]
fn sizes_are_checked() {
    let src = with_base(&["[server]", "buffer_size = \"4k\""]);
    assert_error_like(
        &src,
        "t.toml:9:15: server.buffer_size: ",
        "unknown unit \"k\"",
    );
    let src = with_base(&["[server]", "buffer_size = \"2KiB\""]);
    assert_error(
        &src,
        "t.toml:9:15: server.buffer_size: must be between 4KiB and 1MiB (got 2KiB)",
    );
    let src = with_base(&["[server.limits]", "max_body_bytes = -1"]);
    assert_error(
        &src,
        "t.toml:9:18: server.limits.max_body_bytes: a size cannot be negative",
    );
    let src = with_base(&["[server.limits]", "max_header_bytes = 0"]);
    assert_error(
        &src,
        "t.toml:9:20: server.limits.max_header_bytes: must be between 1 and 1MiB (got 0)",
    );
}

#[test]
fn request_line_must_fit_in_the_head_and_the_head_in_the_buffer() {
    let src = with_base(&["[server.limits]", "max_request_line = \"32KiB\""]);
    assert_error(
        &src,
        "t.toml:9:20: server.limits.max_request_line: must not be larger than \
         `server.limits.max_header_bytes` (16KiB)",
    );
    let src = with_base(&["[server]", "buffer_size = \"8KiB\""]);
    assert_error(
        &src,
        "t.toml:9:15: server.buffer_size: must be at least `server.limits.max_header_bytes` (16KiB)",
    );
    let src = with_base(&[
        "[server]",
        "buffer_size = \"8KiB\"",
        "[server.limits]",
        "max_header_bytes = \"12KiB\"",
    ]);
    assert_error(
        &src,
        "t.toml:11:20: server.limits.max_header_bytes: must not be larger than \
         `server.buffer_size` (8KiB)",
    );
}

// ---- integers and enums ---------------------------------------------------

#[test]
fn integer_ranges() {
    for (line, expected) in [
        (
            "max_connections_per_shard = 0",
            "t.toml:9:29: server.max_connections_per_shard: must be between 1 and 1048576 (got 0)",
        ),
        (
            "shards = 5000",
            "t.toml:9:10: server.shards: must be between 0 and 1024 (got 5000)",
        ),
    ] {
        assert_error(&with_base(&["[server]", line]), expected);
    }
    for (line, expected) in [
        (
            "max_headers = 0",
            "t.toml:9:15: server.limits.max_headers: must be between 1 and 256 (got 0)",
        ),
        (
            "max_headers = 257",
            "t.toml:9:15: server.limits.max_headers: must be between 1 and 256 (got 257)",
        ),
    ] {
        assert_error(&with_base(&["[server.limits]", line]), expected);
    }
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:1\"",
        "backlog = 0",
        "tcp_fast_open = -5",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:4:11: listener[0].backlog: must be between 1 and 65535 (got 0)",
            "t.toml:5:17: listener[0].tcp_fast_open: must be between 0 and 65535 (got -5)",
        ]
    );
}

#[test]
fn enum_values_list_the_choices() {
    let src = with_base(&["[server]", "steering = \"random\""]);
    assert_error(
        &src,
        "t.toml:9:12: server.steering: unknown value \"random\"; expected one of \"cpu\", \
         \"hash\", \"none\"",
    );
    let src = with_base(&["lb = \"least_conn\""]);
    assert_error(
        &src,
        "t.toml:8:6: upstream[0].lb: unknown value \"least_conn\"; expected one of \
         \"round_robin\", \"weighted_round_robin\"",
    );
    let src = doc(&[
        "[[listener]]",
        "name = \"a\"",
        "address = \"127.0.0.1:1\"",
        "protocol = \"https\"",
    ]);
    assert_error_like(
        &src,
        "t.toml:4:12: listener[0].protocol: ",
        "expected one of \"http\"",
    );
}

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
             `driver`, `steering`, `max_connections_per_shard`, `buffer_size`, `timeouts`, \
             `limits`",
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
        "servers = [\"10.0.0.1:80\", { address = \"10.0.0.1:80\", weight = 0 }, \"db:5432\"]",
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
            "t.toml:9:68: upstream[1].servers[2]: \"db:5432\" is not an IP address with a port; \
             write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)",
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

// ---- reporting ------------------------------------------------------------

#[test]
fn all_problems_are_reported_in_file_order() {
    let src = doc(&[
        "[[route]]",                  // 1
        "proxy = \"nowhere\"",        // 2
        "[[upstream]]",               // 3
        "name = \"u\"",               // 4
        "servers = [\"x\"]",          // 5
        "[server]",                   // 6
        "shards = -2",                // 7
        "[[listener]]",               // 8
        "name = \"l\"",               // 9
        "address = \"127.0.0.1:80\"", // 10
        "backlog = 0",                // 11
    ]);
    let lines: Vec<String> = errors(&src)
        .iter()
        .map(|e| e.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
        .collect();
    assert_eq!(
        lines,
        ["t.toml:2:9", "t.toml:5:12", "t.toml:7:10", "t.toml:11:11"]
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let src = with_base(&["[[route]]", "respond = { body = \"héllo\", status = 99 }"]);
    assert_error(
        &src,
        "t.toml:9:38: route[0].respond.status: must be between 200 and 599 (got 99)",
    );
}

#[test]
fn load_reports_io_errors_with_the_path() {
    let path = std::path::Path::new("/nonexistent/shardgate.toml");
    match load(path) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn load_labels_diagnostics_with_the_path() {
    let dir = std::env::temp_dir().join(format!("shardgate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, with_base(&["[server]", "shards = true"])).unwrap();
    let err = load(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        err.starts_with(&format!("{}:9:10: server.shards: ", path.display())),
        "{err}"
    );
}
