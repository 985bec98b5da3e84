//! Opening a new connection to one upstream server: TCP connect with optional
//! TCP Fast Open, then, for an upstream with `[upstream.tls]`, the TLS
//! handshake. Both together must finish within the connect timeout.

use std::time::{Duration, Instant};

use monoio::net::{TcpConnectOpts, TcpStream};
use rustls::ClientConnection;
use shardgate_config::UpstreamConfig;
use shardgate_proxy::{Error, ErrorKind};

use super::build::UpstreamState;
use super::server::ServerState;
use super::stream::tls::{HandshakeError, TlsStream};
use super::stream::UpStream;
use super::tls::{TlsClient, TlsWatch};

/// A connected stream with Nagle off, or why not (refused → 502, timed out →
/// 504 when no other server is left, TLS refused → 502). `timeout`: the
/// upstream's `connect_timeout`, or the route's, cut to what is left of the
/// total; it covers the TLS handshake too.
pub(super) async fn connect(
    server: &ServerState,
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    timeout: Duration,
) -> Result<UpStream, Error> {
    let deadline = Instant::now() + timeout;
    let opts = TcpConnectOpts::default().tcp_fast_open(ucfg.tcp_fast_open);
    let res = monoio::time::timeout(
        timeout,
        TcpStream::connect_addr_with_config(server.addr, &opts),
    )
    .await;
    let tcp = match res {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(Error::new(ErrorKind::UpstreamConnectRefused).with_errno(e.raw_os_error()))
        }
        Err(_) => return Err(Error::new(ErrorKind::UpstreamConnectTimeout)),
    };
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &ust.tls else {
        return Ok(UpStream::Plain(tcp));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match monoio::time::timeout(left, handshake(server, tls, tcp)).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(ErrorKind::UpstreamConnectTimeout)),
    }
}

async fn handshake(
    server: &ServerState,
    tls: &TlsClient,
    tcp: TcpStream,
) -> Result<UpStream, Error> {
    let name = tls.server_name(server.host(), server.addr);
    let watch = TlsWatch {
        log: server.tls_log.clone(),
        errors: tls.metrics.errors.clone(),
        upstream: tls.upstream.clone(),
    };
    let failed = |e: &dyn std::fmt::Display| {
        tls.metrics.errors.increment(1);
        server.tls_log.failed(&tls.upstream, e);
        Error::new(ErrorKind::UpstreamTls)
    };
    let session = ClientConnection::new(tls.config.clone(), name).map_err(|e| failed(&e))?;
    match TlsStream::handshake(tcp, session, watch).await {
        Ok(s) => {
            tls.metrics.handshakes.increment(1);
            if s.resumed() {
                tls.metrics.resumed.increment(1);
            }
            server.tls_log.succeeded(&tls.upstream);
            Ok(UpStream::Tls(Box::new(s)))
        }
        Err(HandshakeError::Io(e)) => {
            let errno = e.raw_os_error();
            Err(failed(&HandshakeError::Io(e)).with_errno(errno))
        }
        Err(e) => Err(failed(&e)),
    }
}
