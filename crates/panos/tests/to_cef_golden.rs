//! Golden conversions: each `fixtures/panos-cef/<type>.csv` line, parsed and converted with the
//! default options (device version from the config version column, UTC for times without an
//! offset), gives the line of the same number in `<type>.cef`, byte for byte. The CSV lines are
//! ours, written from the PAN-OS column orders; the CEF lines were checked by hand against the
//! format strings in `to_cef::formats`.

use std::path::Path;

use cefrelay_cef::parse_cef;
use cefrelay_panos::csv::parse;
use cefrelay_panos::to_cef::{
    cef_field, to_cef, to_cef_extension, to_cef_header, CefField, CefFields, Options, Wanted,
};

const TYPES: [&str; 17] = [
    "traffic",
    "threat",
    "url",
    "wildfire",
    "data",
    "config",
    "system",
    "hipmatch",
    "globalprotect",
    "userid",
    "authentication",
    "tunnel",
    "correlation",
    "decryption",
    "iptag",
    "audit",
    "unknown",
];

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/panos-cef")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_type_converts_to_its_golden_cef() {
    for log_type in TYPES {
        let csv = fixture(&format!("{log_type}.csv"));
        let cef = fixture(&format!("{log_type}.cef"));
        assert_eq!(csv.lines().count(), cef.lines().count(), "{log_type}");
        for (number, (line, expected)) in csv.lines().zip(cef.lines()).enumerate() {
            let log = parse(line).unwrap_or_else(|| panic!("{log_type}.csv:{}", number + 1));
            let mut converted = String::new();
            to_cef(&log, &Options::default(), &mut converted);
            assert_eq!(converted, expected, "{log_type}.csv:{}", number + 1);
        }
    }
}

/// The header alone, which the pipeline converts first so that the agent's filter can drop a
/// TRAFFIC log by its Name without writing its extension, and the extension after it are the
/// whole record; the header parses to the same six fields, with no extension. With the device
/// version given too.
#[test]
fn the_header_alone_is_the_whole_records_start() {
    let given_version = Options {
        sender_sw_version: Some("11.1.2|h3".into()),
        ..Options::default()
    };
    for options in [Options::default(), given_version] {
        for log_type in TYPES {
            for (number, line) in fixture(&format!("{log_type}.csv")).lines().enumerate() {
                let context = format!("{log_type}.csv:{} {options:?}", number + 1);
                let log = parse(line).unwrap();
                let (mut whole, mut header) = (String::new(), String::new());
                to_cef(&log, &options, &mut whole);
                to_cef_header(&log, &options, &mut header);
                let mut in_two_parts = header.clone();
                to_cef_extension(&log, &options, &mut in_two_parts);
                assert_eq!(in_two_parts, whole, "{context}");
                let (whole, header) = (parse_cef(&whole).unwrap(), parse_cef(&header).unwrap());
                assert_eq!(header.header(), whole.header(), "{context}");
                assert!(header.extensions.is_empty(), "{context}");
                assert!(!whole.extensions.is_empty(), "{context}");
            }
        }
    }
}

/// `CefFields` reads, in one pass, what `cef_field` and a lookup per key read one by one: on
/// every golden record, for header variables, extension variables, a variable two formats put in
/// different places, a key asked for twice, a variable at a key also asked for (`$threatid` is
/// `cat` in the URL format) and a key no record has.
#[test]
fn cef_fields_read_together_what_each_lookup_reads_alone() {
    const WANTED: [Wanted; 8] = [
        Wanted::Key("cat"),
        Wanted::Variable("thr_category"),
        Wanted::Variable("threatid"),
        Wanted::Variable("direction"),
        Wanted::Variable("serial"),
        Wanted::Variable("src"),
        Wanted::Key("cat"),
        Wanted::Key("noSuchKey"),
    ];
    let fields = CefFields::new(WANTED);
    let mut read = 0;
    for log_type in TYPES {
        for line in fixture(&format!("{log_type}.csv")).lines() {
            let log = parse(line).unwrap();
            let mut converted = String::new();
            to_cef(&log, &Options::default(), &mut converted);
            let Some(record_type) = log.log_type else {
                continue;
            };
            let one_by_one = WANTED.map(|wanted| {
                let record = parse_cef(&converted).unwrap();
                let value = match wanted {
                    Wanted::Key(key) => record.extension(key),
                    Wanted::Variable(variable) => {
                        match cef_field(record_type, log.subtype, variable) {
                            Some(CefField::Extension(key)) => record.extension(key.name()),
                            Some(CefField::DeviceVersion) => Some(&*record.device_version),
                            Some(CefField::SignatureId) => Some(&*record.signature_id),
                            Some(CefField::Name) => Some(&*record.name),
                            Some(CefField::Severity) => Some(&*record.severity),
                            None => None,
                        }
                    }
                };
                value.map(str::to_owned)
            });
            let record = parse_cef(&converted).unwrap();
            let together = fields
                .read(record_type, log.subtype, &record, [None; WANTED.len()])
                .map(|value| value.map(str::to_owned));
            assert_eq!(together, one_by_one, "{log_type}: {converted}");
            // Every other field given as known (a stand-in text, so the test sees it was taken),
            // the rest read. No odd field shares a key with an even one, whose stand-in it
            // would then take.
            let known = std::array::from_fn(|at| {
                (at % 2 == 0).then(|| one_by_one[at].as_deref().map(|_| "known"))
            });
            let partly_known = fields.read(record_type, log.subtype, &record, known);
            for (at, value) in partly_known.iter().enumerate() {
                let expected = match known[at] {
                    Some(given) => given,
                    None => one_by_one[at].as_deref(),
                };
                assert_eq!(*value, expected, "{log_type} field {at}: {converted}");
            }
            read += together.iter().flatten().count();
        }
    }
    assert!(
        read > 50,
        "only {read} values read: the comparison compared little"
    );
}
