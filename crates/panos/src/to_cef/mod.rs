//! A [`crate::log::Log`] as the CEF record the firewall itself would send:
//! `CEF:0|Palo Alto Networks|PAN-OS|<version>|<class ID>|<name>|<severity>|<extension>`, built
//! with the format strings of the reference (`panos-formats.md` §2), kept verbatim in
//! [`formats`]. Pure: no I/O; the only state is a per-thread cache of formats resolved against
//! column layouts.
//!
//! # Which format
//!
//! | Log | Format | Class ID | Severity |
//! |---|---|---|---|
//! | TRAFFIC | Set A Traffic | `$subtype` | `1` |
//! | THREAT `url` | Set A URL | `$subtype` | `$number-of-severity` |
//! | THREAT `wildfire`, `wildfire-virus` | Set A Wildfire | `$subtype` | `$number-of-severity` |
//! | THREAT `data` | Set B data (Set A has none) | `$subtype` | `$number-of-severity` |
//! | THREAT, any other subtype | Set A Threat | `$threatid` | `$number-of-severity` |
//! | CONFIG, SYSTEM, HIPMATCH, USERID, TUNNEL | Set A | as published | as published |
//! | GLOBALPROTECT | Set A, repaired (below) | `$subtype` | `1` |
//! | AUTHENTICATION | Set B auth | `$subtype` | `1` |
//! | CORRELATION | Set B correlation | `$category` | `$severity` (a word), version `8.0` |
//! | DECRYPTION, SCTP, IPTAG, GTP, AUDIT | ours (below) | `$subtype` | `$number-of-severity` or `1` |
//! | a type we do not know | ours, columns unnamed (below) | the subtype column | `1` |
//!
//! Name (`$type`) is the type's name ([`crate::log::LogType::name`]: `AUTHENTICATION` for
//! Strata's `AUTH`, `HIPMATCH` for `HIP-MATCH`), except tunnel inspection, whose `$type` is the
//! `START` or `END` the line carries, as the firewall sends it.
//!
//! # Values
//!
//! * `$sender_sw_version` is not a column: [`Options::sender_sw_version`] when set, else the
//!   release the config version column implies (`2561` → `10.1`: major in the high byte, minor in
//!   the low; CDL's `10.1` as written), else empty. The firewall would send its full version
//!   (`10.1.8`); the CSV only knows the release.
//! * `$number-of-severity`: `informational` 1, `low` 2, `medium` 3, `high` 4, `critical` 5, PAN-OS's
//!   five levels in order; any other value is written as sent.
//! * `$cef-formatted-receive_time`, `$cef-formatted-time_generated`: `MMM dd yyyy HH:mm:ss GMT` in
//!   UTC. CSV times are the firewall's local time without a zone: a time that carries an offset
//!   (CDL's ISO times) uses it; otherwise the offset of the line's high-resolution timestamp
//!   column (PAN-OS 10+: `2021-10-26T15:05:03.440-07:00`); otherwise
//!   [`Options::default_offset`] (the relay configures it per sender; default UTC). A value that is
//!   not a time is written as sent.
//! * A variable whose column this layout lacks (an older PAN-OS) or leaves empty gives `key=`,
//!   as PAN-OS does.
//! * `request` (`$misc`), `PanOSXForwarderfor`, `PanOSReferer`, `PanOSURLCatList` and
//!   `PanOSHTTPHeader` keep PAN's literal double quotes (`request="example.com/"`,
//!   `request=""`), as the firewall sends them (reference §4 quirk 21).
//! * Escaping is PAN-OS's with `escaped-characters \=` and `escape-character \` set: in values `\`
//!   → `\\`, `=` → `\=`, and LF/CR → `\n`/`\r` (a raw line break would end the syslog record);
//!   in header fields `|` → `\|` and `\` → `\\`.
//!
//! # GlobalProtect: repaired
//!
//! Set A's GlobalProtect string is
//! `CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$type|$subtype|rt=$receive_time PanOSDeviceSN=$serial …`:
//! six header fields (no severity), class ID and Name swapped, and `rt` in the CSV's own
//! `YYYY/MM/DD HH:MM:SS` local time. That is not 7-field CEF: consumers that split the header
//! on seven pipes take the extension's first pair for the severity. We emit the repaired form
//! `…|$sender_sw_version|$subtype|$type|1|rt=$cef-formatted-receive_time PanOSDeviceSN=$serial …`
//! (Name = type like every other record, severity `1` like the other types without a severity
//! column, `rt` in the same format as every other `rt`); the extension is otherwise verbatim,
//! including `PanOSDeviceSN` twice (`$serial`, then `$serialnumber`). The relay's CEF parser
//! accepts both forms.
//!
//! # Our format, for types without a published one
//!
//! [`formats::OURS`]: class ID `$subtype`, Name `$type`, severity `$number-of-severity` when the
//! type has a severity column, else `1`. Extension: the session keys the published formats share,
//! in their order (`rt deviceExternalId src dst sourceTranslatedAddress
//! destinationTranslatedAddress cs1Label=Rule cs1 suser duser app cs3Label=Virtual System cs3
//! cs4Label=Source Zone cs4 cs5Label=Destination Zone cs5 deviceInboundInterface
//! deviceOutboundInterface cs6Label=LogProfile cs6 cn1Label=SessionID cn1 cnt spt dpt
//! sourceTranslatedPort destinationTranslatedPort flexString1Label=Flags flexString1 proto act
//! start externalId PanOSDGl1…4 PanOSVsysName dvchost PanOSActionFlags`), each only where the
//! type has that column (and a label only with its value); then every other column in CSV order as
//! `PanOS` + the variable in CamelCase (`high_res_timestamp` → `PanOSHighResTimestamp`,
//! `tls_version` → `PanOSTlsVersion`), leaving out `type`, `subtype`, `serial` (in the header
//! and `deviceExternalId`) and `FUTURE_USE` columns.
//!
//! A type we do not know has unnamed columns: class ID is the subtype, Name the type as sent,
//! severity `1`, and the extension `deviceExternalId=<serial>` then every column as
//! `PanOSColumn<index>` (0-based CSV position), so nothing is lost.
//!
//! # Reading a variable back
//!
//! [`cef_field`] says where these formats put a variable, so that the same rule reads
//! `thr_category` from a CSV line and from the firewall's CEF (`PanOSThreatCategory`).

