//! A format string resolved against one [`Schema`]: every `$variable` becomes the column that
//! holds it, once per format and schema (a thread-local cache), so that converting a log is a walk
//! over prepared pieces instead of a search through column names for each key.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::log::Schema;

use super::formats;

/// Where one header field or extension value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    /// Text of the format itself: a `cs1Label` value, a fixed severity, `8.0`.
    Literal(&'static str),
    /// A column by position (`None`: this layout has no such column, the value is empty).
    Column(Option<usize>),
    /// A column PAN-OS sends wrapped in literal double quotes (reference §4 quirk 21).
    QuotedColumn(Option<usize>),
    /// `$type`: the log type's name.
    Type,
    /// `$subtype`
    Subtype,
    /// `$serial`
    Serial,
    /// `$sender_sw_version`: not a column, see [`super::Options::sender_sw_version`].
    SenderSwVersion,
    /// `$number-of-severity`, from the severity column.
    NumberOfSeverity(Option<usize>),
    /// `$cef-formatted-receive_time` or `$cef-formatted-time_generated`, from that column.
    CefTime(Option<usize>),
}

/// A format resolved against a schema.
#[derive(Debug)]
pub(super) struct Compiled {
    /// Vendor, product, device version, class ID, name, severity.
    pub header: [Value; 6],
    /// Each pair as the text written before its value (`key=`, then ` key=` for the rest) and
    /// the value: one push per pair instead of three.
    pub extension: Vec<(String, Value)>,
    /// The high-resolution timestamp column, whose offset places the CSV's local times.
    pub high_res_timestamp: Option<usize>,
}

/// The columns PAN-OS's own CEF output wraps in double quotes, as its CSV does (quirk 21:
/// `request="…"`, `PanOSXForwarderfor="…"`, `PanOSReferer="…"`, `PanOSURLCatList="…"`,
/// `PanOSHTTPHeader="…"`; `request=""` when empty).
const QUOTED_VARIABLES: [&str; 5] = [
    "misc",
    "xff",
    "referer",
    "url_category_list",
    "http_headers",
];

/// Columns our own format never repeats as `PanOS…` keys: the header already carries them.
const HEADER_VARIABLES: [&str; 3] = ["type", "subtype", "serial"];

/// The addresses of a format string and a schema.
type FormatAndSchema = (usize, usize);

thread_local! {
    /// Keyed by the addresses of the format string and the schema, both `'static`. A list, not a
    /// map: it holds a few dozen entries at most, and comparing two addresses is cheaper than
    /// hashing them.
    static CACHE: RefCell<Vec<(FormatAndSchema, Rc<Compiled>)>> = const { RefCell::new(Vec::new()) };
}

/// `format` (one of [`formats`]) resolved against `schema`, compiled on first use per thread.
pub(super) fn compiled(format: &'static str, schema: &'static Schema) -> Rc<Compiled> {
    let key = (format.as_ptr().addr(), std::ptr::from_ref(schema).addr());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, compiled)) = cache.iter().find(|(cached, _)| *cached == key) {
            return Rc::clone(compiled);
        }
        let compiled = Rc::new(compile(format, schema));
        cache.push((key, Rc::clone(&compiled)));
        compiled
    })
}

/// Splits `format` into header pieces and extension pairs and resolves each `$variable`.
/// [`formats::OURS`] is pruned to the columns `schema` has and completed with the rest.
pub(super) fn compile(format: &'static str, schema: &Schema) -> Compiled {
    let (header_text, extension_text) = split_format(format);
    let mut header = header_text.map(|piece| resolve(piece, schema));
    let mut extension: Vec<(Cow<'static, str>, Value)> = pairs(extension_text)
        .into_iter()
        .map(|(key, value)| (Cow::Borrowed(key), resolve(value, schema)))
        .collect();
    if std::ptr::eq(format, formats::OURS) {
        if header[5] == Value::NumberOfSeverity(None) {
            header[5] = Value::Literal("1");
        }
        extension = ours(extension, schema);
    }
    let extension = extension
        .into_iter()
        .enumerate()
        .map(|(index, (key, value))| {
            let separator = if index == 0 { "" } else { " " };
            (format!("{separator}{key}="), value)
        })
        .collect();
    Compiled {
        header,
        extension,
        high_res_timestamp: schema.position("high_res_timestamp"),
    }
}

/// The six header pieces after `CEF:0|` and the extension text.
pub(super) fn split_format(format: &'static str) -> ([&'static str; 6], &'static str) {
    let rest = format
        .strip_prefix("CEF:0|")
        .expect("every format starts with CEF:0|");
    let mut pieces = rest.splitn(7, '|');
    let header = [(); 6].map(|()| pieces.next().expect("every format has six header pieces"));
    (header, pieces.next().unwrap_or_default())
}

/// The `key=value` pairs of an extension template. Values may hold spaces (`cs3Label=Virtual
/// System`), so a value ends only where the next space-separated word looks like `key=`.
pub(super) fn pairs(extension: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut pairs = Vec::new();
    let mut rest = extension;
    while let Some((key, after)) = rest.split_once('=') {
        let end = after
            .match_indices(' ')
            .map(|(at, _)| at)
            .find(|&at| starts_with_key(&after[at + 1..]))
            .unwrap_or(after.len());
        pairs.push((key, &after[..end]));
        rest = after.get(end + 1..).unwrap_or_default();
    }
    pairs
}

fn starts_with_key(text: &str) -> bool {
    let key_len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    key_len > 0 && text.as_bytes().get(key_len) == Some(&b'=')
}

