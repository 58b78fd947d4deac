//! Corpus test over real PAN-OS syslog lines (`../shared/fixtures/panos/*.log`, directory given by
//! `PANOS_FIXTURES`): every line becomes exactly one event, CEF lines give a complete CEF record
//! with valid keys, and CSV lines keep their whole payload in `message`.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{json_lines, parse_file, project_path};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PANOS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_path("../shared/fixtures/panos"));
    dir.is_dir().then_some(dir)
}

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

#[test]
fn every_real_panos_line_parses_without_loss() {
    let Some(dir) = corpus_dir() else {
        // CI sets PANOS_FIXTURES; .ci/run fails if the directory is missing.
        eprintln!(
            "PANOS_FIXTURES not set and ../shared/fixtures/panos missing: corpus test skipped"
        );
        return;
    };
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .log files in {}", dir.display());

    let (mut lines_seen, mut cef_seen, mut csv_seen) = (0, 0, 0);
    for file in &files {
        let text = fs::read_to_string(file).expect("corpus is UTF-8");
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect();
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
                for field in [
                    "device_vendor",
                    "device_product",
                    "device_version",
                    "signature_id",
                    "name",
                    "severity",
                ] {
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
        "corpus: {lines_seen} lines ({cef_seen} CEF, {csv_seen} CSV) in {} files",
        files.len()
    );
    assert!(
        lines_seen > 1000,
        "the corpus should hold over 1000 lines, saw {lines_seen}"
    );
}
