//! Host names in `servers` (syntax only: nothing here resolves) and
//! `[resolver]`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_spanned::Spanned;

use super::value::{at, duration_within};
use crate::model::ResolverConfig;
use crate::raw::RawResolver;
use crate::report::Report;

/// A `servers` address: an IP literal or a host name, both with a port.
pub(crate) enum Target {
    Ip(SocketAddr),
    Name { host: String, port: u16 },
}

/// `"10.0.0.1:80"`, `"[::1]:80"` or `"app.internal:80"`.
pub(crate) fn target(r: &mut Report<'_>, value: &Spanned<String>, key: &str) -> Option<Target> {
    let text = value.get_ref();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(Target::Ip(addr));
    }
    match name_and_port(text) {
        Ok((host, port)) => Some(Target::Name { host, port }),
        Err(why) => {
            r.error(at(value), key, format!("{text:?} {why}"));
            None
        }
    }
}

fn name_and_port(text: &str) -> Result<(String, u16), String> {
    const FORM: &str =
        "write an IP address or a host name with a port, e.g. \"10.0.0.1:8080\", \"[::1]:8080\" or \"app.internal:8080\"";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("has no port; {FORM}"));
    };
    if host.contains(':') || host.starts_with('[') {
        return Err(format!(
            "is not a valid address (an IPv6 address goes in brackets); {FORM}"
        ));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("has an invalid port {port:?}; {FORM}"))?;
    let host = host_name(host).map_err(|why| format!("{why}; {FORM}"))?;
    Ok((host, port))
}

/// A DNS name (RFC 1123 labels), lower-cased, without a trailing dot. A
/// name whose last label is all digits is a mistyped IPv4 address.
fn host_name(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err("is not a valid host name".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !name.split('.').all(label_ok) {
        return Err("is not a valid host name".into());
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a valid IP address".into());
    }
    Ok(name)
}

/// Queries wait at least this long (a shorter timeout fails on any real
/// network) and at most this long (start-up and reload wait for them).
const TIMEOUT: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(30);

pub(crate) fn resolver(r: &mut Report<'_>, raw: Option<&Spanned<RawResolver>>) -> ResolverConfig {
    let d = ResolverConfig::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return d;
    };
    let mut nameservers: Vec<SocketAddr> = Vec::new();
    if let Some(list) = &raw.nameservers {
        for (i, v) in list.get_ref().0.iter().enumerate() {
            let key = format!("resolver.nameservers[{i}]");
            let text = v.get_ref();
            // The DNS port unless one is given.
            let addr = text
                .parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
            match addr {
                Ok(a) if a.port() == 0 => r.error(at(v), key, "port 0 cannot be queried"),
                Ok(a) if nameservers.contains(&a) => {
                    r.error(at(v), key, format!("{a} is listed twice"))
                }
                Ok(a) => nameservers.push(a),
                Err(_) => r.error(
                    at(v),
                    key,
                    format!(
                        "{text:?} is not an IP address (with an optional port), e.g. \"10.0.0.2\" or \"127.0.0.1:5353\""
                    ),
                ),
            }
        }
    }
    ResolverConfig {
        nameservers,
        timeout: duration_within(
            r,
            raw.timeout.as_ref(),
            "resolver.timeout",
            d.timeout,
            TIMEOUT,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports() {
        assert_eq!(
            name_and_port("App.Internal.:8080"),
            Ok(("app.internal".to_string(), 8080))
        );
        assert_eq!(name_and_port("localhost:1"), Ok(("localhost".into(), 1)));
        for bad in [
            "app.internal",
            "app.internal:http",
            "app.internal:70000",
            "-app:80",
            "a..b:80",
            "a_b:80",
            "300.1.1.1:80",
            "::1:80",
            "[::1]:x",
            ":80",
        ] {
            assert!(name_and_port(bad).is_err(), "{bad}");
        }
        let long = format!("{}.test:80", "a".repeat(64));
        assert!(name_and_port(&long).is_err());
    }
}
