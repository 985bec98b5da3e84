//! `[upstream.tls]`: trust anchors and the client certificate are read at
//! validation; every broken file or value is reported at its key.

use std::path::{Path, PathBuf};

use shardgate_config::{parse_in, Error};

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("sg-config-utls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = Files { dir };
        f.cert("ca");
        f.cert("client");
        f
    }

    fn cert(&self, stem: &str) {
        let kp = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![format!("{stem}.test")])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
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

/// An upstream whose TLS table holds `tls` lines (from line 10 on).
fn doc(tls: &[&str]) -> String {
    let mut lines = vec![
        "[[listener]]",
        "name = \"public\"",
        "address = \"127.0.0.1:8080\"",
        "[[route]]",
        "proxy = \"app\"",
        "[[upstream]]",
        "name = \"app\"",
        "servers = [\"10.0.0.1:443\"]",
        "[upstream.tls]",
    ];
    lines.extend_from_slice(tls);
    lines.push("[[upstream]]");
    lines.push("name = \"other\"");
    lines.push("servers = [\"10.0.0.2:443\"]");
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
fn a_full_table_loads_its_files() {
    let f = Files::new("full");
    let src = doc(&[
        "sni = \"App.Internal\"",
        "ca = \"ca.crt\"",
        "cert = \"client.crt\"",
        "key = \"client.key\"",
    ]);
    let cfg = parse_in(&src, "t.toml", &f.dir).unwrap();
    let tls = cfg.upstreams[0].tls.as_ref().unwrap();
    assert_eq!(tls.sni.as_deref(), Some("app.internal"));
    assert_eq!(
        tls.roots.ca_path.as_deref(),
        Some(f.dir.join("ca.crt").as_path())
    );
    assert_eq!(tls.roots.certs.len(), 1);
    let client = tls.client_cert.as_ref().unwrap();
    assert_eq!(client.cert_path, f.dir.join("client.crt"));
    assert!(cfg.upstreams[1].tls.is_none());
}

#[test]
fn an_empty_table_trusts_the_system_store() {
    let f = Files::new("system");
    let cfg = parse_in(&doc(&[]), "t.toml", &f.dir).unwrap();
    let tls = cfg.upstreams[0].tls.as_ref().unwrap();
    assert_eq!(tls.roots.ca_path, None);
    assert!(!tls.roots.certs.is_empty());
    assert_eq!((tls.sni.as_ref(), tls.client_cert.as_ref()), (None, None));
}

#[test]
fn a_changed_ca_file_makes_a_different_config() {
    let f = Files::new("changed");
    let src = doc(&["ca = \"ca.crt\""]);
    let before = parse_in(&src, "t.toml", &f.dir).unwrap();
    assert_eq!(before, parse_in(&src, "t.toml", &f.dir).unwrap());
    f.cert("ca");
    assert_ne!(before, parse_in(&src, "t.toml", &f.dir).unwrap());
}

#[test]
fn broken_files_and_values_are_reported_at_their_keys() {
    let f = Files::new("broken");
    f.write("empty.pem", "no pem here\n");
    let errs = errors(
        &doc(&["sni = \"not a name\"", "ca = \"missing.pem\""]),
        &f.dir,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(
        errs[0],
        "t.toml:10:7: upstream[0].tls.sni: \"not a name\" is not a DNS name or an IP address"
    );
    assert!(
        errs[1].starts_with("t.toml:11:6: upstream[0].tls.ca: cannot read "),
        "{errs:?}"
    );

    let errs = errors(&doc(&["ca = \"empty.pem\""]), &f.dir);
    assert!(
        errs[0].starts_with("t.toml:10:6: upstream[0].tls.ca: no CERTIFICATE block in "),
        "{errs:?}"
    );

    // A certificate needs its key, and the other way round.
    let errs = errors(&doc(&["cert = \"client.crt\""]), &f.dir);
    assert_eq!(
        errs,
        ["t.toml:9:1: upstream[0].tls.key: required key is missing"]
    );
    let errs = errors(&doc(&["cert = \"client.crt\"", "key = \"ca.key\""]), &f.dir);
    assert!(
        errs[0].starts_with("t.toml:11:7: upstream[0].tls.key: private key in "),
        "{errs:?}"
    );

    let errs = errors(&doc(&["verify = false"]), &f.dir);
    assert!(
        errs[0].starts_with("t.toml:10:1: upstream[0].tls.verify: unknown key `verify`"),
        "{errs:?}"
    );
}

#[test]
fn an_http_health_check_is_refused_behind_tls_a_tcp_one_is_not() {
    let f = Files::new("check");
    let errs = errors(
        &doc(&[
            "ca = \"ca.crt\"",
            "[upstream.health_check]",
            "kind = \"http\"",
        ]),
        &f.dir,
    );
    assert_eq!(
        errs,
        ["t.toml:12:8: upstream[0].health_check.kind: an \"http\" health check is sent in plain text and cannot check a server behind [upstream.tls]; use kind = \"tcp\""]
    );
    let tcp = doc(&[
        "ca = \"ca.crt\"",
        "[upstream.health_check]",
        "kind = \"tcp\"",
    ]);
    assert!(parse_in(&tcp, "t.toml", &f.dir).is_ok());
}
