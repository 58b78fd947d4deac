//! CSV→CEF conversion throughput on a ~1.5 KB THREAT line of PAN-OS 11.0 (a vulnerability
//! alert, the Set A Threat format), parsed once: what is measured is `to_cef` alone, in CSV
//! bytes per second.

#![expect(
    missing_docs,
    reason = "criterion_group! defines `pub fn benches` without a doc comment"
)]

use std::hint::black_box;

use cefrelay_panos::csv::parse;
use cefrelay_panos::to_cef::{to_cef, Options};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Written for this bench from the PAN-OS 11.0 THREAT field order: a quoted URL with `=` to
/// escape, a `domain\user`, user agent, HTTP headers, UUIDs, device-ID and app attributes.
const THREAT: &str = "1,2026/04/02 14:03:19,013201009876,THREAT,vulnerability,2816,\
2026/04/02 14:03:19,10.20.30.44,203.0.113.25,198.51.100.9,203.0.113.25,DMZ inbound - web servers,\
corp\\svc-backup,,web-browsing,vsys1,untrust,dmz,ethernet1/1,ethernet1/3,SIEM forwarding,,\
990121,1,61022,8080,40233,8080,0x80402000,tcp,reset-both,\"portal.example.net/api/v2/login.jsp?\
user=admin&redirect=/console&token=0f8e7d6c5b4a\",Apache Struts2 Remote Code Execution \
Vulnerability(33392),any,critical,client-to-server,7355014009876543210,0x8000000000000000,\
10.0.0.0-10.255.255.255,Germany,,,1201,,,0,\"curl/8.4.0 (x86_64-pc-linux-gnu) libcurl/8.4.0 \
OpenSSL/3.0.13 zlib/1.3\",,\"10.20.30.44\",\"https://portal.example.net/index.html?lang=en\",,,,\
,12,0,0,0,,fw-dmz-2,,7a1b2c3d-0000-4000-8000-00000000000a,8e2f3a4b-0000-4000-8000-00000000000b,\
post,0,,0,,N/A,code-execution,AppThreat-8801-8533,0x0,0,4294967295,\"Content-Type: \
application/x-www-form-urlencoded; charset=UTF-8; Accept: text/html,application/xhtml+xml,\
application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8; Accept-Language: de-DE,de;q=0.9,en;q=0.8; \
Cookie: JSESSIONID=8F2D0C7A1B3E4F5A6B7C8D9E0F1A2B3C; lang=en; consent=all-2026\",\"business-systems,medium-risk\",\
5c2e1d73-9e6f-4b7f-a01f-7d3e6f2b0c88,0,,10.20.30.44,Server,Linux,PowerEdge R650,Dell,Linux,\
Ubuntu 22.04,web-dmz-04,00:50:56:aa:bb:cc,,,,,,,,,,,,,,,,,,,,,,\
2026-04-02T14:03:19.512+02:00,,,,internet-utility,general-internet,browser-based,4,\
\"used-by-malware,evasive,has-known-vulnerability,tunnels-other-apps\",,no,no,no,,,";

fn bench(c: &mut Criterion) {
    let log = parse(THREAT).expect("a THREAT line");
    let options = Options::default();
    let mut out = String::with_capacity(4096);
    let mut group = c.benchmark_group("to_cef");
    group.throughput(Throughput::Bytes(THREAT.len() as u64));
    group.bench_function("threat_1_5k", |b| {
        b.iter(|| {
            out.clear();
            to_cef(black_box(&log), &options, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
