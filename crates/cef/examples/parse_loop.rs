//! Parses the criterion bench's ~1 KB PAN-OS THREAT record COUNT times, for
//! `benches/parse-instructions.sh` to count instructions per parse under callgrind (a figure that
//! does not move with the machine's load, as the criterion times here do by ±30 %).
//!
//!   parse_loop COUNT syslog|cef-header|cef-full|syslog-cef-header|syslog-cef-full

use std::hint::black_box;

use cefrelay_cef::{parse_cef, parse_in_message};
use cefrelay_syslog::{OffsetDateTime, ParseOptions};

include!("../benches/data/threat_record.rs");

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(count), Some(what)) = (
        args.next().and_then(|n| n.parse::<usize>().ok()),
        args.next(),
    ) else {
        eprintln!(
            "usage: parse_loop COUNT syslog|cef-header|cef-full|syslog-cef-header|syslog-cef-full"
        );
        std::process::exit(2);
    };
    let options = ParseOptions::new(OffsetDateTime::now_utc());
    let line = format!("<14>Nov 22 10:00:00 PA-VM {THREAT}");
    let once: fn(&str, &ParseOptions) -> usize = match what.as_str() {
        "syslog" => |line, options| cefrelay_syslog::parse(line, options).body.len(),
        "cef-header" => |_, _| parse_cef(THREAT).map_or(0, |cef| cef.severity.len()),
        "cef-full" => |_, _| parse_cef(THREAT).map_or(0, |cef| cef.extensions.pairs().len()),
        "syslog-cef-header" => |line, options| {
            let message = cefrelay_syslog::parse(line, options);
            parse_in_message(message.body).map_or(0, |cef| cef.map_or(0, |c| c.severity.len()))
        },
        "syslog-cef-full" => |line, options| {
            let message = cefrelay_syslog::parse(line, options);
            parse_in_message(message.body)
                .map_or(0, |cef| cef.map_or(0, |c| c.extensions.pairs().len()))
        },
        _ => {
            eprintln!("unknown: {what}");
            std::process::exit(2);
        }
    };
    let mut total = 0;
    for _ in 0..count {
        total += once(black_box(&line), black_box(&options));
    }
    println!("{total}");
}
