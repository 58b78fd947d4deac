//! Property tests: the parser never panics, the encoder round-trips, and re-encoding a parsed
//! record is stable.

use std::borrow::Cow;

use cefrelay_cef::{encode, parse_cef, parse_extension, parse_in_message, Cef, Extension};
use proptest::prelude::*;

/// Header text: anything, including the characters that need escaping.
fn header_field() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 |\\\\=.:\\-()/éß]{0,12}"
}

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.,\\[\\]]{0,10}"
}

/// Values with spaces, `=`, backslashes, CR/LF and pipes; never trailing whitespace, which CEF
/// cannot express (the parser trims it).
fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 =|\\\\\n\r:/?&.\\-é]{0,16}".prop_map(|v| v.trim_end_matches([' ', '\t']).to_owned())
}

fn record() -> impl Strategy<Value = (u32, Vec<String>, Vec<(String, String)>)> {
    (
        0u32..=1,
        proptest::collection::vec(header_field(), 6),
        proptest::collection::vec((key(), value()), 0..8),
    )
}

/// The record of `record()`'s parts, borrowing them.
fn record_of<'a>(
    version: u32,
    header: &'a [String],
    extensions: &'a [(String, String)],
) -> Cef<'a> {
    Cef {
        version,
        device_vendor: Cow::Borrowed(&header[0]),
        device_product: Cow::Borrowed(&header[1]),
        device_version: Cow::Borrowed(&header[2]),
        signature_id: Cow::Borrowed(&header[3]),
        name: Cow::Borrowed(&header[4]),
        severity: Cow::Borrowed(&header[5]),
        extensions: Extension::from_pairs(
            extensions
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())))
                .collect(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn render_then_parse_gives_the_same_fields((version, header, extensions) in record()) {
        let cef = record_of(version, &header, &extensions);
        let mut text = String::new();
        encode(&cef, &mut text);
        let parsed = parse_cef(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, cef);
    }

    /// A record written header first: its extension read from where the header alone ends is
    /// the one the whole record parses to; and no start, in or past the text, panics.
    #[test]
    fn an_extension_read_after_a_header_read_apart_is_the_whole_records(
        (version, header, extensions) in record(),
        start in 0usize..400,
    ) {
        let mut header_only = String::new();
        encode(&record_of(version, &header, &[]), &mut header_only);
        let mut whole = String::new();
        encode(&record_of(version, &header, &extensions), &mut whole);
        prop_assert!(whole.starts_with(&header_only), "{header_only:?} {whole:?}");
        let read_apart = parse_extension(&whole, header_only.len())
            .map_err(|e| TestCaseError::fail(format!("{whole:?}: {e}")))?;
        prop_assert_eq!(read_apart, parse_cef(&whole).unwrap().extensions);
        let _ = parse_extension(&whole, start);
    }

    #[test]
    fn arbitrary_text_never_panics_and_reencodes_stably(text in "(CEF:[01]\\|)?[ -~\\\\|=\n]{0,120}") {
        if let Some(Ok(cef)) = parse_in_message(&text) {
            for (key, _) in &cef.extensions {
                prop_assert!(cefrelay_cef::is_valid_key(key), "{key:?}");
            }
            let mut encoded = String::new();
            encode(&cef, &mut encoded);
            let again = parse_cef(&encoded).map_err(|e| TestCaseError::fail(format!("{encoded:?}: {e}")))?;
            prop_assert_eq!(again, cef);
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,200}") {
        let _ = parse_in_message(&text);
        let _ = parse_cef(&text);
    }
}

/// An extension's pairs by the crate documentation's rules, written the plain way — a regex for
/// every `key=` at the start or after a space, values up to the space before the next key, trailing
/// whitespace trimmed, escapes undone when the extension has any backslash — against which the
/// parser's split (lazy, memchr-driven) is checked.
fn reference_pairs(extension: &str) -> Vec<(String, String)> {
    let boundary = regex::Regex::new(r"(?:^| )([A-Za-z0-9_][A-Za-z0-9_.,\[\]]*)=").unwrap();
    let keys: Vec<(usize, &str, usize)> = boundary
        .captures_iter(extension)
        .map(|c| {
            (
                c.get(0).unwrap().start(),
                c.get(1).unwrap().as_str(),
                c.get(0).unwrap().end(),
            )
        })
        .collect();
    let escapes = extension.contains('\\');
    keys.iter()
        .enumerate()
        .map(|(index, (_, key, value_start))| {
            let value_end = keys.get(index + 1).map_or(extension.len(), |next| next.0);
            let raw = extension[*value_start..value_end].trim_end_matches([' ', '\t', '\r', '\n']);
            let value = if escapes {
                reference_unescape(raw)
            } else {
                raw.to_owned()
            };
            (key.to_string(), value)
        })
        .collect()
}