mod compile;
mod fields;
pub mod formats;
mod time;

pub use fields::{cef_field, cef_places, CefField, CefFields, CefPlaces, Wanted};

use std::cell::Cell;
use std::fmt::Write;

use ::time::UtcOffset;

use crate::log::{Log, LogType};

use compile::{Compiled, Value};

/// What the CSV does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Device Version (`$sender_sw_version`), e.g. `10.1.8`; `None`: the release the config
    /// version column implies (`10.1`).
    pub sender_sw_version: Option<String>,
    /// The firewall's offset from UTC, for CSV times on lines without a high-resolution timestamp.
    pub default_offset: UtcOffset,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sender_sw_version: None,
            default_offset: UtcOffset::UTC,
        }
    }
}

/// Appends `log` to `out` as the CEF record the firewall would send (see the module docs).
pub fn to_cef(log: &Log<'_>, options: &Options, out: &mut String) {
    convert(log, options, out, Part::Whole);
}

/// Appends what [`to_cef`] writes first: the header, through the `|` after Severity, with no
/// extension. Enough for a filter that reads only the header (the agent's drops TRAFFIC by its
/// Name) to decide without writing the ~60 pairs of a log it drops.
pub fn to_cef_header(log: &Log<'_>, options: &Options, out: &mut String) {
    convert(log, options, out, Part::Header);
}

/// Appends the rest of what [`to_cef`] writes: the extension, after the header that
/// [`to_cef_header`] wrote (which a filter read on its own), for a log that goes on.
pub fn to_cef_extension(log: &Log<'_>, options: &Options, out: &mut String) {
    convert(log, options, out, Part::Extension);
}

/// Which part of the record [`convert`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Extension,
    Whole,
}

fn convert(log: &Log<'_>, options: &Options, out: &mut String, part: Part) {
    let Some(schema) = log.schema else {
        return unnamed_to_cef(log, options, out, part);
    };
    let format = log
        .log_type
        .and_then(|log_type| formats::published(log_type, log.subtype))
        .unwrap_or(formats::OURS);
    let compiled = compile::compiled(format, schema);
    let writer = Writer {
        log,
        options,
        compiled: &compiled,
        offset: Cell::new(None),
    };
    if part != Part::Extension {
        writer.write_header(out);
    }
    if part != Part::Header {
        writer.write_extension(out);
    }
}

