//! Durations as written in the config: `"250ms"`, `"3s"`, `"2m"`, `"1h"`, `"1m30s"`.
//!
//! A unit is mandatory: a bare `30` is the classic "seconds or milliseconds?"
//! outage, so it is rejected with a message showing how to write it.

use std::time::Duration;

/// Units from largest to smallest; a value lists each at most once, in this order.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

const UNIT_LIST: &str = "ms, s, m, h";

/// Parses a duration string. The error is a message for a diagnostic.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(r#"empty duration; write e.g. "30s" or "250ms""#.to_string());
    }
    if text.starts_with('-') {
        return Err(format!("{text:?}: a duration cannot be negative"));
    }
    if text.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?}: write a duration without spaces (e.g. \"1m30s\")"
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(missing_unit(text));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the last unit seen: the next must be strictly smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            return Err(format!(
                "{text:?}: expected a number before {after:?} (e.g. \"1m30s\")"
            ));
        }
        if after.starts_with('.') {
            return Err(format!(
                "{text:?}: fractions are not supported; use a smaller unit (e.g. \"1500ms\" for 1.5s)"
            ));
        }
        let unit_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let (unit, tail) = after.split_at(unit_len);
        let Some(idx) = UNITS.iter().position(|&(name, _)| name == unit) else {
            return Err(if unit.is_empty() {
                format!("{text:?}: unexpected {after:?}; units are {UNIT_LIST}")
            } else {
                format!("{text:?}: unknown unit {unit:?}; units are {UNIT_LIST}")
            });
        };
        if last_unit.is_some_and(|last| idx <= last) {
            return Err(format!(
                "{text:?}: units must go from largest to smallest, each at most once (e.g. \"1m30s\")"
            ));
        }
        last_unit = Some(idx);
        let scale = UNITS.get(idx).map_or(1, |&(_, ms)| ms);
        let value: u64 = number.parse().map_err(|_| too_large(text))?;
        total_ms = value
            .checked_mul(scale)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| too_large(text))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total_ms))
}

/// The helpful message for a number without a unit (string or TOML integer).
pub(crate) fn missing_unit(number: &str) -> String {
    format!("a duration needs a unit: write \"{number}s\" or \"{number}ms\" (units: {UNIT_LIST})")
}

fn too_large(text: &str) -> String {
    format!("{text:?}: duration is too large")
}

/// The canonical spelling of a duration (largest units first, zero parts left
/// out), so defaults render in docs exactly as a user would write them.
pub(crate) fn format(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, scale) in UNITS {
        let n = ms / scale;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
        }
        ms %= scale;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn compound_values_add_up() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h2m3s4ms"), Ok(Duration::from_millis(3_723_004)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bare_numbers_need_a_unit() {
        let err = parse("30").unwrap_err();
        assert!(err.contains(r#"write "30s" or "30ms""#), "{err}");
    }

    #[test]
    fn rejects_malformed_values() {
        for (input, needle) in [
            ("", "empty duration"),
            ("-5s", "cannot be negative"),
            ("1.5s", "fractions are not supported"),
            ("10sec", "unknown unit \"sec\""),
            ("10 s", "without spaces"),
            ("s", "expected a number before \"s\""),
            ("30s1m", "largest to smallest"),
            ("1s1s", "largest to smallest"),
            ("5d", "unknown unit \"d\""),
            ("1s ", "without spaces"),
            ("1s!", "expected a number before \"!\""),
            ("10!", "unexpected \"!\""),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(parse("99999999999999999999h")
            .unwrap_err()
            .contains("too large"));
        assert!(parse("5124095576030431h")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "3s", "2m", "1h", "1m30s", "1h1ms", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }
}
