//! Timestamps for log lines, from a `SystemTime`, in UTC, without a date
//! library: days since the epoch → civil date by Howard Hinnant's
//! `civil_from_days` (proleptic Gregorian, exact for every date here).

use std::time::{SystemTime, UNIX_EPOCH};

use super::num::{decimal, padded};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// RFC 3339 with milliseconds, for JSON: `2026-11-30T10:20:30.123Z`.
pub fn rfc3339_millis(out: &mut Vec<u8>, t: SystemTime) {
    let c = Civil::from(t);
    padded(out, c.year, 4);
    out.push(b'-');
    padded(out, c.month, 2);
    out.push(b'-');
    padded(out, c.day, 2);
    out.push(b'T');
    clock(out, &c);
    out.push(b'.');
    padded(out, c.millis, 3);
    out.push(b'Z');
}

/// The combined format's `[30/Nov/2026:10:20:30 +0000]`, brackets included.
pub fn combined(out: &mut Vec<u8>, t: SystemTime) {
    let c = Civil::from(t);
    out.push(b'[');
    padded(out, c.day, 2);
    out.push(b'/');
    // `month` is 1..=12 by construction; `get` keeps that from being a panic.
    out.extend_from_slice(
        MONTHS
            .get((c.month as usize).wrapping_sub(1))
            .map_or(b"???", |m| *m),
    );
    out.push(b'/');
    decimal(out, c.year);
    out.push(b':');
    clock(out, &c);
    out.extend_from_slice(b" +0000]");
}

fn clock(out: &mut Vec<u8>, c: &Civil) {
    padded(out, c.hour, 2);
    out.push(b':');
    padded(out, c.minute, 2);
    out.push(b':');
    padded(out, c.second, 2);
}

struct Civil {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u64,
}

impl From<SystemTime> for Civil {
    /// A clock set before 1970 is shown as the epoch.
    fn from(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, of_day) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
            millis: u64::from(since.subsec_millis()),
        }
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31). Unsigned: only
/// dates from the epoch on reach here.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, the start of a 400-year era, so that the
    // leap day is the last day of the (March-based) year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March) year, 0..=365
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    fn both(t: SystemTime) -> (String, String) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        rfc3339_millis(&mut a, t);
        combined(&mut b, t);
        (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap())
    }

    #[test]
    fn known_timestamps() {
        let cases = [
            (
                at(0, 0),
                "1970-01-01T00:00:00.000Z",
                "[01/Jan/1970:00:00:00 +0000]",
            ),
            (
                at(951_782_400, 0),
                "2000-02-29T00:00:00.000Z",
                "[29/Feb/2000:00:00:00 +0000]",
            ),
            (
                at(1_796_034_030, 123),
                "2026-11-30T10:20:30.123Z",
                "[30/Nov/2026:10:20:30 +0000]",
            ),
            (
                at(1_735_689_599, 999),
                "2024-12-31T23:59:59.999Z",
                "[31/Dec/2024:23:59:59 +0000]",
            ),
            // 2100 is not a leap year: 28 Feb is followed by 1 Mar.
            (
                at(4_107_542_400, 7),
                "2100-03-01T00:00:00.007Z",
                "[01/Mar/2100:00:00:00 +0000]",
            ),
            (
                at(4_107_542_399, 0),
                "2100-02-28T23:59:59.000Z",
                "[28/Feb/2100:23:59:59 +0000]",
            ),
        ];
        for (t, rfc, clf) in cases {
            assert_eq!(both(t), (rfc.to_string(), clf.to_string()));
        }
    }

    #[test]
    fn before_the_epoch_is_the_epoch() {
        let t = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(both(t).0, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_round_trips_through_the_calendar() {
        // Walk 1970..2400 day by day and check the date advances by exactly one.
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..157_000 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
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
