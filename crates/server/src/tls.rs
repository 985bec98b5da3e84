//! TLS termination settings: one rustls `ServerConfig` per TLS listener and
//! config generation, built on the control thread with the snapshot and shared
//! read-only by every shard (a handshake takes no lock of ours).
//!
//! Resumption is stateless (tickets) with one ticket key for the whole process,
//! so a client resumes on whichever shard the kernel steers its next connection
//! to, and the key survives reloads. There is no session-ID cache: it would be
//! a map shared between threads, and tickets make it unnecessary. 0-RTT data is
//! refused: it can be replayed, and a proxy cannot know which requests are safe
//! to replay upstream.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{
    ClientHello, NoServerSessionStorage, ProducesTickets, ResolvesServerCert,
    ServerSessionMemoryCache,
};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use rustls::{ServerConfig, SupportedProtocolVersion};
use shardgate_config::{TlsConfig, TlsVersion};

use crate::Error;

/// HTTP/1.1 only; a client that offers ALPN without it is refused with
/// `no_application_protocol` (RFC 7301 §3.2).
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// RFC 9114 §3.1.
const ALPN_H3: &[u8] = b"h3";

/// The process-wide ticket key (rotated by rustls every 6 hours).
pub fn ticketer() -> Result<Arc<dyn ProducesTickets>, Error> {
    rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| Error::Tls(format!("ticket key: {e}")))
}

pub fn server_config(
    tls: &TlsConfig,
    ticketer: &Arc<dyn ProducesTickets>,
) -> Result<Arc<ServerConfig>, Error> {
    let versions: &[&'static SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&TLS13, &TLS12],
        TlsVersion::Tls13 => &[&TLS13],
    };
    let mut cfg = build(tls, Some(ticketer), versions)?;
    cfg.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(cfg))
}

/// The TLS side of an `h3` listener: TLS 1.3 only (QUIC has no other, so
/// `min_version` does not apply), ALPN `h3`, the same certificates by SNI
/// and the same ticket key. 0-RTT is switched on by the QUIC layer.
///
/// With `early_data`, resumption is stateful instead: rustls (rightly)
/// refuses 0-RTT with stateless tickets, which an attacker could replay at
/// will. Each ticket lives in one process-wide cache (this generation's,
/// [`EARLY_DATA_TICKETS`] entries) and is taken out when used, so early data
/// is accepted at most once per ticket, whichever shard the client reaches.
/// The cache has a lock of its own, taken during resumption handshakes only.
pub fn quic_config(
    tls: &TlsConfig,
    ticketer: &Arc<dyn ProducesTickets>,
    early_data: bool,
) -> Result<ServerConfig, Error> {
    let stateful = early_data && tls.session_tickets;
    let mut cfg = build(tls, (!stateful).then_some(ticketer), &[&TLS13])?;
    cfg.alpn_protocols = vec![ALPN_H3.to_vec()];
    if stateful {
        cfg.session_storage = ServerSessionMemoryCache::new(EARLY_DATA_TICKETS);
    }
    Ok(cfg)
}

/// Resumption tickets remembered per h3 listener with early data on (each
/// entry a few hundred bytes).
pub const EARLY_DATA_TICKETS: usize = 16_384;

/// `ticketer`: stateless tickets with the process-wide key; `None` keeps
/// rustls's default (no stateless tickets) for a caller that sets up
/// stateful resumption.
fn build(
    tls: &TlsConfig,
    ticketer: Option<&Arc<dyn ProducesTickets>>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ServerConfig, Error> {
    let resolver = SniResolver::new(tls)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.max_early_data_size = 0;
    match ticketer {
        _ if !tls.session_tickets => cfg.send_tls13_tickets = 0,
        Some(t) => cfg.ticketer = t.clone(),
        None => {}
    }
    Ok(cfg)
}

/// Picks a certificate by SNI: an exact name beats a `*.` wildcard, and among
/// the certificates for a name the first whose key the client can verify (an
/// ECDSA and an RSA certificate for the same names serve old and new clients).
/// No SNI, or a name no certificate covers, gets the first certificate.
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// Keyed by the parent domain: `*.example.com` is stored as `example.com`.
    wildcard: HashMap<String, Vec<Arc<CertifiedKey>>>,
    default: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn new(tls: &TlsConfig) -> Result<Self, Error> {
        let mut r = SniResolver {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            default: Vec::new(),
        };
        for c in &tls.certificates {
            if r.default.is_empty() {
                r.default.push(c.key.clone());
            }
            for name in &c.names {
                let entry = match name.strip_prefix("*.") {
                    Some(parent) => r.wildcard.entry(parent.to_string()).or_default(),
                    None => r.exact.entry(name.clone()).or_default(),
                };
                entry.push(c.key.clone());
            }
        }
        // Certificates with the first one's names, for clients without SNI
        // that cannot verify its key type.
        if let Some(first) = tls.certificates.first() {
            for c in tls.certificates.iter().skip(1) {
                if c.names.iter().any(|n| first.names.contains(n)) {
                    r.default.push(c.key.clone());
                }
            }
        }
        if r.default.is_empty() {
            return Err(Error::Tls("a TLS listener needs a certificate".into()));
        }
        Ok(r)
    }

    fn candidates(&self, sni: Option<&str>) -> &[Arc<CertifiedKey>] {
        let Some(name) = sni else {
            return &self.default;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(v) = self.exact.get(&name) {
            return v;
        }
        if let Some(v) = name
            .split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
        {
            return v;
        }
        &self.default
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = self.candidates(hello.server_name());
        let schemes = hello.signature_schemes();
        found
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| found.first())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str]) -> shardgate_config::TlsCertificate {
        let ck = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let certified =
            CertifiedKey::from_der(vec![ck.cert.der().clone()], key, &provider).unwrap();
        shardgate_config::TlsCertificate {
            cert_path: "c.pem".into(),
            key_path: "k.pem".into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            key: Arc::new(certified),
        }
    }

    #[test]
    fn exact_beats_wildcard_and_unknown_gets_the_first() {
        let a = cert(&["a.test"]);
        let w = cert(&["*.example.com"]);
        let e = cert(&["www.example.com"]);
        let tls = TlsConfig {
            certificates: vec![a.clone(), w.clone(), e.clone()],
            min_version: TlsVersion::Tls12,
            session_tickets: true,
            alt_svc: None,
        };
        let r = SniResolver::new(&tls).unwrap();
        let is = |got: &[Arc<CertifiedKey>], want: &shardgate_config::TlsCertificate| {
            Arc::ptr_eq(&got[0], &want.key)
        };
        assert!(is(r.candidates(Some("www.example.com")), &e));
        assert!(is(r.candidates(Some("WWW.Example.com.")), &e));
        assert!(is(r.candidates(Some("api.example.com")), &w));
        // A wildcard covers one label only.
        assert!(is(r.candidates(Some("a.b.example.com")), &a));
        assert!(is(r.candidates(Some("example.com")), &a));
        assert!(is(r.candidates(None), &a));
        assert!(is(r.candidates(Some("a.test")), &a));
    }

    #[test]
    fn config_offers_http11_and_no_early_data() {
        let tls = TlsConfig {
            certificates: vec![cert(&["localhost"])],
            min_version: TlsVersion::Tls13,
            session_tickets: false,
            alt_svc: None,
        };
        let cfg = server_config(&tls, &ticketer().unwrap()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(cfg.max_early_data_size, 0);
        assert_eq!(cfg.send_tls13_tickets, 0);
        assert!(!cfg.ticketer.enabled());
    }
}
