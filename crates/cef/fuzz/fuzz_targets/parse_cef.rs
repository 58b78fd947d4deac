//! `parse_in_message` on arbitrary UTF-8: no panic, every key valid, and a parsed record
//! re-encodes to text that parses back to the same fields.

#![no_main]

use cefrelay_cef::{encode, is_valid_key, parse_cef, parse_in_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(Ok(cef)) = parse_in_message(text) {
        assert!(cef.extensions.pairs().iter().all(|(key, _)| is_valid_key(key)));
        let mut encoded = String::new();
        encode(&cef, &mut encoded);
        assert_eq!(parse_cef(&encoded).as_ref(), Ok(&cef), "{encoded:?}");
    }
});
