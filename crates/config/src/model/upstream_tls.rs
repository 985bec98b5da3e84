//! `[upstream.tls]`: TLS from the gateway to an upstream's servers.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use serde::Serialize;

/// TLS to every server of one upstream. Files are read and checked at
/// validation, like a listener's certificates: a reload with a broken CA
/// bundle or client key is refused and the running config stays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamTls {
    /// The name sent as SNI and checked against the server's certificate.
    /// `None`: the server's host name when it was given by name; for a
    /// server given as an IP address, no SNI and the certificate must name
    /// that address (an IP subjectAltName).
    pub sni: Option<String>,
    /// The CA certificates a server's chain must lead to.
    pub roots: TrustRoots,
    /// `cert` and `key`: presented when the server asks for a client
    /// certificate (mutual TLS).
    pub client_cert: Option<ClientCert>,
}

/// A client certificate chain and its key, checked against each other at
/// validation.
#[derive(Clone, Serialize)]
pub struct ClientCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Key material: never rendered (`/config` shows the paths only).
    #[serde(skip)]
    pub key: Arc<CertifiedKey>,
}

impl PartialEq for ClientCert {
    /// Same files with the same chain: a rotated certificate compares unequal.
    fn eq(&self, other: &Self) -> bool {
        self.cert_path == other.cert_path
            && self.key_path == other.key_path
            && self.key.cert == other.key.cert
    }
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// Trust anchors for verifying servers: a configured bundle or the system's.
#[derive(Clone, PartialEq, Serialize)]
pub struct TrustRoots {
    /// The `ca` file; `None` for the system's store (read where OpenSSL on
    /// this machine reads it; `SSL_CERT_FILE` / `SSL_CERT_DIR` override).
    pub ca_path: Option<PathBuf>,
    /// The certificates as read: a changed file compares unequal. Not
    /// rendered (public, but long): `ca_path` says where they came from.
    #[serde(skip)]
    pub certs: Arc<[CertificateDer<'static>]>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots")
            .field("ca_path", &self.ca_path)
            .field("certs", &self.certs.len())
            .finish()
    }
}
