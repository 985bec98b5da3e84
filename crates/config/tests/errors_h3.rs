//! Invalid `h3` listeners, `[listener.quic]` tables and `alt_svc` values: each
//! must fail with a diagnostic at the right `file:line:col: key:`.

#[path = "support/certs.rs"]
mod certs;

use certs::{errors_in, Certs, CERTS};

/// An h3 listener with TLS (lines 1–6) and a `[listener.quic]` table whose
/// keys start at line 8.
fn quic(lines: &[&str]) -> String {
    let mut all = vec![
        "[[listener]]",
        "name = \"quic\"",
        "address = \"127.0.0.1:8443\"",
        "protocol = \"h3\"",
        "[listener.tls]",
        CERTS,
        "[listener.quic]",
    ];
    all.extend_from_slice(lines);
    all.join("\n") + "\n"
}

/// An HTTPS listener (lines 1–5, `alt_svc` on line 6 if given) followed by
/// `rest` from line 7 (or 6).
fn https(alt_svc: Option<&str>, rest: &[&str]) -> String {
    let alt = alt_svc.map(|name| format!("alt_svc = \"{name}\""));
    let mut all = vec![
        "[[listener]]",
        "name = \"https\"",
        "address = \"127.0.0.1:8443\"",
        "[listener.tls]",
        CERTS,
    ];
    all.extend(alt.as_deref());
    all.extend_from_slice(rest);
    all.join("\n") + "\n"
}

/// One h3 listener (5 lines) as `rest` for [`https`].
const H3: [&str; 5] = [
    "[[listener]]",
    "name = \"quic\"",
    "address = \"127.0.0.1:8443\"",
    "protocol = \"h3\"",
    "[listener.tls]",
];

// ---- the listener ------------------------------------------------------------

#[test]
fn h3_needs_a_tls_table() {
    let src = [
        "[[listener]]",
        "name = \"quic\"",
        "address = \"127.0.0.1:8443\"",
        "protocol = \"h3\"",
    ]
    .join("\n");
    assert_eq!(
        errors_in(&src, std::path::Path::new("")),
        [
            "t.toml:4:12: listener[0].protocol: an h3 listener needs a [listener.tls] table: \
          QUIC always runs TLS 1.3"
        ]
    );
}

#[test]
fn unknown_protocol_lists_h3() {
    let src = "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\nprotocol = \"h2\"\n";
    assert_eq!(
        errors_in(src, std::path::Path::new("")),
        [
            "t.toml:4:12: listener[0].protocol: unknown value \"h2\"; expected one of \"http\", \
          \"h3\""
        ]
    );
}

#[test]
fn tcp_only_keys_are_refused_on_h3() {
    let certs = Certs::new("e-tcp-only");
    let src = [
        "[[listener]]",
        "name = \"quic\"",
        "address = \"127.0.0.1:8443\"",
        "protocol = \"h3\"",
        "backlog = 10",
        "tcp_fast_open = 16",
        "defer_accept = false",
        "[listener.tls]",
        CERTS,
    ]
    .join("\n");
    let tcp = "is a TCP option and would do nothing on an h3 listener (QUIC runs over UDP); \
               remove it";
    assert_eq!(
        certs.errors(&src),
        [
            format!("t.toml:5:11: listener[0].backlog: `backlog` {tcp}"),
            format!("t.toml:6:17: listener[0].tcp_fast_open: `tcp_fast_open` {tcp}"),
            format!("t.toml:7:16: listener[0].defer_accept: `defer_accept` {tcp}"),
        ]
    );
    // The same keys, at their defaults, are fine on a TCP listener.
    let src = src.replace("protocol = \"h3\"", "protocol = \"http\"");
    certs.parse(&src);
}

#[test]
fn a_quic_table_needs_protocol_h3() {
    let certs = Certs::new("e-quic-on-http");
    let src = https(None, &["[listener.quic]", "retry = true"]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:6:1: listener[0].quic: [listener.quic] applies only to a listener with \
          protocol = \"h3\""
        ]
    );
    // Without `[listener.tls]`, on a cleartext listener, and inline.
    let src = "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\nquic = { retry = true }\n";
    assert_eq!(
        errors_in(src, std::path::Path::new("")),
        [
            "t.toml:4:8: listener[0].quic: [listener.quic] applies only to a listener with \
          protocol = \"h3\""
        ]
    );
}

