//! Helpers the policy tests share.

use shardgate_config::UpstreamServer;

/// Servers 10.0.x.y:80 with these weights.
pub fn servers(weights: &[u32]) -> Vec<UpstreamServer> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| UpstreamServer {
            address: std::net::SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 80)),
            weight,
            host: None,
        })
        .collect()
}

/// How often each of `n` servers was picked.
pub fn counts(picks: &[usize], n: usize) -> Vec<u32> {
    let mut c = vec![0u32; n];
    for &i in picks {
        c[i] += 1;
    }
    c
}
