//! Numbers into a log line without `format!` (which would allocate a `String`
//! or go through `fmt` machinery for every field).

use std::time::Duration;

/// `n` in decimal.
pub fn decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `n` in decimal, at least `width` digits (zero-padded).
pub fn padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = 1;
    let mut rest = n / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    for _ in digits..width {
        out.push(b'0');
    }
    decimal(out, n);
}

/// Seconds with millisecond resolution, as nginx's `$request_time`: `0.004`,
/// `12.345`.
pub fn seconds_millis(out: &mut Vec<u8>, d: Duration) {
    decimal(out, d.as_secs());
    out.push(b'.');
    padded(out, u64::from(d.subsec_millis()), 3);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals() {
        assert_eq!(s(|o| decimal(o, 0)), "0");
        assert_eq!(s(|o| decimal(o, 7)), "7");
        assert_eq!(s(|o| decimal(o, 1_234_567_890)), "1234567890");
        assert_eq!(s(|o| decimal(o, u64::MAX)), u64::MAX.to_string());
        assert_eq!(s(|o| padded(o, 5, 3)), "005");
        assert_eq!(s(|o| padded(o, 12345, 3)), "12345");
        assert_eq!(s(|o| padded(o, 0, 2)), "00");
    }

    #[test]
    fn seconds() {
        assert_eq!(s(|o| seconds_millis(o, Duration::ZERO)), "0.000");
        assert_eq!(
            s(|o| seconds_millis(o, Duration::from_micros(4_900))),
            "0.004"
        );
        assert_eq!(
            s(|o| seconds_millis(o, Duration::from_millis(12_345))),
            "12.345"
        );
    }
}
