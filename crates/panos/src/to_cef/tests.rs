use std::borrow::Cow;

use cefrelay_cef::{parse_cef, Cef};

use super::*;
use crate::csv;

/// A TRAFFIC line of PAN-OS 8.1 (config version 2049), cut after the device name: the columns
/// of later versions are missing.
const TRAFFIC_8_1: &str = "1,2024/05/08 01:10:31,013201001234,TRAFFIC,end,2049,\
    2024/05/08 01:10:30,10.1.20.15,203.0.113.80,198.51.100.7,203.0.113.80,Internal to Internet,\
    corp\\jdoe,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Forward to SIEM,,184467,1,52344,\
    443,31877,443,0x400000,tcp,allow,5321,1200,4121,18,2024/05/08 01:09:58,32,\
    computer-and-internet-info,,7294713681,0x8000000000000000,10.0.0.0-10.255.255.255,\
    United States,,9,9,tcp-fin,11,0,0,0,,PA-3220-edge";

fn parse(line: &str) -> Log<'_> {
    csv::parse(line).expect("a PAN-OS CSV line")
}

fn convert(log: &Log<'_>, options: &Options) -> String {
    let mut out = String::new();
    to_cef(log, options, &mut out);
    out
}

fn cef(text: &str) -> Cef<'_> {
    parse_cef(text).expect("the relay's CEF parser accepts what to_cef writes")
}

/// The extension's keys, in order.
fn keys_of<'r>(record: &'r Cef<'_>) -> Vec<&'r str> {
    record
        .extensions
        .pairs()
        .iter()
        .map(|(key, _)| *key)
        .collect()
}

/// `log` with the column named `name` set to `value`.
fn with<'a>(log: Log<'a>, name: &str, value: &'a str) -> Log<'a> {
    let index = log.schema.and_then(|s| s.position(name)).expect(name);
    let mut values = log.values().to_vec();
    values.resize(values.len().max(index + 1), Cow::Borrowed(""));
    values[index] = Cow::Borrowed(value);
    log.with_values(values)
}

#[test]
fn traffic_follows_set_a_with_empty_values_for_missing_columns() {
    let line = convert(&parse(TRAFFIC_8_1), &Options::default());
    assert!(line.starts_with(
        "CEF:0|Palo Alto Networks|PAN-OS|8.1|end|TRAFFIC|1|rt=May 08 2024 01:10:31 GMT \
         deviceExternalId=013201001234 src=10.1.20.15 dst=203.0.113.80 "
    ));
    assert!(line.contains(" cs1Label=Rule cs1=Internal to Internet suser=corp\\\\jdoe duser= "));
    assert!(line.contains(" start=May 08 2024 01:10:30 GMT cn3Label=Elapsed time in seconds "));
    // 8.1 has no UUID, SD-WAN or dynamic user group columns yet.
    assert!(line.ends_with(" PanSDWANSite= PanDynamicUsrgrp="));
    let record = cef(&line);
    let keys = keys_of(&record);
    let (_, template) = formats::TRAFFIC.split_once("|rt=").unwrap();
    let template_keys: Vec<&str> = std::iter::once("rt")
        .chain(template.split(' ').filter_map(|word| {
            let (key, _) = word.split_once('=')?;
            Some(key)
        }))
        .collect();
    assert_eq!(keys, template_keys);
    assert_eq!(record.extension("reason"), Some("tcp-fin"));
    assert_eq!(record.extension("in"), Some("1200"));
}

#[test]
fn local_times_take_the_high_resolution_offset_else_the_configured_one() {
    let pdt = Options {
        default_offset: UtcOffset::from_hms(-7, 0, 0).unwrap(),
        ..Options::default()
    };
    let line = convert(&parse(TRAFFIC_8_1), &pdt);
    assert!(line.contains("|rt=May 08 2024 08:10:31 GMT "));

    let system = "1,2024/05/08 23:30:00,013201001234,SYSTEM,general,2561,2024/05/08 23:30:00,\
        ,general,,,,general,informational,Config saved,42,0x0,0,0,0,0,,PA-3220-edge,,,\
        2024-05-08T23:30:00.123+02:00";
    let line = convert(&parse(system), &pdt);
    assert!(line.contains("|rt=May 08 2024 21:30:00 GMT "), "{line}");
}

