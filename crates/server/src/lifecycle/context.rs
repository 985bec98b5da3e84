//! The per-request context: one record that every phase reads and writes,
//! from the parsed head to the log line.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

use shardgate_proxy::Error;

use super::request_id::RequestId;
use crate::flight::InFlight;
use crate::upstream::Tried;

/// Where the request stands, for the access log and metrics. Plain data on
/// the request task's stack: nothing here allocates.
pub struct RequestCtx {
    // Set by the front end.
    pub listener: usize,
    pub client: SocketAddr,
    pub protocol: &'static str,
    /// `"TLSv1.3"` or `"TLSv1.2"` when the request came over TLS.
    pub tls_version: Option<&'static str>,
    pub started: Instant,
    /// Wall-clock start, for the access log (read only when the request is
    /// logged: the log phase's clock read is not paid otherwise).
    pub wall: SystemTime,
    // route
    pub route: Option<usize>,
    /// The access log is on and the route did not turn it off.
    pub log_enabled: bool,
    // select
    pub upstream: Option<usize>,
    /// The consistent-hash key (set by `enter` only for an upstream that
    /// balances with `consistent_hash`).
    pub hash: Option<u64>,
    pub server: Option<SocketAddr>,
    /// Attempts sent upstream (2 after a retry; a failed connect sent
    /// nothing and is not counted).
    pub attempts: u8,
    /// Retries granted (a retry after a failed connect included), so the
    /// tries so far are `retries + 1`.
    pub retries: u8,
    /// The servers tried, so that a retry goes to another one.
    pub tried: Tried,
    pub reused: bool,
    pub connect: Option<Duration>,
    // send / receive
    /// Since `started`: the first byte of the upstream response arrived.
    pub first_byte: Option<Duration>,
    /// The status sent to the client (0 until a response head was sent).
    pub status: u16,
    /// A response head has reached the client: failures can only close.
    pub response_started: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub failure: Option<Error>,
    pub request_id: RequestId,
    /// Copies of the request's strings for the access log (see [`Fields`]).
    pub fields: Fields,
    /// The request's place in the in-flight counts (admit), given back
    /// when the context is dropped.
    pub in_flight: InFlight,
}

impl RequestCtx {
    pub fn new(listener: usize, client: SocketAddr, tls_version: Option<&'static str>) -> Self {
        RequestCtx {
            listener,
            client,
            protocol: "HTTP/1.1",
            tls_version,
            started: Instant::now(),
            wall: SystemTime::UNIX_EPOCH,
            route: None,
            log_enabled: false,
            upstream: None,
            hash: None,
            server: None,
            attempts: 0,
            retries: 0,
            tried: Tried::default(),
            reused: false,
            connect: None,
            first_byte: None,
            status: 0,
            response_started: false,
            bytes_in: 0,
            bytes_out: 0,
            failure: None,
            request_id: RequestId::default(),
            fields: Fields::default(),
            in_flight: InFlight::default(),
        }
    }

    /// Records a failure; the first one is the cause and is kept.
    pub fn fail(&mut self, e: Error) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
    }

    /// The response head (status `status`) went to the client.
    pub fn responded(&mut self, status: u16, bytes: usize) {
        self.status = status;
        self.response_started = true;
        self.bytes_out += bytes as u64;
    }

    /// The status for logs and metrics: what was sent, else what the failure
    /// implies (499 when the client left first).
    pub fn final_status(&self) -> u16 {
        if self.status != 0 {
            self.status
        } else {
            self.failure.map(|e| e.status()).unwrap_or(0)
        }
    }

    pub fn mark_first_byte(&mut self) {
        if self.first_byte.is_none() {
            self.first_byte = Some(self.started.elapsed());
        }
    }
}

/// Which copied string a [`Fields`] range holds.
#[derive(Clone, Copy)]
pub enum Field {
    Method,
    Host,
    Target,
    UserAgent,
    Referer,
    RequestId,
    Sni,
}

const FIELDS: usize = 7;

/// The request's strings, copied out of the read buffer (which later reads
/// overwrite) into one pooled buffer, only when the request will be logged.
/// Each is cut to what fits: the buffer never grows.
#[derive(Default)]
pub struct Fields {
    pub buf: Vec<u8>,
    ranges: [Range<usize>; FIELDS],
}

impl Fields {
    /// Longest copy of one field; what is longer is cut (and logged cut).
    const MAX_FIELD: usize = 2048;

    pub fn put(&mut self, which: Field, value: &[u8]) {
        let room = self.buf.capacity().saturating_sub(self.buf.len());
        let n = value.len().min(room).min(Self::MAX_FIELD);
        let start = self.buf.len();
        self.buf
            .extend_from_slice(value.get(..n).unwrap_or_default());
        if let Some(r) = self.ranges.get_mut(which as usize) {
            *r = start..start + n;
        }
    }

    pub fn get(&self, which: Field) -> &[u8] {
        self.ranges
            .get(which as usize)
            .and_then(|r| self.buf.get(r.clone()))
            .unwrap_or_default()
    }

    /// Empties the copies, keeping the buffer's allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ranges = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_cut_to_the_buffer_and_never_grow_it() {
        let mut f = Fields {
            buf: Vec::with_capacity(10),
            ..Fields::default()
        };
        f.put(Field::Method, b"GET");
        f.put(Field::Target, b"/a/very/long/path");
        f.put(Field::Host, b"x");
        assert_eq!(f.get(Field::Method), b"GET");
        assert_eq!(f.get(Field::Target), b"/a/very");
        assert_eq!(f.get(Field::Host), b"");
        assert_eq!(f.get(Field::Referer), b"");
        assert_eq!(f.buf.capacity(), 10);
        f.clear();
        assert_eq!(f.get(Field::Method), b"");
        assert_eq!(f.buf.capacity(), 10);
    }
}
