//! Reading `/metrics` from the admin listener: the text, and sums of the
//! samples of one family whose labels include the given pairs.

use std::net::SocketAddr;

use crate::client::Client;
use crate::error::{Error, Result};

/// The body of `GET /metrics`.
pub fn scrape(admin: SocketAddr) -> Result<String> {
    let mut c = Client::connect(admin)?;
    let r = c.get("admin", "/metrics")?;
    if r.status != 200 {
        return Err(Error::UnexpectedBytes(format!(
            "/metrics answered {}: {}",
            r.status,
            r.body_str()
        )));
    }
    Ok(r.body_str())
}

/// One `name{labels} value` line: the name, the label pairs, the value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// Every sample line of the text.
pub fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            })
            .collect();
        out.push((name.to_string(), labels, value));
    }
    out
}

/// The sum of family `name`'s samples that carry every `want` label, and
/// how many there were.
pub fn sum(text: &str, name: &str, want: &[(&str, &str)]) -> (f64, usize) {
    let mut total = 0.0;
    let mut n = 0;
    for (s, labels, v) in samples(text) {
        if s != name {
            continue;
        }
        let all = want
            .iter()
            .all(|(k, w)| labels.iter().any(|(lk, lv)| lk == k && lv == w));
        if all {
            total += v;
            n += 1;
        }
    }
    (total, n)
}

/// [`sum`] of a fresh scrape; 0 when the family has no matching sample yet.
pub fn scrape_sum(admin: SocketAddr, name: &str, want: &[(&str, &str)]) -> f64 {
    scrape(admin)
        .map(|t| sum(&t, name, want).0)
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_summed_by_label() {
        let text = "# TYPE a counter\na{shard=\"0\"} 2\na{shard=\"1\"} 3\n\
            b{listener=\"x\",shard=\"0\",state=\"idle\"} 7\nb{listener=\"y\",shard=\"0\",state=\"idle\"} 1\nc 4\n";
        assert_eq!(sum(text, "a", &[]), (5.0, 2));
        assert_eq!(
            sum(text, "b", &[("listener", "x"), ("state", "idle")]),
            (7.0, 1)
        );
        assert_eq!(sum(text, "c", &[]), (4.0, 1));
        assert_eq!(sum(text, "d", &[]), (0.0, 0));
    }
}
