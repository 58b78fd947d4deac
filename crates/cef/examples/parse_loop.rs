//! Parses the criterion bench's ~1 KB PAN-OS THREAT record COUNT times, for
//! `benches/parse-instructions.sh` to count instructions per parse under callgrind (a figure that
//! does not move with the machine's load, as the criterion times here do by ±30 %).
//!
//!   parse_loop COUNT syslog|rfc5424|syslog-new-second|rfc5424-new-millisecond|cef-header|cef-full|syslog-cef-header|rfc5424-cef-header|syslog-cef-full|cef-one-key|cef-five-keys
//!
//! `syslog` is an RFC 3164 header, `rfc5424` an RFC 5424 one, each in front of the same record.
//! Their timestamp is the same every time, as a busy sender's is within a second, so the parser's
//! memory of the last timestamp answers; `syslog-new-second` and `rfc5424-new-millisecond` change
//! it on every parse, for what a timestamp costs the first time it is seen.
//! `cef-one-key` is the CEF header and one key looked up (`act`), `cef-five-keys` the header and
//! the five keys the sophos preset and the threat enrichment read of a PAN-OS THREAT (one of them
//! absent), each with its searcher built beforehand as the relay builds them.

use std::hint::black_box;
use std::sync::LazyLock;

use cefrelay_cef::{parse_cef, parse_in_message, Key};
use cefrelay_syslog::{OffsetDateTime, ParseOptions};

include!("../benches/data/threat_record.rs");

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(count), Some(what)) = (
        args.next().and_then(|n| n.parse::<usize>().ok()),
        args.next(),
    ) else {
        eprintln!(
            "usage: parse_loop COUNT syslog|rfc5424|cef-header|cef-full|syslog-cef-header|\
             rfc5424-cef-header|syslog-cef-full|cef-one-key|cef-five-keys"
        );
        std::process::exit(2);
    };
    static KEYS: LazyLock<[Key; 5]> = LazyLock::new(|| {
        ["act", "cat", "flexString2", "PanOSThreatCategory", "cs2"]
            .map(|name| Key::new(name).expect("a valid key"))
    });
    let options = ParseOptions::new(OffsetDateTime::now_utc());
    let bsd = format!("<14>Nov 22 10:00:00 PA-VM {THREAT}");
    let ietf = format!("<14>1 2026-11-22T10:00:00.123+01:00 PA-VM - - - - {THREAT}");
    let syslog: fn(&str, &ParseOptions) -> usize =
        |line, options| cefrelay_syslog::parse(line, options).body.len();
    let syslog_cef_header: fn(&str, &ParseOptions) -> usize = |line, options| {
        let message = cefrelay_syslog::parse(line, options);
        parse_in_message(message.body).map_or(0, |cef| cef.map_or(0, |c| c.severity.len()))
    };
    let new_each_time: Option<Vec<String>> = match what.as_str() {
        "syslog-new-second" => Some(
            (0..3600)
                .map(|s| format!("<14>Nov 22 10:{:02}:{:02} PA-VM {THREAT}", s / 60, s % 60))
                .collect(),
        ),
        "rfc5424-new-millisecond" => Some(
            (0..1000)
                .map(|ms| format!("<14>1 2026-11-22T10:00:00.{ms:03}+01:00 PA-VM - - - - {THREAT}"))
                .collect(),
        ),
        _ => None,
    };
    if let Some(lines) = new_each_time {
        let total: usize = (0..count)
            .map(|i| syslog(black_box(&lines[i % lines.len()]), black_box(&options)))
            .sum();
        println!("{total}");
        return;
    }
    let (line, once): (&str, fn(&str, &ParseOptions) -> usize) = match what.as_str() {
        "syslog" => (&bsd, syslog),
        "rfc5424" => (&ietf, syslog),
        "cef-header" => (THREAT, |_, _| {
            parse_cef(THREAT).map_or(0, |cef| cef.severity.len())
        }),
        "cef-full" => (THREAT, |_, _| {
            parse_cef(THREAT).map_or(0, |cef| cef.extensions.pairs().len())
        }),
        "cef-one-key" => (THREAT, |_, _| {
            parse_cef(THREAT).map_or(0, |cef| {
                cef.extensions
                    .entry_of(&KEYS[0])
                    .map_or(0, |(_, v)| v.len())
            })
        }),
        "cef-five-keys" => (THREAT, |_, _| {
            parse_cef(THREAT).map_or(0, |cef| {
                KEYS.iter()
                    .filter_map(|key| cef.extensions.entry_of(key))
                    .map(|(_, value)| value.len())
                    .sum()
            })
        }),
        "syslog-cef-header" => (&bsd, syslog_cef_header),
        "rfc5424-cef-header" => (&ietf, syslog_cef_header),
        "syslog-cef-full" => (&bsd, |line, options| {
            let message = cefrelay_syslog::parse(line, options);
            parse_in_message(message.body)
                .map_or(0, |cef| cef.map_or(0, |c| c.extensions.pairs().len()))
        }),
        _ => {
            eprintln!("unknown: {what}");
            std::process::exit(2);
        }
    };
    let mut total = 0;
    for _ in 0..count {
        total += once(black_box(line), black_box(&options));
    }
    println!("{total}");
}
