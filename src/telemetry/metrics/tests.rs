//! The rendered `/metrics` text against a golden file.

use super::*;

/// Gives every counter and gauge its own value, so a line that reads the wrong field shows.
fn metrics_with_distinct_values() -> Metrics {
    let reasons = [
        FilterReason {
            forwards: true,
            label: "cef",
        },
        FilterReason {
            forwards: false,
            label: "not_cef",
        },
    ];
    let metrics = Metrics::new(
        vec!["tcp://0.0.0.0:514".into(), "udp://0.0.0.0:514".into()],
        vec![
            SinkMetrics::new("agent", "agent tcp://127.0.0.1:25226"),
            SinkMetrics::new("sentinel", "azure_logs_ingestion"),
        ],
        &reasons,
    );
    let mut next = 0;
    let mut value = || {
        next += 1;
        next
    };
    for l in &metrics.listeners {
        for counter in [
            &l.frames,
            &l.bytes,
            &l.malformed,
            &l.oversized,
            &l.connections_total,
            &l.connections_rejected,
            &l.connections_rejected_per_sender,
            &l.tls_handshake_failures,
            &l.queue_full_drops,
        ] {
            counter.add(value());
        }
        for counter in l.connections_closed.iter().chain(&l.abandoned_bytes) {
            counter.add(value());
        }
        l.connections_active.add(value());
        l.events_awaiting_buffer.add(value());
    }
    let parse = &metrics.parse;
    for counter in [
        &parse.rfc3164,
        &parse.rfc5424,
        &parse.no_header,
        &parse.cef_valid,
        &parse.cef_invalid,
        &parse.invalid_utf8,
        &parse.panos_unconverted,
        &parse.panos_dropped,
    ]
    .into_iter()
    .chain(&parse.panos_converted)
    {
        counter.add(value());
    }
    metrics.filter(0).add(value());
    metrics.filter(1).add(value());
    for s in &metrics.sinks {
        for counter in [
            &s.sent_events,
            &s.sent_bytes,
            &s.send_errors,
            &s.reconnects,
            &s.resent_events,
            &s.retries,
            &s.replayed_events,
            &s.dead_lettered_events,
            &s.corrupt_buffer_entries,
            &s.filtered_events,
            &s.dropped_buffer_full,
            &s.dropped_rejected,
            &s.dropped_write_error,
        ] {
            counter.add(value());
        }
        for gauge in [
            &s.queue_depth,
            &s.unreleased_events,
            &s.buffered_bytes,
            &s.buffer_write_failing,
            &s.connected,
        ] {
            gauge.add(value());
        }
    }
    let rules = &metrics.rules;
    for (name, dry_run) in [("sophos/drop-dns-requests", false), ("try \"this\"", true)] {
        let rule = rules.rule(name, dry_run);
        for counter in [
            &rule.matched,
            &rule.dropped,
            &rule.sampled_out,
            &rule.suppressed,
            &rule.summaries,
        ] {
            counter.add(value());
        }
    }
    rules.suppress_keys.set(value());
    rules.suppress_evictions.add(value());
    for counter in rules
        .threats_classified
        .iter()
        .chain([&rules.threats_unmapped])
    {
        counter.add(value());
    }
    // Far in the future: the age reads 0 without the test depending on the clock.
    metrics.sinks[1].oldest_unix_ms.set(u64::MAX);
    metrics.sinks[1].request(Some(200), 0.02);
    metrics.sinks[1].request(Some(200), 0.3);
    metrics.sinks[1].request(None, 2.0);
    metrics.reloads.add(value());
    metrics.reloads_failed.add(value());
    // Last, so that the values above stay those the golden file had before these counters.
    for l in &metrics.listeners {
        for counter in &l.proxy_headers {
            counter.add(value());
        }
    }
    metrics.sinks[0].buffer_max_bytes.set(32 << 20);
    metrics.sinks[1].buffer_max_bytes.set(1 << 30);
    // The TCP listener as a TLS one; the UDP listener has no sample.
    metrics.listeners[0]
        .tls_certificate_expiry
        .set(1_800_000_000);
    // Two senders at fixed times: the per-sender series without the clock.
    for (sender, at) in [("192.0.2.10", 1_790_000_000), ("192.0.2.2", 1_790_000_060)] {
        let seen = super::super::observe::Seen {
            at,
            cef_valid: true,
            panos_csv: false,
            panos_type: None,
            panos_unconverted: false,
            outcome: super::super::observe::Outcome::Forwarded,
        };
        let mut counts = super::super::observe::PeerCounts::default();
        counts.record(&seen);
        metrics
            .observer
            .merge(sender.parse().expect("address"), &counts);
    }
    metrics
}

/// The golden text was rendered before the metric declarations moved next to their
/// fields: dashboards and alerts read these exact names, labels and help texts. A deliberate
/// change (a new metric) is written back with `CEFRELAY_BLESS=1`, and the diff reviewed.
#[test]
fn the_rendered_text_matches_the_golden_file_line_for_line() {
    let rendered = metrics_with_distinct_values().render(&[("udp://0.0.0.0:514".into(), 7)]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/metrics/render.prom");
    if std::env::var_os("CEFRELAY_BLESS").is_some() {
        std::fs::write(path, &rendered).expect("write the golden file");
    }
    let golden = std::fs::read_to_string(path).expect("read the golden file");
    for (line, (got, want)) in rendered.lines().zip(golden.lines()).enumerate() {
        assert_eq!(got, want, "line {}", line + 1);
    }
    assert_eq!(rendered, golden);
}
