//! The `Date` field value (RFC 9110 §5.6.7 IMF-fixdate), cached per second.
//!
//! Every response the gateway writes itself carries a Date; formatting it with
//! `chrono` or `format!` per response would allocate and cost far more than the
//! rest of the head. One shard formats it at most once per second, by hand, into a
//! fixed array.

use std::time::{SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT`
const LEN: usize = 29;
/// 9999-12-31T23:59:59Z: IMF-fixdate has a four-digit year.
const MAX_SECS: u64 = 253_402_300_799;

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

#[derive(Debug, Clone)]
pub struct DateCache {
    buf: [u8; LEN],
    /// The second `buf` shows; `None` before the first `get`.
    secs: Option<u64>,
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    pub fn new() -> Self {
        DateCache {
            buf: [b' '; LEN],
            secs: None,
        }
    }

    /// The IMF-fixdate for `now`. Clocks set before 1970 read as the epoch and
    /// beyond year 9999 as its last second, so the output is always 29 valid bytes.
    pub fn get(&mut self, now: SystemTime) -> &[u8] {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(MAX_SECS);
        if self.secs != Some(secs) {
            format_imf_fixdate(secs, &mut self.buf);
            self.secs = Some(secs);
        }
        &self.buf
    }
}

/// Writes `secs` since the epoch (≤ `MAX_SECS`) as IMF-fixdate.
fn format_imf_fixdate(secs: u64, out: &mut [u8; LEN]) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[((days + 4) % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize % 12];

    out[0..3].copy_from_slice(weekday);
    out[3..5].copy_from_slice(b", ");
    two_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(month_name);
    out[11] = b' ';
    two_digits(&mut out[12..14], year / 100);
    two_digits(&mut out[14..16], year % 100);
    out[16] = b' ';
    two_digits(&mut out[17..19], rem / 3600);
    out[19] = b':';
    two_digits(&mut out[20..22], rem / 60 % 60);
    out[22] = b':';
    two_digits(&mut out[23..25], rem % 60);
    out[25..29].copy_from_slice(b" GMT");
}

fn two_digits(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (non-negative
/// here): proleptic Gregorian year, month 1–12, day 1–31.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn fmt(secs: u64) -> String {
        String::from_utf8(DateCache::new().get(at(secs)).to_vec()).unwrap()
    }

    #[test]
    fn known_timestamps() {
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(fmt(1_709_251_200), "Fri, 01 Mar 2024 00:00:00 GMT");
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(fmt(2_147_483_647), "Tue, 19 Jan 2038 03:14:07 GMT");
        assert_eq!(fmt(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
    }

    #[test]
    fn out_of_range_clocks_clamp() {
        let mut c = DateCache::new();
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(c.get(before), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(c.get(at(u64::MAX / 4)), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn cache_refreshes_on_new_second_only() {
        let mut c = DateCache::new();
        let t = at(784_111_777);
        assert_eq!(c.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            c.get(t + Duration::from_millis(999)),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            c.get(t + Duration::from_secs(1)),
            b"Sun, 06 Nov 1994 08:49:38 GMT"
        );
        // Clocks can step back; the cache follows.
        assert_eq!(c.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn matches_day_by_day_walk() {
        // Walk every day across several leap cycles and compare with a naive calendar.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..(366 * 140) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