/// Where a CSV record holds the bytes a CEF value escapes (`\`, `=`, CR, LF): a URL's query, a
/// `domain\user`, seldom more. A value that is a slice of the record is checked against these
/// few places instead of byte by byte (~40 instructions a value, ~4 000 a THREAT line).
struct ToEscape<'a> {
    record: &'a str,
    /// Their offsets in `record`, and how many of the array's entries they fill; `None` when
    /// the record has more than the array holds.
    at: Option<([usize; ToEscape::MOST], usize)>,
}

impl<'a> ToEscape<'a> {
    const MOST: usize = 16;

    fn in_record(record: &'a str) -> Self {
        let bytes = record.as_bytes();
        let mut found = memchr::memchr3_iter(b'\\', b'=', b'\n', bytes)
            .chain(memchr::memchr_iter(b'\r', bytes));
        let mut at = [0; Self::MOST];
        let mut count = 0;
        for offset in found.by_ref().take(Self::MOST) {
            at[count] = offset;
            count += 1;
        }
        let fits = found.next().is_none();
        ToEscape {
            record,
            at: fits.then_some((at, count)),
        }
    }

    /// Whether `text` holds no byte to escape: `None` when that is not known here (`text` is
    /// not a slice of the record, or the record has too many such bytes to keep).
    fn is_clean(&self, text: &str) -> Option<bool> {
        let (at, count) = self.at.as_ref()?;
        // A slice of the record starts within it: its offset is the distance between the two.
        let start = (text.as_ptr() as usize).wrapping_sub(self.record.as_ptr() as usize);
        let end = start.checked_add(text.len())?;
        if end > self.record.len() {
            return None;
        }
        Some(
            !at[..*count]
                .iter()
                .any(|&offset| (start..end).contains(&offset)),
        )
    }
}

/// One log being written with its resolved format.
struct Writer<'l, 'a> {
    log: &'l Log<'a>,
    options: &'l Options,
    compiled: &'l Compiled,
    /// The offset for local times, looked up at the first time written.
    offset: Cell<Option<UtcOffset>>,
}

impl Writer<'_, '_> {
    fn write_header(&self, out: &mut String) {
        out.push_str("CEF:0|");
        for value in self.compiled.header {
            self.write_value(value, out, push_header_escaped);
            out.push('|');
        }
    }

    fn write_extension(&self, out: &mut String) {
        // Header values are few and short, and escaped on their own: only here does the
        // record's search for the bytes to escape pay.
        let to_escape = ToEscape::in_record(self.log.record);
        let push_value = |text: &str, out: &mut String| match to_escape.is_clean(text) {
            Some(true) => out.push_str(text),
            Some(false) | None => push_value_escaped(text, out),
        };
        for (key_and_equals, value) in &self.compiled.extension {
            out.push_str(key_and_equals);
            self.write_value(*value, out, push_value);
        }
    }

    fn write_value(&self, value: Value, out: &mut String, escaped: impl Fn(&str, &mut String)) {
        match value {
            Value::Literal(text) => escaped(text, out),
            Value::Column(column) => escaped(self.column(column), out),
            Value::QuotedColumn(column) => {
                out.push('"');
                escaped(self.column(column), out);
                out.push('"');
            }
            Value::Type => escaped(type_name(self.log), out),
            Value::Subtype => escaped(self.log.subtype, out),
            Value::Serial => escaped(self.log.serial, out),
            Value::SenderSwVersion => match &self.options.sender_sw_version {
                Some(version) => escaped(version, out),
                None => push_release(self.log.version, out),
            },
            Value::NumberOfSeverity(column) => {
                let severity = self.column(column);
                match number_of_severity(severity) {
                    Some(number) => out.push(number),
                    None => escaped(severity, out),
                }
            }
            Value::CefTime(column) => {
                let offset = self.offset();
                let text = self.column(column);
                if !time::write_cef_time(text, offset, out) {
                    escaped(text, out);
                }
            }
        }
    }

