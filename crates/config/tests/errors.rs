//! Invalid configurations: each must fail with a diagnostic at the right
//! `file:line:col: key:` and a message that says what is wrong. This file:
//! TOML syntax and types, value formats and ranges, and how diagnostics are
//! reported; `errors_listeners_routes.rs` and `errors_headers_upstreams.rs`
//! cover the sections.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use diagnostics::*;

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
         `header_read`, `keepalive`, `body_read`, `send`, `shutdown_grace`, `tls_handshake`, \
         `lingering_time`, `lingering_timeout`",
    );
}

#[test]
fn unknown_top_level_key() {
    let src = with_base(&["[[routes]]", "proxy = \"backend\""]);
    assert_error(
        &src,
        "t.toml:8:3: routes: unknown key `routes`, expected one of `server`, `admin`, \
         `listener`, `route`, `upstream`, `access_log`, `request_id`, `resolver`",
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
fn splice_is_a_bool() {
    let src = with_base(&["[server]", "splice = \"no\""]);
    assert_error_like(&src, "t.toml:9:10: server.splice: ", "bool");
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
        "max_connections_per_client = 1048577",
    ]);
    assert_eq!(
        errors(&src),
        [
            "t.toml:4:11: listener[0].backlog: must be between 1 and 65535 (got 0)",
            "t.toml:5:17: listener[0].tcp_fast_open: must be between 0 and 65535 (got -5)",
            "t.toml:6:30: listener[0].max_connections_per_client: must be between 0 and \
             1048576 (got 1048577)",
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
         \"round_robin\", \"weighted_round_robin\", \"least_request\", \"p2c\", \
         \"random\", \"consistent_hash\"",
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

#[test]
fn pid_file_must_name_a_file_in_an_existing_directory() {
    assert_error(
        &with_base(&["[server]", "pid_file = \"\""]),
        "t.toml:9:12: server.pid_file: must not be empty; name a file",
    );
    assert_error_like(
        &with_base(&["[server]", "pid_file = \"/nonexistent-dir/gw.pid\""]),
        "t.toml:9:12: server.pid_file: ",
        "directory /nonexistent-dir does not exist",
    );
    let ok = parse(
        &with_base(&["[server]", "pid_file = \"/tmp/gw.pid\""]),
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        ok.server.pid_file.as_deref(),
        Some(std::path::Path::new("/tmp/gw.pid"))
    );
}
