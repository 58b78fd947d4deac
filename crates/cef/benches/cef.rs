//! CEF parser and encoder throughput on a ~1 KB PAN-OS THREAT record (the typical size and shape
//! of what a firewall sends), and on one with escapes that force copies.

#![expect(
    missing_docs,
    reason = "criterion_group! defines `pub fn benches` without a doc comment"
)]

use std::hint::black_box;

use cefrelay_cef::{encode, parse_cef, parse_in_message};
use cefrelay_syslog::{OffsetDateTime, ParseOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

include!("data/threat_record.rs");

const ESCAPED: &str = r"CEF:0|Sec\|urity|threat\\manager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=Detected a threat.\nNo action needed\= fname=C:\\temp\\x.exe cs1=a\=b\=c";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cef");
    // The header alone (the extension is split on first use), then header and every pair.
    for (name, text) in [("parse_threat_1k", THREAT), ("parse_escaped", ESCAPED)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("{name}_header"), |b| {
            b.iter(|| parse_cef(black_box(text)).unwrap())
        });
        group.bench_function(format!("{name}_full"), |b| {
            b.iter(|| parse_cef(black_box(text)).unwrap().extensions.pairs().len())
        });
    }
    // What the relay does per frame: the syslog header, then the CEF record in its body — its
    // header only (what the agent filter and forward need), or every extension pair too.
    let options = ParseOptions::new(OffsetDateTime::now_utc());
    let rfc3164 = format!("<14>Nov 22 10:00:00 PA-VM {THREAT}");
    let rfc5424 = format!("<14>1 2026-11-22T10:00:00.123+01:00 PA-VM - - - - {THREAT}");
    for (name, line) in [
        ("rfc3164_plus_cef_1k", &rfc3164),
        ("rfc5424_plus_cef_1k", &rfc5424),
    ] {
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(format!("{name}_header"), |b| {
            b.iter(|| {
                let message = cefrelay_syslog::parse(black_box(line), &options);
                parse_in_message(message.body).map(|cef| cef.map(|c| c.severity.len()))
            })
        });
        group.bench_function(format!("{name}_full"), |b| {
            b.iter(|| {
                let message = cefrelay_syslog::parse(black_box(line), &options);
                parse_in_message(message.body).map(|cef| cef.map(|c| c.extensions.pairs().len()))
            })
        });
    }
    let parsed = parse_cef(THREAT).unwrap();
    let mut out = String::with_capacity(THREAT.len() * 2);
    group.throughput(Throughput::Bytes(THREAT.len() as u64));
    group.bench_function("encode_threat_1k", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&parsed), &mut out);
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
