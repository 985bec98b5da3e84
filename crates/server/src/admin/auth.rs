//! The optional bearer token (`[admin] token_file`).
//!
//! Both sides are hashed (SHA-256) before a constant-time comparison
//! (`subtle`): comparing the digests takes the same time for any presented
//! value, so neither the token's bytes nor its length leak through timing.

use shardgate_config::Secret;
use subtle::ConstantTimeEq;

/// Whether `authorization` (the field's value) carries `token` as
/// `Bearer <token>`. The scheme is case-insensitive (RFC 9110 §11.1).
pub fn authorized(authorization: Option<&str>, token: &Secret) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, presented)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented = digest(presented.trim_start().as_bytes());
    let expected = digest(token.expose().as_bytes());
    presented.as_ref().ct_eq(expected.as_ref()).into()
}

fn digest(bytes: &[u8]) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_as_bearer_passes() {
        let t = Secret::new("abc123".into());
        assert!(authorized(Some("Bearer abc123"), &t));
        assert!(authorized(Some("bearer abc123"), &t));
        assert!(!authorized(None, &t));
        assert!(!authorized(Some("Bearer abc124"), &t), "same length");
        assert!(!authorized(Some("Bearer abc12"), &t));
        assert!(!authorized(Some("Bearer abc1234"), &t));
        assert!(!authorized(Some("Basic abc123"), &t));
        assert!(!authorized(Some("abc123"), &t));
        assert!(!authorized(Some("Bearer "), &t));
    }
}
