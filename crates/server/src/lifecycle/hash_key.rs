//! The consistent-hash key of a request: the hash of what `hash_key` names,
//! read from the parsed head without copying (both front ends hand their
//! header fields over in the [`RequestView`]).

use std::net::IpAddr;

use shardgate_config::HashKey;
use shardgate_proxy::{cookie_value, hash_bytes, hash_ip};

use super::RequestView;

/// The stable hash of `key` for this request. A request without the named
/// header or cookie hashes by its client address instead, so such requests
/// still stick to one server per client rather than all landing on one.
pub fn hash(key: &HashKey, view: &RequestView<'_>, client: IpAddr) -> u64 {
    let found = match key {
        HashKey::ClientIp => None,
        HashKey::Path => {
            let path = view.path();
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            Some(hash_bytes(path.as_bytes()))
        }
        HashKey::Header(name) => view.headers.find_map(name, |v| Some(hash_bytes(v))),
        HashKey::Cookie(name) => view
            .headers
            .find_map("cookie", |v| cookie_value(v, name.as_bytes()))
            .map(hash_bytes),
    };
    found.unwrap_or_else(|| hash_ip(client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::HeaderFields;
    use shardgate_http::BodyKind;

    fn view<'a>(target: &'a str, headers: HeaderFields<'a>) -> RequestView<'a> {
        RequestView {
            method: "GET",
            host: Some("x"),
            target,
            normalized: None,
            body: BodyKind::None,
            protocol: "HTTP/1.1",
            request_id: None,
            user_agent: None,
            referer: None,
            headers,
        }
    }

    const CLIENT: [u8; 4] = [192, 0, 2, 9];

    fn h1<'a>(list: &'a [httparse::Header<'a>], target: &'a str, key: &HashKey) -> u64 {
        hash(
            key,
            &view(target, HeaderFields::H1(list)),
            IpAddr::from(CLIENT),
        )
    }

    #[test]
    fn each_key_kind_reads_its_part_of_the_request() {
        let list = [
            httparse::Header {
                name: "X-User",
                value: b"alice",
            },
            httparse::Header {
                name: "Cookie",
                value: b"theme=dark; sid=s-17",
            },
        ];
        let header = HashKey::Header("x-user".into());
        let cookie = HashKey::Cookie("sid".into());
        assert_eq!(h1(&list, "/", &header), hash_bytes(b"alice"));
        assert_eq!(h1(&list, "/", &cookie), hash_bytes(b"s-17"));
        assert_eq!(
            h1(&list, "/a/b?page=2", &HashKey::Path),
            hash_bytes(b"/a/b")
        );
        assert_eq!(
            h1(&list, "http://x/a/b", &HashKey::Path),
            hash_bytes(b"/a/b")
        );
        assert_eq!(
            h1(&list, "/", &HashKey::ClientIp),
            hash_ip(IpAddr::from(CLIENT))
        );
    }

    #[test]
    fn a_missing_header_or_cookie_falls_back_to_the_client_address() {
        let list = [httparse::Header {
            name: "cookie",
            value: b"theme=dark",
        }];
        let by_ip = hash_ip(IpAddr::from(CLIENT));
        assert_eq!(h1(&list, "/", &HashKey::Header("x-user".into())), by_ip);
        assert_eq!(h1(&list, "/", &HashKey::Cookie("sid".into())), by_ip);
    }

    #[test]
    fn http3_fields_hash_like_http1_fields() {
        let mut map = http::HeaderMap::new();
        map.insert("x-user", http::HeaderValue::from_static("alice"));
        // HTTP/3 clients may split cookies into several fields (RFC 9114
        // §4.2.1): every one is searched.
        map.append("cookie", http::HeaderValue::from_static("a=1"));
        map.append("cookie", http::HeaderValue::from_static("sid=s-17"));
        let v = view("/", HeaderFields::H3(&map));
        let ip = IpAddr::from(CLIENT);
        assert_eq!(
            hash(&HashKey::Header("x-user".into()), &v, ip),
            hash_bytes(b"alice")
        );
        assert_eq!(
            hash(&HashKey::Cookie("sid".into()), &v, ip),
            hash_bytes(b"s-17")
        );
    }
}
