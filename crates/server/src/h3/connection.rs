//! One QUIC connection on its shard: the handshake, the HTTP/3 session,
//! a task per request, and the graceful drain (GOAWAY, in-flight requests
//! finish up to the grace period, then the connection closes).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_slots::Slot;

use super::live::{Held, Live};
use crate::clients::ClientCharge;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

/// RFC 9114 §8.1 error codes for the connection close.
const H3_NO_ERROR: u32 = 0x100;
const H3_INTERNAL_ERROR: u32 = 0x102;

/// Bounds of the wait after a drained connection's last response.
const LINGER_MIN: Duration = Duration::from_millis(50);
const LINGER_MAX: Duration = Duration::from_secs(1);

/// How often a draining connection looks whether its requests are done.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// What the listener decided for a new connection.
pub struct Admitted {
    /// quinn's server config (an idle-time variant).
    pub config: Arc<quinn::ServerConfig>,
    /// Serve safe requests from 0-RTT early data.
    pub early_data: bool,
    /// The connection's slot in the shard's table.
    pub slot: Slot,
    /// Counts the connection as half-open until its handshake ends.
    pub handshaking: Held,
    /// Its count against `max_connections_per_client`, if the listener has one.
    pub client: Option<ClientCharge>,
}

pub async fn serve(
    ctx: Rc<ShardCtx>,
    listener: ListenerId,
    drain: LocalEvent,
    incoming: quinn::Incoming,
    admitted: Admitted,
) {
    let Admitted {
        config,
        early_data,
        slot,
        handshaking,
        client,
    } = admitted;
    let snap = ctx.snapshot();
    let scfg = &snap.snap.config.server;
    let handshake = scfg.timeouts.tls_handshake;
    // The same limit as an HTTP/1.1 head's fields; h3 answers 431 past it.
    let max_field_section = scfg.limits.max_header_bytes as u64;
    let grace = scfg.timeouts.shutdown_grace;
    drop(snap);
    let q = &ctx.metrics.quic;
    let connecting = match incoming.accept_with(config) {
        Ok(c) => c,
        Err(_) => {
            q.handshake_failures.increment(1);
            return;
        }
    };
    // With early data the connection is served from the client's first
    // flight (0-RTT); `established` tells requests whether the handshake has
    // completed since (until then only safe methods are served, RFC 8470).
    let (conn, established) = if early_data {
        match connecting.into_0rtt() {
            Ok((conn, accepted)) => {
                let established = Rc::new(Cell::new(false));
                monoio::spawn(watch_handshake(
                    ctx.clone(),
                    conn.clone(),
                    (accepted, handshaking),
                    handshake,
                    established.clone(),
                ));
                (conn, Some(established))
            }
            Err(connecting) => {
                let done = complete(handshake, connecting).await;
                drop(handshaking);
                match done {
                    Some(c) => (c, None),
                    None => {
                        q.handshake_failures.increment(1);
                        return;
                    }
                }
            }
        }
    } else {
        let done = complete(handshake, connecting).await;
        // No longer half-open, whichever way the handshake ended.
        drop(handshaking);
        match done {
            Some(c) => {
                q.handshakes.increment(1);
                (c, None)
            }
            None => {
                q.handshake_failures.increment(1);
                return;
            }
        }
    };
    // Boxed: h3's session set-up is the largest state of this task (4.1 KB),
    // and the task lives as long as the connection; in its own allocation,
    // freed once the session is up, an idle connection holds ≈2.7 KB less.
    let h3 = Box::pin(
        h3::server::builder()
            .max_field_section_size(max_field_section)
            .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone())),
    )
    .await;
    let mut h3 = match h3 {
        Ok(h) => h,
        Err(_) => {
            q.closed.transport_error.increment(1);
            conn.close(quinn::VarInt::from_u32(H3_INTERNAL_ERROR), b"");
            return;
        }
    };
    // The server name the client asked for, once per connection.
    let sni: Option<Rc<str>> = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.server_name)
        .map(Rc::from);
    // Requests in flight on this connection, held by each request task.
    let inflight = Live::default();
    let mut drain_until: Option<Instant> = None;
    let mut accept_done = false;
    // How the connection ended; a drain that cuts it is clean.
    let mut end = End::Clean;
    loop {
        if let Some(until) = drain_until {
            if inflight.get() == 0 || Instant::now() >= until {
                break;
            }
        }
        let draining = drain_until.is_some();
        if draining && accept_done {
            // Nothing more to accept: only wait for the requests in flight.
            monoio::time::sleep(DRAIN_POLL).await;
            continue;
        }
        monoio::select! {
            r = h3.accept() => match r {
                Ok(Some(resolver)) => {
                    q.streams.increment(1);
                    let guard = inflight.enter();
                    // Where the client is now: it may have migrated since
                    // the handshake (the access log shows this address).
                    let client = conn.remote_address();
                    let sni = sni.clone();
                    // Still in early data: the handshake has not completed.
                    let early = established.as_ref().is_some_and(|e| !e.get());
                    monoio::spawn({
                        let ctx = ctx.clone();
                        async move {
                            let on = super::request::OnConnection { early, sni };
                            super::request::serve(ctx, listener, client, resolver, on).await;
                            drop(guard);
                        }
                    });
                }
                // The client closed, went idle past max_idle_time, or said
                // GOAWAY and its requests are done. While draining, the
                // requests in flight still finish (up to the grace period).
                Ok(None) => {
                    end = End::Clean;
                    if !draining {
                        break;
                    }
                    accept_done = true;
                }
                Err(e) => {
                    end = End::of(&e);
                    if !draining {
                        break;
                    }
                    accept_done = true;
                }
            },
            // The shard stops, or a reload removed the listener.
            _ = drain.wait(), if !draining => {
                // RFC 9114 §5.2: GOAWAY carries the first request stream
                // not processed: one past the last accepted (h3 adds the
                // argument to the last accepted id), so those finish.
                let _ = slot.drain();
                let _ = h3.shutdown(1).await;
                drain_until = Some(Instant::now() + grace);
            },
            _ = monoio::time::sleep(DRAIN_POLL), if draining => {},
        }
    }
    if let Some(until) = drain_until {
        // quinn's close discards stream data not yet sent: give the last
        // responses a few round trips to leave (or the client time to close
        // first), within the grace period.
        let linger = (conn.rtt() * 3).clamp(LINGER_MIN, LINGER_MAX);
        let left = until.saturating_duration_since(Instant::now());
        let _ = monoio::time::timeout(linger.min(left), conn.closed()).await;
    }
    // Requests still running after the grace period are cut here.
    conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"");
    end.count(&q.closed);
    let stats = conn.stats();
    q.bytes_received.increment(stats.udp_rx.bytes);
    q.bytes_sent.increment(stats.udp_tx.bytes);
    drop(slot);
    drop(client);
}

