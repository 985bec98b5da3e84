//! `[listener.tls]`: certificates are read and checked here, at validation, so
//! that `shardgate check`, start-up and a reload all refuse a missing file, a
//! key that does not match its certificate or an unsupported key type with a
//! position in the config file — and a running server keeps its old
//! certificates when the new ones are broken.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde_spanned::Spanned;

use super::value::{at, choice, required};
use crate::model::{TlsCertificate, TlsConfig, TlsVersion};
use crate::raw::{RawCertificate, RawTls};
use crate::report::Report;

const VERSIONS: [(&str, TlsVersion); 2] = [("1.2", TlsVersion::Tls12), ("1.3", TlsVersion::Tls13)];

/// `base` is the key path of the table (`listener[0].tls`); relative file
/// names are taken from `dir` (the config file's directory).
pub(crate) fn tls(
    r: &mut Report<'_>,
    raw: &Spanned<RawTls>,
    base: &str,
    dir: &Path,
) -> Option<TlsConfig> {
    let table_at = at(raw);
    let raw = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let mut certificates = Vec::new();
    if let Some(list) = required(r, raw.certificates.as_ref(), table_at, &key("certificates")) {
        if list.get_ref().0.is_empty() {
            r.error(
                at(list),
                key("certificates"),
                "at least one certificate is required",
            );
        }
        for (i, entry) in list.get_ref().0.iter().enumerate() {
            let ekey = format!("{base}.certificates[{i}]");
            if let Some(c) = certificate(r, entry, &ekey, dir) {
                certificates.push(c);
            }
        }
    }
    let min_version = choice(
        r,
        raw.min_version.as_ref(),
        &key("min_version"),
        TlsConfig::DEFAULT_MIN_VERSION,
        &VERSIONS,
    );
    Some(TlsConfig {
        certificates,
        min_version,
        session_tickets: raw
            .session_tickets
            .unwrap_or(TlsConfig::DEFAULT_SESSION_TICKETS),
        // Whether it names an h3 listener is checked once all are read.
        alt_svc: raw.alt_svc.as_ref().map(|v| v.get_ref().clone()),
    })
}

pub(crate) fn certificate(
    r: &mut Report<'_>,
    entry: &Spanned<RawCertificate>,
    base: &str,
    dir: &Path,
) -> Option<TlsCertificate> {
    let entry_at = at(entry);
    let raw = entry.get_ref();
    let cert_key = format!("{base}.cert");
    let key_key = format!("{base}.key");
    let cert = required(r, raw.cert.as_ref(), entry_at, &cert_key);
    let key = required(r, raw.key.as_ref(), entry_at, &key_key);
    let (cert, key) = (cert?, key?);
    let cert_path = resolve(dir, cert.get_ref());
    let key_path = resolve(dir, key.get_ref());
    let chain = match read_chain(&cert_path) {
        Ok(c) => Some(c),
        Err(m) => {
            r.error(at(cert), &cert_key, m);
            None
        }
    };
    let private = match read_key(&key_path) {
        Ok(k) => Some(k),
        Err(m) => {
            r.error(at(key), &key_key, m);
            None
        }
    };
    let (chain, private) = (chain?, private?);
    let names = match names_of(&chain) {
        Ok(n) => n,
        Err(m) => {
            r.error(at(cert), &cert_key, m);
            return None;
        }
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match CertifiedKey::from_der(chain, private, &provider) {
        Ok(k) => Some(TlsCertificate {
            cert_path,
            key_path,
            names,
            key: Arc::new(k),
        }),
        Err(rustls::Error::InconsistentKeys(_)) => {
            r.error(
                at(key),
                &key_key,
                format!(
                    "private key in {} does not match the certificate in {}",
                    key_path.display(),
                    cert_path.display()
                ),
            );
            None
        }
        Err(e) => {
            r.error(
                at(key),
                &key_key,
                format!("unusable private key in {}: {e}", key_path.display()),
            );
            None
        }
    }
}

pub(crate) fn resolve(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM in {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "no CERTIFICATE block in {} (expected a PEM certificate chain, leaf first)",
            path.display()
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "no private key in {} (expected a PEM PKCS#8, PKCS#1 or SEC1 key): {e}",
            path.display()
        )
    })
}

/// The leaf's DNS names, which decide which SNI names it answers.
fn names_of(chain: &[CertificateDer<'static>]) -> Result<Vec<String>, String> {
    let leaf = chain.first().ok_or("empty certificate chain")?;
    let parsed = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("cannot parse the leaf certificate: {e:?}"))?;
    Ok(parsed
        .valid_dns_names()
        .map(str::to_ascii_lowercase)
        .collect())
}
