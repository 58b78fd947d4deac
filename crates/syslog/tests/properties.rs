//! Property tests: the parser and the framing decoder never panic, framing does not depend on
//! how reads split the stream, and rendered RFC 5424 messages parse back to their fields.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use cefrelay_syslog::framing::{Frame, FrameDecoder, FramingMode};
use cefrelay_syslog::{
    parse, parse_strict, Format, Message, OffsetDateTime, ParseOptions, Status, UtcOffset,
};
use proptest::prelude::*;
use time::{Date, Month, Time};
use tokio_util::codec::Decoder;

fn opts() -> ParseOptions {
    let now = OffsetDateTime::new_utc(
        Date::from_calendar_date(2026, Month::November, 23).unwrap(),
        Time::MIDNIGHT,
    );
    ParseOptions::new(now)
}

/// Syslog-shaped noise: header fragments glued in random order hit far more branches than
/// uniformly random strings.
fn syslogish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "<",
        ">",
        "13",
        "191",
        "0",
        "1 ",
        " ",
        "  ",
        "-",
        "Nov",
        "feb",
        " 2",
        "22",
        "2026",
        "10:00:00",
        "2020-03-27T09:57:41",
        "T",
        ".123456789",
        "Z",
        "+01:00",
        "-0700",
        "[",
        "]",
        "=",
        "\"",
        "\\",
        "host",
        "CEF:",
        "CEF:0|",
        "sshd[1]:",
        "[",
        ":",
        "::",
        ",",
        "/",
        "é",
        "\u{feff}",
        "\n",
        "\r",
        "\0",
        "%ASA-6-1:",
        "fe80::",
    ]);
    prop::collection::vec(pieces, 0..32).prop_map(|v| v.concat())
}

fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), syslogish()]
}

/// `inner` lies within `outer` (zero-copy) and is a suffix of it.
fn is_suffix_slice(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len() && outer.ends_with(inner)
}

fn check_invariants(input: &str, m: &Message<'_>) {
    let trimmed = input.trim_end_matches(['\n', '\r', '\0']);
    assert!(
        is_suffix_slice(trimmed, m.body) || m.body.is_empty(),
        "body not a suffix: {input:?}"
    );
    assert!(
        m.body.ends_with(m.msg),
        "msg not a suffix of body: {input:?}"
    );
    if m.status == Status::Raw {
        assert_eq!(m.format, Format::None);
        assert_eq!(m.msg, trimmed);
    }
    if let (Some(f), Some(s)) = (m.facility, m.severity) {
        assert!(f <= 23 && s <= 7);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_and_borrows_suffixes(input in any_input()) {
        let m = parse(&input, &opts());
        check_invariants(&input, &m);
    }

    #[test]
    fn parse_strict_ok_equals_lenient_parse(input in any_input()) {
        if let Ok(m) = parse_strict(&input, &opts()) {
            prop_assert_eq!(m.status, Status::Ok);
            prop_assert_eq!(&m, &parse(&input, &opts()));
        }
    }
}

// ---- RFC 5424 round trip ----

#[derive(Debug, Clone)]
struct Rendered {
    pri: u8,
    version: u16,
    timestamp: Option<(OffsetDateTime, usize)>,
    fields: [Option<String>; 4],
    sd: Vec<(String, Vec<(String, String)>)>,
    msg: String,
}

fn printusascii(max: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::string::string_regex(&format!("[!-~]{{1,{max}}}"))
            .unwrap()
            .prop_filter("NILVALUE", |s| s != "-"),
    )
}

fn timestamp() -> impl Strategy<Value = (OffsetDateTime, usize)> {
    (
        1970i32..2100,
        1u8..=12,
        1u8..=28,
        (0u8..24, 0u8..60, 0u8..60),
        0usize..=6,
        0u32..1_000_000,
        prop::option::of((-23i8..=23, 0i8..60)),
    )
        .prop_map(|(y, mo, d, (h, mi, s), digits, frac, off)| {
            let frac = frac % 10u32.pow(digits as u32);
            let nanos = frac * 10u32.pow(9 - digits as u32);
            let offset = match off {
                None => UtcOffset::UTC,
                Some((h, m)) => UtcOffset::from_hms(h, if h < 0 { -m } else { m }, 0).unwrap(),
            };
            let date = Date::from_calendar_date(y, Month::try_from(mo).unwrap(), d).unwrap();
            let time = Time::from_hms_nano(h, mi, s, nanos).unwrap();
            (OffsetDateTime::new_in_offset(date, time, offset), digits)
        })
}

fn rendered() -> impl Strategy<Value = Rendered> {
    let sd_name = || prop::string::string_regex("[!#-<>-\\\\^-~]{1,32}").unwrap();
    let sd = prop::collection::vec(
        (
            sd_name(),
            prop::collection::vec((sd_name(), any::<String>()), 0..4),
        ),
        0..3,
    );
    (
        0u8..=191,
        1u16..=999,
        prop::option::of(timestamp()),
        (
            printusascii(255),
            printusascii(48),
            printusascii(128),
            printusascii(32),
        ),
        sd,
        any::<String>().prop_map(|s| {
            s.trim_start_matches([' ', '\u{feff}'])
                .trim_end_matches(['\n', '\r', '\0'])
                .to_owned()
        }),
    )
        .prop_map(
            |(pri, version, timestamp, (a, b, c, d), sd, msg)| Rendered {
                pri,
                version,
                timestamp,
                fields: [a, b, c, d],
                sd,
                msg,
            },
        )
}

