//! `protocol = "h3"`, `[listener.quic]` and `alt_svc`: valid documents and the
//! model they give, and the address rules between TCP and UDP listeners.

#[path = "support/certs.rs"]
mod certs;

use std::time::Duration;

use certs::{Certs, CERTS};
use shardgate_config::{Protocol, QuicConfig, TlsVersion};

/// HTTPS and HTTP/3 on one address, the usual `:443` set-up (lines 1–14).
fn pair(quic: &[&str]) -> String {
    let mut lines = vec![
        "[[listener]]",
        "name = \"https\"",
        "address = \"127.0.0.1:8443\"",
        "[listener.tls]",
        CERTS,
        "alt_svc = \"quic\"",
        "[[listener]]",
        "name = \"quic\"",
        "address = \"127.0.0.1:8443\"",
        "protocol = \"h3\"",
        "[listener.tls]",
        CERTS,
        "min_version = \"1.2\"",
        "session_tickets = false",
    ];
    lines.extend_from_slice(quic);
    lines.join("\n") + "\n"
}

#[test]
fn a_full_h3_listener_parses_to_the_model() {
    let certs = Certs::new("h3-full");
    let config = certs.parse(&pair(&[
        "[listener.quic]",
        "max_connections = 1048576",
        "max_idle_time = \"1m30s\"",
        "idle_jitter = 0.25",
        "max_streams_per_connection = 10000",
        "retry = true",
        "retry_threshold = 0",
        "early_data = true",
        "server_id = \"00A1b2\"",
    ]));
    let [https, quic] = &config.listeners[..] else {
        panic!("{:#?}", config.listeners);
    };
    assert_eq!(https.protocol, Protocol::Http);
    assert_eq!(https.quic, None);
    let https_tls = https.tls.as_ref().unwrap();
    assert_eq!(https_tls.alt_svc.as_deref(), Some("quic"));

    assert_eq!(quic.protocol, Protocol::H3);
    assert_eq!(quic.address, https.address);
    assert_eq!(
        quic.quic,
        Some(QuicConfig {
            max_connections: 1 << 20,
            max_idle_time: Duration::from_secs(90),
            idle_jitter: 0.25,
            max_streams_per_connection: 10_000,
            retry: true,
            retry_threshold: 0,
            early_data: true,
            server_id: vec![0x00, 0xa1, 0xb2],
        })
    );
    let tls = quic.tls.as_ref().unwrap();
    assert_eq!(tls.certificates.len(), 1);
    assert_eq!(tls.certificates[0].names, ["localhost"]);
    // Accepted (and ignored by QUIC, which is TLS 1.3 only).
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert!(!tls.session_tickets);
    assert_eq!(tls.alt_svc, None);
}

#[test]
fn an_h3_listener_without_a_quic_table_gets_the_defaults() {
    let certs = Certs::new("h3-defaults");
    let config = certs.parse(&pair(&[]));
    let quic = config.listeners[1].quic.as_ref().unwrap();
    assert_eq!(*quic, QuicConfig::default());
    assert_eq!(quic.max_connections, 4096);
    assert_eq!(quic.max_idle_time, Duration::from_secs(30));
    assert!(quic.server_id.is_empty() && !quic.retry && !quic.early_data);
    // An empty table is the same.
    let config = certs.parse(&pair(&["[listener.quic]"]));
    assert_eq!(config.listeners[1].quic, Some(QuicConfig::default()));
}

#[test]
fn integer_jitter_and_range_ends_are_accepted() {
    let certs = Certs::new("h3-ends");
    let config = certs.parse(&pair(&[
        "[listener.quic]",
        "max_connections = 1",
        "max_idle_time = \"1s\"",
        "idle_jitter = 0",
        "max_streams_per_connection = 1",
        "server_id = \"\"",
    ]));
    let q = config.listeners[1].quic.as_ref().unwrap();
    assert_eq!((q.max_connections, q.max_streams_per_connection), (1, 1));
    assert_eq!(q.max_idle_time, Duration::from_secs(1));
    assert_eq!(q.idle_jitter, 0.0);
    assert!(q.server_id.is_empty());
    let config = certs.parse(&pair(&[
        "[listener.quic]",
        "max_idle_time = \"10m\"",
        "idle_jitter = 0.5",
        "server_id = \"0123456789ab\"",
    ]));
    let q = config.listeners[1].quic.as_ref().unwrap();
    assert_eq!(q.max_idle_time, Duration::from_secs(600));
    assert_eq!(q.idle_jitter, 0.5);
    assert_eq!(q.server_id, [0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
}

#[test]
fn the_admin_listener_may_share_an_address_with_an_h3_listener() {
    let certs = Certs::new("h3-admin");
    let src = pair(&["[admin]", "address = \"127.0.0.1:9901\""])
        .replace("127.0.0.1:8443\"\nprotocol", "127.0.0.1:9901\"\nprotocol");
    let config = certs.parse(&src);
    assert_eq!(config.listeners[1].address.to_string(), "127.0.0.1:9901");
    assert_eq!(
        config.admin.map(|a| a.address.to_string()),
        Some("127.0.0.1:9901".to_string())
    );
}

#[test]
fn two_h3_listeners_on_one_address_are_refused() {
    let certs = Certs::new("h3-twice");
    let src = pair(&[
        "[[listener]]",
        "name = \"quic2\"",
        "address = \"127.0.0.1:8443\"",
        "protocol = \"h3\"",
        "[listener.tls]",
        CERTS,
    ]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:17:11: listener[2].address: UDP address 127.0.0.1:8443 is already used by \
          listener[1] (\"quic\")"
        ]
    );
}

#[test]
fn two_tcp_listeners_on_one_address_are_still_refused_next_to_h3() {
    let certs = Certs::new("h3-tcp-twice");
    let src = pair(&[
        "[[listener]]",
        "name = \"plain\"",
        "address = \"127.0.0.1:8443\"",
    ]);
    assert_eq!(
        certs.errors(&src),
        [
            "t.toml:17:11: listener[2].address: address 127.0.0.1:8443 is already used by \
          listener[0] (\"https\")"
        ]
    );
}

#[test]
fn h3_listeners_on_port_zero_never_clash() {
    let certs = Certs::new("h3-port0");
    let src = pair(&[
        "[[listener]]",
        "name = \"quic2\"",
        "address = \"127.0.0.1:0\"",
        "protocol = \"h3\"",
        "[listener.tls]",
        CERTS,
        "[[listener]]",
        "name = \"quic3\"",
        "address = \"127.0.0.1:0\"",
        "protocol = \"h3\"",
        "[listener.tls]",
        CERTS,
    ]);
    assert_eq!(certs.parse(&src).listeners.len(), 4);
}