// ---- [listener.quic] values ----------------------------------------------------

#[test]
fn quic_integer_ranges() {
    let certs = Certs::new("e-ints");
    let src = quic(&["max_connections = 0", "max_streams_per_connection = 10001"]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:8:19: listener[0].quic.max_connections: must be between 1 and 1048576 (got 0)",
            "t.toml:9:30: listener[0].quic.max_streams_per_connection: must be between 1 and \
             10000 (got 10001)",
        ]
    );
    let src = quic(&[
        "max_connections = 1048577",
        "max_streams_per_connection = 0",
        "retry_threshold = -1",
    ]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:8:19: listener[0].quic.max_connections: must be between 1 and 1048576 \
             (got 1048577)",
            "t.toml:9:30: listener[0].quic.max_streams_per_connection: must be between 1 and \
             10000 (got 0)",
            "t.toml:10:19: listener[0].quic.retry_threshold: must be between 0 and 1048576 \
             (got -1)",
        ]
    );
}

#[test]
fn quic_idle_time_range_and_format() {
    let certs = Certs::new("e-idle");
    for (value, message) in [
        ("\"999ms\"", "must be between 1s and 10m (got 999ms)"),
        ("\"10m1ms\"", "must be between 1s and 10m (got 10m1ms)"),
        ("\"0s\"", "must be greater than 0"),
        (
            "30",
            "a duration needs a unit: write \"30s\" or \"30ms\" (units: ms, s, m, h)",
        ),
    ] {
        let src = quic(&[&format!("max_idle_time = {value}")]);
        assert_eq!(
            certs.errors(&src),
            [format!(
                "t.toml:8:17: listener[0].quic.max_idle_time: {message}"
            )],
            "{value}"
        );
    }
}

#[test]
fn quic_idle_jitter_range() {
    let certs = Certs::new("e-jitter");
    for value in ["0.51", "-0.1", "1", "nan"] {
        let src = quic(&[&format!("idle_jitter = {value}")]);
        let errs = certs.errors(&src);
        assert_eq!(errs.len(), 1, "{value}: {errs:#?}");
        assert!(
            errs[0].starts_with(
                "t.toml:8:15: listener[0].quic.idle_jitter: must be between 0.0 and 0.5 (got "
            ),
            "{value}: {errs:#?}"
        );
    }
    let src = quic(&["idle_jitter = \"0.1\""]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:8:15: listener[0].quic.idle_jitter: invalid type: string \"0.1\", expected a \
          number"
        ]
    );
}

#[test]
fn quic_server_id_must_be_up_to_six_hex_bytes() {
    let certs = Certs::new("e-server-id");
    for (value, message) in [
        (
            "abc",
            "\"abc\" has an odd number of hex digits; each byte is two (e.g. \"0abc\")",
        ),
        (
            "0x1b",
            "\"0x1b\" is not hexadecimal ('x'); write bytes as hex digits, e.g. \"0a1b\"",
        ),
        (
            "zz",
            "\"zz\" is not hexadecimal ('z'); write bytes as hex digits, e.g. \"0a1b\"",
        ),
        (
            "0123456789abcd",
            "\"0123456789abcd\" is 7 bytes; at most 6 (12 hex digits)",
        ),
    ] {
        let src = quic(&[&format!("server_id = \"{value}\"")]);
        assert_eq!(
            certs.errors(&src),
            [format!(
                "t.toml:8:13: listener[0].quic.server_id: {message}"
            )],
            "{value}"
        );
    }
    let src = quic(&["server_id = 0x0a1b"]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:8:13: listener[0].quic.server_id: invalid type: integer `2587`, expected a \
          string"
        ]
    );
}

