//! Corpus test of the CSV parser over PAN-OS syslog lines: the project's own `fixtures/panos/*.log`
//! always, and the external corpus of real lines (`../shared/fixtures/panos`, or the directory
//! given by `PANOS_FIXTURES`) when it is there, by the rule of `tests/util/panos_corpus.rs` at the
//! project's root. Every line whose payload is not CEF parses as PAN-OS CSV, with the type its
//! type column names (found here by a plain scan, as the corpus's SOURCES.md counts them) and at
//! least the column count its PAN-OS version implies (reference §3; real lines only: ours stop
//! once they have shown their type and quirk); CEF lines are not CSV.
//! Every CSV line also converts to CEF that the project's CEF parser accepts, from Palo Alto
//! Networks' PAN-OS with Name = type; for TRAFFIC and THREAT the session keys hold the CSV's
//! columns. Prints the lines per type, recognised or not.

#[path = "../../../tests/util/panos_corpus.rs"]
mod panos_corpus;

use std::collections::BTreeMap;

use cefrelay_panos::csv::parse;
use cefrelay_panos::log::{Log, LogType};
use cefrelay_panos::to_cef::{to_cef, to_cef_header, Options};
use cefrelay_syslog::{OffsetDateTime, ParseOptions};

/// The type a CSV type column names, as the corpus's SOURCES.md counts types: the first known
/// keyword among the payload's first 8 comma-separated fields.
fn type_keyword(payload: &str) -> Option<LogType> {
    payload.split(',').take(8).find_map(|field| {
        Some(match field {
            "TRAFFIC" => LogType::Traffic,
            "THREAT" => LogType::Threat,
            "CONFIG" => LogType::Config,
            "SYSTEM" => LogType::System,
            "HIPMATCH" | "HIP-MATCH" => LogType::HipMatch,
            "GLOBALPROTECT" => LogType::GlobalProtect,
            "USERID" => LogType::UserId,
            "AUTHENTICATION" | "AUTH" => LogType::Authentication,
            "DECRYPTION" => LogType::Decryption,
            "START" | "END" => LogType::Tunnel,
            "IPTAG" => LogType::IpTag,
            "CORRELATION" => LogType::Correlation,
            "SCTP" => LogType::Sctp,
            "GTP" => LogType::Gtp,
            "audit" => LogType::Audit,
            _ => return None,
        })
    })
}

/// The config version column as `(major << 8) | minor`, for the column floors. CDL and Strata
/// write `major.minor` and fewer columns than a firewall of that version (91–105 on `10.0`), so
/// their lines count as 9.1's; a number past 11.2 (2818) is no version we know, so it counts as
/// old.
fn version_number(version: &str) -> u16 {
    match version.parse() {
        Ok(number @ ..=2818) => number,
        Ok(_) | Err(_) if version.contains('.') => 2305,
        Ok(_) | Err(_) => 0,
    }
}

/// The fewest columns a line of `log_type` from config `version` has, from the counts observed
/// per version (reference §3); types whose only samples are one version have one floor.
fn min_columns(log_type: LogType, version: u16) -> usize {
    let by_version = |old, v8_1, v9_0, v9_1, v10| match version {
        0..2049 => old,
        2049..2304 => v8_1,
        2304..2305 => v9_0,
        2305..2560 => v9_1,
        _ => v10,
    };
    match log_type {
        LogType::Traffic => by_version(43, 65, 67, 75, 78),
        LogType::Threat => by_version(42, 74, 78, 79, 120),
        LogType::System => by_version(16, 23, 23, 23, 26),
        LogType::Config => by_version(16, 24, 24, 24, 26),
        LogType::HipMatch => 28,
        LogType::GlobalProtect => by_version(36, 36, 36, 36, 42),
        LogType::UserId => by_version(20, 32, 32, 32, 32),
        LogType::Authentication => 40,
        LogType::Decryption => 106,
        LogType::Tunnel => 83,
        LogType::IpTag => 26,
        LogType::Correlation => 22,
        LogType::Sctp => 65,
        LogType::Gtp => 94,
        LogType::Audit => 8,
    }
}

/// The syslog MSG of one corpus line: an RFC 6587 octet count is dropped first, as the framer
/// would.
fn message<'a>(line: &'a str, options: &ParseOptions) -> &'a str {
    let unframed = match line.split_once(' ') {
        Some((count, rest)) if count.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => line,
    };
    cefrelay_syslog::parse(unframed, options).msg
}

/// The logs whose `proto` column names the IP protocol.
const SESSION_LOGS: [LogType; 4] = [
    LogType::Traffic,
    LogType::Threat,
    LogType::Decryption,
    LogType::Tunnel,
];
const PROTOCOLS: [&str; 7] = ["tcp", "udp", "icmp", "sctp", "ipv6-icmp", "gre", "esp"];