fn reference_unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('=') => out.push('='),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Checks one record's extension four ways: the split pairs equal the reference's, `get` finds
/// the first value of each key before anything split the text (on a fresh record and on one
/// asked for every key in turn), `labelled` finds the pair each label names, and `is_empty`
/// answers the same before and after the split.
fn check_split(record: &str, extension: &str) -> Result<(), TestCaseError> {
    let Ok(cef) = parse_cef(record) else {
        return Ok(());
    };
    let reference = reference_pairs(extension.trim_start_matches(' '));
    let empty_before_split = cef.extensions.is_empty();
    prop_assert!(!cef.extensions.is_split());
    for (key, _) in &reference {
        let fresh = parse_cef(record).unwrap();
        let first = reference
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        prop_assert_eq!(fresh.extension(key), first, "{:?} in {:?}", key, record);
        let entry = fresh
            .extensions
            .entry(key)
            .map(|(k, v)| (k.to_string(), v.to_string()));
        prop_assert_eq!(entry, first.map(|v| (key.clone(), v.to_string())));
    }
    // One record asked for every key in turn, and for keys it lacks, as the rules and the
    // enrichment ask one record: no lookup changes what the next one finds.
    let shared = parse_cef(record).unwrap();
    let mut asked: Vec<&str> = reference.iter().map(|(k, _)| k.as_str()).collect();
    asked.extend(["absent", "k", "Label"]);
    for key in asked {
        let first = reference
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        prop_assert_eq!(shared.extension(key), first, "{:?} in {:?}", key, record);
    }
    // Each label a `…Label` pair gives (and one none gives), before and after a split.
    let mut labels: Vec<&str> = reference
        .iter()
        .filter(|(k, _)| k.ends_with("Label"))
        .map(|(_, v)| v.as_str())
        .collect();
    labels.push("no such label");
    for label in labels {
        let expected = reference
            .iter()
            .find(|(k, v)| k.ends_with("Label") && v == label)
            .and_then(|(k, _)| {
                let base = k.strip_suffix("Label").unwrap();
                reference.iter().find(|(k, _)| k == base)
            })
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let fresh = parse_cef(record).unwrap();
        prop_assert_eq!(
            fresh.extensions.labelled(label),
            expected,
            "{:?} in {:?}",
            label,
            record
        );
        fresh.extensions.pairs();
        prop_assert_eq!(
            fresh.extensions.labelled(label),
            expected,
            "{:?} (split)",
            label
        );
    }
    let pairs: Vec<(String, String)> = cef
        .extensions
        .pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    prop_assert_eq!(&pairs, &reference, "{:?}", record);
    prop_assert_eq!(empty_before_split, pairs.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_lazy_split_gives_the_reference_pairs(
        extension in "[a-z_A-Z0-9 =\\\\.,\\[\\]nr\t:/|é-]{0,200}",
    ) {
        // Starting with a key, as `parse_cef` requires; then anything the grammar allows.
        let extension = format!("k={extension}");
        check_split(&format!("CEF:0|V|P|1|2|N|3|{extension}"), &extension)?;
    }
}

/// The same over the project's real PAN-OS CEF records (every log type the firewall formats).
#[test]
fn the_lazy_split_gives_the_reference_pairs_on_real_records() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/panos-cef");
    let mut records = 0;
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cef") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let at = line.find("CEF:").unwrap();
                let record = &line[at..];
                let extension_at = record
                    .match_indices('|')
                    .nth(6)
                    .map_or(record.len(), |(i, _)| i + 1);
                check_split(record, &record[extension_at..]).unwrap();
                records += 1;
            }
        }
    }
    assert!(records >= 10, "only {records} records under {fixtures}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Extensions made of label pairs, their labelled keys, repeats, escapes and a bare `Label`
    /// key, for `labelled` (random text rarely spells `Label=`).
    #[test]
    fn labels_are_found_as_the_split_finds_them(
        pairs in prop::collection::vec(
            (
                prop::sample::select(vec!["cs1", "cs1Label", "cs2", "cs2Label", "Label", "xLabel", "x"]),
                prop::sample::select(vec!["Rule", "a b", "cs1", "Label", "x\\=y", "", "Rule x"]),
            ),
            1..8,
        ),
    ) {
        let extension = pairs
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        check_split(&format!("CEF:0|V|P|1|2|N|3|{extension}"), &extension)?;
    }
}
