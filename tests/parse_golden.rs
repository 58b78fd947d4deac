//! Golden tests: every `fixtures/parse/<case>.log` must parse to exactly `<case>.json`.
//! After a deliberate change of output, review and rewrite them with `CEFRELAY_BLESS=1 cargo test`.

use std::fs;

use crate::util::{cefrelay, json_lines, parse_file, project_path};

#[test]
fn every_fixture_matches_its_golden_json() {
    let dir = project_path("fixtures/parse");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .expect("fixtures/parse exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "golden fixtures missing from {}",
        dir.display()
    );

    let bless = std::env::var_os("CEFRELAY_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in &cases {
        let output = parse_file(case, &[]);
        assert!(output.status.success(), "{}: {output:?}", case.display());
        // Compared as text, not as JSON values: key order (extension keys in input order) is
        // part of the contract.
        let actual = String::from_utf8(output.stdout).expect("parse prints UTF-8");
        json_lines(actual.as_bytes());
        let golden_path = case.with_extension("json");
        if bless {
            fs::write(&golden_path, &actual).expect("write golden");
            continue;
        }
        let expected = fs::read_to_string(&golden_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (create it with CEFRELAY_BLESS=1)",
                golden_path.display()
            )
        });
        for (line, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
            if want != got {
                mismatches.push(format!(
                    "{}, message {}:\n  expected {want}\n  actual   {got}",
                    case.display(),
                    line + 1
                ));
            }
        }
        if expected.lines().count() != actual.lines().count() {
            mismatches.push(format!(
                "{}: expected {} messages, got {}",
                case.display(),
                expected.lines().count(),
                actual.lines().count()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn octet_counted_input_is_split_by_its_counts() {
    let body_a = "<13>1 2026-11-22T10:00:00Z host app - - - first\nstill first";
    let body_b = "<13>Nov 22 10:00:00 host app: second";
    let input = format!("{} {body_a}{} {body_b}", body_a.len(), body_b.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("octet.log");
    fs::write(&path, input).expect("write input");
    let output = parse_file(&path, &["--framing", "octet"]);
    assert!(output.status.success());
    let events = json_lines(&output.stdout);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"], "first\nstill first");
    assert_eq!(events[1]["message"], "second");
}

#[test]
fn oversized_lines_are_reported_and_the_rest_still_parsed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.log");
    let long = "x".repeat(300);
    fs::write(
        &path,
        format!("<13>Nov 22 10:00:00 h a: ok1\n{long}\n<13>Nov 22 10:00:00 h a: ok2\n"),
    )
    .expect("write input");
    let output = parse_file(&path, &["--max-frame", "100"]);
    assert!(output.status.success());
    let events = json_lines(&output.stdout);
    let messages: Vec<_> = events.iter().map(|e| e["message"].clone()).collect();
    assert_eq!(messages, ["ok1", "ok2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 oversized"), "{stderr}");
}

#[test]
fn unreadable_file_fails_clearly_but_other_files_are_parsed() {
    let output = parse_file(
        &project_path("fixtures/parse/does-not-exist.log"),
        &[project_path("fixtures/parse/crlf.log")
            .to_str()
            .expect("utf-8 path")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does-not-exist.log"), "{stderr}");
    assert_eq!(json_lines(&output.stdout).len(), 2);
}

#[test]
fn standard_input_is_read_when_no_file_is_given() {
    use std::io::Write;
    let mut child = cefrelay()
        .args(["parse"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"<13>Nov 22 10:00:00 host app: from stdin\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(json_lines(&output.stdout)[0]["message"], "from stdin");
}
