//! The crate's one error type.
//!
//! Every failure on the request path ends in one of three decisions: which status
//! the client gets, whether the request may be tried again on another server, and
//! whose fault it was (for metrics and logs). The error carries exactly that, so the
//! connection driver never has to re-derive it from an `io::Error`.

use std::fmt;

use crate::shed::Shed;

/// Which party a failure is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: malformed, slow or oversized requests.
    Downstream,
    /// The origin servers.
    Upstream,
    /// The gateway itself (a bug or an exhausted local resource).
    Internal,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client did not finish its head or body in time → 408.
    ClientTimeout,
    /// The client closed, reset or stopped reading before its response was
    /// complete. Nothing more can be sent; logged as 499 (nginx's convention).
    ClientClosed,
    /// The request could not be accepted; `status` is the one the http layer chose
    /// (400, 414, 431, 501, 505 or 417; anything else is answered as 400).
    ClientMalformed { status: u16 },
    /// The request body exceeds `max_body_bytes` → 413.
    BodyTooLarge,
    /// A request that is not safe to replay arrived in TLS early data (0-RTT)
    /// before the handshake completed → 425 (RFC 8470); the client retries it.
    TooEarly,
    /// No route matches the listener, host and path → 404.
    NoRoute,
    /// The upstream refused or could not be reached → 502.
    UpstreamConnectRefused,
    /// The upstream did not accept the connection in time → 504.
    UpstreamConnectTimeout,
    /// The upstream closed or reset the connection before a complete response → 502.
    UpstreamReset,
    /// The upstream did not answer (or stalled) in time → 504.
    UpstreamTimeout,
    /// The upstream sent something that is not valid HTTP/1.1 → 502.
    UpstreamMalformed,
    /// The TLS handshake with the upstream failed (a certificate one side
    /// refused, a protocol error, the connection lost mid-handshake) → 502.
    /// No byte of the request was sent.
    UpstreamTls,
    /// Every server of the upstream is backing off or at its connection limit → 503.
    NoUpstreamAvailable,
    /// The server is at `max_conns_per_host` and `max_pending` requests already
    /// wait for it → 503 at once.
    PoolQueueFull,
    /// The request waited `pending_timeout` for a connection → 503.
    PoolQueueTimeout,
    /// A flow-control limit turned the request away before it was sent
    /// upstream; `status` is the configured answer (429 for rate limits,
    /// 503 by default for the others, any 4xx/5xx by configuration).
    Shed { reason: Shed, status: u16 },
    /// The response head is larger than the client accepts (HTTP/3's
    /// SETTINGS_MAX_FIELD_SECTION_SIZE, RFC 9114 §4.2.2): it cannot be
    /// relayed → 502. Not the origin's fault: its response is valid.
    ResponseTooLarge,
    /// A gateway bug or local resource exhaustion → 500.
    Internal,
}

impl ErrorKind {
    pub fn side(self) -> Side {
        match self {
            ErrorKind::ClientTimeout
            | ErrorKind::ClientClosed
            | ErrorKind::ClientMalformed { .. }
            | ErrorKind::BodyTooLarge
            | ErrorKind::TooEarly
            | ErrorKind::NoRoute => Side::Downstream,
            ErrorKind::UpstreamConnectRefused
            | ErrorKind::UpstreamConnectTimeout
            | ErrorKind::UpstreamReset
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamMalformed
            | ErrorKind::UpstreamTls
            | ErrorKind::NoUpstreamAvailable => Side::Upstream,
            // A limit the gateway keeps, not a fault of the server: it
            // must not count against the server's health.
            ErrorKind::PoolQueueFull
            | ErrorKind::PoolQueueTimeout
            | ErrorKind::ResponseTooLarge
            | ErrorKind::Internal => Side::Internal,
            // A client over its rate is the client's doing; the other limits
            // protect the gateway and the origins and are nobody's fault
            // (and must not count against a server's health).
            ErrorKind::Shed { reason, .. } => match reason {
                Shed::RateLimit => Side::Downstream,
                Shed::ShardInFlight | Shed::RouteInFlight | Shed::Concurrency => Side::Internal,
            },
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::ClientTimeout => 408,
            ErrorKind::ClientClosed => 499,
            ErrorKind::ClientMalformed { status } => match status {
                400 | 414 | 417 | 431 | 501 | 505 => status,
                _ => 400,
            },
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::TooEarly => 425,
            ErrorKind::NoRoute => 404,
            ErrorKind::UpstreamConnectRefused
            | ErrorKind::UpstreamReset
            | ErrorKind::UpstreamMalformed
            | ErrorKind::UpstreamTls
            | ErrorKind::ResponseTooLarge => 502,
            ErrorKind::UpstreamConnectTimeout | ErrorKind::UpstreamTimeout => 504,
            ErrorKind::NoUpstreamAvailable
            | ErrorKind::PoolQueueFull
            | ErrorKind::PoolQueueTimeout => 503,
            ErrorKind::Shed { status, .. } => match status {
                400..=599 => status,
                _ => 503,
            },
            ErrorKind::Internal => 500,
        }
    }