fn render(r: &Rendered) -> String {
    let mut out = format!("<{}>{} ", r.pri, r.version);
    match r.timestamp {
        None => out.push('-'),
        Some((t, digits)) => {
            out.push_str(&format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ));
            if digits > 0 {
                let frac = format!("{:09}", t.nanosecond());
                out.push('.');
                out.push_str(&frac[..digits]);
            }
            let off = t.offset();
            if off.is_utc() {
                out.push('Z');
            } else {
                let (h, m, _) = off.as_hms();
                let sign = if off.is_negative() { '-' } else { '+' };
                out.push_str(&format!("{sign}{:02}:{:02}", h.abs(), m.abs()));
            }
        }
    }
    for field in &r.fields {
        out.push(' ');
        out.push_str(field.as_deref().unwrap_or("-"));
    }
    out.push(' ');
    if r.sd.is_empty() {
        out.push('-');
    }
    for (id, params) in &r.sd {
        out.push('[');
        out.push_str(id);
        for (name, value) in params {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace(']', "\\]");
            out.push_str(&format!(" {name}=\"{escaped}\""));
        }
        out.push(']');
    }
    if !r.msg.is_empty() {
        out.push(' ');
        out.push_str(&r.msg);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn rendered_rfc5424_parses_back_to_its_fields(r in rendered()) {
        let input = render(&r);
        let m = parse_strict(&input, &opts()).map_err(|e| TestCaseError::fail(format!("{e}: {input:?}")))?;
        prop_assert_eq!(m.format, Format::Rfc5424);
        prop_assert_eq!(m.facility, Some(r.pri / 8));
        prop_assert_eq!(m.severity, Some(r.pri % 8));
        prop_assert_eq!(m.version, Some(r.version));
        prop_assert_eq!(m.timestamp, r.timestamp.map(|(t, _)| t));
        let fields = [m.hostname, m.app_name, m.procid, m.msgid];
        prop_assert_eq!(fields, r.fields.each_ref().map(|f| f.as_deref()));
        prop_assert_eq!(m.structured_data.len(), r.sd.len());
        for (got, (id, params)) in m.structured_data.iter().zip(&r.sd) {
            prop_assert_eq!(got.id, id.as_str());
            let want: Vec<(&str, Cow<'_, str>)> =
                params.iter().map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str()))).collect();
            prop_assert_eq!(&got.params, &want);
        }
        prop_assert_eq!(m.msg, r.msg.as_str());
    }
}

// ---- Framing ----

fn decode(mode: FramingMode, max: usize, input: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new(mode, max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for end in cuts.into_iter().chain([input.len()]) {
        buf.extend_from_slice(&input[start..end.max(start)]);
        start = end.max(start);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            out.push(frame);
        }
        // max_frame, plus an octet-count header or a CR and LF.
        assert!(buf.len() <= max + 11, "buffer grew to {}", buf.len());
    }
    while let Some(frame) = decoder.decode_eof(&mut buf).unwrap() {
        out.push(frame);
    }
    out
}

fn mode() -> impl Strategy<Value = FramingMode> {
    prop::sample::select(vec![
        FramingMode::Auto,
        FramingMode::OctetCounted,
        FramingMode::NonTransparent,
    ])
}

/// Bytes rich in what framing looks at.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"0123456789 <>\n\r\0".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(byte, 0..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn framing_never_panics_and_ignores_read_boundaries(
        mode in mode(),
        max in 1usize..64,
        input in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let one_shot = decode(mode, max, &input, &[]);
        let chunked = decode(mode, max, &input, &cuts);
        prop_assert_eq!(chunked, one_shot);
    }

    #[test]
    fn encoded_frames_decode_to_themselves(
        frames in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..80)),
            1..12,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        trailing_lf in any::<bool>(),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for (octet, body) in frames {
            // A PRI first, as real messages have: that is what auto-detection relies on.
            let mut content = b"<13>".to_vec();
            if octet {
                // An LF followed by `<digit` inside a counted frame is taken as a wrong count.
                content.extend(body.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
                input.extend_from_slice(format!("{} ", content.len()).as_bytes());
                input.extend_from_slice(&content);
            } else {
                content.extend(body.iter().filter(|&&b| !matches!(b, b'\n' | b'\r' | b'\0')));
                input.extend_from_slice(&content);
                input.extend_from_slice(if trailing_lf { b"\r\n" } else { b"\n" });
            }
            expected.push(Frame::Message(Bytes::from(content)));
        }
        prop_assert_eq!(&decode(FramingMode::Auto, 1024, &input, &[]), &expected);
        prop_assert_eq!(&decode(FramingMode::Auto, 1024, &input, &cuts), &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// A broken octet count costs its own line and nothing after it, however reads split.
    #[test]
    fn frames_after_an_impossible_octet_count_all_arrive(
        count in 67_108_865u64..10_000_000_000,
        junk in prop::collection::vec(any::<u8>().prop_filter("no delimiter", |b| !matches!(b, b'\n' | b'\0')), 0..40),
        bodies in prop::collection::vec("[ -~]{0,60}", 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = format!("{count} ").into_bytes();
        input.extend_from_slice(&junk);
        input.push(b'\n');
        let mut expected = vec![Frame::Malformed { reason: "octet count larger than any frame (64 MiB)" }];
        for body in &bodies {
            let content = format!("<13>{body}");
            input.extend_from_slice(content.as_bytes());
            input.push(b'\n');
            expected.push(Frame::Message(Bytes::from(content)));
        }
        prop_assert_eq!(&decode(FramingMode::Auto, 1024, &input, &cuts), &expected);
    }
}
