//! `[upstream.tls]`: the trust anchors and the client certificate are read
//! here, at validation, so `shardgate check`, start-up and a reload refuse a
//! missing or broken file with its position, and a reload with a broken file
//! keeps the running config.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_spanned::Spanned;

use super::tls::{certificate, resolve};
use super::value::at;
use crate::model::{ClientCert, TrustRoots, UpstreamTls};
use crate::raw::{RawCertificate, RawUpstreamTls};
use crate::report::Report;

/// The system's CA certificates, read once per validation (by the first
/// upstream that trusts them), not once per upstream.
#[derive(Default)]
pub(crate) struct SystemRoots(Option<Result<Arc<[CertificateDer<'static>]>, String>>);

impl SystemRoots {
    fn get(&mut self) -> Result<Arc<[CertificateDer<'static>]>, String> {
        self.0.get_or_insert_with(load_system).clone()
    }
}

/// `base` is the table's key path (`upstream[0].tls`).
pub(crate) fn upstream_tls(
    r: &mut Report<'_>,
    raw: &Spanned<RawUpstreamTls>,
    base: &str,
    dir: &Path,
    system: &mut SystemRoots,
) -> Option<UpstreamTls> {
    let table_at = at(raw);
    let t = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let sni = t.sni.as_ref().and_then(|v| sni(r, v, &key("sni")));
    let roots = match &t.ca {
        Some(ca) => {
            let path = resolve(dir, ca.get_ref());
            match read_bundle(&path) {
                Ok(certs) => Some(TrustRoots {
                    ca_path: Some(path),
                    certs,
                }),
                Err(m) => {
                    r.error(at(ca), key("ca"), m);
                    None
                }
            }
        }
        None => match system.get() {
            Ok(certs) => Some(TrustRoots {
                ca_path: None,
                certs,
            }),
            Err(m) => {
                r.error(table_at, base, m);
                None
            }
        },
    };
    // `cert` and `key` come together; one without the other is reported as
    // the other's absence.
    let client_cert = if t.cert.is_some() || t.key.is_some() {
        let pair = RawCertificate {
            cert: t.cert.clone(),
            key: t.key.clone(),
        };
        certificate(r, &Spanned::new(raw.span(), pair), base, dir).map(|c| ClientCert {
            cert_path: c.cert_path,
            key_path: c.key_path,
            key: c.key,
        })
    } else {
        None
    };
    Some(UpstreamTls {
        sni,
        roots: roots?,
        client_cert,
    })
}

/// A DNS name or an IP address, as the certificate must name it.
fn sni(r: &mut Report<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let text = v.get_ref();
    match ServerName::try_from(text.as_str()) {
        Ok(_) => Some(text.to_ascii_lowercase()),
        Err(_) => {
            r.error(
                at(v),
                key,
                format!("{text:?} is not a DNS name or an IP address"),
            );
            None
        }
    }
}

/// Every certificate of a PEM bundle, each usable as a trust anchor.
fn read_bundle(path: &Path) -> Result<Arc<[CertificateDer<'static>]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "no CERTIFICATE block in {} (expected PEM CA certificates)",
            path.display()
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        webpki::anchor_from_trusted_cert(c).map_err(|e| {
            format!(
                "certificate {} in {} is not usable as a CA: {e:?}",
                i + 1,
                path.display()
            )
        })?;
    }
    Ok(certs.into())
}

fn load_system() -> Result<Arc<[CertificateDer<'static>]>, String> {
    let found = rustls_native_certs::load_native_certs();
    let usable: Vec<_> = found
        .certs
        .into_iter()
        .filter(|c| webpki::anchor_from_trusted_cert(c).is_ok())
        .collect();
    if usable.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no CA certificates found in the system store{why}; set `ca` to a PEM bundle"
        ));
    }
    Ok(usable.into())
}
