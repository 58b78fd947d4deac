//! Parser and framing throughput: RFC 3164 and RFC 5424 headers in front of a ~1 KB PAN-OS-like
//! CEF message, and the framing decoder over a buffer of many frames.

#![expect(
    missing_docs,
    reason = "criterion_group! defines `pub fn benches` without a doc comment"
)]

use std::hint::black_box;

use bytes::BytesMut;
use cefrelay_syslog::framing::{FrameDecoder, FramingMode, DEFAULT_MAX_FRAME};
use cefrelay_syslog::{parse, OffsetDateTime, ParseOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use time::{Date, Month, Time};
use tokio_util::codec::Decoder;

/// A PAN-OS-style TRAFFIC record in CEF, written for this bench (~1 KB).
fn cef_payload() -> String {
    let mut s = String::from(
        "CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|rt=Nov 22 2026 10:00:00 GMT \
         deviceExternalId=012801096514 src=192.168.15.207 dst=175.16.199.1 \
         sourceTranslatedAddress=192.168.1.63 destinationTranslatedAddress=175.16.199.1 \
         cs1Label=Rule cs1=LAN to Internet - WEB suser=corp\\jdoe duser= app=ssl \
         cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=trust cs5Label=Destination Zone \
         cs5=untrust deviceInboundInterface=ethernet1/2 deviceOutboundInterface=ethernet1/1 \
         cs6Label=LogProfile cs6=Sensor Log Forwarding cn1Label=SessionID cn1=123456 cnt=1 spt=53211 \
         dpt=443 sourceTranslatedPort=22144 destinationTranslatedPort=443 flexString1Label=Flags \
         flexString1=0x400053 proto=tcp act=allow flexNumber1Label=Total bytes flexNumber1=4521 \
         in=1234 out=3287 cn2Label=Packets cn2=21 PanOSPacketsReceived=9 PanOSPacketsSent=12 \
         start=Nov 22 2026 09:59:58 GMT cn3Label=Elapsed time in seconds cn3=2 cs2Label=URL Category \
         cs2=computer-and-internet-info externalId=7028475631 reason=tcp-fin \
         PanOSDGl1=0 PanOSDGl2=0 PanOSDGl3=0 PanOSDGl4=0 PanOSVsysName= dvchost=PA-VM \
         PanOSActionFlags=0x0 PanOSSrcUUID= PanOSDstUUID= PanOSTunnelID=0 PanOSMonitorTag= \
         PanOSParentSessionID=0 PanOSParentStartTime= PanOSTunnelType=N/A PanOSSCTPAssocID=0 \
         PanOSSCTPChunks=0 PanOSSCTPChunkSent=0 PanOSSCTPChunksReceived=0 PanOSRuleUUID=\
         3b1e0c62-8d5f-4a6e-9f0e-6c2d5f1a9b77 PanOSHTTP2Con=0",
    );
    s.truncate(1000);
    s
}

fn opts() -> ParseOptions {
    let now = OffsetDateTime::new_utc(
        Date::from_calendar_date(2026, Month::November, 23).unwrap(),
        Time::MIDNIGHT,
    );
    ParseOptions::new(now)
}

fn bench_parse(c: &mut Criterion) {
    let payload = cef_payload();
    let rfc3164 = format!("<14>Nov 22 10:00:00 PA-VM {payload}");
    let rfc5424 = format!("<14>1 2026-11-22T10:00:00.123+01:00 PA-VM - - - - {payload}");
    let opts = opts();
    let mut group = c.benchmark_group("parse");
    for (name, input) in [("rfc3164_cef_1k", &rfc3164), ("rfc5424_cef_1k", &rfc5424)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse(black_box(input), &opts)));
    }
    group.finish();
}

fn bench_framing(c: &mut Criterion) {
    let payload = cef_payload();
    let mut stream = Vec::new();
    for i in 0..1000 {
        let message = format!("<14>1 2026-11-22T10:00:00Z PA-VM - - - - {payload}");
        if i % 2 == 0 {
            stream.extend_from_slice(format!("{} {message}", message.len()).as_bytes());
        } else {
            stream.extend_from_slice(message.as_bytes());
            stream.push(b'\n');
        }
    }
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    for (name, chunk) in [
        ("auto_mixed_1000_frames_one_read", stream.len()),
        ("auto_mixed_1000_frames_8k_reads", 8192),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder = FrameDecoder::new(FramingMode::Auto, DEFAULT_MAX_FRAME);
                let mut buf = BytesMut::with_capacity(chunk + DEFAULT_MAX_FRAME);
                let mut frames = 0usize;
                for piece in stream.chunks(chunk) {
                    buf.extend_from_slice(piece);
                    while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                        black_box(frame);
                        frames += 1;
                    }
                }
                assert_eq!(frames, 1000);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_framing);
criterion_main!(benches);
