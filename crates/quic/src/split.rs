//! Sorting a received batch by owner: quinn-udp hands over GRO batches (one
//! buffer, several datagrams of one sender, each `stride` bytes but the last
//! one possibly shorter). Datagrams another shard owns leave the batch; the
//! ones this shard owns are packed to the front, in order.

/// Keeps the datagrams of `buf[..len]` for which `mine` holds, packed to the
/// front, and gives every other one to `foreign`. Returns the kept length
/// (the entry's new `len`; 0 leaves an entry quinn skips).
pub(crate) fn keep_owned(
    buf: &mut [u8],
    len: usize,
    stride: usize,
    mut mine: impl FnMut(&[u8]) -> bool,
    mut foreign: impl FnMut(&[u8]),
) -> usize {
    let len = len.min(buf.len());
    let stride = stride.max(1);
    let mut kept = 0;
    let mut at = 0;
    while at < len {
        let end = (at + stride).min(len);
        let Some(seg) = buf.get(at..end) else { break };
        if mine(seg) {
            // Only the last datagram can be short, and it stays last.
            if kept != at {
                buf.copy_within(at..end, kept);
            }
            kept += end - at;
        } else {
            foreign(seg);
        }
        at = end;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams tagged by their first byte: even = ours.
    fn run(batch: &[&[u8]], stride: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut buf: Vec<u8> = batch.concat();
        let len = buf.len();
        let mut away = Vec::new();
        let kept = keep_owned(
            &mut buf,
            len,
            stride,
            |d| d[0] % 2 == 0,
            |d| away.push(d.to_vec()),
        );
        buf.truncate(kept);
        (buf, away)
    }

    #[test]
    fn owned_datagrams_are_packed_and_the_rest_handed_over() {
        let (kept, away) = run(&[b"1aaa", b"2bbb", b"3ccc", b"4d"], 4);
        assert_eq!(kept, b"2bbb4d");
        assert_eq!(away, vec![b"1aaa".to_vec(), b"3ccc".to_vec()]);
    }

    #[test]
    fn all_ours_stays_as_it_was_and_none_ours_empties_the_entry() {
        let (kept, away) = run(&[b"2aa", b"4bb", b"6c"], 3);
        assert_eq!(kept, b"2aa4bb6c");
        assert!(away.is_empty());
        let (kept, away) = run(&[b"1aa", b"3bb"], 3);
        assert!(kept.is_empty());
        assert_eq!(away.len(), 2);
    }

    #[test]
    fn a_single_datagram_is_a_batch_of_one() {
        let (kept, away) = run(&[b"3xyz"], 4);
        assert!(kept.is_empty());
        assert_eq!(away, vec![b"3xyz".to_vec()]);
        let (kept, _) = run(&[b"8xyz"], 1500);
        assert_eq!(kept, b"8xyz");
    }
}
