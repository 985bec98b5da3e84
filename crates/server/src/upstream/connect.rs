//! Opening a new connection to one upstream server: TCP connect with the
//! upstream's timeout and optional TCP Fast Open.

use std::time::Duration;

use monoio::net::{TcpConnectOpts, TcpStream};
use shardgate_config::UpstreamConfig;
use shardgate_proxy::{Error, ErrorKind};

use super::server::ServerState;

/// A connected stream with Nagle off, or why not (refused → 502, timed out →
/// 504 when no other server is left). `timeout`: the upstream's
/// `connect_timeout`, or the route's, cut to what is left of the total.
pub(super) async fn connect(
    server: &ServerState,
    ucfg: &UpstreamConfig,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let opts = TcpConnectOpts::default().tcp_fast_open(ucfg.tcp_fast_open);
    let res = monoio::time::timeout(
        timeout,
        TcpStream::connect_addr_with_config(server.addr, &opts),
    )
    .await;
    match res {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => {
            Err(Error::new(ErrorKind::UpstreamConnectRefused).with_errno(e.raw_os_error()))
        }
        Err(_) => Err(Error::new(ErrorKind::UpstreamConnectTimeout)),
    }
}