#[test]
fn severity_words_become_pan_numbers() {
    let system = |severity| {
        format!(
            "1,2024/05/08 01:10:31,013201001234,SYSTEM,general,2561,2024/05/08 01:10:31,,\
             general,,,,general,{severity},Config saved,42"
        )
    };
    for (word, number) in [
        ("informational", "1"),
        ("low", "2"),
        ("medium", "3"),
        ("high", "4"),
        ("critical", "5"),
        ("", ""),
        ("urgent", "urgent"),
    ] {
        let text = system(word);
        let line = convert(&parse(&text), &Options::default());
        assert_eq!(cef(&line).severity, number, "{word}");
    }
}

#[test]
fn device_version_comes_from_options_else_the_config_version() {
    let log = parse(TRAFFIC_8_1);
    let version = |log: &Log<'_>, options: &Options| {
        let line = convert(log, options);
        cef(&line).device_version.into_owned()
    };
    assert_eq!(version(&log, &Options::default()), "8.1");
    let given = Options {
        sender_sw_version: Some("10.1.8-h2".to_owned()),
        ..Options::default()
    };
    assert_eq!(version(&log, &given), "10.1.8-h2");
    for (config_version, release) in [("2818", "11.2"), ("2305", "9.1"), ("10.0", "10.0")] {
        let log = Log {
            version: config_version,
            ..log.clone()
        };
        assert_eq!(version(&log, &Options::default()), release);
    }
    for unknown in ["0", "1", "", "x"] {
        let log = Log {
            version: unknown,
            ..log.clone()
        };
        assert_eq!(version(&log, &Options::default()), "", "{unknown}");
    }
}

#[test]
fn values_and_header_fields_are_escaped_like_pan_os_with_escaping_on() {
    let threat = "1,2024/05/08 01:10:31,013201001234,THREAT,vulnerability,2561,\
        2024/05/08 01:10:30,10.1.20.15,203.0.113.80,0.0.0.0,0.0.0.0,r,,,web-browsing,vsys1,trust,\
        untrust,ethernet1/2,ethernet1/1,,,1,1,1,80,0,0,0x0,tcp,alert,\"x\",Sig(1),any,low";
    let log = with(parse(threat), "threatid", "A|B\\C(7)");
    let log = with(log, "rule", "a=b\\c\nd");
    let log = with(log, "misc", "example.com/?q=1");
    let line = convert(&log, &Options::default());
    assert!(line.contains("|A\\|B\\\\C(7)|THREAT|2|"), "{line}");
    assert!(line.contains(" cs1=a\\=b\\\\c\\nd "), "{line}");
    assert!(line.contains(" request=\"example.com/?q\\=1\" "), "{line}");
    let record = cef(&line);
    assert_eq!(record.signature_id, "A|B\\C(7)");
    assert_eq!(record.extension("cs1"), Some("a=b\\c\nd"));
    assert_eq!(record.extension("request"), Some("\"example.com/?q=1\""));
    assert_eq!(record.extension("cat"), Some("vulnerability"));
}

#[test]
fn globalprotect_is_repaired_to_seven_header_fields() {
    let gp = "1,2024/05/08 01:10:31,013201001234,GLOBALPROTECT,0,2561,2024/05/08 01:10:30,vsys1,\
        gateway-connected,connected,,IPSec,jdoe,US,LT-JDOE,198.51.100.23,::,10.250.0.12,::,\
        5a1b2c3d,PF1XYZ";
    let line = convert(&parse(gp), &Options::default());
    assert!(line.starts_with(
        "CEF:0|Palo Alto Networks|PAN-OS|10.1|0|GLOBALPROTECT|1|rt=May 08 2024 01:10:31 GMT \
         PanOSDeviceSN=013201001234 PanOSLogTimeStamp=2024/05/08 01:10:30 "
    ));
    let record = cef(&line);
    assert_eq!(record.name, "GLOBALPROTECT");
    assert_eq!(record.severity, "1");
    let serials: Vec<&str> = record
        .extensions
        .pairs()
        .iter()
        .filter(|(key, _)| *key == "PanOSDeviceSN")
        .map(|(_, value)| value.as_ref())
        .collect();
    assert_eq!(serials, ["013201001234", "PF1XYZ"]);
}

