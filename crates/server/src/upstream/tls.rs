//! TLS to upstream servers: the rustls client settings of an upstream, built
//! once per config generation (on the control thread, with the snapshot)
//! and given a session cache per shard, the name each server is verified
//! against, and the rate-limited report of TLS failures.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::Counter;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::ServerName;
use rustls::sign::SingleCertAndKey;
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, RootCertStore};
use shardgate_config::UpstreamTls;

use crate::metrics::UpstreamTlsMetrics;
use crate::Error;

/// Origins are HTTP/1.1 servers; offering the protocol lets a server that
/// speaks several pick the right one.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Sessions remembered per shard per upstream for resumption (each entry
/// a few hundred bytes; a server name keeps a handful of TLS 1.3 tickets).
const SESSIONS_PER_SHARD: usize = 256;

/// At most one log line per server per shard per this interval, whatever
/// a server does to its handshakes: an origin cannot make us log per
/// request. Every failure is counted.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The generation's client settings for one upstream, shared by every
/// shard (each gives it its own session cache, [`TlsClient::new`]).
pub fn client_config(tls: &UpstreamTls) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    // Validation kept only certificates usable as trust anchors.
    roots.add_parsable_certificates(tls.roots.certs.iter().cloned());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Tls(format!("upstream trust anchors: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_webpki_verifier(verifier);
    let mut cfg = match &tls.client_cert {
        Some(c) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(c.key.clone())))
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // Set per shard: a shared cache would be a lock every shard takes.
    cfg.resumption = Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// One shard's TLS client for one upstream.
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    /// `[upstream.tls] sni`, parsed once.
    sni: Option<ServerName<'static>>,
    pub upstream: Rc<str>,
    pub metrics: UpstreamTlsMetrics,
}

impl TlsClient {
    pub fn new(shared: &ClientConfig, tls: &UpstreamTls, upstream: &str, shard: usize) -> Self {
        let mut config = shared.clone();
        config.resumption = Resumption::in_memory_sessions(SESSIONS_PER_SHARD);
        TlsClient {
            config: Arc::new(config),
            sni: tls
                .sni
                .as_deref()
                .and_then(|n| ServerName::try_from(n.to_string()).ok()),
            upstream: Rc::from(upstream),
            metrics: UpstreamTlsMetrics::new(shard, upstream),
        }
    }

    /// The name a server's certificate must carry (and, for a DNS name, the
    /// SNI sent): the configured `sni`, else the host name the server was
    /// given by, else its IP address (no SNI is sent for an address).
    pub fn server_name(&self, host: Option<&str>, addr: SocketAddr) -> ServerName<'static> {
        if let Some(n) = &self.sni {
            return n.clone();
        }
        host.and_then(|h| ServerName::try_from(h.to_string()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}

/// What a TLS failure on one connection reports to: its server's log state
/// and the upstream's counter.
pub struct TlsWatch {
    pub log: Rc<TlsLog>,
    pub errors: Counter,
    pub upstream: Rc<str>,
}

impl TlsWatch {
    /// A fatal TLS error on an established connection (typically the
    /// server's alert refusing our client certificate, which TLS 1.3 sends
    /// after the client's handshake is done).
    pub fn failed(&self, e: &rustls::Error) {
        self.errors.increment(1);
        self.log.failed(&self.upstream, e);
    }
}

/// One server's TLS health as this shard's log sees it: lines on a change
/// (failing, or working again), at most one per [`LOG_EVERY`].
pub struct TlsLog {
    server: SocketAddr,
    failing: Cell<bool>,
    last_line: Cell<Option<Instant>>,
    /// Failures not logged since the last line.
    quiet: Cell<u64>,
}

impl TlsLog {
    pub fn new(server: SocketAddr) -> Self {
        TlsLog {
            server,
            failing: Cell::new(false),
            last_line: Cell::new(None),
            quiet: Cell::new(0),
        }
    }

    fn may_log(&self, now: Instant) -> bool {
        let ok = self
            .last_line
            .get()
            .is_none_or(|t| now.saturating_duration_since(t) >= LOG_EVERY);
        if ok {
            self.last_line.set(Some(now));
        }
        ok
    }

    /// A failure: logged when the server was working (or failures went
    /// unlogged) and the rate allows, else counted for the next line.
    pub fn failed(&self, upstream: &str, e: &dyn std::fmt::Display) {
        let news = !self.failing.replace(true) || self.quiet.get() > 0;
        if news && self.may_log(Instant::now()) {
            let unlogged = self.quiet.replace(0);
            tracing::warn!(
                upstream,
                server = %self.server,
                error = %e,
                unlogged,
                "upstream TLS failed; requests to this server get 502 until it succeeds"
            );
        } else {
            self.quiet.set(self.quiet.get() + 1);
        }
    }

    pub fn succeeded(&self, upstream: &str) {
        if self.failing.replace(false) && self.may_log(Instant::now()) {
            let unlogged = self.quiet.replace(0);
            tracing::info!(upstream, server = %self.server, unlogged, "upstream TLS works again");
        }
    }
}