#[derive(Default)]
struct Tally {
    recognised: BTreeMap<&'static str, usize>,
    cef: usize,
    /// Lines with fewer columns than their version implies, reported all at once.
    short: Vec<String>,
}

/// Checks one file; the column floors apply to the external corpus only, since our own lines
/// stop once they have shown their type and quirk.
fn check_file(path: &std::path::Path, external: bool, options: &ParseOptions, tally: &mut Tally) {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let context = || format!("{file}: {line:.160}");
        let msg = message(line, options);
        let log = parse(msg);
        if line.contains("CEF:") || line.contains("|Palo Alto Networks|") {
            assert!(log.is_none(), "CEF taken for CSV: {}", context());
            tally.cef += 1;
            continue;
        }
        let log = log.unwrap_or_else(|| panic!("not recognised: {}", context()));
        let expected = type_keyword(msg).unwrap_or_else(|| panic!("no type: {}", context()));
        assert_eq!(log.log_type, Some(expected), "{}", context());
        let schema = log.schema.expect("a known type has a schema");
        assert_eq!(schema.log_type, expected);
        if SESSION_LOGS.contains(&expected) {
            // A column shifted by bad splitting or a wrong schema shows here first.
            let proto = log.get("proto");
            assert!(
                proto.is_some_and(|proto| PROTOCOLS.contains(&proto)),
                "proto {proto:?}: {}",
                context()
            );
        }
        let floor = min_columns(expected, version_number(log.version));
        if external && log.values().len() < floor {
            tally.short.push(format!(
                "{} columns, fewer than the {floor} of {:?} {}: {}",
                log.values().len(),
                expected,
                log.version,
                context()
            ));
        }
        converts_to_the_firewalls_cef(&log, &context());
        *tally.recognised.entry(expected.name()).or_default() += 1;
    }
}

/// CEF keys of the session logs and the CSV columns (PAN-OS format variables) they carry.
const SESSION_KEYS: [(&str, &str); 7] = [
    ("src", "src"),
    ("dst", "dst"),
    ("spt", "sport"),
    ("dpt", "dport"),
    ("suser", "srcuser"),
    ("act", "action"),
    ("cs1", "rule"),
];

fn converts_to_the_firewalls_cef(log: &Log<'_>, context: &str) {
    let mut text = String::new();
    to_cef(log, &Options::default(), &mut text);
    let cef = cefrelay_cef::parse_cef(&text)
        .unwrap_or_else(|error| panic!("{error}: {text:.300}\nfrom {context}"));
    assert_eq!(cef.device_vendor, "Palo Alto Networks", "{context}");
    assert_eq!(cef.device_product, "PAN-OS", "{context}");
    let log_type = log.log_type.expect("a known type");
    // Tunnel inspection keeps the START/END its line carries, as the firewall does.
    let name = if log_type == LogType::Tunnel {
        log.type_text
    } else {
        log_type.name()
    };
    assert_eq!(cef.name, name, "{context}");
    // The header alone, as a filter that reads only the header gets it, is the record's start.
    let mut header = String::new();
    to_cef_header(log, &Options::default(), &mut header);
    assert!(text.starts_with(&header), "{header:?}: {context}");
    let alone = cefrelay_cef::parse_cef(&header)
        .unwrap_or_else(|error| panic!("{error}: {header}\nfrom {context}"));
    assert_eq!(alone.header(), cef.header(), "{context}");
    assert!(alone.extensions.is_empty(), "{context}");
    if matches!(log_type, LogType::Traffic | LogType::Threat) {
        for (key, column) in SESSION_KEYS {
            let csv = log.get(column).unwrap_or_default().trim();
            assert_eq!(
                cef.extension(key).unwrap_or_default(),
                csv,
                "{key} vs the CSV's {column}: {context}"
            );
        }
    }
}

#[test]
fn every_panos_csv_line_gets_its_type_and_columns() {
    let options = ParseOptions::new(OffsetDateTime::now_utc());
    for set in panos_corpus::line_sets(&panos_corpus::from_manifest("../..")) {
        let mut tally = Tally::default();
        for path in set.files() {
            check_file(&path, set.external, &options, &mut tally);
        }
        let total: usize = tally.recognised.values().sum();
        eprintln!(
            "{}: {total} CSV lines recognised, 0 not; {} CEF lines left alone; by type: {:?}",
            set.dir.display(),
            tally.cef,
            tally.recognised
        );
        assert!(tally.short.is_empty(), "{:#?}", tally.short);
    }
}
