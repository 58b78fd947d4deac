//! Property tests: the parser never panics, the encoder round-trips, and re-encoding a parsed
//! record is stable.

use std::borrow::Cow;

use cefrelay_cef::{encode, parse_cef, parse_in_message, Cef};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn render_then_parse_gives_the_same_fields((version, header, extensions) in record()) {
        let cef = Cef {
            version,
            device_vendor: Cow::Borrowed(&header[0]),
            device_product: Cow::Borrowed(&header[1]),
            device_version: Cow::Borrowed(&header[2]),
            signature_id: Cow::Borrowed(&header[3]),
            name: Cow::Borrowed(&header[4]),
            severity: Cow::Borrowed(&header[5]),
            extensions: extensions.iter().map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))).collect(),
        };
        let mut text = String::new();
        encode(&cef, &mut text);
        let parsed = parse_cef(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, cef);
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