#[test]
fn unknown_quic_keys_are_refused() {
    let certs = Certs::new("e-unknown");
    let src = quic(&["max_streams = 10", "retry = true"]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:8:1: listener[0].quic.max_streams: unknown key `max_streams`, expected one \
          of `max_connections`, `max_idle_time`, `idle_jitter`, `max_streams_per_connection`, \
          `retry`, `retry_threshold`, `early_data`, `server_id`"
        ]
    );
}

#[test]
fn every_quic_problem_is_reported_in_one_run() {
    let certs = Certs::new("e-all");
    let src = quic(&[
        "max_connections = 0",
        "idle_jitter = 0.9",
        "server_id = \"a\"",
    ]);
    let errs = certs.errors(&src);
    let keys: Vec<&str> = errs.iter().map(|e| e.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        keys,
        [
            "listener[0].quic.max_connections",
            "listener[0].quic.idle_jitter",
            "listener[0].quic.server_id"
        ]
    );
}

// ---- alt_svc ---------------------------------------------------------------------

#[test]
fn alt_svc_names_an_h3_listener() {
    let certs = Certs::new("e-alt-ok");
    let mut rest = H3.to_vec();
    rest.push(CERTS);
    let config = certs.parse(&https(Some("quic"), &rest));
    let tls = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.alt_svc.as_deref(), Some("quic"));
    // Written before the listener it names: the check waits for all of them.
    let src = [
        &rest[..],
        &[
            "[[listener]]",
            "name = \"https\"",
            "address = \"127.0.0.1:8443\"",
            "[listener.tls]",
            CERTS,
            "alt_svc = \"quic\"",
        ],
    ]
    .concat()
    .join("\n");
    certs.parse(&src);
}

#[test]
fn alt_svc_naming_an_unknown_listener() {
    let certs = Certs::new("e-alt-unknown");
    let mut rest = H3.to_vec();
    rest.push(CERTS);
    assert_eq!(
        certs.errors(&https(Some("qiuc"), &rest)),
        [
            "t.toml:6:11: listener[0].tls.alt_svc: unknown listener \"qiuc\"; h3 listeners: \
          \"quic\""
        ]
    );
    assert_eq!(
        certs.errors(&https(Some("quic"), &[])),
        [
            "t.toml:6:11: listener[0].tls.alt_svc: unknown listener \"quic\"; no listener has \
          protocol = \"h3\""
        ]
    );
}

#[test]
fn alt_svc_naming_a_tcp_listener() {
    let certs = Certs::new("e-alt-tcp");
    let src = https(
        Some("plain"),
        &[
            "[[listener]]",
            "name = \"plain\"",
            "address = \"127.0.0.1:8080\"",
        ],
    );
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:6:11: listener[0].tls.alt_svc: listener \"plain\" is not an h3 listener \
          (alt_svc must name one with protocol = \"h3\"); no listener has protocol = \"h3\""
        ]
    );
    // Naming itself is the same mistake.
    assert_eq!(
        certs.errors(&https(Some("https"), &[])),
        [
            "t.toml:6:11: listener[0].tls.alt_svc: listener \"https\" is not an h3 listener \
          (alt_svc must name one with protocol = \"h3\"); no listener has protocol = \"h3\""
        ]
    );
}

#[test]
fn alt_svc_on_an_h3_listener() {
    let certs = Certs::new("e-alt-on-h3");
    let mut rest = H3.to_vec();
    rest.extend([CERTS, "alt_svc = \"quic\""]);
    assert_eq!(
        certs.errors(&https(None, &rest)),
        [
            "t.toml:12:11: listener[1].tls.alt_svc: alt_svc belongs on a TLS-over-TCP listener, \
          to advertise an h3 one; an h3 listener is the alternative service itself"
        ]
    );
}

#[test]
fn an_unreadable_listener_does_not_cascade_into_unknown_alt_svc() {
    let certs = Certs::new("e-alt-cascade");
    let src = https(
        Some("quic"),
        &[
            "[[listener]]",
            "name = 7",
            "address = \"127.0.0.1:8443\"",
            "protocol = \"h3\"",
            "[listener.tls]",
            CERTS,
        ],
    );
    assert_eq!(
        certs.errors(&src),
        ["t.toml:8:8: listener[1].name: invalid type: integer `7`, expected a string"]
    );
}