/// How an established connection ended (`metrics::quic::Closed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Clean,
    IdleTimeout,
    ProtocolError,
    PeerError,
    TransportError,
}

impl End {
    fn of(e: &h3::error::ConnectionError) -> End {
        use h3::error::{ConnectionError, LocalError};
        use h3::quic::ConnectionErrorIncoming;
        if e.is_h3_no_error() {
            return End::Clean;
        }
        // h3's variants are non-exhaustive: matched field by field.
        match e {
            ConnectionError::Timeout { .. }
            | ConnectionError::Remote {
                0: ConnectionErrorIncoming::Timeout,
                ..
            } => End::IdleTimeout,
            ConnectionError::Local {
                error: LocalError::Closing { .. },
                ..
            } => End::Clean,
            // h3 closed it with an error code: the peer broke the protocol.
            ConnectionError::Local { .. } => End::ProtocolError,
            ConnectionError::Remote {
                0: ConnectionErrorIncoming::ApplicationClose { .. },
                ..
            } => End::PeerError,
            _ => End::TransportError,
        }
    }

    fn count(self, c: &crate::metrics::quic::Closed) {
        match self {
            End::Clean => &c.clean,
            End::IdleTimeout => &c.idle_timeout,
            End::ProtocolError => &c.protocol_error,
            End::PeerError => &c.peer_error,
            End::TransportError => &c.transport_error,
        }
        .increment(1);
    }
}

async fn complete(limit: Duration, connecting: quinn::Connecting) -> Option<quinn::Connection> {
    match monoio::time::timeout(limit, connecting).await {
        Ok(Ok(c)) => Some(c),
        _ => None,
    }
}

/// Marks a 0-RTT connection established once its handshake completes, or
/// closes it when the handshake does not complete in time; it stays counted
/// as half-open until then.
async fn watch_handshake(
    ctx: Rc<ShardCtx>,
    conn: quinn::Connection,
    (accepted, _handshaking): (quinn::ZeroRttAccepted, Held),
    limit: Duration,
    established: Rc<Cell<bool>>,
) {
    let q = &ctx.metrics.quic;
    match monoio::time::timeout(limit, accepted).await {
        Ok(_) if conn.close_reason().is_none() => {
            established.set(true);
            q.handshakes.increment(1);
        }
        _ => {
            q.handshake_failures.increment(1);
            conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"handshake timeout");
        }
    }
}
