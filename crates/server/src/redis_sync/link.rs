//! One Redis server as the sync thread sees it: the connection when there is
//! one, whether it is reachable, when to try again after a failure
//! (exponential backoff with jitter, so a fleet that lost Redis together does
//! not reconnect in lockstep), and the log lines of its state changes: one
//! per change, [`LOG_BURST`] at once and then one per [`LOG_REFILL`] (an
//! outage and its end are two lines; a flapping Redis does not flood the
//! log: the changes left out are counted into the next line).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis::RedisResult;
use shardgate_proxy::Rng;

use super::client::Client;
use super::script::Call;

/// First wait after a failure; it doubles per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait: how late, at most, sync resumes after Redis is back.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// State-change lines a server may log at once...
const LOG_BURST: f64 = 4.0;
/// ...and how often after that.
const LOG_REFILL: Duration = Duration::from_secs(15);

pub struct Link {
    pub address: SocketAddr,
    pub timeout: Duration,
    client: Option<Client>,
    /// Set while unreachable: when to try again, and the next backoff.
    down: Option<Down>,
    /// Lines that may be logged now (a token bucket), as of `log_at`.
    log_tokens: f64,
    log_at: Option<Instant>,
    /// State changes not logged since the last line.
    unlogged: u64,
    rng: Rng,
}

struct Down {
    retry_at: Instant,
    backoff: Duration,
}

impl Link {
    pub fn new(address: SocketAddr, timeout: Duration, seed: u64) -> Self {
        Link {
            address,
            timeout,
            client: None,
            down: None,
            log_tokens: LOG_BURST,
            log_at: None,
            unlogged: 0,
            rng: Rng::new(seed),
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    /// Whether a round trip may be tried now (up, or its backoff is over).
    pub fn ready(&self, now: Instant) -> bool {
        self.down.as_ref().is_none_or(|d| now >= d.retry_at)
    }

    /// Sends `calls` in one round trip, connecting first if needed. On
    /// failure the link is down until its backoff is over.
    pub fn run<'a>(
        &mut self,
        calls: impl Iterator<Item = &'a Call>,
        now: Instant,
    ) -> RedisResult<Vec<Vec<i64>>> {
        let result = self.round_trip(calls);
        match &result {
            Ok(_) => self.up(now),
            Err(e) => self.failed(e, now),
        }
        result
    }

    fn round_trip<'a>(
        &mut self,
        calls: impl Iterator<Item = &'a Call>,
    ) -> RedisResult<Vec<Vec<i64>>> {
        let client = match &mut self.client {
            Some(c) => c,
            None => self
                .client
                .insert(Client::connect(self.address, self.timeout)?),
        };
        client.run(calls)
    }

    fn up(&mut self, now: Instant) {
        if self.down.take().is_some() {
            if let Some(unlogged) = self.log_now(now) {
                tracing::info!(
                    address = %self.address,
                    unlogged,
                    "redis rate-limit sync resumed: cluster-wide limits apply again"
                );
            }
        }
    }

    fn failed(&mut self, e: &redis::RedisError, now: Instant) {
        self.client = None;
        let backoff = match &self.down {
            Some(d) => d.backoff.saturating_mul(2).min(MAX_BACKOFF),
            None => {
                if let Some(unlogged) = self.log_now(now) {
                    tracing::warn!(
                        address = %self.address,
                        error = %e,
                        unlogged,
                        "redis rate-limit sync failed: local limits only until it is back"
                    );
                }
                MIN_BACKOFF
            }
        };
        // Half fixed, half random: never sooner than backoff / 2.
        let wait = backoff.mul_f64(0.5 + 0.5 * self.rng.next_f64());
        self.down = Some(Down {
            retry_at: now + wait,
            backoff,
        });
    }

    /// Whether a state change is logged now (else it is counted). Some: the
    /// count of changes left unlogged since the last line, for this one.
    fn log_now(&mut self, now: Instant) -> Option<u64> {
        if let Some(at) = self.log_at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            let refill = elapsed / LOG_REFILL.as_secs_f64();
            self.log_tokens = (self.log_tokens + refill).min(LOG_BURST);
        }
        self.log_at = Some(now);
        if self.log_tokens < 1.0 {
            self.unlogged += 1;
            return None;
        }
        self.log_tokens -= 1.0;
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_with_jitter_up_to_the_cap() {
        // Nothing listens on a closed port: every connect fails at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let mut link = Link::new(address, Duration::from_millis(100), 1);
        let t0 = Instant::now();
        assert!(link.ready(t0) && !link.is_down());
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert!(link.run([].iter(), now).is_err());
            let retry_at = link.down.as_ref().unwrap().retry_at;
            assert!(!link.ready(now) && link.ready(retry_at));
            waits.push(retry_at - now);
            now = retry_at;
        }
        let mut backoff = MIN_BACKOFF;
        for w in &waits {
            assert!(*w >= backoff / 2 && *w <= backoff, "{waits:?}");
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        assert!(waits[9] >= MAX_BACKOFF / 2, "capped, not reset: {waits:?}");
        // One line for the first failure; the rest were not state changes.
        assert_eq!(link.unlogged, 0);
    }

    #[test]
    fn state_changes_log_a_burst_then_one_per_refill() {
        let mut link = Link::new(([127, 0, 0, 1], 1).into(), Duration::from_millis(100), 1);
        let t0 = Instant::now();
        // A flapping server: a change every 100 ms.
        let mut lines: Vec<Option<u64>> = (0..8)
            .map(|i| link.log_now(t0 + Duration::from_millis(100 * i)))
            .collect();
        lines.push(link.log_now(t0 + LOG_REFILL));
        let mut want = vec![Some(0); 4];
        want.extend([None; 4]);
        want.push(Some(4));
        assert_eq!(lines, want);
    }
}
