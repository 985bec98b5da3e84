//! TLS for tests: certificates made on the fly and a rustls client that sends
//! exact bytes and reads framed responses, like [`crate::Client`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::client::{read_response, Response, DEFAULT_TIMEOUT};
use crate::error::{Error, Result};
use crate::tools::TempDir;
use crate::wire::Reader;

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tool {
        tool: "tls".into(),
        message: e.to_string(),
    }
}

/// A self-signed certificate (ECDSA P-256, or RSA 2048) and its key, written
/// as PEM files in a temporary directory.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
    _dir: TempDir,
}

impl TestCert {
    pub fn new(names: &[&str]) -> Result<TestCert> {
        let kp = rcgen::KeyPair::generate().map_err(tls_err)?;
        Self::with_key(names, kp)
    }

    pub fn rsa(names: &[&str]) -> Result<TestCert> {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(tls_err)?;
        Self::with_key(names, kp)
    }

    fn with_key(names: &[&str], kp: rcgen::KeyPair) -> Result<TestCert> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).map_err(tls_err)?;
        let cert = params.self_signed(&kp).map_err(tls_err)?;
        let dir = TempDir::new("cert")?;
        let cert_path = dir.write("cert.pem", cert.pem())?;
        let key_path = dir.write("key.pem", kp.serialize_pem())?;
        Ok(TestCert {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
            _dir: dir,
        })
    }

    /// `{ cert = "…", key = "…" }` for a `certificates` array.
    pub fn toml(&self) -> String {
        format!(
            "{{ cert = {:?}, key = {:?} }}",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

/// A client config trusting `trust`, offering ALPN `alpn` (none when empty).
pub fn client_config(trust: &[&TestCert], alpn: &[&[u8]]) -> Result<Arc<ClientConfig>> {
    client_config_versions(trust, alpn, rustls::DEFAULT_VERSIONS)
}

pub fn client_config_versions(
    trust: &[&TestCert],
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in trust {
        roots.add(c.der.clone()).map_err(tls_err)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

type Stream = StreamOwned<ClientConnection, TcpStream>;

pub struct TlsClient {
    reader: Reader<Stream>,
}

impl TlsClient {
    /// Connects and completes the handshake, verifying the certificate for
    /// `server_name` against `trust`; offers ALPN `http/1.1`.
    pub fn connect(addr: SocketAddr, server_name: &str, trust: &[&TestCert]) -> Result<TlsClient> {
        Self::connect_with(addr, server_name, client_config(trust, &[b"http/1.1"])?)
    }

    pub fn connect_with(
        addr: SocketAddr,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> Result<TlsClient> {
        let tcp = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
        tcp.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
        let name = ServerName::try_from(server_name.to_string()).map_err(tls_err)?;
        let conn = ClientConnection::new(config, name).map_err(tls_err)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| Error::Io(io::Error::new(e.kind(), e.to_string())))?;
        }
        Ok(TlsClient {
            reader: Reader::new(stream),
        })
    }

    fn conn(&self) -> &ClientConnection {
        &self.reader.stream().conn
    }

    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn().protocol_version()
    }

    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.conn().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The leaf certificate the server presented.
    pub fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        self.conn()
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned())
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let s = self.reader.stream_mut();
        s.write_all(bytes)?;
        s.flush()?;
        Ok(())
    }

    /// Sends `bytes` as TLS records whose ciphertext goes out in two halves,
    /// `pause` apart: the server sees a partial record in between.
    pub fn send_split(&mut self, bytes: &[u8], pause: Duration) -> Result<()> {
        let s = self.reader.stream_mut();
        s.conn.writer().write_all(bytes)?;
        let mut wire = Vec::new();
        while s.conn.wants_write() {
            s.conn.write_tls(&mut wire)?;
        }
        let half = wire.len() / 2;
        s.sock.write_all(&wire[..half])?;
        s.sock.flush()?;
        std::thread::sleep(pause);
        s.sock.write_all(&wire[half..])?;
        s.sock.flush()?;
        Ok(())
    }

    /// Sends a TLS 1.3 `key_update` (the server must answer with its own).
    pub fn update_keys(&mut self) -> Result<()> {
        let s = self.reader.stream_mut();
        s.conn.refresh_traffic_keys().map_err(tls_err)?;
        s.flush()?;
        Ok(())
    }

    pub fn request(&mut self, bytes: &[u8]) -> Result<Response> {
        self.send(bytes)?;
        read_response(&mut self.reader, bytes.starts_with(b"HEAD "))
    }

    pub fn get(&mut self, host: &str, path: &str) -> Result<Response> {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
    }

    pub fn response(&mut self) -> Result<Response> {
        read_response(&mut self.reader, false)
    }

    /// Exactly `n` raw bytes (fewer if the peer closed).
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>> {
        self.reader.read_exact_or_eof(n as u64).map(|b| b.data)
    }

    /// Only the next head (for `101 Switching Protocols`).
    pub fn head(&mut self) -> Result<Response> {
        crate::client::read_head(&mut self.reader)
    }

    /// Everything until the server closes, and whether it closed cleanly with
    /// `close_notify` (false: the TCP connection just ended).
    pub fn read_to_close(&mut self) -> Result<(Vec<u8>, bool)> {
        let mut out = self.reader.take_buffered();
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.reader.stream_mut().read(&mut tmp) {
                Ok(0) => return Ok((out, true)),
                Ok(n) => out.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((out, false)),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok((out, false)),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
