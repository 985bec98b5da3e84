//! The pool's question to a TLS connection — did anything arrive that no
//! request asked for? — against a rustls server on a std thread that sends
//! exactly what each case needs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;

use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use super::TlsStream;
use crate::upstream::tls::{TlsLog, TlsWatch};

/// What the server sends after reading the client's 4 bytes: each entry is
/// one TLS record (plaintext), all in one TCP write, followed by `tail`
/// raw bytes.
struct Script {
    records: Vec<&'static [u8]>,
    tail: &'static [u8],
}

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["origin.test".to_string()]).unwrap();
    let der: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Serves one connection by `script`; the returned channel ends the server
/// (it keeps the connection open until then).
fn serve(script: Script) -> (std::net::SocketAddr, Arc<ClientConfig>, mpsc::Sender<()>) {
    let (server, client) = configs();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut tcp, _) = l.accept().unwrap();
        let mut conn = ServerConnection::new(server).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 4 {
            conn.complete_io(&mut tcp).unwrap();
            let mut b = [0u8; 16];
            while let Ok(n) = conn.reader().read(&mut b) {
                got.extend_from_slice(&b[..n]);
            }
        }
        for r in &script.records {
            conn.writer().write_all(r).unwrap();
        }
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out.extend_from_slice(script.tail);
        tcp.write_all(&out).unwrap();
        let _ = wait.recv();
    });
    (addr, client, done)
}

async fn connect(addr: std::net::SocketAddr, config: Arc<ClientConfig>) -> TlsStream {
    let tcp = monoio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("origin.test").unwrap();
    let watch = TlsWatch {
        log: Rc::new(TlsLog::new(addr)),
        errors: metrics::Counter::noop(),
        upstream: Rc::from("test"),
    };
    let session = ClientConnection::new(config, name).unwrap();
    TlsStream::handshake(tcp, session, watch).await.unwrap()
}

/// Sends a 4-byte request, reads `want` bytes of answer, returns `quiet()`.
async fn quiet_after(script: Script, want: &[u8]) -> bool {
    let (addr, config, done) = serve(script);
    let mut s = connect(addr, config).await;
    let (res, _) = s.write_all(b"ping".to_vec()).await;
    res.unwrap();
    let (res, got) = s.read_exact(vec![0u8; want.len()]).await;
    res.unwrap();
    assert_eq!(got, want);
    // Let whatever follows the answer reach the socket before asking.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let quiet = s.quiet();
    let _ = done.send(());
    quiet
}

#[monoio::test(enable_timer = true)]
async fn an_answer_read_to_its_end_leaves_the_connection_quiet() {
    let script = Script {
        records: vec![b"pong"],
        tail: b"",
    };
    assert!(quiet_after(script, b"pong").await);
}

#[monoio::test(enable_timer = true)]
async fn a_record_nobody_asked_for_is_seen_even_when_already_read() {
    let script = Script {
        records: vec![b"pong", b"HTTP/1.1 200 OK\r\n\r\n"],
        tail: b"",
    };
    assert!(!quiet_after(script, b"pong").await);
}

#[monoio::test(enable_timer = true)]
async fn part_of_a_record_is_seen() {
    let script = Script {
        records: vec![b"pong"],
        tail: &[23, 3, 3],
    };
    assert!(!quiet_after(script, b"pong").await);
}

#[monoio::test(enable_timer = true)]
async fn a_split_stream_reads_and_writes_at_once() {
    let (addr, config, done) = serve(Script {
        records: vec![b"pong"],
        tail: b"",
    });
    let s = connect(addr, config).await;
    let (mut r, mut w) = s.into_split();
    let reader = monoio::spawn(async move {
        let (res, got) = r.read_exact(vec![0u8; 4]).await;
        res.map(|_| got)
    });
    let (res, _) = w.write_all(b"ping".to_vec()).await;
    res.unwrap();
    assert_eq!(reader.await.unwrap(), b"pong");
    let _ = done.send(());
}
