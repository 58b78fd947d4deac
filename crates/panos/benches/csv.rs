//! PAN-OS CSV parse throughput on a ~1.5 KB THREAT line of PAN-OS 11.0 (123 columns, the typical
//! size and shape of what a firewall at factory settings sends), and on the same line behind a
//! relay's second syslog header.

#![expect(
    missing_docs,
    reason = "criterion_group! defines `pub fn benches` without a doc comment"
)]

use std::hint::black_box;

use cefrelay_panos::csv::parse;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Written for this bench from the PAN-OS 11.0 THREAT field order: quoted URL, user agent,
/// referer, HTTP headers and URL category list (one with doubled quotes), UUIDs, device-ID.
const THREAT: &str = "1,2026/03/24 10:15:42,007200001234,THREAT,url,2816,2026/03/24 10:15:42,\
192.0.2.57,198.51.100.80,203.0.113.10,198.51.100.80,LAN to Internet - WEB,example\\alice,,\
web-browsing,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Sensor Log Forwarding,,2834172,1,\
53211,80,22144,80,0x40b000,tcp,alert,\"shop.example.com/cart/checkout.php?item=4711&session=\
a8f0c2d91e&ref=newsletter\",(9999),shopping,informational,client-to-server,7355014001234567890,\
0x8000000000000000,192.168.0.0-192.168.255.255,United States,,text/html,0,,,1,\"Mozilla/5.0 \
(Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36\"\
,,\"198.51.100.7\",\"https://www.example.org/deals?from=mail\",,,,,0,0,0,0,,fw-edge-1,,\
4f7c1a2b-0000-4000-8000-000000000001,9d2e0c1a-0000-4000-8000-000000000002,get,0,,0,,N/A,\
unknown,AppThreat-8790-8510,0x0,0,4294967295,\"X-Requested-With: \"\"XMLHttpRequest\"\"\",\
\"shopping,low-risk\",3b1e0c62-8d5f-4a6e-9f0e-6c2d5f1a9b77,0,,198.51.100.7,Laptop,Windows,\
Surface Laptop 5,Microsoft,Windows,11,LAPTOP-7,00:11:22:33:44:55,,,,,,,,,,,,,,,,,,,,,,\
2026-03-24T10:15:42.123+01:00,,,,online-shopping,general-internet,browser-based,2,\
\"used-by-malware,able-to-transfer-file,has-known-vulnerability\",,no,no,no,,,";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("csv");
    let relayed = format!("Mar 24 10:15:43 198.51.100.40 Mar 24 10:15:42 fw-edge-1 {THREAT}");
    for (name, line) in [("parse_threat_1_5k", THREAT), ("parse_relayed", &relayed)] {
        group.throughput(Throughput::Bytes(line.len() as u64));
        // The columns split too: `parse` leaves that to their first use.
        group.bench_function(name, |b| {
            b.iter(|| parse(black_box(line)).unwrap().values().len())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
