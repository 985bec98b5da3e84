//! Leaf types of the raw schema.
//!
//! They accept more than is valid (any integer, a duration as string *or*
//! integer, …) on purpose: range and format checks happen in `validate`, where
//! every problem becomes its own diagnostic instead of serde stopping at the
//! first. Their `expecting` texts speak TOML ("an array"), not Rust ("i64").

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::Spanned;

/// An integer of any TOML range; bounds are checked by validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom("integer is too large"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number; TOML integers are accepted too, so `jitter = 0` works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Float(pub f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            // Precision loss is irrelevant at the magnitudes a ratio can have.
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or an integer, for durations and sizes: integers are accepted here
/// so that validation can answer `timeout = 30` with "write \"30s\"" instead of
/// a bare type error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Int(i64),
    Str(String),
}

struct ScalarVisitor(&'static str);

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        i64::try_from(v)
            .map(Scalar::Int)
            .map_err(|_| E::custom("integer is too large"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
}

/// A duration value (`"30s"`), checked in validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DurationValue(pub Scalar);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(r#"a duration such as "30s" or "250ms""#))
            .map(DurationValue)
    }
}

/// A size value (`"16KiB"` or an integer of bytes), checked in validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizeValue(pub Scalar);

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(
            r#"a size such as "16KiB" or an integer number of bytes"#,
        ))
        .map(SizeValue)
    }
}

/// A TOML array whose elements keep their spans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List<T>(pub Vec<Spanned<T>>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(items))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// Header name → value pairs in the order they are written in the file (the
/// TOML parser hands them over sorted by name; the key spans restore the order).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct HeaderMap(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for HeaderMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of header names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderMap, A::Error> {
                let mut pairs: Vec<(Spanned<String>, Spanned<String>)> = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                pairs.sort_by_key(|(name, _)| name.span().start);
                Ok(HeaderMap(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

/// The table form of a `servers` entry.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawServerTable {
    pub address: Option<Spanned<String>>,
    pub weight: Option<Spanned<Int>>,
}

/// One entry of `servers`: `"10.0.0.1:80"` or `{ address = "…", weight = 3 }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServerEntry {
    Address(String),
    Table(RawServerTable),
}

impl<'de> Deserialize<'de> for ServerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an address string or a table { address = "…", weight = N }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServerEntry, E> {
                Ok(ServerEntry::Address(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ServerEntry, E> {
                Ok(ServerEntry::Address(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ServerEntry, A::Error> {
                RawServerTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ServerEntry::Table)
            }
        }
        d.deserialize_any(V)
    }
}
