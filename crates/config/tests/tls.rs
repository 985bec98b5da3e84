//! `[listener.tls]`: certificates are loaded at validation, so every broken
//! file is reported with the position of the key that names it.

use std::path::{Path, PathBuf};

use shardgate_config::{load, parse_in, Error, TlsVersion};

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("sg-config-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    /// A self-signed certificate for `names` as `<stem>.crt` / `<stem>.key`.
    fn cert(&self, stem: &str, names: &[&str]) {
        let kp = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&kp).unwrap();
        self.write(&format!("{stem}.crt"), &cert.pem());
        self.write(&format!("{stem}.key"), &kp.serialize_pem());
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener with a TLS table holding `tls` lines (from line 5 on).
fn doc(tls: &[&str]) -> String {
    let mut lines = vec![
        "[[listener]]",
        "name = \"tls\"",
        "address = \"127.0.0.1:8443\"",
        "[listener.tls]",
    ];
    lines.extend_from_slice(tls);
    lines.push("[[route]]");
    lines.push("respond = { status = 200 }");
    lines.join("\n") + "\n"
}

fn errors(src: &str, dir: &Path) -> Vec<String> {
    match parse_in(src, "t.toml", dir) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected diagnostics, got {e}"),
    }
}

#[test]
fn certificates_load_with_their_names_relative_to_the_config_file() {
    let f = Files::new("ok");
    f.cert("site", &["Example.COM", "*.example.com"]);
    f.cert("other", &["other.test"]);
    let src = doc(&[
        "certificates = [{ cert = \"site.crt\", key = \"site.key\" }, { cert = \"other.crt\", key = \"other.key\" }]",
        "min_version = \"1.3\"",
        "session_tickets = false",
    ]);
    f.write("gw.toml", &src);
    let cfg = load(&f.dir.join("gw.toml")).unwrap();
    let tls = cfg.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.certificates.len(), 2);
    assert_eq!(tls.certificates[0].names, ["example.com", "*.example.com"]);
    assert_eq!(tls.certificates[0].cert_path, f.dir.join("site.crt"));
    assert_eq!(tls.certificates[1].names, ["other.test"]);
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert!(!tls.session_tickets);
    // Defaults.
    let src = doc(&["certificates = [{ cert = \"site.crt\", key = \"site.key\" }]"]);
    let cfg = parse_in(&src, "t.toml", &f.dir).unwrap();
    let tls = cfg.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert!(tls.session_tickets);
    assert!(cfg.server.timeouts.tls_handshake.as_secs() == 10);
}

#[test]
fn missing_files_are_reported_at_their_keys() {
    let f = Files::new("missing");
    f.cert("site", &["a.test"]);
    let src = doc(&["certificates = [{ cert = \"nope.crt\", key = \"nope.key\" }]"]);
    let errs = errors(&src, &f.dir);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("t.toml:5:26: listener[0].tls.certificates[0].cert: cannot read ")
            && errs[0].contains("nope.crt"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("t.toml:5:44: listener[0].tls.certificates[0].key: cannot read "),
        "{errs:#?}"
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let f = Files::new("mismatch");
    f.cert("a", &["a.test"]);
    f.cert("b", &["b.test"]);
    let src = doc(&["certificates = [{ cert = \"a.crt\", key = \"b.key\" }]"]);
    let errs = errors(&src, &f.dir);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("t.toml:5:41: listener[0].tls.certificates[0].key: private key in ")
            && errs[0].contains("does not match the certificate"),
        "{errs:#?}"
    );
}

#[test]
fn files_without_the_expected_pem_blocks_are_refused() {
    let f = Files::new("pem");
    f.cert("a", &["a.test"]);
    f.write("empty.crt", "not a certificate\n");
    let src = doc(&["certificates = [{ cert = \"empty.crt\", key = \"a.crt\" }]"]);
    let errs = errors(&src, &f.dir);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].contains(".cert: no CERTIFICATE block in"),
        "{errs:#?}"
    );
    assert!(errs[1].contains(".key: no private key in"), "{errs:#?}");
}

#[test]
fn table_shape_and_values_are_checked() {
    let f = Files::new("shape");
    let errs = errors(&doc(&["min_version = \"1.1\""]), &f.dir);
    assert_eq!(
        errs,
        [
            "t.toml:4:1: listener[0].tls.certificates: required key is missing",
            "t.toml:5:15: listener[0].tls.min_version: unknown value \"1.1\"; expected one of \"1.2\", \"1.3\"",
        ]
    );
    let errs = errors(&doc(&["certificates = []"]), &f.dir);
    assert_eq!(
        errs,
        ["t.toml:5:16: listener[0].tls.certificates: at least one certificate is required"]
    );
    let errs = errors(&doc(&["certificates = [{ cert = \"a.crt\" }]"]), &f.dir);
    assert_eq!(
        errs,
        ["t.toml:5:17: listener[0].tls.certificates[0].key: required key is missing"]
    );
    let errs = errors(&doc(&["ciphers = \"all\""]), &f.dir);
    assert_eq!(
        errs,
        [
            "t.toml:4:1: listener[0].tls.certificates: required key is missing",
            "t.toml:5:1: listener[0].tls.ciphers: unknown key `ciphers`, expected one of \
             `certificates`, `min_version`, `session_tickets`, `alt_svc`",
        ]
    );
}
