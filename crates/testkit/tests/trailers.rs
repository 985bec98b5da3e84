//! Trailer sections between HTTP/1.1 peers, both directions, both drivers:
//! fields that may not be trailers (RFC 9110 §6.5.1: framing, routing,
//! credentials, content metadata) are dropped, the rest arrive as sent, also
//! when the section comes in pieces (also inside TLS records), after a
//! spliced chunk, or without any field; the message still ends exactly (the
//! next request is served).

use std::time::Duration;

use shardgate_testkit::{
    each_driver, handler, handlers, After, Client, Driver, Gateway, Origin, TestCert, TlsClient,
};

each_driver!(
    request_trailers_lose_forbidden_fields,
    response_trailers_lose_forbidden_fields,
    trailers_in_pieces_are_filtered_whole,
    a_trailer_section_over_the_buffer_is_400,
    tls_request_trailers_in_pieces_are_filtered,
);

const CONFIG: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn gateway(driver: Driver, origin: &Origin) -> Gateway {
    Gateway::builder(CONFIG)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap()
}

/// Allowed ones, interleaved with ones that must not cross.
const MIXED: &str = "X-Checksum: abc\r\nContent-Length: 99\r\nHost: evil.example\r\n\
                     transfer-encoding: chunked\r\nX-Second: 2\r\nAuthorization: Basic eA==\r\n\
                     Set-Cookie: s=1\r\n\r\n";

fn request_trailers_lose_forbidden_fields(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let req = format!(
        "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n{MIXED}\
         GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    );
    c.send(req.as_bytes()).unwrap();
    assert_eq!(c.response().unwrap().status, 200);
    assert_eq!(c.response().unwrap().status, 200, "the pipelined request");
    let got = origin.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, b"hello");
    assert!(
        got[0]
            .raw_body
            .ends_with(b"0\r\nX-Checksum: abc\r\nX-Second: 2\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got[0].raw_body)
    );
    assert_eq!(got[1].target, "/next");

    // No field at all, and only forbidden ones: the message still ends.
    for section in ["\r\n", "Content-Type: text/evil\r\n\r\n"] {
        let r = c
            .request(
                format!(
                    "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{section}"
                )
                .as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(origin.last().unwrap().raw_body, b"0\r\n\r\n");
    }
}

fn response_trailers_lose_forbidden_fields(driver: Driver) {
    // 300 KiB in one chunk: long enough to be spliced where splicing is on,
    // so the section comes after a spliced run.
    let big = vec![b'z'; 300 << 10];
    let body = big.clone();
    let origin = Origin::start(handler(move |_, r| {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(format!("\r\n0\r\n{MIXED}").as_bytes());
        r.write(&out)?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for path in ["/a", "/b"] {
        let r = c.get("a", path).unwrap();
        assert_eq!(r.status, 200);
        assert!(r.complete && r.body == big, "{path}");
        assert!(
            r.raw_body
                .ends_with(b"\r\n0\r\nX-Checksum: abc\r\nX-Second: 2\r\n\r\n"),
            "{path}: {:?}",
            String::from_utf8_lossy(&r.raw_body[r.raw_body.len() - 200..])
        );
    }
}

fn trailers_in_pieces_are_filtered_whole(driver: Driver) {
    // The origin's section arrives in three writes, split inside a name.
    let origin = Origin::start(handler(|_, r| {
        r.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-A: 1\r\nCont",
        )?;
        std::thread::sleep(Duration::from_millis(50));
        r.write(b"ent-Length: 7\r\nX-")?;
        std::thread::sleep(Duration::from_millis(50));
        r.write(b"B: 2\r\n\r\n")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/r").unwrap();
    assert_eq!(r.body, b"ok");
    assert_eq!(r.raw_body, b"2\r\nok\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n");

    // The client's, likewise.
    let pieces: [&[u8]; 3] = [
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-C: 3\r\nHo",
        b"st: evil\r\nX-",
        b"D: 4\r\n\r\n",
    ];
    for p in pieces {
        c.send(p).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.response().unwrap().status, 200);
    let got = origin.last().unwrap();
    assert_eq!(got.raw_body, b"1\r\nx\r\n0\r\nX-C: 3\r\nX-D: 4\r\n\r\n");
}

fn a_trailer_section_over_the_buffer_is_400(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    // 4 KiB buffers: a section under the decoder's 16 KiB cap that cannot
    // be held whole.
    let cfg = format!("[server]\nbuffer_size = \"4KiB\"\n[server.limits]\nmax_header_bytes = \"4KiB\"\nmax_request_line = \"4KiB\"\n{CONFIG}");
    let gw = Gateway::builder(&cfg)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let section = |fields: usize| {
        let mut s = String::new();
        for i in 0..fields {
            s.push_str(&format!("x-field-{i:04}: {}\r\n", "v".repeat(40)));
        }
        s + "\r\n"
    };
    let req = |fields: usize| {
        format!(
            "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{}",
            section(fields)
        )
    };
    // 50 fields (≈3 KiB) fit, also sent after the head in a second write.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let small = req(50);
    let (head, rest) = small.split_at(60);
    c.send(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.send(rest.as_bytes()).unwrap();
    assert_eq!(c.response().unwrap().status, 200);
    assert_eq!(origin.last().unwrap().trailers.len(), 50);
    // 140 fields (≈8 KiB) do not.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(req(140).as_bytes()).unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 400);
    assert!(r.closes());
    // Its head and last-chunk line went out; the origin sees it cut off
    // (recorded or not yet, depending on when it noticed the close).
    let complete = origin.received().iter().filter(|r| r.complete).count();
    assert_eq!(complete, 1, "the refused request never completed");
}

fn tls_request_trailers_in_pieces_are_filtered(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let tls = format!(
        "[[listener]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\n[listener.tls]\n\
         certificates = [{}]\n\n[[route]]\nproxy = \"origin\"\n\n\
         [[upstream]]\nname = \"origin\"\nservers = [\"${{UP}}\"]\n",
        cert.toml()
    );
    let gw = Gateway::builder(&tls)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    let pieces: [&[u8]; 3] = [
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-C: 3\r\nCont",
        b"ent-Length: 9\r\nX-",
        b"D: 4\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for p in pieces {
        // Each piece's record split across two writes as well.
        c.send_split(p, Duration::from_millis(30)).unwrap();
    }
    assert_eq!(c.response().unwrap().status, 200);
    assert_eq!(c.response().unwrap().status, 200);
    let got = origin.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].raw_body, b"1\r\nx\r\n0\r\nX-C: 3\r\nX-D: 4\r\n\r\n");
    assert_eq!(got[1].target, "/after");
}
