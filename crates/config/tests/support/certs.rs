//! A temporary directory holding a certificate and its key (`site.crt`,
//! `site.key`), for documents with `[listener.tls]`: certificates are loaded
//! at validation, so such documents need real files.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};

use shardgate_config::{parse_in, Config, Error};

pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// `tag` must be unique among the tests of one binary (they run in
    /// parallel in one process).
    pub fn new(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("sg-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kp = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        std::fs::write(dir.join("site.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("site.key"), kp.serialize_pem()).unwrap();
        Certs { dir }
    }

    pub fn parse(&self, src: &str) -> Config {
        parse_in(src, "t.toml", &self.dir).unwrap_or_else(|e| panic!("{e}\nsource:\n{src}"))
    }

    pub fn errors(&self, src: &str) -> Vec<String> {
        errors_in(src, &self.dir)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn errors_in(src: &str, dir: &Path) -> Vec<String> {
    match parse_in(src, "t.toml", dir) {
        Ok(c) => panic!("expected errors, got {c:#?}\nsource:\n{src}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected diagnostics, got {e}"),
    }
}

/// The `[listener.tls]` line every test listener uses.
pub const CERTS: &str = "certificates = [{ cert = \"site.crt\", key = \"site.key\" }]";
