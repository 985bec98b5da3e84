//! An origin that speaks TLS: a rustls server on std threads in front of a
//! plain [`Origin`], one cleartext connection to it per TLS connection (so
//! the inner origin's counters are the TLS origin's). Each handshake is
//! recorded: the SNI name the client sent, whether it presented a
//! certificate, whether the session was resumed, and why it failed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::{Handler, Origin};
use crate::error::{Error, Result};
use crate::tls::TestCert;

/// One TLS connection as the origin saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The SNI name the client sent (None: no SNI, as for an IP address).
    pub sni: Option<String>,
    /// The client presented a certificate (mutual TLS).
    pub client_cert: bool,
    pub resumed: bool,
    /// The protocol agreed by ALPN.
    pub alpn: Option<Vec<u8>>,
    /// Why the handshake failed (None: it completed).
    pub error: Option<String>,
}

struct State {
    stop: AtomicBool,
    handshakes: Mutex<Vec<Handshake>>,
}

pub struct TlsOrigin {
    addr: SocketAddr,
    inner: Origin,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tool {
        tool: "tls origin".into(),
        message: e.to_string(),
    }
}

impl TlsOrigin {
    /// Serves `cert` to every client.
    pub fn start(handler: Handler, cert: &TestCert) -> Result<TlsOrigin> {
        Self::with_client_auth(handler, cert, None)
    }

    /// As [`TlsOrigin::start`]; with `client_ca`, a client must present a
    /// certificate that `client_ca` issued (or is), else the handshake fails.
    pub fn with_client_auth(
        handler: Handler,
        cert: &TestCert,
        client_ca: Option<&TestCert>,
    ) -> Result<TlsOrigin> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.der.clone()).map_err(tls_err)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(tls_err)?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::from_pem_file(&cert.key).map_err(tls_err)?;
        let mut config = builder
            .with_single_cert(vec![cert.der.clone()], key)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let inner = Origin::start(handler)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            stop: AtomicBool::new(false),
            handshakes: Mutex::new(Vec::new()),
        });
        let (s2, plain, config) = (state.clone(), inner.addr(), Arc::new(config));
        let accept = std::thread::Builder::new()
            .name(format!("tls-origin-{}", addr.port()))
            .spawn(move || accept_loop(listener, config, plain, s2))?;
        Ok(TlsOrigin {
            addr,
            inner,
            state,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cleartext origin behind the TLS front: requests, connections
    /// (one per completed handshake).
    pub fn origin(&self) -> &Origin {
        &self.inner
    }

    /// Every handshake so far, in accept order.
    pub fn handshakes(&self) -> Vec<Handshake> {
        lock(&self.state.handshakes).clone()
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    plain: SocketAddr,
    state: Arc<State>,
) {
    for tcp in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(tcp) = tcp else { continue };
        let (config, state) = (config.clone(), state.clone());
        let _ = std::thread::Builder::new()
            .name("tls-origin-conn".into())
            .spawn(move || serve(tcp, config, plain, &state));
    }
}

fn serve(mut tcp: TcpStream, config: Arc<ServerConfig>, plain: SocketAddr, state: &State) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    let mut done = Ok(());
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            done = Err(e.to_string());
            break;
        }
    }
    // The alert explaining a failure, or the session tickets after success.
    while conn.wants_write() && conn.write_tls(&mut tcp).is_ok() {}
    lock(&state.handshakes).push(Handshake {
        sni: conn.server_name().map(str::to_string),
        client_cert: conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        error: done.as_ref().err().cloned(),
    });
    if done.is_err() {
        return;
    }
    let Ok(origin) = TcpStream::connect(plain) else {
        return;
    };
    relay(tcp, conn, origin);
}

/// Copies decrypted bytes to the cleartext origin and its answers back,
/// one thread per direction, the session shared under a lock that is never
/// held across a blocking read.
fn relay(tcp: TcpStream, conn: ServerConnection, origin: TcpStream) {
    let conn = Arc::new(Mutex::new(conn));
    let (Ok(tcp_w), Ok(origin_r)) = (tcp.try_clone(), origin.try_clone()) else {
        return;
    };
    let c2 = conn.clone();
    let back = std::thread::spawn(move || to_client(origin_r, tcp_w, &c2));
    to_origin(tcp, origin, &conn);
    let _ = back.join();
}

fn to_origin(mut tcp: TcpStream, mut origin: TcpStream, conn: &Mutex<ServerConnection>) {
    let mut buf = vec![0u8; 16 * 1024];
    // The handshake may already have read (and decrypted) the first request.
    let mut n = 0;
    loop {
        let mut c = lock(conn);
        let mut rd = &buf[..n];
        loop {
            match drain(&mut c, &mut origin) {
                Drained::More => {}
                Drained::Closed => {
                    let _ = origin.shutdown(Shutdown::Write);
                    return;
                }
                Drained::Failed => return,
            }
            if rd.is_empty() {
                break;
            }
            if c.read_tls(&mut rd).is_err() {
                return;
            }
            if c.process_new_packets().is_err() {
                let _ = c.write_tls(&mut tcp);
                let _ = origin.shutdown(Shutdown::Both);
                return;
            }
        }
        while c.wants_write() && c.write_tls(&mut tcp).is_ok() {}
        drop(c);
        n = match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
    }
    let _ = origin.shutdown(Shutdown::Write);
}

enum Drained {
    /// All plaintext so far went to the origin; the session is open.
    More,
    /// The client sent close_notify.
    Closed,
    Failed,
}

/// Writes the session's decrypted bytes to the origin.
fn drain(c: &mut ServerConnection, origin: &mut TcpStream) -> Drained {
    let mut plain = [0u8; 4096];
    loop {
        match c.reader().read(&mut plain) {
            Ok(0) => return Drained::Closed,
            Ok(k) => {
                if origin.write_all(&plain[..k]).is_err() {
                    return Drained::Failed;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::More,
            Err(_) => return Drained::Failed,
        }
    }
}

fn to_client(mut origin: TcpStream, mut tcp: TcpStream, conn: &Mutex<ServerConnection>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match origin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut c = lock(conn);
        if c.writer().write_all(&buf[..n]).is_err() {
            break;
        }
        while c.wants_write() {
            if c.write_tls(&mut tcp).is_err() {
                return;
            }
        }
    }
    // The origin closed: so does the TLS connection, cleanly.
    let mut c = lock(conn);
    c.send_close_notify();
    while c.wants_write() && c.write_tls(&mut tcp).is_ok() {}
    let _ = tcp.shutdown(Shutdown::Both);
}