#[test]
fn tunnel_inspection_keeps_start_or_end_as_its_name() {
    let tunnel = "1,2024/05/08 01:10:31,013201001234,END,end,2561,2024/05/08 01:10:30,10.0.0.1";
    let line = convert(&parse(tunnel), &Options::default());
    assert!(line.starts_with("CEF:0|Palo Alto Networks|PAN-OS|10.1|end|END|1|"));
    assert!(line.contains(" PanOSTunneInspectionRule= "));
}

#[test]
fn unpublished_types_get_our_format() {
    let decryption = "1,2024/05/08 01:10:31,013201001234,DECRYPTION,0,2561,2024/05/08 01:10:30,\
        10.1.20.15,203.0.113.80,0.0.0.0,0.0.0.0,decrypt-all,,,ssl,vsys1,trust,untrust,\
        ethernet1/2,ethernet1/1,siem,2024/05/08 01:10:30,9,1,52344,443,0,0,0x0,tcp,allow";
    let line = convert(&parse(decryption), &Options::default());
    assert!(line.starts_with(
        "CEF:0|Palo Alto Networks|PAN-OS|10.1|0|DECRYPTION|1|rt=May 08 2024 01:10:31 GMT \
         deviceExternalId=013201001234 src=10.1.20.15 "
    ));
    let record = cef(&line);
    assert_eq!(record.extension("cs1"), Some("decrypt-all"));
    assert_eq!(record.extension("act"), Some("allow"));
    assert_eq!(record.extension("start"), Some("May 08 2024 01:10:30 GMT"));
    let keys = keys_of(&record);
    for key in &keys {
        let repeats = keys.iter().filter(|other| *other == key).count();
        assert_eq!(repeats, 1, "{key} repeats");
    }
    for left_out in [
        "PanOSType",
        "PanOSSubtype",
        "PanOSSerial",
        "PanOSFutureUse",
        "PanOSSrc",
    ] {
        assert!(!keys.contains(&left_out), "{left_out}");
    }
    assert!(keys.contains(&"PanOSTlsVersion"));
    assert!(keys.contains(&"PanOSHighResTimestamp"));

    // IPTAG has none of the session columns but its own: no orphaned labels.
    let iptag = "1,2024/05/08 01:10:31,013201001234,IPTAG,0,2561,2024/05/08 01:10:30,vsys1,\
        10.1.20.15,quarantine";
    let record_text = convert(&parse(iptag), &Options::default());
    let record = cef(&record_text);
    assert_eq!(record.extension("cs1Label"), None);
    assert_eq!(record.extension("cs3Label"), Some("Virtual System"));
    assert_eq!(record.extension("PanOSTagName"), Some("quarantine"));
}

#[test]
fn an_unknown_type_keeps_every_column() {
    let line = "1,2024/05/08 01:10:31,013201001234,NEWTYPE,sub,2818,2024/05/08 01:10:30,a=b";
    let text = convert(&parse(line), &Options::default());
    assert_eq!(
        text,
        "CEF:0|Palo Alto Networks|PAN-OS|11.2|sub|NEWTYPE|1|deviceExternalId=013201001234 \
         PanOSColumn0=1 PanOSColumn1=2024/05/08 01:10:31 PanOSColumn2=013201001234 \
         PanOSColumn3=NEWTYPE PanOSColumn4=sub PanOSColumn5=2818 \
         PanOSColumn6=2024/05/08 01:10:30 PanOSColumn7=a\\=b"
    );
}

