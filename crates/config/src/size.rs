//! Byte sizes as written in the config: `"16KiB"`, `"1MiB"`, `"512"`, `"1MB"`, or a
//! TOML integer (bytes).
//!
//! Binary (`KiB`, `MiB`, `GiB`) and decimal (`KB`, `MB`, `GB`) units are both
//! accepted and mean what their names say, so `"16KB"` is 16000 bytes. Units
//! are matched case-insensitively; a lone `k`/`M`/`G` is rejected because it
//! is ambiguous between the two.

/// Case-insensitive unit names and their multipliers.
const UNITS: [(&str, u64); 7] = [
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
];

const UNIT_LIST: &str = "B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000)";

/// Parses a size string into bytes. The error is a message for a diagnostic.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    if text.starts_with('-') {
        return Err(format!("{text:?}: a size cannot be negative"));
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "{text:?}: expected a number of bytes, optionally with a unit (e.g. \"16KiB\")"
        ));
    }
    if unit.starts_with('.') {
        return Err(format!(
            "{text:?}: fractions are not supported; use a smaller unit (e.g. \"1536KiB\")"
        ));
    }
    let scale = if unit.is_empty() {
        1
    } else {
        let lower = unit.to_ascii_lowercase();
        UNITS
            .iter()
            .find(|&&(name, _)| name == lower)
            .map(|&(_, scale)| scale)
            .ok_or_else(|| format!("{text:?}: unknown unit {unit:?}; use {UNIT_LIST}"))?
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?}: size is too large"))
}

/// The canonical spelling of a size: the largest binary unit that divides it
/// exactly, else plain bytes. Used to render defaults into docs.
pub(crate) fn format(bytes: u64) -> String {
    for (name, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(scale) {
            return format!("{}{name}", bytes / scale);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units() {
        assert_eq!(parse("16KiB"), Ok(16 * 1024));
        assert_eq!(parse("1MiB"), Ok(1 << 20));
        assert_eq!(parse("2GiB"), Ok(2 << 30));
        assert_eq!(parse("16kib"), Ok(16 * 1024));
    }

    #[test]
    fn decimal_units_and_bytes() {
        assert_eq!(parse("512"), Ok(512));
        assert_eq!(parse("512B"), Ok(512));
        assert_eq!(parse("4KB"), Ok(4000));
        assert_eq!(parse("3MB"), Ok(3_000_000));
        assert_eq!(parse("1GB"), Ok(1_000_000_000));
        assert_eq!(parse("0"), Ok(0));
    }

    #[test]
    fn rejects_malformed_values() {
        for (input, needle) in [
            ("4k", "unknown unit \"k\""),
            ("1M", "unknown unit \"M\""),
            ("16 KiB", "unknown unit \" KiB\""),
            ("", "expected a number of bytes"),
            ("KiB", "expected a number of bytes"),
            ("1.5MiB", "fractions are not supported"),
            ("-1", "cannot be negative"),
            ("99999999999GiB", "too large"),
            ("99999999999999999999", "too large"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn format_picks_the_largest_exact_binary_unit() {
        assert_eq!(format(16 * 1024), "16KiB");
        assert_eq!(format(1 << 20), "1MiB");
        assert_eq!(format(3 << 30), "3GiB");
        assert_eq!(format(1000), "1000");
        assert_eq!(format(0), "0");
        for bytes in [0, 1, 1024, 1536, 8192, 1 << 20] {
            assert_eq!(parse(&format(bytes)), Ok(bytes));
        }
    }
}
