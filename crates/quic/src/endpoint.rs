//! A shard's QUIC endpoint: its member socket of the listener's reuseport
//! group, connection IDs that name the shard, and the transport settings of
//! `[listener.quic]`.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{EndpointConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt};

use crate::cid::{CidLayout, ShardCids};
use crate::runtime::MonoioRuntime;
use crate::socket::ShardSocket;
use crate::Error;

/// Idle-timeout variants per listener: each new connection gets one at
/// random, which spreads expiries over ± `idle_jitter` (quinn's idle timer
/// is per transport config, not per connection).
pub const IDLE_VARIANTS: usize = 16;

/// Unidirectional streams a client may open: HTTP/3 needs three (control,
/// QPACK encoder, QPACK decoder); the rest is room for extensions and grease.
const MAX_UNI_STREAMS: u32 = 16;

/// Request-body bytes one stream may have in flight to us (quinn's default:
/// 100 ms at 100 Mbit/s). Buffered until the upstream takes them.
pub const STREAM_RECEIVE_WINDOW: u32 = 1_250_000;
/// Request-body bytes one connection may have in flight to us, over all its
/// streams. quinn's default is unlimited (only streams × stream window bound
/// it: 125 MB at 100 streams); four streams' worth keeps uploads at full
/// speed and bounds what a client that sends and never lets the body drain
/// can make a shard hold (docs/flow-control.md, "Every queue").
pub const CONNECTION_RECEIVE_WINDOW: u32 = 4 * STREAM_RECEIVE_WINDOW;
/// Response bytes sent and not yet acknowledged, per connection (quinn's
/// default): the most a slow reader can make a shard hold for it.
pub const SEND_WINDOW: u64 = 8 * STREAM_RECEIVE_WINDOW as u64;

/// `[listener.quic]` as the transport sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transport {
    pub max_idle_time: Duration,
    pub idle_jitter: f64,
    pub max_streams: u32,
    pub early_data: bool,
}

/// One quinn server config per idle-time variant, all sharing `tls` (which
/// must offer TLS 1.3 with ALPN `h3`; `max_early_data_size` is set here).
pub fn server_configs(
    tls: rustls::ServerConfig,
    t: &Transport,
) -> Result<Vec<Arc<ServerConfig>>, Error> {
    let mut tls = tls;
    // quinn accepts 0-RTT only with the QUIC sentinel value (RFC 9001 §4.6.1).
    tls.max_early_data_size = if t.early_data { u32::MAX } else { 0 };
    let crypto =
        Arc::new(QuicServerConfig::try_from(Arc::new(tls)).map_err(|e| Error::Tls(e.to_string()))?);
    let mut out = Vec::with_capacity(IDLE_VARIANTS);
    for idle in idle_times(t.max_idle_time, t.idle_jitter) {
        let mut tc = TransportConfig::default();
        tc.max_concurrent_bidi_streams(VarInt::from_u32(t.max_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS))
            .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW))
            .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW))
            .send_window(SEND_WINDOW)
            // HTTP/3 datagrams (RFC 9297) are not served: without this quinn
            // advertises them and keeps up to 1.25 MB of unread ones per
            // connection.
            .datagram_receive_buffer_size(None)
            .max_idle_timeout(Some(
                IdleTimeout::try_from(idle).map_err(|e| Error::Transport(e.to_string()))?,
            ));
        let mut sc = ServerConfig::with_crypto(crypto.clone());
        sc.transport_config(Arc::new(tc));
        out.push(Arc::new(sc));
    }
    Ok(out)
}

/// The idle times of the variants: evenly spread from (1 − jitter) to
/// (1 + jitter) of `max_idle` (jitter is validated to 0–0.5).
fn idle_times(max_idle: Duration, jitter: f64) -> impl Iterator<Item = Duration> {
    let jitter = jitter.clamp(0.0, 1.0);
    (0..IDLE_VARIANTS).map(move |i| {
        let share = i as f64 / (IDLE_VARIANTS - 1).max(1) as f64;
        max_idle.mul_f64(1.0 - jitter + 2.0 * jitter * share)
    })
}

/// RFC 9000 §15.
const QUIC_V1: u32 = 0x0000_0001;

/// Builds the shard's endpoint on its socket. Must run on the shard thread
/// inside its runtime (quinn spawns the endpoint's driver task here).
pub fn shard_endpoint(
    socket: ShardSocket,
    layout: &CidLayout,
    shard: usize,
    default: Arc<ServerConfig>,
) -> Result<quinn::Endpoint, Error> {
    let shard = u8::try_from(shard).map_err(|_| Error::TooManyShards(shard))?;
    let mut ec = EndpointConfig::default();
    // QUIC version 1 only (RFC 9000): quinn's default also accepts the
    // drafts 29–34, whose clients offer `h3-29` and the like, never the
    // `h3` ALPN the listener serves. Any other version now gets a Version
    // Negotiation packet listing version 1.
    ec.supported_versions(vec![QUIC_V1]);
    let layout = layout.clone();
    ec.cid_generator(move || Box::new(ShardCids::for_shard(layout.clone(), shard)));
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        ec,
        Some((*default).clone()),
        Arc::new(socket),
        Arc::new(MonoioRuntime),
    )?;
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_times_spread_evenly_over_the_jitter() {
        let t: Vec<Duration> = idle_times(Duration::from_secs(30), 0.15).collect();
        assert_eq!(t.len(), IDLE_VARIANTS);
        assert_eq!(t[0], Duration::from_millis(25_500));
        assert_eq!(t[IDLE_VARIANTS - 1], Duration::from_millis(34_500));
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        let mean = t.iter().sum::<Duration>() / IDLE_VARIANTS as u32;
        assert!(mean.abs_diff(Duration::from_secs(30)) < Duration::from_millis(1));
        // No jitter: every variant is the configured time.
        assert!(idle_times(Duration::from_secs(5), 0.0).all(|d| d == Duration::from_secs(5)));
    }
}