    fn column(&self, column: Option<usize>) -> &str {
        column
            .and_then(|index| self.log.values().get(index))
            .map_or("", |value| value.as_ref())
    }

    /// The offset of the line's high-resolution timestamp, else the configured one.
    fn offset(&self) -> UtcOffset {
        if let Some(offset) = self.offset.get() {
            return offset;
        }
        let high_res = self.column(self.compiled.high_res_timestamp);
        let offset = time::offset_of(high_res).unwrap_or(self.options.default_offset);
        self.offset.set(Some(offset));
        offset
    }
}

/// `$type`: the type's name, but tunnel inspection's `START`/`END` as the line says.
fn type_name<'a>(log: &Log<'a>) -> &'a str {
    match log.log_type {
        Some(LogType::Tunnel) | None => log.type_text,
        Some(log_type) => log_type.name(),
    }
}

/// PAN-OS's five severity levels, lowest first, as CEF's 1–5.
fn number_of_severity(severity: &str) -> Option<char> {
    Some(match severity {
        "informational" => '1',
        "low" => '2',
        "medium" => '3',
        "high" => '4',
        "critical" => '5',
        _ => return None,
    })
}

/// The release a config version column implies: `2561` (0x0A01) → `10.1`; CDL's `10.1` as it
/// is; nothing for `0`, `1` (PAN-OS before 9.x) or anything else.
fn push_release(config_version: &str, out: &mut String) {
    if let Ok(number) = config_version.parse::<u16>() {
        let [major, minor] = number.to_be_bytes();
        if major > 0 {
            let mut digits = itoa::Buffer::new();
            out.push_str(digits.format(major));
            out.push('.');
            out.push_str(digits.format(minor));
        }
    } else if !config_version.is_empty()
        && config_version
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        out.push_str(config_version);
    }
}

/// A type we do not know: see the module docs.
fn unnamed_to_cef(log: &Log<'_>, options: &Options, out: &mut String, part: Part) {
    if part != Part::Extension {
        out.push_str("CEF:0|Palo Alto Networks|PAN-OS|");
        match &options.sender_sw_version {
            Some(version) => push_header_escaped(version, out),
            None => push_release(log.version, out),
        }
        out.push('|');
        push_header_escaped(log.subtype, out);
        out.push('|');
        push_header_escaped(log.type_text, out);
        out.push_str("|1|");
    }
    if part == Part::Header {
        return;
    }
    out.push_str("deviceExternalId=");
    push_value_escaped(log.serial, out);
    for (index, value) in log.values().iter().enumerate() {
        let _ = write!(out, " PanOSColumn{index}=");
        push_value_escaped(value, out);
    }
}

/// Header field escaping: `\` → `\\`, `|` → `\|`.
fn push_header_escaped(text: &str, out: &mut String) {
    if !contains_any(text.as_bytes(), b"\\|") {
        return out.push_str(text);
    }
    push_escaped(text, out, |byte| {
        matches!(byte, b'\\' | b'|').then_some(byte)
    });
}

/// Extension value escaping: `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`.
fn push_value_escaped(text: &str, out: &mut String) {
    if !contains_any(text.as_bytes(), b"\\=\n\r") {
        return out.push_str(text);
    }
    push_escaped(text, out, |byte| match byte {
        b'\\' | b'=' => Some(byte),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        _ => None,
    });
}

/// Whether `bytes` holds any of `targets`, eight bytes at a time: most values need no escaping,
/// and this check is most of the conversion's work.
fn contains_any(bytes: &[u8], targets: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunks of eight"));
        if targets
            .iter()
            .any(|&target| has_zero_byte(word ^ (ONES * u64::from(target))))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|byte| targets.contains(byte))
}

/// Appends `text`, writing each byte `escape` maps (all ASCII) as a backslash and its mapping.
fn push_escaped(text: &str, out: &mut String, escape: impl Fn(u8) -> Option<u8>) {
    let mut clean_from = 0;
    for (at, byte) in text.bytes().enumerate() {
        if let Some(escaped) = escape(byte) {
            out.push_str(&text[clean_from..at]);
            out.push('\\');
            out.push(char::from(escaped));
            clean_from = at + 1;
        }
    }
    out.push_str(&text[clean_from..]);
}

#[cfg(test)]
mod tests;