fn resolve(piece: &'static str, schema: &Schema) -> Value {
    let Some(variable) = piece.strip_prefix('$') else {
        return Value::Literal(piece);
    };
    match variable {
        "type" => Value::Type,
        "subtype" => Value::Subtype,
        "serial" => Value::Serial,
        "sender_sw_version" => Value::SenderSwVersion,
        "number-of-severity" => Value::NumberOfSeverity(schema.position("severity")),
        "cef-formatted-receive_time" => Value::CefTime(schema.position("receive_time")),
        "cef-formatted-time_generated" => Value::CefTime(schema.position("time_generated")),
        _ if QUOTED_VARIABLES.contains(&variable) => Value::QuotedColumn(schema.position(variable)),
        _ => Value::Column(schema.position(variable)),
    }
}

/// Our format for `schema`: the session pairs whose column exists (a label only with its
/// value), then every column not used yet as `PanOS<Variable>`.
fn ours(
    session: Vec<(Cow<'static, str>, Value)>,
    schema: &Schema,
) -> Vec<(Cow<'static, str>, Value)> {
    let has_column = |value: &Value| match value {
        Value::Column(index) | Value::QuotedColumn(index) | Value::CefTime(index) => {
            index.is_some()
        }
        _ => true,
    };
    let kept: Vec<_> = session.into_iter().filter(|(_, v)| has_column(v)).collect();
    let mut extension: Vec<_> = kept
        .iter()
        .filter(|(key, _)| match key.strip_suffix("Label") {
            Some(labelled) => kept.iter().any(|(other, _)| other == labelled),
            None => true,
        })
        .cloned()
        .collect();
    let (header, session_pairs) = split_format(formats::OURS);
    let used: Vec<&str> = header
        .into_iter()
        .chain(pairs(session_pairs).into_iter().map(|(_, value)| value))
        .filter_map(|piece| piece.strip_prefix('$'))
        .map(|variable| match variable {
            "number-of-severity" => "severity",
            "cef-formatted-receive_time" => "receive_time",
            "cef-formatted-time_generated" => "time_generated",
            other => other,
        })
        .collect();
    for (index, name) in schema.names.iter().enumerate() {
        let future_use = name.to_ascii_lowercase().starts_with("future_use");
        if used.contains(name) || HEADER_VARIABLES.contains(name) || future_use {
            continue;
        }
        extension.push((Cow::Owned(panos_key(name)), Value::Column(Some(index))));
    }
    extension
}

/// `PanOS` and the variable in CamelCase: `high_res_timestamp` → `PanOSHighResTimestamp`.
/// Anything that is not a CEF key character is dropped, so the key stays valid.
pub(super) fn panos_key(variable: &str) -> String {
    let mut key = String::from("PanOS");
    for word in variable.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            key.push(first.to_ascii_uppercase());
            key.extend(chars);
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_splits_into_pairs_that_rebuild_it() {
        for format in formats::ALL {
            let (header, extension) = split_format(format);
            assert_eq!(header[..2], ["Palo Alto Networks", "PAN-OS"]);
            let pairs = pairs(extension);
            let rebuilt: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            assert_eq!(rebuilt.join(" "), extension);
            assert_eq!(pairs[0], ("rt", "$cef-formatted-receive_time"), "{format}");
            for (key, value) in &pairs {
                assert!(cefrelay_cef::is_valid_key(key), "{key}");
                assert!(!value.contains('='), "{key}={value}");
            }
        }
    }

    #[test]
    fn labels_with_spaces_are_one_value() {
        let pairs = pairs(split_format(formats::TRAFFIC).1);
        assert!(pairs.contains(&("cn3Label", "Elapsed time in seconds")));
        assert!(pairs.contains(&("flexNumber1Label", "Total bytes")));
        assert_eq!(pairs.len(), 76);
        assert_eq!(
            pairs.last(),
            Some(&("PanDynamicUsrgrp", "$dynusergroup_name"))
        );
    }

    #[test]
    fn the_headers_are_as_published() {
        let header = |format| split_format(format).0[2..].to_vec();
        assert_eq!(
            header(formats::THREAT),
            [
                "$sender_sw_version",
                "$threatid",
                "$type",
                "$number-of-severity"
            ]
        );
        assert_eq!(
            header(formats::CORRELATION),
            ["8.0", "$category", "$type", "$severity"]
        );
        assert_eq!(
            header(formats::GLOBALPROTECT),
            ["$sender_sw_version", "$subtype", "$type", "1"]
        );
        assert_eq!(header(formats::HIPMATCH)[1], "$matchtype");
        assert_eq!(header(formats::CONFIG)[1], "$result");
    }

    #[test]
    fn threat_subtypes_pick_their_format() {
        use crate::log::LogType::Threat;
        let pick = |subtype| formats::published(Threat, subtype).unwrap();
        assert!(std::ptr::eq(pick("url"), formats::URL));
        assert!(std::ptr::eq(pick("wildfire"), formats::WILDFIRE));
        assert!(std::ptr::eq(pick("wildfire-virus"), formats::WILDFIRE));
        assert!(std::ptr::eq(pick("data"), formats::DATA));
        for subtype in [
            "vulnerability",
            "spyware",
            "virus",
            "file",
            "scan",
            "flood",
            "packet",
        ] {
            assert!(std::ptr::eq(pick(subtype), formats::THREAT), "{subtype}");
        }
        assert_eq!(
            formats::published(crate::log::LogType::Decryption, "0"),
            None
        );
    }

    #[test]
    fn panos_keys_are_camel_case_cef_keys() {
        assert_eq!(panos_key("high_res_timestamp"), "PanOSHighResTimestamp");
        assert_eq!(panos_key("before-change-detail"), "PanOSBeforeChangeDetail");
        assert_eq!(panos_key("tls_version"), "PanOSTlsVersion");
        assert!(cefrelay_cef::is_valid_key(&panos_key("a b/c")));
    }
}
