//! Upstream connections, busy and idle, and the open-connection accounting
//! that `max_conns_per_host` limits.

use std::rc::Rc;

use monoio::net::TcpStream;

use super::server::ServerState;

/// A connection a request holds. Counted open in its server's pool until it
/// is dropped (closed) or released back to the pool.
pub struct UpConn {
    pub stream: TcpStream,
    pub(super) open: OpenGuard,
}

impl UpConn {
    pub(super) fn new(stream: TcpStream, server: &Rc<ServerState>) -> Self {
        server.pool.borrow_mut().on_open();
        UpConn {
            stream,
            open: OpenGuard {
                server: Some(server.clone()),
            },
        }
    }

    /// The server this connection goes to.
    pub fn server(&self) -> Option<&Rc<ServerState>> {
        self.open.server.as_ref()
    }
}

/// Reports the close of a busy connection to its pool. Disarmed (taken) when
/// the connection goes back into the pool, which then counts it itself.
pub(super) struct OpenGuard {
    pub(super) server: Option<Rc<ServerState>>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            // Never re-entrant: the pool is only borrowed in short synchronous
            // sections that do not drop busy connections.
            if let Ok(mut pool) = s.pool.try_borrow_mut() {
                pool.on_close();
            }
        }
    }
}
