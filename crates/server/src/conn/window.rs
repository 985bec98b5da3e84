//! How long a connection stays hot after a response (ADR 5): a short
//! window, longer for connections whose requests come often.

use std::time::Duration;

/// How long a connection stays hot after a response. Long enough to cover a
/// client's turnaround under load; short enough that idle connections give their
/// buffers back quickly.
pub const HOT_WINDOW: Duration = Duration::from_millis(20);

/// The hot window of a new connection, before its first request. A client's
/// first request normally arrives within microseconds of the handshake, so a
/// short window keeps that path cheap while a flood of connections that send
/// nothing does not pin a buffer each for 20 ms.
pub const FIRST_HOT_WINDOW: Duration = Duration::from_millis(2);

/// The longest hot window. A connection whose requests come at most this far
/// apart stays hot (ADR 5, amended): parking and resuming it on every request
/// would cost a cancel, a close, a duplicate descriptor, two epoll updates and
/// a new task each time — under load, when responses slow past
/// `HOT_WINDOW`, exactly when the shard can least afford it.
pub const MAX_HOT_WINDOW: Duration = Duration::from_millis(250);

/// The hot window after a request that came `gap` after the previous
/// response: twice its connection's cadence (so one slow turn does not park
/// it), between `HOT_WINDOW` and `MAX_HOT_WINDOW`; a connection that was idle
/// longer than that is treated as idle again.
pub fn next_window(gap: Duration) -> Duration {
    if gap > MAX_HOT_WINDOW {
        return HOT_WINDOW;
    }
    (gap * 2).clamp(HOT_WINDOW, MAX_HOT_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_cadence_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(next_window(ms(0)), HOT_WINDOW, "pipelined or back to back");
        assert_eq!(next_window(ms(5)), HOT_WINDOW);
        assert_eq!(next_window(ms(30)), ms(60), "twice the gap");
        assert_eq!(next_window(ms(200)), MAX_HOT_WINDOW, "capped");
        assert_eq!(next_window(MAX_HOT_WINDOW), MAX_HOT_WINDOW);
        assert_eq!(
            next_window(ms(251)),
            HOT_WINDOW,
            "a connection idle longer than the cap is idle again"
        );
        assert_eq!(next_window(Duration::from_secs(30)), HOT_WINDOW);
    }
}