    /// A stable snake_case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ClientTimeout => "client_timeout",
            ErrorKind::ClientClosed => "client_closed",
            ErrorKind::ClientMalformed { .. } => "client_malformed",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::TooEarly => "too_early",
            ErrorKind::NoRoute => "no_route",
            ErrorKind::UpstreamConnectRefused => "upstream_connect_refused",
            ErrorKind::UpstreamConnectTimeout => "upstream_connect_timeout",
            ErrorKind::UpstreamReset => "upstream_reset",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamMalformed => "upstream_malformed",
            ErrorKind::UpstreamTls => "upstream_tls",
            ErrorKind::NoUpstreamAvailable => "no_upstream_available",
            ErrorKind::PoolQueueFull => "pool_queue_full",
            ErrorKind::PoolQueueTimeout => "pool_queue_timeout",
            ErrorKind::Shed { reason, .. } => reason.name(),
            ErrorKind::ResponseTooLarge => "response_too_large",
            ErrorKind::Internal => "internal",
        }
    }

    /// A failed connect means no byte of the request reached the origin, so any
    /// request may go to another server. Everything after that may have had an
    /// effect upstream and is only retried when the caller says so.
    fn retry_safe_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::UpstreamConnectRefused
                | ErrorKind::UpstreamConnectTimeout
                | ErrorKind::UpstreamTls
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::ClientTimeout => f.write_str("client timed out"),
            ErrorKind::ClientClosed => f.write_str("client closed the connection"),
            ErrorKind::ClientMalformed { status } => write!(f, "malformed request ({status})"),
            ErrorKind::BodyTooLarge => f.write_str("request body too large"),
            ErrorKind::TooEarly => f.write_str("unsafe request in early data"),
            ErrorKind::NoRoute => f.write_str("no route matches the request"),
            ErrorKind::UpstreamConnectRefused => f.write_str("upstream connect failed"),
            ErrorKind::UpstreamConnectTimeout => f.write_str("upstream connect timed out"),
            ErrorKind::UpstreamReset => f.write_str("upstream closed the connection"),
            ErrorKind::UpstreamTimeout => f.write_str("upstream timed out"),
            ErrorKind::UpstreamMalformed => f.write_str("malformed upstream response"),
            ErrorKind::UpstreamTls => f.write_str("upstream TLS handshake failed"),
            ErrorKind::NoUpstreamAvailable => f.write_str("no upstream server available"),
            ErrorKind::PoolQueueFull => {
                f.write_str("too many requests wait for an upstream connection")
            }
            ErrorKind::PoolQueueTimeout => {
                f.write_str("timed out waiting for an upstream connection")
            }
            ErrorKind::Shed { reason, .. } => write!(f, "shed: {}", reason.name()),
            ErrorKind::ResponseTooLarge => {
                f.write_str("response head larger than the client accepts")
            }
            ErrorKind::Internal => f.write_str("internal error"),
        }
    }
}

/// A request-path failure: kind, side, the OS error behind it (if any), and
/// whether retrying elsewhere is safe. `Copy` and small, so the per-request
/// context keeps it by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ({side:?}{})", Errno(*errno), side = kind.side())]
pub struct Error {
    kind: ErrorKind,
    retry_safe: bool,
    /// `errno` of the failed system call; 0 when the failure was not one
    /// (a timeout, a protocol violation).
    errno: i32,
}

/// Formats ", errno N" when there is one.
struct Errno(i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0 {
            write!(f, ", errno {}", self.0)?;
        }
        Ok(())
    }
}

