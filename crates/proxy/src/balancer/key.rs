//! Stable hashes for consistent hashing: the same bytes give the same hash
//! on every shard, in every process and after every restart or upgrade (so
//! not `std`'s `DefaultHasher`, whose algorithm may change between Rust
//! releases), plus the cookie lookup a `cookie:NAME` key needs.

use std::net::IpAddr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a (64 bit) over `bytes`, mixed by MurmurHash3's `fmix64`: FNV-1a is
/// byte-at-a-time and allocation-free, and the finaliser spreads its weak
/// low bits, which the table lookup (`hash % size`) depends on.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    seeded(bytes, 0)
}

/// [`hash_bytes`] with a seed mixed in before the finaliser: independent
/// hashes of the same bytes (Maglev's offset and skip).
pub(super) fn seeded(bytes: &[u8], seed: u64) -> u64 {
    let h = bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    });
    fmix64(h ^ seed)
}

/// The hash of a client address: an IPv4 client that reached an IPv6
/// socket (`::ffff:a.b.c.d`) hashes like the same client over IPv4.
pub fn hash_ip(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}

/// The value of cookie `name` in one `Cookie` field value
/// (`a=1; b=2`, RFC 6265 §5.4), or `None`. Names compare exactly.
pub fn cookie_value<'v>(field: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    field.split(|&b| b == b';').find_map(|pair| {
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (n, v) = (pair.get(..eq)?, pair.get(eq + 1..)?);
        (n.trim_ascii() == name).then(|| v.trim_ascii())
    })
}

/// A second hash of an existing hash (the stride of a key's walk).
pub(super) fn mix(h: u64) -> u64 {
    fmix64(h ^ 0x9e37_79b9_7f4a_7c15)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_fixed_across_builds() {
        // Pinned values: a change here remaps every consistent-hash key of
        // every running fleet on upgrade, so it must be deliberate.
        assert_eq!(hash_bytes(b""), fmix64(FNV_OFFSET));
        assert_eq!(hash_bytes(b"user-42"), 0xa395_32c7_ab05_1e8d);
        assert_eq!(hash_ip("10.1.2.3".parse().unwrap()), 0xb8b3_87fa_0a1c_d4e9);
        // FNV-1a's published vector for "a", before the finaliser.
        assert_eq!(fmix64(0xaf63_dc4c_8601_ec8c), hash_bytes(b"a"));
    }

    #[test]
    fn mapped_ipv4_hashes_like_ipv4() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(hash_ip(v4), hash_ip(mapped));
        assert_ne!(hash_ip(v4), hash_ip(v6));
    }

    #[test]
    fn seeds_give_unrelated_hashes() {
        let a = seeded(b"10.0.0.1:80", 1);
        let b = seeded(b"10.0.0.1:80", 2);
        assert_ne!(a, b);
        // Roughly half the bits differ.
        assert!((16..=48).contains(&(a ^ b).count_ones()), "{a:x} {b:x}");
    }

    #[test]
    fn cookie_lookup() {
        let field = b"session=abc; theme=dark;  user = u42 ;empty=";
        assert_eq!(cookie_value(field, b"session"), Some(&b"abc"[..]));
        assert_eq!(cookie_value(field, b"theme"), Some(&b"dark"[..]));
        assert_eq!(cookie_value(field, b"user"), Some(&b"u42"[..]));
        assert_eq!(cookie_value(field, b"empty"), Some(&b""[..]));
        assert_eq!(cookie_value(field, b"Session"), None);
        assert_eq!(cookie_value(field, b"sess"), None);
        assert_eq!(cookie_value(b"novalue; x", b"novalue"), None);
        assert_eq!(cookie_value(b"", b"a"), None);
        // A value may contain '='.
        assert_eq!(cookie_value(b"t=a=b", b"t"), Some(&b"a=b"[..]));
    }
}
