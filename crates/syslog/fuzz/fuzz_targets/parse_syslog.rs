//! `parse` and `parse_strict` on arbitrary UTF-8: no panics, zero-copy suffixes, and a strict
//! success equal to the lenient result.
#![no_main]

use cefrelay_syslog::{parse, parse_strict, Format, OffsetDateTime, ParseOptions, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let opts = ParseOptions::new(OffsetDateTime::UNIX_EPOCH);
    let m = parse(input, &opts);
    let trimmed = input.trim_end_matches(['\n', '\r', '\0']);
    assert!(trimmed.ends_with(m.body));
    assert!(m.body.ends_with(m.msg));
    if m.status == Status::Raw {
        assert_eq!((m.format, m.msg), (Format::None, trimmed));
    }
    if let Ok(strict) = parse_strict(input, &opts) {
        assert_eq!(strict, m);
    }
});
