//! Origins that fail on purpose, beyond the per-response handlers in
//! [`super::handlers`] (slow first byte, reset mid-body, black hole, fixed
//! 503/429 answers): a server that goes away and comes back on its port.
//! A port where nothing listens (refused connects) is
//! [`crate::closed_addr`].

use std::net::SocketAddr;

use super::{Handler, Origin, OriginOptions};
use crate::error::Result;

/// A server at a fixed address that the test takes down (connects are
/// refused: nothing listens) and brings back up (same port, same handler),
/// as a crashing or restarting origin does.
pub struct Flapping {
    addr: SocketAddr,
    handler: Handler,
    opts: OriginOptions,
    up: Option<Origin>,
}

impl Flapping {
    /// Starts up, on a free port.
    pub fn start(handler: Handler) -> Result<Flapping> {
        let origin = Origin::start(handler.clone())?;
        Ok(Flapping {
            addr: origin.addr(),
            handler,
            opts: OriginOptions::default(),
            up: Some(origin),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running origin (None while down): its counters start again at
    /// zero after each [`Flapping::up`].
    pub fn origin(&self) -> Option<&Origin> {
        self.up.as_ref()
    }

    pub fn is_up(&self) -> bool {
        self.up.is_some()
    }

    /// Stops listening and closes every open connection: connects are
    /// refused until [`Flapping::up`].
    pub fn down(&mut self) {
        self.up = None;
    }

    /// Listens again on the same port (SO_REUSEADDR is std's default on
    /// Linux listeners, so TIME_WAIT leftovers do not block the bind).
    pub fn up(&mut self) -> Result<()> {
        if self.up.is_none() {
            self.up = Some(Origin::bind(
                self.addr,
                self.handler.clone(),
                self.opts.clone(),
            )?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{handlers, refuses};
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// The response up to its 2-byte body (the origin keeps the connection).
    fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while !out.ends_with(b"\r\n\r\nup") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn goes_down_and_comes_back_on_its_port() {
        let mut f = Flapping::start(handlers::fixed(200, &[], b"up")).unwrap();
        let addr = f.addr();
        assert!(get(addr).ends_with("up"));
        f.down();
        assert!(!f.is_up());
        assert!(refuses(addr));
        f.up().unwrap();
        assert!(get(addr).ends_with("up"));
        assert_eq!(f.origin().unwrap().requests(), 1, "counters restart");
        assert_eq!(f.origin().unwrap().accept_times().len(), 1);
    }
}
