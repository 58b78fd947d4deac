//! A Sentinel `CommonSecurityLog` row per event, for the Logs Ingestion API.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use time::OffsetDateTime;

use super::columns::{extension_index, ColumnType, EXTENSIONS, SEEN_WORDS};
use crate::event::Enriched;
use crate::sink::json::{write_json, Capped, IsoMillis, MAX_FIELD_BYTES};
use crate::sink::Encode;

/// The Azure sink's records: one `CommonSecurityLog` row per line.
#[derive(Debug)]
pub struct CslEncoder;

impl Encode for CslEncoder {
    fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut) {
        write_csl(event, out);
        out.put_u8(b'\n');
    }
}

/// One `CommonSecurityLog` row as a JSON object (no trailing newline) appended to `out`.
///
/// - `TimeGenerated` (when the relay received the message, UTC, milliseconds) and `Computer`
///   (the syslog hostname, else the sender's IP as the agent does, specs §2.6) are always there.
/// - Without a valid CEF record the row still carries the syslog `Message`, so that nothing the
///   filter kept disappears on the way into the table.
/// - Typed columns get JSON numbers; `StartTime`/`EndTime` are converted to ISO 8601 UTC. A value
///   that does not fit its column's type (`dpt=abc`, an `int` overflow, a zone we cannot place),
///   a repeated key, and every key without a column go to `AdditionalExtensions`.
/// - The fields the enrich stage added follow in `AdditionalExtensions`, after the record's own,
///   with or without a CEF record: they have no column of their own.
/// - Empty values are left out: a Log Analytics string column has no null distinct from `""`, and
///   a missing number is null, so omitting them loses nothing and keeps requests small.
pub fn write_csl(message: &Enriched<'_, '_>, out: &mut BytesMut) {
    write_json(out, &CslRow(message));
}

struct CslRow<'m, 'e, 'a>(&'m Enriched<'e, 'a>);

impl Serialize for CslRow<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let syslog = &message.event.syslog;
        let received_at = message.origin.received_at;
        let mut row = serializer.serialize_map(None)?;
        row.serialize_entry("TimeGenerated", &IsoMillis(received_at))?;
        match syslog.hostname {
            Some(host) => row.serialize_entry("Computer", &Capped(host))?,
            None => row.serialize_entry("Computer", &format_args!("{}", message.origin.peer))?,
        }
        let Some(cef) = message.event.valid_cef() else {
            row.serialize_entry("Message", &Capped(syslog.msg))?;
            let mut additional = String::new();
            push_added(&mut additional, message.added);
            if !additional.is_empty() {
                row.serialize_entry("AdditionalExtensions", &Capped(&additional))?;
            }
            return row.end();
        };
        row.serialize_entry("DeviceVendor", &Capped(&cef.device_vendor))?;
        row.serialize_entry("DeviceProduct", &Capped(&cef.device_product))?;
        row.serialize_entry("DeviceVersion", &Capped(&cef.device_version))?;
        row.serialize_entry("DeviceEventClassID", &Capped(&cef.signature_id))?;
        row.serialize_entry("Activity", &Capped(&cef.name))?;
        row.serialize_entry("LogSeverity", &Capped(&cef.severity))?;

        let mut seen = [0u64; SEEN_WORDS];
        let mut additional = String::new();
        for (key, value) in &cef.extensions {
            if value.is_empty() {
                continue;
            }
            let mut accepted = false;
            if let Some(index) = extension_index(key) {
                let (word, bit) = (index / 64, 1u64 << (index % 64));
                // A repeated key must not fill its columns twice (duplicate names in one JSON
                // object); only a value that went into a column counts, so that
                // `dpt=abc dpt=443` still fills DestinationPort.
                if seen[word] & bit == 0 {
                    for &(column, column_type) in EXTENSIONS[index].1 {
                        accepted |=
                            write_column(&mut row, column, column_type, value, received_at)?;
                    }
                    if accepted {
                        seen[word] |= bit;
                    }
                }
            }
            if !accepted {
                push_additional(&mut additional, key, value);
            }
        }
        push_added(&mut additional, message.added);
        if !additional.is_empty() {
            row.serialize_entry("AdditionalExtensions", &Capped(&additional))?;
        }
        row.end()
    }
}

/// Writes `value` into `column` if it is valid for the column's type; `false` if it is not.
fn write_column<M: SerializeMap>(
    row: &mut M,
    column: &'static str,
    column_type: ColumnType,
    value: &str,
    received_at: OffsetDateTime,
) -> Result<bool, M::Error> {
    let number = value.trim();
    match column_type {
        ColumnType::String => row.serialize_entry(column, &Capped(value))?,
        ColumnType::Int => match number.parse::<i32>() {
            Ok(n) => row.serialize_entry(column, &n)?,
            Err(_) => return Ok(false),
        },
        ColumnType::Long => match number.parse::<i64>() {
            Ok(n) => row.serialize_entry(column, &n)?,
            Err(_) => return Ok(false),
        },
        // `parse` accepts "NaN" and "inf", which JSON cannot carry.
        ColumnType::Real => match number.parse::<f64>() {
            Ok(n) if n.is_finite() => row.serialize_entry(column, &n)?,
            _ => return Ok(false),
        },
        ColumnType::Datetime => match cefrelay_cef::time::parse(value, received_at) {
            Some(time) => row.serialize_entry(column, &IsoMillis(time))?,
            None => return Ok(false),
        },
    }
    Ok(true)
}

/// Appends the enrich stage's fields to `AdditionalExtensions`, leaving out empty values as the
/// record's own are.
fn push_added(additional: &mut String, added: &[(&'static str, Cow<'_, str>)]) {
    for (key, value) in added {
        if !value.is_empty() {
            push_additional(additional, key, value);
        }
    }
}

/// Appends `key=value` to `AdditionalExtensions`, `;`-separated as the agent writes it (Sentinel
/// content extracts with `key=(.+?)(;|$)`, specs §1.7). A `;` inside a value is written `\;` so
/// that the pairs can be split again; backslashes are left alone, because PAN-OS values such as
/// `domain\user` would otherwise read doubled in every query.
fn push_additional(additional: &mut String, key: &str, value: &str) {
    if additional.len() >= MAX_FIELD_BYTES {
        return;
    }
    if !additional.is_empty() {
        additional.push(';');
    }
    additional.push_str(key);
    additional.push('=');
    let mut pieces = value.split(';');
    if let Some(first) = pieces.next() {
        additional.push_str(first);
    }
    for piece in pieces {
        additional.push_str("\\;");
        additional.push_str(piece);
    }
}
