//! Head rewriting on the proxy path: the upstream request head
//! (`write_upstream_request`) for each sample request, with the default
//! forwarding headers and with a route that edits headers and enables every
//! forwarding header; and the client-facing response head.
//!
//! The 30-field request is also measured without its `Connection: keep-alive`
//! field: a Connection field makes the rewrite check every other field against
//! its list, so the pair shows what that check costs.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardgate_benches::{requests, routes::proxy_route};
use shardgate_config::{ForwardedHeaders, HeaderRewrite, RouteConfig};
use shardgate_http::{parse_request, parse_response, HeaderStore, Limits, Parsed};
use shardgate_proxy::{write_downstream_response, write_upstream_request, ForwardCtx, Framing};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn edited_route() -> RouteConfig {
    let mut r = proxy_route(&[], "/");
    r.request_headers = HeaderRewrite {
        remove: vec!["cookie".into(), "x-debug".into()],
        set: pairs(&[("X-Env", "prod")]),
        add: pairs(&[("X-Tag", "edge")]),
    };
    r.forwarded = ForwardedHeaders {
        x_forwarded_for: true,
        x_forwarded_proto: true,
        forwarded: true,
        via: true,
    };
    r
}

/// `req` without its `Connection` line.
fn without_connection(req: &[u8]) -> Vec<u8> {
    let line = b"Connection: keep-alive\r\n";
    let at = req
        .windows(line.len())
        .position(|w| w == line)
        .expect("the sample has a Connection field");
    [&req[..at], &req[at + line.len()..]].concat()
}

fn upstream_request(c: &mut Criterion) {
    let limits = Limits::default();
    let routes = [
        ("default", proxy_route(&[], "/")),
        ("edits", edited_route()),
    ];
    let no_conn = without_connection(requests::HEADERS_30);
    let samples = requests::ALL
        .into_iter()
        .chain([("api_get_29h_no_connection", no_conn.as_slice())]);
    let mut g = c.benchmark_group("write_upstream_request");
    for (req_name, req) in samples {
        let mut store = HeaderStore::new();
        let Ok(Parsed::Complete(head)) = parse_request(req, &limits, &mut store) else {
            panic!("{req_name} must parse");
        };
        for (route_name, route) in &routes {
            let ctx = ForwardCtx {
                client_ip: CLIENT,
                scheme: "http",
                host: head.host,
                route,
                request_id: None,
                via: shardgate_proxy::VIA_HTTP11,
            };
            let mut out = Vec::with_capacity(16 * 1024);
            g.throughput(Throughput::Bytes(req.len() as u64));
            g.bench_function(format!("{req_name}/{route_name}"), |b| {
                b.iter(|| {
                    out.clear();
                    write_upstream_request(
                        &mut out,
                        black_box(head.method),
                        black_box(head.target),
                        black_box(head.headers),
                        &ctx,
                        Framing::None,
                        None,
                    );
                    out.len()
                })
            });
        }
    }
    g.finish();
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: origin/1.2\r\n\
Date: Tue, 15 Oct 2024 08:12:31 GMT\r\n\
Content-Type: application/javascript; charset=utf-8\r\n\
Content-Length: 48213\r\n\
Connection: keep-alive\r\n\
Cache-Control: public, max-age=31536000, immutable\r\n\
ETag: \"5f3c-1a2b3c4d\"\r\n\
Last-Modified: Mon, 14 Oct 2024 17:00:00 GMT\r\n\
Vary: Accept-Encoding\r\n\
Content-Encoding: br\r\n\
\r\n";

fn downstream_response(c: &mut Criterion) {
    let limits = Limits::default();
    let mut store = HeaderStore::new();
    let Ok(Parsed::Complete(head)) = parse_response(RESPONSE, &limits, &mut store, false) else {
        panic!("the sample response must parse");
    };
    let route = proxy_route(&[], "/");
    let mut out = Vec::with_capacity(16 * 1024);
    c.bench_function("write_downstream_response/10h", |b| {
        b.iter(|| {
            out.clear();
            write_downstream_response(
                &mut out,
                black_box(head.status),
                head.reason,
                black_box(head.headers),
                &route,
                Framing::Length(48213),
                true,
                None,
                &|o: &mut Vec<u8>| o.extend_from_slice(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            );
            out.len()
        })
    });
}

criterion_group!(benches, upstream_request, downstream_response);
criterion_main!(benches);
