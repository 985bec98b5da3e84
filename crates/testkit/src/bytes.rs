//! Test bodies: bytes that show a dropped, duplicated or shifted block, and
//! the chunked wire form of a body.

/// `len` deterministic bytes from a xorshift generator: no short period, so
/// a lost or repeated block of any size changes the comparison. Different
/// seeds give different bodies (the seed is made odd so it is never zero).
pub fn xorshift(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// `chunks` as a chunked body on the wire: each chunk with its hex size
/// line, then the last chunk and `trailers`.
pub fn chunked_wire(chunks: &[Vec<u8>], trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_has_no_short_period_and_seeds_differ() {
        let a = xorshift(1 << 16, 1);
        assert!(
            (1..=4096).all(|p| a[p..p + 64] != a[..64]),
            "a short period"
        );
        assert_ne!(xorshift(64, 1)[..], xorshift(64, 2)[..]);
        assert_eq!(xorshift(64, 7), xorshift(64, 7));
    }

    #[test]
    fn chunked_wire_frames_each_chunk_and_the_trailers() {
        let wire = chunked_wire(&[b"hello".to_vec(), vec![b'x'; 17]], &[("x-sum", "7")]);
        let want = format!(
            "5\r\nhello\r\n11\r\n{}\r\n0\r\nx-sum: 7\r\n\r\n",
            "x".repeat(17)
        );
        assert_eq!(wire, want.as_bytes());
        assert_eq!(chunked_wire(&[], &[]), b"0\r\n\r\n");
    }
}
