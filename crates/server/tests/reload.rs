//! Config reload: a new generation is picked up by the next request, even on a
//! keep-alive connection opened before the reload; a moved listener serves on
//! its new address; a config that needs a restart is refused and the running
//! one keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn config(body: &str, port: u16) -> shardgate_config::Config {
    let src = format!(
        r#"
[server]
shards = 2
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
respond = {{ status = 200, body = "{body}" }}
"#
    );
    shardgate_config::parse(&src, "reload.toml").unwrap()
}

/// Sends one keep-alive GET and returns the body (the responses here are short
/// and carry Content-Length).
fn get(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = conn.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed early: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end].to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            if buf.len() >= end + 4 + len {
                assert!(head.starts_with("http/1.1 200"), "{head}");
                return text[end + 4..end + 4 + len].to_string();
            }
        }
    }
}

#[test]
fn reload_applies_to_open_connections_moves_listeners_and_refuses_shard_changes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = shardgate_server::Server::start(config("v1", port)).unwrap();
    let addr = server.listener_addr("public").unwrap();
    let mut conns: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(get(c), "v1");
    }
    assert_eq!(server.generation(), 1);

    assert_eq!(server.reload(config("v2", port)).unwrap(), 2);
    for c in &mut conns {
        assert_eq!(
            get(c),
            "v2",
            "open keep-alive connections see the new generation"
        );
    }
    let mut fresh = TcpStream::connect(addr).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(get(&mut fresh), "v2");

    // Moving the listener is a removal plus an addition: the new address
    // serves, the old one is closed.
    let other = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(server.reload(config("v3", other)).unwrap(), 3);
    let moved = server.listener_addr("public").unwrap();
    assert_eq!(moved.port(), other);
    let mut conn = TcpStream::connect(moved).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(get(&mut conn), "v3");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old address still accepts"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The shard count needs a restart: refused, naming the key; v3 stays.
    let mut more = config("v4", other);
    more.server.shards = 3;
    let err = server.reload(more).unwrap_err().to_string();
    assert!(
        err.contains("server.shards") && err.contains("restart needed"),
        "{err}"
    );
    assert_eq!(server.generation(), 3);
    assert_eq!(get(&mut conn), "v3");
}