/// A small xorshift generator: the property test needs random text, not a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Text mixing what CEF must escape or keep with ordinary characters.
    fn text(&mut self, alphabet: &[&str]) -> String {
        let len = self.next() % 12;
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn random_values_survive_the_round_trip_through_the_cef_parser() {
    const VALUE: &[&str] = &[
        "a", "Z", "0", " ", "=", "\\", "|", "\"", "'", ",", "é", "\n", "key=", " k=", "\\=", "x",
    ];
    const HEADER: &[&str] = &["a", " ", "|", "\\", "=", "(", ")", "é", "1"];
    let mut random = Random(0x5eed_cafe_f00d_d00d);
    let threat = "1,2024/05/08 01:10:31,013201001234,THREAT,spyware,2561,2024/05/08 01:10:30";
    for _ in 0..2000 {
        let values: Vec<String> = (0..5).map(|_| random.text(VALUE)).collect();
        let threatid = random.text(HEADER);
        let log = with(parse(threat), "src", &values[0]);
        let log = with(log, "rule", &values[1]);
        let log = with(log, "srcuser", &values[2]);
        let log = with(log, "misc", &values[3]);
        let log = with(log, "device_name", &values[4]);
        let log = with(log, "threatid", &threatid);
        let text = convert(&log, &Options::default());
        let record = cef(&text);
        assert_eq!(record.device_vendor, "Palo Alto Networks");
        assert_eq!(record.device_product, "PAN-OS");
        assert_eq!(record.name, "THREAT");
        assert_eq!(record.signature_id, threatid.as_str(), "{text}");
        // CEF cannot carry a value's trailing spaces: the parser trims them.
        let expected = |value: &str| value.trim_end_matches(' ').to_owned();
        assert_eq!(record.extension("src"), Some(expected(&values[0]).as_str()));
        assert_eq!(record.extension("cs1"), Some(expected(&values[1]).as_str()));
        assert_eq!(
            record.extension("suser"),
            Some(expected(&values[2]).as_str())
        );
        let request = format!("\"{}\"", values[3]);
        assert_eq!(record.extension("request"), Some(request.as_str()));
        assert_eq!(
            record.extension("dvchost"),
            Some(expected(&values[4]).as_str())
        );
    }
}

/// What [`cef_field`] says of every column is what [`to_cef`] wrote there.
#[test]
fn cef_field_finds_each_column_where_to_cef_wrote_it() {
    let log = parse(TRAFFIC_8_1);
    let record = convert(&log, &Options::default());
    let cef = cef(&record);
    let schema = log.schema.expect("a known type");
    let mut found = 0;
    for (variable, value) in log.fields() {
        let read = match cef_field(LogType::Traffic, log.subtype, variable) {
            Some(CefField::Extension(key)) => cef.extensions.entry_of(key).map(|(_, value)| value),
            Some(CefField::SignatureId) => Some(cef.signature_id.as_ref()),
            Some(CefField::Name) => Some(cef.name.as_ref()),
            Some(field) => panic!("${variable} in {field:?}"),
            None => continue,
        };
        assert_eq!(read, Some(value), "${variable}");
        found += 1;
    }
    assert!(found > 30, "only {found} of {} columns", schema.names.len());
}

proptest::proptest! {
    /// Values that are slices of the record are escaped by the record's list of bytes to escape,
    /// copied values byte by byte: the two write the same CEF, with none, a few or more such
    /// bytes than the list holds.
    #[test]
    fn slices_of_the_record_are_escaped_as_copied_values_are(
        values in proptest::collection::vec("[ -+\\--~\\\\=]{0,12}", 20..90),
    ) {
        let prefix = "1,2025/03/24 10:00:00,007200001234,THREAT,url,2562,2025/03/24 10:00:00";
        let mut line = prefix.to_owned();
        for value in &values {
            line.push(',');
            line.push_str(value);
        }
        let log = parse(&line);
        let copied = log.clone().with_values(
            log.values()
                .iter()
                .map(|value| Cow::Owned(value.to_string()))
                .collect(),
        );
        let options = Options::default();
        proptest::prop_assert_eq!(convert(&log, &options), convert(&copied, &options));
    }
}

/// A TRAFFIC header names no column, only fields the log reads from the line's first columns:
/// written alone, as for a filter that drops the log, it leaves the line unsplit; the extension
/// splits it.
#[test]
fn a_traffic_header_alone_leaves_the_line_unsplit() {
    let log = parse(TRAFFIC_8_1);
    assert!(log.values.get().is_none(), "parsing does not split");
    let mut out = String::new();
    to_cef_header(&log, &Options::default(), &mut out);
    assert!(log.values.get().is_none(), "{out}");
    to_cef_extension(&log, &Options::default(), &mut out);
    assert_eq!(log.values.get().map(Vec::len), Some(53));
    assert_eq!(out, convert(&parse(TRAFFIC_8_1), &Options::default()));
}
