use bytes::BytesMut;
use serde_json::{json, Value};

use super::encoder::{splunk_sourcetype, write_hec, HecEncoder, HecOptions};
use crate::sink::test_support::{
    encode, enriched, fixtures, mitre_fields, parse, PEER, THREAT_CEF,
};
use crate::sink::Encode;

fn hec(text: &str, options: &HecOptions) -> Value {
    encode(text, |message, out| write_hec(message, options, out))
}

fn sourcetype(text: &str) -> &'static str {
    let event = parse(text);
    splunk_sourcetype(&enriched(&event, text, &[]))
}

const NO_OPTIONS: HecOptions = HecOptions {
    index: None,
    source: None,
    sourcetype: None,
    host: None,
};

/// The expected sourcetype comes from the raw line the way SOURCES.md counts types (first
/// type keyword among the first 8 comma-separated fields; in CEF from Palo Alto Networks,
/// Name, else Device Event Class ID), not from the encoder's own parse.
#[test]
fn fixture_lines_get_the_panos_add_on_sourcetypes() {
    let addon = [
        ("TRAFFIC", "pan:traffic"),
        ("THREAT", "pan:threat"),
        ("SYSTEM", "pan:system"),
        ("CONFIG", "pan:config"),
        ("HIPMATCH", "pan:hipmatch"),
        ("GLOBALPROTECT", "pan:globalprotect"),
        ("USERID", "pan:userid"),
        ("DECRYPTION", "pan:decryption"),
        ("CORRELATION", "pan:correlation"),
    ];
    let others = [
        "AUTHENTICATION",
        "AUTH",
        "IPTAG",
        "GTP",
        "SCTP",
        "START",
        "END",
    ];
    let is_type = |field: &&str| addon.iter().any(|(t, _)| t == field) || others.contains(field);
    let sourcetype_of = |kind: Option<&str>, otherwise| {
        kind.and_then(|kind| addon.iter().find(|(t, _)| *t == kind))
            .map_or(otherwise, |(_, sourcetype)| *sourcetype)
    };
    for lines in fixtures() {
        let mut seen = std::collections::BTreeMap::<&str, usize>::new();
        for (file, line) in &lines {
            let got = sourcetype(line);
            if let Some((_, cef)) = line.split_once("CEF:") {
                // 0 version, 1 vendor, 2 product, 3 version, 4 class ID, 5 name.
                let header: Vec<&str> = cef.splitn(8, '|').collect();
                let kind = (header.get(1) == Some(&"Palo Alto Networks"))
                    .then(|| [5, 4].into_iter().filter_map(|i| header.get(i).copied()))
                    .and_then(|mut fields| fields.find(is_type));
                assert_eq!(got, sourcetype_of(kind, "cef"), "{file}: {line}");
                continue;
            }
            let kind = line.split(',').take(8).find(is_type);
            assert_eq!(got, sourcetype_of(kind, "syslog"), "{file}: {line}");
            *seen.entry(kind.unwrap_or("none")).or_default() += 1;
        }
        println!("{seen:?}");
        for (kind, _) in addon {
            assert!(seen.contains_key(kind), "no {kind} line in the fixtures");
        }
    }
}

#[test]
fn cef_sourcetypes_follow_the_panos_type_wherever_the_format_puts_it() {
    assert_eq!(sourcetype(THREAT_CEF), "pan:threat");
    // Native GlobalProtect format: type and subtype swapped.
    assert_eq!(
        sourcetype("CEF:0|Palo Alto Networks|PAN-OS|10.1.8|GLOBALPROTECT|login|3|PanOSEventID=x"),
        "pan:globalprotect"
    );
    // Strata "LF": the type first; the SYSTEM subtype `globalprotect` is no type.
    assert_eq!(
        sourcetype("CEF:0|Palo Alto Networks|LF|2.0|SYSTEM|globalprotect|3|dtz=UTC"),
        "pan:system"
    );
    assert_eq!(
        sourcetype("CEF:0|Palo Alto Networks|PAN-OS|10.1|start|END|1|a=b"),
        "cef"
    );
    assert_eq!(
        sourcetype("<14>Feb  8 09:05:49 fw CEF:0|Fortinet|FortiGate|7|1|THREAT|5|a=b"),
        "cef"
    );
    assert_eq!(
        sourcetype("<14>Feb  8 09:05:49 fw sshd[1]: THREAT,TRAFFIC"),
        "syslog"
    );
    assert_eq!(
        sourcetype("<14>Feb  8 09:05:49 fw 1,2021/02/08 09:05:48,012,AUTHENTICATION,x"),
        "syslog"
    );
}

#[test]
fn hec_envelope_carries_the_raw_text_and_the_syslog_metadata() {
    let csv = "<14>Feb  8 09:05:49 pa-fw1 1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability,1";
    assert_eq!(
        hec(csv, &NO_OPTIONS),
        json!({
            "time": 1_612_775_149.0,
            "host": "pa-fw1",
            "sourcetype": "pan:threat",
            "event": csv,
        })
    );
    let options = HecOptions {
        index: Some("netfw".into()),
        source: Some("cefrelay".into()),
        sourcetype: Some("pan:log".into()),
        host: Some("override".into()),
    };
    assert_eq!(
        hec(csv, &options),
        json!({
            "time": 1_612_775_149.0,
            "host": "override",
            "source": "cefrelay",
            "sourcetype": "pan:log",
            "index": "netfw",
            "event": csv,
        })
    );
    // No header: the sender's address and the time of receipt, to the millisecond.
    let bare = "CEF:0|V|P|1|2|N|3|a=b";
    let event = encode(bare, |message, out| write_hec(message, &NO_OPTIONS, out));
    assert_eq!(event["host"], PEER);
    assert_eq!(event["sourcetype"], "cef");
    let mut out = BytesMut::new();
    let parsed = parse(bare);
    let message = enriched(&parsed, bare, &[]);
    write_hec(&message, &NO_OPTIONS, &mut out);
    assert!(out.starts_with(b"{\"time\":1612775149.123,"), "{out:?}");
}

#[test]
fn a_blank_message_is_left_out_and_the_others_are_kept() {
    let encoder = HecEncoder(HecOptions::default());
    let mut out = BytesMut::new();
    for text in ["  ", "<14>Nov 22 10:00:00 fw CEF:0|V|P|1|2|N|3|a=b"] {
        let event = parse(text);
        encoder.encode(&enriched(&event, text, &[]), &mut out);
    }
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("CEF:0|V|P"), "{text}");
}

#[test]
fn added_fields_become_indexed_fields_and_the_event_stays_the_line() {
    let event = parse(THREAT_CEF);
    let added = mitre_fields();
    let mut out = BytesMut::new();
    write_hec(&enriched(&event, THREAT_CEF, &added), &NO_OPTIONS, &mut out);
    let raw = serde_json::to_string(THREAT_CEF).expect("JSON string");
    assert_eq!(
        std::str::from_utf8(&out).expect("UTF-8"),
        format!(
            "{{\"time\":1612775149.0,\"host\":\"pa-fw1\",\"sourcetype\":\"pan:threat\",\
             \"fields\":{{\"PanOSAlertType\":\"Exploit\",\
             \"threatAttackID\":\"T1190\",\"threatAttackName\":\"Exploit Public-Facing Application\",\
             \"mitreSource\":\"cefrelay\"}},\"event\":{raw}}}"
        )
    );
}
