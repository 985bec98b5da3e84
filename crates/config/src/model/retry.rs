//! Retries and timeouts: `[route.retry]`, `[route.timeouts]` and
//! `[upstream.retry_budget]`. Defaults are in `defaults.rs`.

use std::time::Duration;

use serde::Serialize;

/// `[route.retry]`: when a proxied request is sent again, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryConfig {
    /// Tries in all, the first one included: 1 = never sent again (not even
    /// after a connect failure or the keep-alive race).
    pub attempts: u8,
    /// The failures a retry may follow.
    pub on: RetryOn,
    /// Largest request body kept, as sent upstream (chunk framing included),
    /// so that a request with a body can be sent again; 0 = a request whose
    /// body went upstream is never sent again.
    pub buffer_body: usize,
}

/// `on`: which failures are retried. A connect failure is retried for every
/// method (nothing reached the origin); the others only for idempotent
/// methods (RFC 9110 §9.2.2) whose body is kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryOn {
    /// `"connect-failure"`: the connect was refused, failed or timed out.
    pub connect_failure: bool,
    /// `"reset"`: the origin closed or reset the connection before any byte
    /// of its response arrived.
    pub reset: bool,
    /// `"502"`, `"503"`, `"504"`: the origin answered with that status (the
    /// gateway's own timeouts are never retried).
    pub status_502: bool,
    pub status_503: bool,
    pub status_504: bool,
}

impl RetryOn {
    /// The words `on` takes, in the order the docs list them.
    pub const WORDS: [&'static str; 5] = ["connect-failure", "reset", "502", "503", "504"];

    /// Nothing: the state `on` is built up from.
    pub const NONE: RetryOn = RetryOn {
        connect_failure: false,
        reset: false,
        status_502: false,
        status_503: false,
        status_504: false,
    };

    /// Turns on the condition named `word` (one of [`Self::WORDS`]); false
    /// for any other word.
    pub fn set(&mut self, word: &str) -> bool {
        self.slot(word).map(|f| *f = true).is_some()
    }

    /// Whether the condition named `word` is on.
    pub fn has(mut self, word: &str) -> bool {
        self.slot(word).is_some_and(|f| *f)
    }

    fn slot(&mut self, word: &str) -> Option<&mut bool> {
        Some(match word {
            "connect-failure" => &mut self.connect_failure,
            "reset" => &mut self.reset,
            "502" => &mut self.status_502,
            "503" => &mut self.status_503,
            "504" => &mut self.status_504,
            _ => return None,
        })
    }

    /// Whether an origin's response with this status is retried.
    pub fn status(self, status: u16) -> bool {
        match status {
            502 => self.status_502,
            503 => self.status_503,
            504 => self.status_504,
            _ => false,
        }
    }

    /// Whether anything after the request was sent is retried (a reset or a
    /// status): only then is a request body worth keeping.
    pub fn after_send(self) -> bool {
        self.reset || self.status_502 || self.status_503 || self.status_504
    }
}

/// `[route.timeouts]`: a route's own values for its upstream's timeouts;
/// `None` keeps the upstream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TimeoutOverrides {
    pub connect_timeout: Option<Duration>,
    pub response_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub total_timeout: Option<Duration>,
}

/// `[upstream.retry_budget]`: how many retries an upstream takes, per shard.
/// A retry is sent while the requests retrying stay within `percent` of the
/// requests in flight to the upstream, or else while fewer than
/// `min_per_second` retries were sent in the current second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryBudgetConfig {
    /// 0..=100.
    pub percent: u32,
    pub min_per_second: u32,
}
