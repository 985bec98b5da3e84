//! One proxied request's plan for its attempts: the route's retry policy,
//! the upstream timeouts in force (the route's `[route.timeouts]` over its
//! upstream's), the deadline of the total timeout, and the request's place
//! in the upstream's retry budget. The retry rule itself is in `select.rs`.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use shardgate_config::{RetryBudgetConfig, RetryConfig, RouteConfig, UpstreamConfig};
use shardgate_proxy::{Error, ErrorKind};

use crate::upstream::{Slot, UpConn, UpstreamState};

/// The upstream timeouts of one request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From the request sent to the response head → 504.
    pub response: Duration,
    /// Between two reads of the response body (and a tunnel's idle limit).
    pub read: Duration,
}

pub struct Attempts<'a> {
    pub(super) retry: RetryConfig,
    pub(super) budget: RetryBudgetConfig,
    pub(super) ust: &'a UpstreamState,
    pub timeouts: Timeouts,
    /// The total timeout's end (None: no total).
    deadline: Option<Instant>,
    /// The method may be sent twice (RFC 9110 §9.2.2).
    pub idempotent: bool,
    /// Skip the pool: the last attempt lost the keep-alive race.
    pub(super) fresh_only: bool,
    /// A retry was let through: the request counts among the budget's
    /// retrying ones until it ends.
    pub(super) retrying: bool,
    /// The request's admission under the upstream's adaptive concurrency
    /// limit (`concurrency.rs`); released with its sample when dropped.
    pub(super) slot: Option<Slot<'a>>,
}

impl<'a> Attempts<'a> {
    /// The plan for a request of `route` to `ust`; it counts as active in
    /// the upstream's retry budget until dropped.
    pub fn new(
        route: &RouteConfig,
        ucfg: &UpstreamConfig,
        ust: &'a UpstreamState,
        idempotent: bool,
    ) -> Self {
        let o = &route.timeouts;
        ust.budget.enter();
        Attempts {
            retry: route.retry,
            budget: ucfg.retry_budget,
            ust,
            timeouts: Timeouts {
                connect: o.connect_timeout.unwrap_or(ucfg.connect_timeout),
                response: o.response_timeout.unwrap_or(ucfg.response_timeout),
                read: o.read_timeout.unwrap_or(ucfg.read_timeout),
            },
            deadline: o
                .total_timeout
                .or(ucfg.total_timeout)
                .map(|t| Instant::now() + t),
            idempotent,
            fresh_only: false,
            retrying: false,
            slot: None,
        }
    }

    /// What is left of the total timeout (None: no total).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub(super) fn expired(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// The connect timeout, cut to what is left of the total.
    pub fn connect_timeout(&self) -> Duration {
        self.remaining().map_or(self.timeouts.connect, |left| {
            left.min(self.timeouts.connect)
        })
    }

    /// The origin answered with a response head of `status`, kept or
    /// dropped for a retry: its server's health hears of it.
    pub fn answered(&mut self, up: &mut UpConn, status: u16) {
        self.ust.answered(up, status);
        if let Some(slot) = &mut self.slot {
            slot.answered(status);
        }
    }

    /// The largest request body worth keeping for a replay: 0 when a kept
    /// body could never be sent again (a method that is not idempotent, or
    /// `attempts = 1`).
    pub fn buffer_body(&self) -> usize {
        if self.idempotent && self.retry.attempts > 1 {
            self.retry.buffer_body
        } else {
            0
        }
    }
}

impl Drop for Attempts<'_> {
    fn drop(&mut self) {
        self.ust.budget.leave(self.retrying);
    }
}

/// Runs `f` within `left` of the total timeout (None: no limit); when it
/// runs out, `f` is dropped and the attempt failed with a timeout (504 before
/// the response head, a close after it).
///
/// The deadline is checked before `f` is polled, not after: when the shard
/// was not scheduled for a while (a loaded machine), the attempt's progress
/// and the timer are ready together, and nothing more may be forwarded once
/// the deadline has passed.
pub async fn within<T>(
    left: Option<Duration>,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(left) = left else {
        return f.await;
    };
    let deadline = Instant::now() + left;
    let mut f = std::pin::pin!(f);
    let mut timer = std::pin::pin!(monoio::time::sleep(left));
    std::future::poll_fn(|cx| {
        if timer.as_mut().poll(cx).is_ready() || Instant::now() >= deadline {
            return Poll::Ready(Err(Error::new(ErrorKind::UpstreamTimeout)));
        }
        f.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_deadline_wins_over_an_attempt_that_got_ready_during_a_stall() {
        // The attempt waits (pending, already woken), then the thread does
        // not run for 30 ms; when it is polled again it is ready, and so is
        // the 10 ms deadline: the deadline decides.
        let mut polls = 0;
        let attempt = std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                std::thread::sleep(Duration::from_millis(30));
                return Poll::Pending;
            }
            Poll::Ready(Ok::<_, Error>("answered"))
        });
        let r = block_on(within(Some(Duration::from_millis(10)), attempt));
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::UpstreamTimeout));
    }

    #[test]
    fn an_attempt_within_the_deadline_or_without_one_runs_to_its_end() {
        let quick = async { Ok::<_, Error>(1) };
        assert_eq!(block_on(within(Some(Duration::from_secs(5)), quick)), Ok(1));
        let slow = async {
            monoio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Error>(2)
        };
        assert_eq!(block_on(within(None, slow)), Ok(2));
        let hangs = async {
            monoio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Error>(3)
        };
        let t0 = Instant::now();
        let r = block_on(within(Some(Duration::from_millis(20)), hangs));
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::UpstreamTimeout));
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