impl Error {
    /// Retry-safe only for connect failures (nothing was sent).
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            retry_safe: kind.retry_safe_by_default(),
            errno: 0,
        }
    }

    /// Records the OS error that caused the failure (from `io::Error::raw_os_error`).
    pub fn with_errno(self, errno: Option<i32>) -> Error {
        Error {
            errno: errno.unwrap_or(0),
            ..self
        }
    }

    pub fn errno(&self) -> Option<i32> {
        (self.errno != 0).then_some(self.errno)
    }

    /// For an upstream failure after the request was (perhaps partly) written:
    /// repeating it is only harmless when the method is idempotent (RFC 9110
    /// §9.2.2) and the caller can still replay the body; the caller knows both.
    pub fn after_send(kind: ErrorKind, replayable: bool) -> Error {
        Error::new(kind).with_retry_safe(kind.retry_safe_by_default() || replayable)
    }

    /// Only upstream failures can be retried: retrying a client's mistake or our
    /// own bug on another server gives the same result.
    pub fn with_retry_safe(self, retry_safe: bool) -> Error {
        Error {
            retry_safe: retry_safe && self.kind.side() == Side::Upstream,
            ..self
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn side(&self) -> Side {
        self.kind.side()
    }

    pub fn retry_safe(&self) -> bool {
        self.retry_safe
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_sides() {
        let cases = [
            (ErrorKind::ClientTimeout, 408, Side::Downstream),
            (ErrorKind::ClientClosed, 499, Side::Downstream),
            (
                ErrorKind::ClientMalformed { status: 431 },
                431,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 414 },
                414,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 501 },
                501,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 505 },
                505,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 417 },
                417,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 200 },
                400,
                Side::Downstream,
            ),
            (
                ErrorKind::ClientMalformed { status: 502 },
                400,
                Side::Downstream,
            ),
            (ErrorKind::BodyTooLarge, 413, Side::Downstream),
            (ErrorKind::TooEarly, 425, Side::Downstream),
            (ErrorKind::NoRoute, 404, Side::Downstream),
            (ErrorKind::UpstreamConnectRefused, 502, Side::Upstream),
            (ErrorKind::UpstreamConnectTimeout, 504, Side::Upstream),
            (ErrorKind::UpstreamReset, 502, Side::Upstream),
            (ErrorKind::UpstreamTimeout, 504, Side::Upstream),
            (ErrorKind::UpstreamMalformed, 502, Side::Upstream),
            (ErrorKind::NoUpstreamAvailable, 503, Side::Upstream),
            (ErrorKind::PoolQueueFull, 503, Side::Internal),
            (ErrorKind::PoolQueueTimeout, 503, Side::Internal),
            (ErrorKind::ResponseTooLarge, 502, Side::Internal),
            (ErrorKind::Internal, 500, Side::Internal),
            (
                ErrorKind::Shed {
                    reason: Shed::RateLimit,
                    status: 429,
                },
                429,
                Side::Downstream,
            ),
            (
                ErrorKind::Shed {
                    reason: Shed::Concurrency,
                    status: 503,
                },
                503,
                Side::Internal,
            ),
            (
                ErrorKind::Shed {
                    reason: Shed::RouteInFlight,
                    status: 200,
                },
                503,
                Side::Internal,
            ),
        ];
        for (kind, status, side) in cases {
            let e = Error::new(kind);
            assert_eq!(e.status(), status, "{kind:?}");
            assert_eq!(e.side(), side, "{kind:?}");
            assert_eq!(e.kind(), kind);
        }
    }

    #[test]
    fn retry_safety() {
        assert!(Error::new(ErrorKind::UpstreamConnectRefused).retry_safe());
        assert!(Error::new(ErrorKind::UpstreamConnectTimeout).retry_safe());
        assert!(!Error::new(ErrorKind::UpstreamReset).retry_safe());
        assert!(!Error::new(ErrorKind::UpstreamTimeout).retry_safe());
        assert!(!Error::after_send(ErrorKind::UpstreamReset, false).retry_safe());
        assert!(Error::after_send(ErrorKind::UpstreamReset, true).retry_safe());
        // A connect failure stays retry-safe whatever the method.
        assert!(Error::after_send(ErrorKind::UpstreamConnectRefused, false).retry_safe());
        // Client-side and internal failures never are.
        assert!(!Error::new(ErrorKind::ClientTimeout)
            .with_retry_safe(true)
            .retry_safe());
        assert!(!Error::new(ErrorKind::Internal)
            .with_retry_safe(true)
            .retry_safe());
        assert!(!Error::new(ErrorKind::UpstreamConnectRefused)
            .with_retry_safe(false)
            .retry_safe());
    }

    #[test]
    fn display_names_kind_and_side() {
        let e = Error::from(ErrorKind::UpstreamTimeout);
        assert_eq!(e.to_string(), "upstream timed out (Upstream)");
        let e = Error::new(ErrorKind::ClientMalformed { status: 431 });
        assert_eq!(e.to_string(), "malformed request (431) (Downstream)");
        let e = Error::new(ErrorKind::UpstreamReset).with_errno(Some(104));
        assert_eq!(e.errno(), Some(104));
        assert_eq!(
            e.to_string(),
            "upstream closed the connection (Upstream, errno 104)"
        );
        assert_eq!(Error::new(ErrorKind::Internal).errno(), None);
    }
}
