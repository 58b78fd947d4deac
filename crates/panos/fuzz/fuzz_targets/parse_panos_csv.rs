//! `csv::parse` on arbitrary UTF-8: no panic, and where the line has no quote and no brace (so
//! no column was unquoted or held commas), its columns joined with commas are the record: the
//! end of the input, as sent. Then `to_cef`: no panic, and the same CEF whether the values are
//! slices of the line (escaped by the line's list of bytes to escape) or copies of them, and
//! `to_cef_header` then `to_cef_extension` write that CEF in two parts.

#![no_main]

use std::borrow::Cow;

use cefrelay_panos::csv::parse;
use cefrelay_panos::to_cef::{to_cef, to_cef_extension, to_cef_header, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(log) = parse(text) else {
        return;
    };
    if !text.contains(['"', '{']) {
        let joined = log.values().join(",");
        let record = text.trim_end_matches(['\r', '\n', '\0']);
        assert!(
            record.ends_with(&joined),
            "{joined:?} is not the end of {record:?}"
        );
    }
    let copied = log.clone().with_values(
        log.values()
            .iter()
            .map(|value| Cow::Owned(value.to_string()))
            .collect(),
    );
    let options = Options::default();
    let (mut from_slices, mut from_copies) = (String::new(), String::new());
    to_cef(&log, &options, &mut from_slices);
    to_cef(&copied, &options, &mut from_copies);
    assert_eq!(from_slices, from_copies);
    let mut in_two_parts = String::new();
    to_cef_header(&log, &options, &mut in_two_parts);
    to_cef_extension(&log, &options, &mut in_two_parts);
    assert_eq!(from_slices, in_two_parts);
});
