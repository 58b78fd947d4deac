//! Corpus test over PAN-OS syslog lines: the project's own `fixtures/panos/*.log` always, and the
//! external corpus of real lines (`../shared/fixtures/panos`, or the directory given by
//! `PANOS_FIXTURES`) when it is there, by the rule of `tests/util/panos_corpus.rs` at the
//! project's root. Every line's header is recognised where it has one, and the CSV / CEF payload
//! reaches `body` (and `msg` when no tag was split off) untouched.

#[allow(dead_code)]
#[path = "../../../tests/util/panos_corpus.rs"]
mod panos_corpus;

use bytes::BytesMut;
use cefrelay_syslog::framing::{Frame, FrameDecoder, FramingMode, DEFAULT_MAX_FRAME};
use cefrelay_syslog::{parse, Format, Message, OffsetDateTime, ParseOptions, Status};
use time::{Date, Month, Time};
use tokio_util::codec::Decoder;

/// Offset of the payload: the first token holding a `,` (CSV) or a `|` (CEF).
fn payload_start(line: &str) -> Option<usize> {
    let mut offset = 0;
    for token in line.split(' ') {
        if token.contains([',', '|']) {
            return Some(offset);
        }
        offset += token.len() + 1;
    }
    None
}

fn check(file: &str, line: &str, m: &Message<'_>) {
    let context = || format!("{file}: {line:.120}");
    let starts_with_header = line.starts_with('<')
        || line.get(..3).is_some_and(|m| {
            [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ]
            .contains(&m)
        });
    if starts_with_header {
        assert_ne!(m.status, Status::Raw, "{}", context());
        assert!(m.timestamp.is_some(), "{}", context());
    } else {
        assert_eq!(
            (m.format, m.status, m.msg),
            (Format::None, Status::Raw, line),
            "{}",
            context()
        );
    }
    if let Some(host) = m.hostname {
        assert!(
            !host.contains([',', '/', '|']),
            "hostname {host:?}: {}",
            context()
        );
    }
    let start = payload_start(line).unwrap_or_else(|| panic!("no payload: {}", context()));
    let trimmed = line.trim_end_matches(['\n', '\r', '\0']);
    assert!(
        trimmed.len() - m.body.len() <= start,
        "payload cut from body: {}",
        context()
    );
    if m.format == Format::Rfc3164 && m.app_name.is_some() {
        // The only tag PAN-OS lines carry is `CEF:` (CEF over BSD).
        assert_eq!(m.app_name, Some("CEF"), "unexpected tag: {}", context());
    } else {
        assert_eq!(m.body, m.msg, "{}", context());
    }
}

/// Checks every line of one set; returns how many there were.
fn check_set(set: &panos_corpus::LineSet, opts: &ParseOptions) -> usize {
    let mut lines = 0;
    for path in set.files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if file.contains("octet-counted") {
            // Each line is `LEN SP MSG` with counts that may be wrong (too large, or counting
            // the LF): framing must resync.
            let mut decoder = FrameDecoder::new(FramingMode::Auto, DEFAULT_MAX_FRAME);
            let mut buf = BytesMut::from(&bytes[..]);
            let mut frames = Vec::new();
            while let Some(frame) = decoder.decode_eof(&mut buf).unwrap() {
                frames.push(frame);
            }
            let expected = bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            assert_eq!(frames.len(), expected, "{file}");
            for frame in frames {
                let Frame::Message(frame) = frame else {
                    panic!("{file}: {frame:?}")
                };
                let line = std::str::from_utf8(&frame).unwrap();
                let m = parse(line, opts);
                assert_eq!(
                    (m.format, m.status),
                    (Format::Rfc5424, Status::Ok),
                    "{file}: {line:.100}"
                );
                check(&file, line, &m);
                lines += 1;
            }
            continue;
        }
        for line in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
        {
            check(&file, line, &parse(line, opts));
            lines += 1;
        }
    }
    lines
}

#[test]
fn panos_fixture_lines_keep_their_payload() {
    let now = OffsetDateTime::new_utc(
        Date::from_calendar_date(2026, Month::November, 23).unwrap(),
        Time::MIDNIGHT,
    );
    let opts = ParseOptions::new(now);
    for set in panos_corpus::line_sets(&panos_corpus::from_manifest("../..")) {
        let lines = check_set(&set, &opts);
        eprintln!("{}: {lines} lines", set.dir.display());
        if set.external {
            assert!(lines > 1000, "only {lines} lines in {}", set.dir.display());
        }
    }
}
