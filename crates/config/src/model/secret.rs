//! A value that must never be shown: not in `Debug` output (logs, panics),
//! not in `/config`. Secrets in the config are of this type, so rendering
//! the whole config (derived `Serialize`) cannot leak one by accident; a
//! new secret key gets the same protection by being declared a `Secret`.

use serde::{Serialize, Serializer};

/// What every secret renders as.
pub const REDACTED: &str = "[redacted]";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself, for the one place that uses it (e.g. comparing a
    /// presented token in constant time).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_debug_nor_serialize_shows_the_value() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(
            toml::Value::try_from(&s).unwrap(),
            toml::Value::String(REDACTED.into())
        );
        assert_eq!(s.expose(), "hunter2");
    }
}
