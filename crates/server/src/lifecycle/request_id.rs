//! Request ids: the client's `X-Request-Id` (or the configured header) when
//! it sent a sane one, else one generated here; passed upstream and logged.

use shardgate_proxy::Rng;

/// Longest client-supplied id taken as is; a longer (or non-printable) one
/// is replaced, so logs and upstreams never see an unbounded client string.
const MAX_CLIENT_ID: usize = 128;

/// The id of one request. Generated ids are 32 hex digits (128 random bits)
/// kept inline; a client's id stays in the read buffer and is forwarded with
/// its header untouched, so only its length is needed here (the access log
/// copies it with the other fields).
#[derive(Default, Clone, Copy)]
pub struct RequestId {
    generated: [u8; 32],
    /// The id was generated (and must be added to the upstream request).
    pub is_generated: bool,
    /// The id came from the client (and is forwarded as it came).
    pub from_client: bool,
}

impl RequestId {
    /// Keeps a sane client id, else generates one from `rng`.
    pub fn resolve(client: Option<&[u8]>, rng: &mut Rng) -> RequestId {
        if client.is_some_and(acceptable) {
            return RequestId {
                from_client: true,
                ..RequestId::default()
            };
        }
        let mut id = RequestId {
            is_generated: true,
            ..RequestId::default()
        };
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let words = [rng.next_u64(), rng.next_u64()];
        for (i, b) in id.generated.iter_mut().enumerate() {
            let w = words.get(i / 16).copied().unwrap_or(0);
            let nibble = (w >> ((i % 16) * 4)) & 0xf;
            *b = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        }
        id
    }

    /// The generated id's text (empty when the client's is used).
    pub fn generated(&self) -> &[u8] {
        if self.is_generated {
            &self.generated
        } else {
            &[]
        }
    }
}

/// Visible ASCII only, bounded: anything else could forge log lines or
/// smuggle bytes into upstream heads.
fn acceptable(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= MAX_CLIENT_ID && v.iter().all(|b| (0x21..0x7f).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_when_sane_and_replaced_otherwise() {
        let mut rng = Rng::new(7);
        let id = RequestId::resolve(Some(b"abc-123"), &mut rng);
        assert!(id.from_client && !id.is_generated);
        assert_eq!(id.generated(), b"");
        for bad in [&b""[..], b"has space", b"\x01ctl", &[b'a'; 129][..]] {
            let id = RequestId::resolve(Some(bad), &mut rng);
            assert!(id.is_generated, "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_hex_and_differ() {
        let mut rng = Rng::new(7);
        let a = RequestId::resolve(None, &mut rng);
        let b = RequestId::resolve(None, &mut rng);
        assert_eq!(a.generated().len(), 32);
        assert!(a.generated().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a.generated(), b.generated());
    }
}
