//! `csv::parse` on arbitrary UTF-8: no panic, and where the line has no quote and no brace (so
//! no column was unquoted or held commas), its columns joined with commas are the record: the
//! end of the input, as sent.

#![no_main]

use cefrelay_panos::csv::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(log) = parse(text) else {
        return;
    };
    if !text.contains(['"', '{']) {
        let joined = log.values.join(",");
        let record = text.trim_end_matches(['\r', '\n', '\0']);
        assert!(record.ends_with(&joined), "{joined:?} is not the end of {record:?}");
    }
});
