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

/// Appends `value` as one JSON object (no newline).
pub fn write_json(out: &mut BytesMut, value: &(impl Serialize + ?Sized)) {
    let start = out.len();
    // Writing into memory cannot fail, and these Serialize impls raise no errors of their own;
    // should one ever appear, the half-written object goes so that the batch stays valid JSON.
    if serde_json::to_writer((&mut *out).writer(), value).is_err() {
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
