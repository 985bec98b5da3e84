//! Request heads of three sizes, as clients send them.

/// The smallest realistic request: what a health checker or `curl` sends.
pub const SMALL_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// A browser fetching a script: 13 fields, a long cookie, ~700 bytes.
pub const BROWSER_GET: &[u8] = b"GET /static/js/app.3f9a1c.js?v=12 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/products/shoes?page=2&sort=price\r\n\
Connection: keep-alive\r\n\
Cookie: session=9f2c4e1a7b3d5f60a1b2c3d4e5f60718; _ga=GA1.2.1234567890.1700000000; theme=dark; consent=functional,analytics\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
If-None-Match: \"5f3c-1a2b3c4d\"\r\n\
Priority: u=2\r\n\
\r\n";

/// An API call through a service mesh: 30 fields (tracing, auth, client hints,
/// forwarding headers from an outer proxy).
pub const HEADERS_30: &[u8] = b"GET /api/v2/orders/981273?expand=items,customer HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Accept: application/json, text/plain, */*\r\n\
Accept-Language: de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n\
Cache-Control: no-cache\r\n\
Pragma: no-cache\r\n\
Connection: keep-alive\r\n\
Cookie: sid=abcdef0123456789; csrftoken=Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe\r\n\
Origin: https://app.example.com\r\n\
Referer: https://app.example.com/orders\r\n\
Sec-CH-UA: \"Not/A)Brand\";v=\"8\", \"Chromium\";v=\"126\", \"Google Chrome\";v=\"126\"\r\n\
Sec-CH-UA-Mobile: ?0\r\n\
Sec-CH-UA-Platform: \"Windows\"\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Site: same-site\r\n\
DNT: 1\r\n\
X-Request-Id: 7b0f5c3e-2a41-4d8e-9f6b-1c2d3e4f5a6b\r\n\
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\
tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\r\n\
X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n\
X-Forwarded-Proto: https\r\n\
X-Forwarded-Host: api.example.com\r\n\
X-Real-IP: 203.0.113.7\r\n\
X-Client-Version: 4.18.2\r\n\
X-Tenant: acme-eu\r\n\
If-Modified-Since: Tue, 15 Oct 2024 08:12:31 GMT\r\n\
Priority: u=1, i\r\n\
\r\n";

/// Every sample, named, for benches that run over all of them.
pub const ALL: [(&str, &[u8]); 3] = [
    ("small_get", SMALL_GET),
    ("browser_get_13h", BROWSER_GET),
    ("api_get_30h", HEADERS_30),
];

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_http::{parse_request, HeaderStore, Limits, Parsed};

    /// The benches are only meaningful if the samples parse completely and have
    /// the header counts their names promise.
    #[test]
    fn samples_parse_with_the_advertised_field_counts() {
        let limits = Limits::default();
        for ((name, req), want) in ALL.iter().zip([1usize, 13, 30]) {
            let mut store = HeaderStore::new();
            match parse_request(req, &limits, &mut store) {
                Ok(Parsed::Complete(head)) => {
                    assert_eq!(head.headers.len(), want, "{name}");
                    assert_eq!(head.head_len, req.len(), "{name}");
                    assert!(head.keep_alive, "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
