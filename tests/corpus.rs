//! Corpus test over PAN-OS syslog lines: the project's own `fixtures/panos/*.log` (written by us
//! from the formats) always, and the external corpus of real lines (`../shared/fixtures/panos`, or
//! the directory given by `PANOS_FIXTURES`) when it is there, following the rule of
//! `util/panos_corpus.rs`. Every line becomes exactly one event, CEF lines give a complete CEF
//! record with valid keys, and CSV lines keep their whole payload in `message`.

use std::fs;
use std::path::Path;

use crate::util::panos_corpus::{self, LineSet};
use crate::util::{json_lines, parse_file};

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.,[]".contains(c))
}

/// Where the CSV payload starts: the token holding the line's first comma.
fn csv_payload(line: &str) -> Option<&str> {
    let comma = line.find(',')?;
    let start = line[..comma].rfind(' ').map_or(0, |space| space + 1);
    Some(&line[start..])
}

fn project() -> std::path::PathBuf {
    panos_corpus::from_manifest("")
}

fn lines_of(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Checks every line of one set; returns (lines, CEF lines, CSV lines).
fn check_set(set: &LineSet) -> (usize, usize, usize) {
    let files = set.files();
    let (mut lines_seen, mut cef_seen, mut csv_seen) = (0, 0, 0);
    for file in &files {
        let lines = lines_of(file);
        let output = parse_file(file, &[]);
        assert!(output.status.success(), "{}: {output:?}", file.display());
        let events = json_lines(&output.stdout);
        assert_eq!(
            events.len(),
            lines.len(),
            "{}: one event per line",
            file.display()
        );

        for (line, event) in lines.iter().zip(&events) {
            lines_seen += 1;
            let where_ = format!("{}: {line}", file.display());
            let message = event["message"].as_str().expect("message is a string");
            assert!(
                line.ends_with(message),
                "message is not the line's tail: {where_}"
            );
            if line.contains("CEF:") {
                cef_seen += 1;
                let cef = &event["cef"];
                assert!(cef.is_object(), "no CEF record: {where_}\n{event}");
                // PAN-OS's GlobalProtect CEF format has no Severity field (type and subtype
                // swapped, 6 header fields): reference/panos-formats.md §1.3.
                let gp_format =
                    cef["device_product"] == "PAN-OS" && cef["signature_id"] == "GLOBALPROTECT";
                for field in [
                    "device_vendor",
                    "device_product",
                    "device_version",
                    "signature_id",
                    "name",
                    "severity",
                ] {
                    if field == "severity" && gp_format {
                        continue;
                    }
                    let value = cef[field].as_str().unwrap_or_default();
                    assert!(!value.is_empty(), "empty CEF {field}: {where_}");
                }
                let extensions = cef["extensions"].as_object().expect("extensions object");
                assert!(!extensions.is_empty(), "no extensions: {where_}");
                for key in extensions.keys() {
                    assert!(is_valid_key(key), "invalid extension key {key:?}: {where_}");
                }
            } else if let Some(payload) = csv_payload(line) {
                csv_seen += 1;
                assert!(
                    message.len() >= payload.len(),
                    "CSV payload cut: {where_}\n  message: {message}"
                );
                assert!(event["cef"].is_null(), "CSV taken for CEF: {where_}");
            }
        }
    }
    eprintln!(
        "{}: {lines_seen} lines ({cef_seen} CEF, {csv_seen} CSV) in {} files",
        set.dir.display(),
        files.len()
    );
    (lines_seen, cef_seen, csv_seen)
}

#[test]
fn every_panos_sample_line_parses_without_loss() {
    for set in panos_corpus::line_sets(&project()) {
        let (lines, cef, csv) = check_set(&set);
        assert!(
            cef > 0 && csv > 0,
            "{}: no CEF or no CSV line",
            set.dir.display()
        );
        if set.external {
            assert!(
                lines > 1000,
                "the corpus should hold over 1000 lines, saw {lines}"
            );
        }
    }
}

/// The checks above, and those of `crates/syslog/tests/corpus.rs` and the sink encoders, see
/// every PAN-OS log type and every framing even on a clone without the external corpus.
#[test]
fn own_fixtures_hold_every_panos_log_type_and_framing() {
    let set = LineSet {
        dir: project().join("fixtures/panos"),
        external: false,
    };
    let mut lines = Vec::new();
    for file in set.files() {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        lines.extend(lines_of(&file).into_iter().map(|line| (name.clone(), line)));
    }
    // CSV: the type is the first known type among the first 8 fields (§1.2); AUDIT is `audit`.
    let csv_types = [
        "TRAFFIC",
        "THREAT",
        "SYSTEM",
        "CONFIG",
        "HIPMATCH",
        "GLOBALPROTECT",
        "USERID",
        "AUTHENTICATION",
        "AUTH",
        "DECRYPTION",
        "START",
        "END",
        "GTP",
        "SCTP",
        "IPTAG",
        "CORRELATION",
        "audit",
    ];
    for kind in csv_types {
        assert!(
            lines.iter().any(|(_, line)| !line.contains("CEF:")
                && line.split(',').take(8).any(|field| field == kind)),
            "no CSV {kind} line in fixtures/panos"
        );
    }
    // THREAT subtypes that other logs are made of (URL, WildFire, Data, File).
    for subtype in [
        "url",
        "wildfire",
        "data",
        "file",
        "vulnerability",
        "spyware",
        "virus",
    ] {
        assert!(
            lines
                .iter()
                .any(|(_, line)| line.contains(&format!(",THREAT,{subtype},"))),
            "no CSV THREAT/{subtype} line in fixtures/panos"
        );
    }
    // Native PAN-OS CEF: the log type in Name, or in Device Event Class ID for GlobalProtect.
    let cef_types = [
        "TRAFFIC",
        "THREAT",
        "SYSTEM",
        "CONFIG",
        "HIPMATCH",
        "GLOBALPROTECT",
        "USERID",
        "AUTHENTICATION",
        "END",
        "CORRELATION",
    ];
    for kind in cef_types {
        assert!(
            lines.iter().any(|(_, line)| line
                .split_once("CEF:0|Palo Alto Networks|PAN-OS|")
                .is_some_and(|(_, rest)| rest.split('|').skip(1).take(2).any(|f| f == kind))),
            "no PAN-OS CEF {kind} line in fixtures/panos"
        );
    }
    // (framing, whether a (file name, line) shows it)
    type Shows = fn(&str, &str) -> bool;
    let framings: [(&str, Shows); 9] = [
        ("RFC 3164 with PRI", |_, l| {
            l.starts_with('<') && !l.contains(">1 ")
        }),
        ("RFC 3164 without PRI", |_, l| {
            let months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec";
            l.get(..4)
                .is_some_and(|m| m.ends_with(' ') && months.contains(m.trim()))
        }),
        ("RFC 5424", |_, l| l.starts_with("<14>1 ")),
        ("bare payload", |_, l| l.starts_with("1,")),
        ("octet-counted RFC 5424 (file name says so)", |file, l| {
            file.contains("octet-counted")
                && l.split_once(' ').is_some_and(|(count, rest)| {
                    count.parse::<usize>().is_ok() && rest.starts_with('<')
                })
        }),
        ("CDL / Strata ISO timestamps", |_, l| {
            l.contains(",no-serial,") && l.contains(".000000Z,")
        }),
        (
            "Strata LF CEF behind a relay header and an octet count",
            |_, l| l.contains("|LF|2.0|") && l.contains(" logforwarder - panwlogs - "),
        ),
        ("CEF over RFC 3164 (CEF: as the tag)", |_, l| {
            l.starts_with('<') && !l.contains(">1 ") && l.contains(" CEF:0|")
        }),
        ("CEF without a syslog header", |_, l| {
            l.starts_with("CEF:0|")
        }),
    ];
    for (framing, holds) in framings {
        assert!(
            lines.iter().any(|(file, line)| holds(file, line)),
            "no {framing} line in fixtures/panos"
        );
    }
}

/// `.ci/test` prints the tests' skip line itself (cargo hides what passing tests print).
#[test]
fn ci_test_prints_the_same_skip_line() {
    let script = fs::read_to_string(project().join(".ci/test")).expect(".ci/test");
    assert!(
        script.contains(panos_corpus::SKIP_LINE),
        ".ci/test does not print {:?}",
        panos_corpus::SKIP_LINE
    );
}
