//! JSON helpers the HTTP sinks' encoders share: one object streamed straight into the batch
//! buffer, and the value shapes Log Analytics and the others take.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset};

/// The Logs Ingestion API truncates longer field values (specs §3b); cutting them here keeps a
/// single huge value from eating the 1 MB request budget for text the table would drop anyway.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Appends `value` as one JSON object (no newline), exactly as `serde_json` would write it.
pub fn write_json(out: &mut BytesMut, value: &(impl Serialize + ?Sized)) {
    let start = out.len();
    // Writing into memory cannot fail, and these Serialize impls raise no errors of their own;
    // should one ever appear, the half-written object goes so that the batch stays valid JSON.
    if sonic_rs::to_writer((&mut *out).writer(), value).is_err() {
        out.truncate(start);
    }
}

/// The name of the object that holds the enrich stage's fields in the JSON sinks' records.
pub const ENRICH: &str = "enrich";

/// The fields the enrich stage added, as one JSON object `{key: value, …}` in the order added. A
/// key added twice keeps its first value: JSON readers disagree on which duplicate name wins.
pub struct AddedFields<'m, 'a>(pub &'m [(&'static str, Cow<'a, str>)]);

impl Serialize for AddedFields<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs = self.0;
        let mut object = serializer.serialize_map(None)?;
        for (index, (key, value)) in pairs.iter().enumerate() {
            if !pairs[..index].iter().any(|(earlier, _)| earlier == key) {
                object.serialize_entry(key, &Capped(value))?;
            }
        }
        object.end()
    }
}

/// A string value cut to [`MAX_FIELD_BYTES`] on a character boundary.
pub struct Capped<'s>(pub &'s str);

impl Serialize for Capped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(cap(self.0))
    }
}

pub fn cap(text: &str) -> &str {
    cut(text, MAX_FIELD_BYTES)
}

/// The longest start of `text` within `max` bytes that ends on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// ISO 8601 in UTC with milliseconds, `2026-11-22T10:00:00.000Z`: what a Log Analytics
/// `datetime` column takes (specs §3b).
pub struct IsoMillis(pub OffsetDateTime);

impl fmt::Display for IsoMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a time at the very edge of `time`'s range has no UTC form; it is then written in
        // its own offset rather than not at all.
        let t = self.0.checked_to_offset(UtcOffset::UTC).unwrap_or(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl Serialize for IsoMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value};

    /// Any JSON value: every char (controls, quotes, backslashes, astral planes) in strings and
    /// keys, integers at both ends, any finite double, nested arrays and objects.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            (-1e6f64..1e6).prop_map(|f| Value::from((f * 1000.0).round() / 1000.0)),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x20\"\\\\a\u{7f}\u{2028}é]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The sinks' JSON is written by sonic-rs; what Azure, Splunk and every golden test
        /// expect is serde_json's text, byte for byte.
        #[test]
        fn write_json_writes_what_serde_json_writes(value in json_value()) {
            let mut out = BytesMut::new();
            write_json(&mut out, &value);
            prop_assert_eq!(
                String::from_utf8(out.to_vec()).expect("UTF-8"),
                serde_json::to_string(&value).expect("JSON")
            );
        }
    }

    #[test]
    fn doubles_are_written_as_serde_json_writes_them() {
        for f in [
            0.0,
            -0.0,
            1e20,
            1e21,
            1e-7,
            1.5e300,
            5e-324,
            1612775149.123,
            0.1,
            123456789.0,
        ] {
            let mut out = BytesMut::new();
            write_json(&mut out, &f);
            assert_eq!(
                out.as_ref(),
                serde_json::to_string(&f).expect("JSON").as_bytes(),
                "{f}"
            );
        }
    }
}
