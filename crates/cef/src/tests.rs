use std::borrow::Cow;

use super::*;

fn ext<'c>(cef: &'c Cef<'_>) -> Vec<(&'c str, &'c str)> {
    cef.extensions
        .pairs()
        .iter()
        .map(|(k, v)| (*k, v.as_ref()))
        .collect()
}

fn ok(input: &str) -> Cef<'_> {
    parse_cef(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

const MOCK: &str = "0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|rt=$common=event-formatted-receive_time deviceExternalId=0002D01655 src=1.1.1.1 dst=2.2.2.2 sourceTranslatedAddress=1.1.1.1 destinationTranslatedAddress=3.3.3.3 cs1Label=Rule cs1=CEF_TEST_InternetDNS |data0=example";

#[test]
fn header_fields_borrow_when_unescaped() {
    let cef = ok("CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|src=10.0.0.1");
    assert_eq!(cef.version, 0);
    assert_eq!(cef.device_vendor, "Palo Alto Networks");
    assert_eq!(cef.device_product, "PAN-OS");
    assert_eq!(cef.device_version, "10.1.8");
    assert_eq!(cef.signature_id, "end");
    assert_eq!(cef.name, "TRAFFIC");
    assert_eq!(cef.severity, "1");
    assert!(matches!(cef.device_vendor, Cow::Borrowed(_)));
    assert!(matches!(cef.extensions.pairs()[0].1, Cow::Borrowed(_)));
    assert_eq!(ext(&cef), [("src", "10.0.0.1")]);
}

#[test]
fn cef_version_1() {
    assert_eq!(ok("CEF:1|a|b|c|d|e|5|x=y").version, 1);
}

#[test]
fn the_common_versions_shortcut_reads_what_the_general_grammar_reads() {
    for digit in 0..=9 {
        for rest in ["a|b|c|d|e|5|", "", "|", "0|x"] {
            let input = format!("CEF:{digit}|{rest}");
            assert_eq!(version(&input), any_version(&input), "{input}");
            assert_eq!(version(&input), Some((rest, digit)), "{input}");
        }
    }
    // Not the shortcut's shape: left to the general grammar.
    for input in [
        "CEF:10|a", "CEF:0 |a", "CEF:|a", "CEF:x|a", "cef:0|a", "CEF:0",
    ] {
        assert_eq!(version(input), any_version(input), "{input}");
    }
}

#[test]
fn the_version_takes_spaces_and_tabs_before_it_and_nothing_else() {
    for (record, version) in [
        ("CEF:0|a|b|c|d|e|5|", 0),
        ("CEF: 1|a|b|c|d|e|5|", 1),
        ("CEF:\t 0|a|b|c|d|e|5|", 0),
        ("0|a|b|c|d|e|5|", 0),
        ("CEF:007|a|b|c|d|e|5|", 7),
    ] {
        assert_eq!(ok(record).version, version, "{record}");
    }
    for record in [
        "CEF:|a|b|c|d|e|5|",
        "CEF:0 |a|b|c|d|e|5|",
        "CEF:-1|a|b|c|d|e|5|",
        "CEF:+1|a|b|c|d|e|5|",
        "CEF:4294967296|a|b|c|d|e|5|",
        "CEF:0",
        "CEF:",
        " CEF:0|a|b|c|d|e|5|",
    ] {
        let error = parse_cef(record).expect_err(record);
        assert_eq!(error.kind, CefErrorKind::InvalidVersion, "{record}");
        assert_eq!(error.offset, 0, "{record}");
    }
}

#[test]
fn only_values_with_a_backslash_are_copied() {
    let cef = ok(r"CEF:0|a|b|c|d|e|5|a=x\\y b=plain c=z\=w d=two words e=\n f=end\\");
    let pairs = cef.extensions.pairs();
    let copied: Vec<&str> = pairs
        .iter()
        .filter(|(_, value)| matches!(value, Cow::Owned(_)))
        .map(|(key, _)| *key)
        .collect();
    assert_eq!(copied, ["a", "c", "e", "f"]);
    assert_eq!(
        ext(&cef),
        [
            ("a", r"x\y"),
            ("b", "plain"),
            ("c", "z=w"),
            ("d", "two words"),
            ("e", "\n"),
            ("f", r"end\"),
        ]
    );
}

#[test]
fn header_escapes_pipe_and_backslash_unknown_kept() {
    let cef = ok(r"CEF:0|Se\|curity|threat\\manager|1.0\x|100|detected a \| in message|10|");
    assert_eq!(cef.device_vendor, "Se|curity");
    assert_eq!(cef.device_product, r"threat\manager");
    assert_eq!(cef.device_version, r"1.0\x");
    assert_eq!(cef.name, "detected a | in message");
    assert!(cef.extensions.is_empty());
}

#[test]
fn extension_escapes() {
    let cef = ok(r"CEF:0|a|b|c|d|e|1|msg=a\=b c\\d line1\nline2\r end cs1=x\|y");
    assert_eq!(
        ext(&cef),
        [("msg", "a=b c\\d line1\nline2\r end"), ("cs1", r"x\|y")]
    );
}

#[test]
fn unknown_escapes_in_values_stay_literal() {
    // PAN-OS sends raw backslashes in user names and Windows paths.
    let cef = ok(r"CEF:0|a|b|c|d|e|1|suser=corp\f0316 filePath=C:\Windows\temp\x.exe end=\");
    assert_eq!(
        ext(&cef),
        [
            ("suser", r"corp\f0316"),
            ("filePath", r"C:\Windows\temp\x.exe"),
            ("end", r"\")
        ]
    );
}

#[test]
fn values_keep_spaces_and_end_at_the_last_space_before_the_next_key() {
    let cef = ok("CEF:0|a|b|c|d|e|1|cs1=LEO to UNTRUST - WEB cs1Label=Rule  name  act=allow");
    assert_eq!(
        ext(&cef),
        [
            ("cs1", "LEO to UNTRUST - WEB"),
            ("cs1Label", "Rule  name"),
            ("act", "allow")
        ]
    );
}

#[test]
fn trailing_whitespace_is_trimmed_empty_values_kept_keys_in_order_and_repeated() {
    let cef = ok("CEF:0|a|b|c|d|e|1|duser= src=1.1.1.1 \t suser=  x  suser=y last=  ");
    assert_eq!(
        ext(&cef),
        [
            ("duser", ""),
            ("src", "1.1.1.1"),
            ("suser", "  x"),
            ("suser", "y"),
            ("last", "")
        ]
    );
}

#[test]
fn key_grammar() {
    assert!(is_valid_key("cs1Label"));
    assert!(is_valid_key("_x.y,z[0]"));
    assert!(is_valid_key("9start"));
    assert!(!is_valid_key(""));
    assert!(!is_valid_key(".dot"));
    assert!(!is_valid_key("a-b"));
    assert!(!is_valid_key("a b"));
    let cef = ok("CEF:0|a|b|c|d|e|1|ad.name[0]=x msg=a -b=c .d=e x,y=z");
    assert_eq!(
        ext(&cef),
        [("ad.name[0]", "x"), ("msg", "a -b=c .d=e"), ("x,y", "z")]
    );
}

/// vrl#1455: an escaped pipe in a header field split the header at the wrong place.
#[test]
fn regression_vrl_1455_escaped_pipe_in_header() {
    let cef = ok(r"CEF:0|Vendor|Pro\|duct|1.0|sig|Na\|me|5|src=1.2.3.4");
    assert_eq!(cef.device_product, "Pro|duct");
    assert_eq!(cef.name, "Na|me");
    assert_eq!(cef.severity, "5");
    assert_eq!(ext(&cef), [("src", "1.2.3.4")]);
}

/// vrl#784: an unescaped `=` inside a URL value was taken for a new key.
#[test]
fn regression_vrl_784_unescaped_equals_in_url() {
    let cef = ok(
        "CEF:0|a|b|c|d|e|1|request=https://x.example/a.axd?OpType=SessionKeepAlive&ControlID=9&RSProxy=http://localhost/rs dst=2.2.2.2",
    );
    assert_eq!(
        ext(&cef),
        [
            (
                "request",
                "https://x.example/a.axd?OpType=SessionKeepAlive&ControlID=9&RSProxy=http://localhost/rs"
            ),
            ("dst", "2.2.2.2")
        ]
    );
}

/// liblognorm#351: an empty last value was lost or made the record invalid.
#[test]
fn regression_liblognorm_351_empty_last_value() {
    let cef = ok("CEF:0|a|b|c|d|e|1|src=1.1.1.1 PanDynamicUsrgrp=");
    assert_eq!(ext(&cef), [("src", "1.1.1.1"), ("PanDynamicUsrgrp", "")]);
}

/// liblognorm#363: the first character of the first key was dropped.
#[test]
fn regression_liblognorm_363_first_key_character_kept() {
    let cef = ok("CEF:0|a|b|c|d|e|1|rt=1 x=2");
    assert_eq!(ext(&cef), [("rt", "1"), ("x", "2")]);
    let one_char = ok("CEF:0|a|b|c|d|e|1|a=1");
    assert_eq!(ext(&one_char), [("a", "1")]);
}

/// logstash#14375: `\n` in a value was not turned into a newline.
#[test]
fn regression_logstash_14375_newline_unescaped() {
    let cef = ok(r"CEF:0|a|b|c|d|e|1|msg=first\nsecond");
    assert_eq!(ext(&cef), [("msg", "first\nsecond")]);
}

#[test]
fn mock_message_of_cef_troubleshoot() {
    let with_tag = format!("CEF: {MOCK}");
    let cef = parse_in_message(&with_tag).unwrap().unwrap();
    assert_eq!(cef.device_vendor, "TestCommonEventFormat");
    assert_eq!(cef.device_version, "common=event-format-test");
    assert_eq!(cef.name, "TRAFFIC");
    assert_eq!(
        cef.extension("rt"),
        Some("$common=event-formatted-receive_time")
    );
    assert_eq!(
        cef.extension("cs1"),
        Some("CEF_TEST_InternetDNS |data0=example")
    );
    assert_eq!(cef.extensions.pairs().len(), 8);
    // And without the marker, as the agent sees the MSG after the `CEF:` tag.
    assert_eq!(parse_in_message(MOCK).unwrap().unwrap(), cef);
    // A prefix-less record whose values mention "CEF:" is still that record.
    let mentions = "0|v|p|1|s|n|3|msg=see CEF: spec";
    assert_eq!(
        parse_in_message(mentions)
            .unwrap()
            .unwrap()
            .extension("msg"),
        Some("see CEF: spec")
    );
}

#[test]
fn marker_is_found_after_tags_and_relay_headers() {
    let text = "logforwarder - panwlogs - CEF:0|Palo Alto Networks|LF|2.0|CONFIG|config|3|dtz=UTC";
    assert_eq!(find_cef(text), Some(26));
    let cef = parse_in_message(text).unwrap().unwrap();
    assert_eq!(cef.signature_id, "CONFIG");
    // A "CEF:" that is not a record marker is skipped for a later one.
    let text = "note CEF:x then CEF:1|v|p|1|s|n|2|a=b";
    assert_eq!(parse_in_message(text).unwrap().unwrap().version, 1);
}

#[test]
fn messages_without_cef_are_none() {
    assert_eq!(
        parse_in_message("1,2012/04/10 04:39:55,0011C100101,TRAFFIC,end"),
        None
    );
    assert_eq!(parse_in_message(""), None);
    assert_eq!(parse_in_message("just text | with | pipes"), None);
}

#[test]
fn malformed_records_report_what_and_where() {
    let err = parse_in_message("x CEF:zero|a").unwrap().unwrap_err();
    assert_eq!(err.kind, CefErrorKind::InvalidVersion);
    assert_eq!(err.offset, 2);
    let err = parse_in_message("CEF:0|a|b|c").unwrap().unwrap_err();
    assert_eq!(err.kind, CefErrorKind::MissingHeaderFields { found: 2 });
    assert_eq!(err.offset, 10, "at the unterminated third field");
    let err = parse_cef("CEF:0|a|b|c|d|e|1|not an extension x=1").unwrap_err();
    assert_eq!(err.kind, CefErrorKind::InvalidExtension);
    assert_eq!(err.offset, 18);
    assert_eq!(
        err.to_string(),
        "CEF extension does not start with key= at byte 18"
    );
    // A trailing backslash cannot end a header field.
    assert!(parse_cef("CEF:0|a\\").is_err());
}

#[test]
fn record_without_extension_pipe_is_accepted() {
    let cef = ok("CEF:0|a|b|c|d|e|7");
    assert_eq!(cef.severity, "7");
    assert!(cef.extensions.is_empty());
    let cef = ok("CEF:0|a|b|c|d|e||");
    assert_eq!(cef.severity, "");
}

#[test]
fn panos_globalprotect_template_without_severity() {
    let cef = ok("CEF:0|Palo Alto Networks|PAN-OS|10.1.8|GLOBALPROTECT|login|rt=2021/03/24 11:30:00 PanOSDeviceSN=0123 PanOSDeviceSN=0123");
    assert_eq!(cef.signature_id, "GLOBALPROTECT");
    assert_eq!(cef.name, "login");
    assert_eq!(cef.severity, "");
    assert_eq!(
        ext(&cef),
        [
            ("rt", "2021/03/24 11:30:00"),
            ("PanOSDeviceSN", "0123"),
            ("PanOSDeviceSN", "0123")
        ]
    );
}

#[test]
fn severity_forms() {
    assert_eq!(Severity::parse("0"), Some(Severity::Level(0)));
    assert_eq!(Severity::parse("10"), Some(Severity::Level(10)));
    assert_eq!(Severity::parse("11"), None);
    assert_eq!(Severity::parse("+5"), None);
    assert_eq!(Severity::parse("Very-High"), Some(Severity::VeryHigh));
    assert_eq!(Severity::parse("medium"), Some(Severity::Medium));
    assert_eq!(Severity::parse("severe"), None);
    assert_eq!(Severity::Level(5).band(), Severity::Medium);
    assert_eq!(Severity::Level(9).band(), Severity::VeryHigh);
    // Kept as sent even when it is not a CEF severity (PAN-OS Correlation sends a word).
    let cef = ok("CEF:0|a|b|8.0|c|CORRELATION|severity|x=1");
    assert_eq!(cef.severity, "severity");
    assert_eq!(cef.severity_level(), None);
}

#[test]
fn encoder_escapes_what_the_parser_unescapes() {
    let cef = Cef {
        version: 0,
        device_vendor: Cow::Borrowed("Ven|dor"),
        device_product: Cow::Borrowed(r"back\slash"),
        device_version: Cow::Borrowed("1.0"),
        signature_id: Cow::Borrowed("100"),
        name: Cow::Borrowed("name = x"),
        severity: Cow::Borrowed("5"),
        extensions: Extension::from_pairs(vec![
            ("msg", Cow::Borrowed("a=b\nc\rd\\e f=g")),
            ("empty", Cow::Borrowed("")),
        ]),
    };
    let text = cef.to_string();
    assert_eq!(
        text,
        r"CEF:0|Ven\|dor|back\\slash|1.0|100|name = x|5|msg=a\=b\nc\rd\\e f\=g empty="
    );
    assert_eq!(parse_cef(&text).unwrap(), cef);
}
