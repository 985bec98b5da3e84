//! shardgate patch: the peer's QPACK encoder and decoder streams are read
//! and held to what a dynamic table of capacity 0 allows (RFC 9204). h3
//! advertises SETTINGS_QPACK_MAX_TABLE_CAPACITY 0 and never inserts, and
//! upstream accepted the streams but never read them, so nothing there was
//! checked and their closure went unnoticed.

/// The encoder stream may only carry Set Dynamic Table Capacity 0, which is
/// the single byte 0x20 (§4.3.1; a 5-bit prefix integer, so 0 has no other
/// encoding): any insert or duplicate cannot fit a table of capacity 0
/// (§3.2.2), and any other capacity is over the limit.
pub(crate) fn check_encoder_instructions(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.iter().all(|&b| b == 0x20) {
        Ok(())
    } else {
        Err("encoder stream instruction beyond a dynamic table of capacity 0")
    }
}

/// Longest prefix integer continuation accepted (62 bits need 9 bytes).
const MAX_INT_CONTINUATION: u8 = 10;

/// Reads the decoder stream across reads. Only Stream Cancellation (§4.4.2)
/// is meaningful to an encoder that inserted nothing: a Section
/// Acknowledgment (§4.4.1) refers to no outstanding section, and any Insert
/// Count Increment (§4.4.3; 0 included) goes beyond the inserts sent.
#[derive(Debug, Default)]
pub(crate) struct DecoderStreamCheck {
    /// Continuation bytes of a Stream Cancellation's stream id read so far;
    /// `None` at an instruction's start.
    in_int: Option<u8>,
}

impl DecoderStreamCheck {
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        for &b in bytes {
            match self.in_int {
                Some(n) => {
                    if n >= MAX_INT_CONTINUATION {
                        return Err("decoder stream integer too long");
                    }
                    self.in_int = (b & 0x80 != 0).then_some(n + 1);
                }
                None if b & 0x80 != 0 => {
                    return Err("section acknowledgment with no section outstanding");
                }
                None if b & 0x40 != 0 => {
                    // A 6-bit prefix: all ones means a continuation follows.
                    self.in_int = (b & 0x3f == 0x3f).then_some(0);
                }
                None => return Err("insert count increment beyond the inserts sent"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_stream_takes_only_capacity_zero() {
        assert!(check_encoder_instructions(b"").is_ok());
        assert!(check_encoder_instructions(&[0x20, 0x20]).is_ok());
        for bad in [&[0x3f, 0x45][..], &[0x21], &[0x40, 0x01, b'a'], &[0x80], &[0x00]] {
            assert!(check_encoder_instructions(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decoder_stream_takes_only_stream_cancellations() {
        let mut d = DecoderStreamCheck::default();
        // Stream 4, then stream 100 (0x3f + 37), split across reads.
        assert!(d.feed(&[0x44, 0x7f]).is_ok());
        assert!(d.feed(&[0x25, 0x44]).is_ok());
        for bad in [&[0x80][..], &[0x81], &[0x00], &[0x01], &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]] {
            assert!(DecoderStreamCheck::default().feed(bad).is_err(), "{bad:?}");
        }
    }
}
