//! Every counter the relay keeps, in one place, and their Prometheus text rendering.
//! Counters are plain relaxed atomics: they are read only by the metrics endpoint and tests.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down (queue depth, open connections).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    pub fn sub(&self, n: u64) {
        // Saturating: a racing reader must never see a wrapped-around huge value.
        let _ = self
            .0
            .fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    pub fn set(&self, value: u64) {
        self.0.store(value, Relaxed);
    }
}

/// Reads one counter of a listener, for rendering.
type ListenerReading = fn(&ListenerMetrics) -> u64;

#[derive(Debug)]
pub struct ListenerMetrics {
    /// `udp://0.0.0.0:514`
    pub name: String,
    pub frames: Counter,
    pub bytes: Counter,
    pub malformed: Counter,
    pub oversized: Counter,
    pub connections_active: Gauge,
    pub connections_total: Counter,
    /// Refused at `max_connections`, every open connection being busy.
    pub connections_rejected: Counter,
    /// Refused at `max_connections_per_sender`.
    pub connections_rejected_per_sender: Counter,
    /// Connections the relay closed, by [`CloseReason`].
    pub connections_closed: [Counter; CloseReason::ALL.len()],
    /// Bytes received (a frame's start) or waiting in the kernel that never became a frame
    /// because the relay closed the connection, by [`CloseReason`].
    pub abandoned_bytes: [Counter; CloseReason::ALL.len()],
    /// Events read from connections and waiting for room in the buffers: lost if the process
    /// exits before they are taken (summed over the sinks a connection is waiting for).
    pub events_awaiting_buffer: Gauge,
    pub tls_handshake_failures: Counter,
    /// UDP datagrams we received but could not queue because the sink queue was full.
    pub queue_full_drops: Counter,
}

impl ListenerMetrics {
    pub fn new(name: String) -> Self {
        ListenerMetrics {
            name,
            frames: Counter::default(),
            bytes: Counter::default(),
            malformed: Counter::default(),
            oversized: Counter::default(),
            connections_active: Gauge::default(),
            connections_total: Counter::default(),
            connections_rejected: Counter::default(),
            connections_rejected_per_sender: Counter::default(),
            connections_closed: Default::default(),
            abandoned_bytes: Default::default(),
            events_awaiting_buffer: Gauge::default(),
            tls_handshake_failures: Counter::default(),
            queue_full_drops: Counter::default(),
        }
    }
}

/// Why the relay closed a TCP/TLS connection (a peer closing its connection is not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Nothing received for `idle_timeout_secs`.
    IdleTimeout,
    /// A frame begun and not completed within `frame_timeout_secs` (a slow trickle).
    FrameTimeout,
    /// Closed at `max_connections` to admit a new connection, as the longest idle.
    EvictedIdle,
    /// Open when the relay was told to stop.
    Shutdown,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] = [
        CloseReason::IdleTimeout,
        CloseReason::FrameTimeout,
        CloseReason::EvictedIdle,
        CloseReason::Shutdown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::FrameTimeout => "frame_timeout",
            CloseReason::EvictedIdle => "evicted_idle",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl ListenerMetrics {
    pub fn closed(&self, reason: CloseReason) -> &Counter {
        &self.connections_closed[reason as usize]
    }

    pub fn abandoned(&self, reason: CloseReason) -> &Counter {
        &self.abandoned_bytes[reason as usize]
    }
}

/// One sink's counters: the agent forward or an HTTP sink, with the buffer in front of it.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// `agent` or the `[[sink]]` name.
    pub name: String,
    /// `agent tcp://127.0.0.1:25226`, `azure_logs_ingestion`, …
    pub kind: String,
    pub sent_events: Counter,
    pub sent_bytes: Counter,
    pub send_errors: Counter,
    pub reconnects: Counter,
    pub resent_events: Counter,
    /// Events accepted into the buffer and waiting for the sink to read them.
    pub queue_depth: Gauge,
    /// Events the sink has read (written, or in a request) and not yet released as delivered.
    pub unreleased_events: Gauge,
    /// Bytes held for the sink: waiting and unreleased.
    pub buffered_bytes: Gauge,
    /// Enqueue time (Unix ms) of the oldest waiting event; 0 when there is none.
    pub oldest_unix_ms: Gauge,
    /// 1 while the disk buffer cannot write (disk full, I/O error); the reason is in
    /// `buffer_error`.
    pub buffer_write_failing: Gauge,
    pub buffer_error: Mutex<String>,
    /// Events found in the disk buffer at start and sent again.
    pub replayed_events: Counter,
    pub dropped_buffer_full: Counter,
    /// Events this sink's filter (its own `filter`, or `[filter] mode`) left out.
    pub filtered_events: Counter,
    /// Rejected by the far end (HTTP 400/403, …) and written to the dead-letter file.
    pub dead_lettered_events: Counter,
    /// Rejected, but the dead-letter file was full or could not be written.
    pub dropped_rejected: Counter,
    /// Disk buffer entries skipped for a failed checksum (a torn tail is cut, not counted here).
    pub corrupt_buffer_entries: Counter,
    /// Batches the disk buffer could not write (disk full, I/O error), dropped.
    pub dropped_write_error: Counter,
    pub retries: Counter,
    /// 1 while the sink is reachable (connected, or its last request succeeded).
    pub connected: Gauge,
    pub requests: Mutex<BTreeMap<String, u64>>,
    pub request_seconds: Histogram,
}

impl SinkMetrics {
    pub fn new(name: &str, kind: &str) -> Self {
        SinkMetrics {
            name: name.to_string(),
            kind: kind.to_string(),
            ..Default::default()
        }
    }

    /// One HTTP request's outcome: the status code, or `error` when no response came.
    pub fn request(&self, status: Option<u16>, seconds: f64) {
        let label = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(label)
            .or_default() += 1;
        self.request_seconds.observe(seconds);
    }
}

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Debug, Default)]
pub struct Histogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then the total.
    buckets: [Counter; LATENCY_BUCKETS.len() + 1],
    sum_micros: Counter,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.inc();
            }
        }
        self.buckets[LATENCY_BUCKETS.len()].inc();
        self.sum_micros.add((seconds * 1e6) as u64);
    }
}

#[derive(Debug, Default)]
pub struct ParseMetrics {
    pub rfc3164: Counter,
    pub rfc5424: Counter,
    pub no_header: Counter,
    pub cef_valid: Counter,
    pub cef_invalid: Counter,
    pub invalid_utf8: Counter,
}

/// A reason the filter gives for its decision: a row of `cefrelay_filter_total`.
#[derive(Debug, Clone, Copy)]
pub struct FilterReason {
    pub forwards: bool,
    pub label: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    pub listeners: Vec<ListenerMetrics>,
    pub parse: ParseMetrics,
    /// `cefrelay_filter_total`, one row per reason the filter gives, in its order.
    filter: Vec<(FilterReason, Counter)>,
    pub sinks: Vec<Arc<SinkMetrics>>,
    /// SIGHUP reloads that applied: the configuration validated and every certificate loaded.
    pub reloads: Counter,
    /// SIGHUP reloads refused (the running configuration or certificates stayed).
    pub reloads_failed: Counter,
    /// Per-sender counts and mock journeys for `cef-troubleshoot`.
    pub observer: super::observe::Observer,
}

impl Metrics {
    /// `filter_reasons` lists every decision the filter can make; [`Self::filter`] takes the
    /// position of one in that list.
    pub fn new(
        listener_names: Vec<String>,
        sinks: Vec<SinkMetrics>,
        filter_reasons: &[FilterReason],
    ) -> Self {
        Metrics {
            listeners: listener_names
                .into_iter()
                .map(ListenerMetrics::new)
                .collect(),
            parse: ParseMetrics::default(),
            filter: filter_reasons
                .iter()
                .map(|reason| (*reason, Counter::default()))
                .collect(),
            sinks: sinks.into_iter().map(Arc::new).collect(),
            reloads: Counter::default(),
            reloads_failed: Counter::default(),
            observer: Default::default(),
        }
    }

    /// The counter of the filter reason at `index` in the list given to [`Self::new`].
    pub fn filter(&self, index: usize) -> &Counter {
        &self.filter[index].1
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, udp_kernel_drops: &[(String, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let listener_counters: [(&str, &str, ListenerReading); 7] = [
            ("cefrelay_received_frames_total", "Frames received", |l| {
                l.frames.get()
            }),
            (
                "cefrelay_received_bytes_total",
                "Bytes of frames received",
                |l| l.bytes.get(),
            ),
            (
                "cefrelay_malformed_frames_total",
                "Frames that broke the framing rules",
                |l| l.malformed.get(),
            ),
            (
                "cefrelay_oversized_frames_total",
                "Frames over max_message_bytes, discarded",
                |l| l.oversized.get(),
            ),
            ("cefrelay_connections_total", "Connections accepted", |l| {
                l.connections_total.get()
            }),
            (
                "cefrelay_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out",
                |l| l.tls_handshake_failures.get(),
            ),
            (
                "cefrelay_queue_full_drops_total",
                "UDP messages dropped because the sink queue was full",
                |l| l.queue_full_drops.get(),
            ),
        ];
        for (name, help, value) in listener_counters {
            header(&mut out, name, help, "counter");
            for l in &self.listeners {
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.name, value(l));
            }
        }
        header(
            &mut out,
            "cefrelay_connections_rejected_total",
            "Connections refused: per_sender_limit, or max_connections with every open one busy",
            "counter",
        );
        for l in &self.listeners {
            for (reason, counter) in [
                ("max_connections", &l.connections_rejected),
                ("per_sender_limit", &l.connections_rejected_per_sender),
            ] {
                let _ = writeln!(
                    out,
                    "cefrelay_connections_rejected_total{{listener=\"{}\",reason=\"{reason}\"}} {}",
                    l.name,
                    counter.get()
                );
            }
        }
        for (name, help, counters) in [
            (
                "cefrelay_connections_closed_total",
                "Connections the relay closed, by reason",
                (|l| &l.connections_closed) as fn(&ListenerMetrics) -> &[Counter; 4],
            ),
            (
                "cefrelay_abandoned_bytes_total",
                "Bytes of unfinished frames and unread bytes in the kernel thrown away when the relay closed a connection",
                |l| &l.abandoned_bytes,
            ),
        ] {
            header(&mut out, name, help, "counter");
            for l in &self.listeners {
                for (reason, counter) in CloseReason::ALL.iter().zip(counters(l)) {
                    let _ = writeln!(
                        out,
                        "{name}{{listener=\"{}\",reason=\"{}\"}} {}",
                        l.name,
                        reason.label(),
                        counter.get()
                    );
                }
            }
        }
        for (name, help, value) in [
            (
                "cefrelay_connections_active",
                "Open connections",
                (|l| l.connections_active.get()) as ListenerReading,
            ),
            (
                "cefrelay_events_awaiting_buffer",
                "Events read from TCP/TLS connections and waiting for room in the buffers",
                |l| l.events_awaiting_buffer.get(),
            ),
        ] {
            header(&mut out, name, help, "gauge");
            for l in &self.listeners {
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.name, value(l));
            }
        }
        header(
            &mut out,
            "cefrelay_udp_kernel_drops",
            "Datagrams the kernel dropped on our UDP sockets (/proc/net/udp)",
            "gauge",
        );
        for (listener, drops) in udp_kernel_drops {
            let _ = writeln!(
                out,
                "cefrelay_udp_kernel_drops{{listener=\"{listener}\"}} {drops}"
            );
        }

        header(
            &mut out,
            "cefrelay_parsed_total",
            "Messages by syslog header format",
            "counter",
        );
        for (format, counter) in [
            ("rfc3164", &self.parse.rfc3164),
            ("rfc5424", &self.parse.rfc5424),
            ("none", &self.parse.no_header),
        ] {
            let _ = writeln!(
                out,
                "cefrelay_parsed_total{{format=\"{format}\"}} {}",
                counter.get()
            );
        }
        header(
            &mut out,
            "cefrelay_cef_total",
            "Messages carrying a CEF marker, by validity",
            "counter",
        );
        let _ = writeln!(
            out,
            "cefrelay_cef_total{{result=\"valid\"}} {}",
            self.parse.cef_valid.get()
        );
        let _ = writeln!(
            out,
            "cefrelay_cef_total{{result=\"invalid\"}} {}",
            self.parse.cef_invalid.get()
        );
        header(
            &mut out,
            "cefrelay_invalid_utf8_total",
            "Messages decoded lossily",
            "counter",
        );
        let _ = writeln!(
            out,
            "cefrelay_invalid_utf8_total {}",
            self.parse.invalid_utf8.get()
        );

        header(
            &mut out,
            "cefrelay_filter_total",
            "Agent filter decisions by reason",
            "counter",
        );
        for (reason, counter) in &self.filter {
            let action = if reason.forwards { "forward" } else { "drop" };
            let _ = writeln!(
                out,
                "cefrelay_filter_total{{action=\"{action}\",reason=\"{}\"}} {}",
                reason.label,
                counter.get()
            );
        }

        self.render_sinks(&mut out);
        header(
            &mut out,
            "cefrelay_config_reloads_total",
            "SIGHUP reloads, by whether they applied",
            "counter",
        );
        for (result, counter) in [("ok", &self.reloads), ("failed", &self.reloads_failed)] {
            let _ = writeln!(
                out,
                "cefrelay_config_reloads_total{{result=\"{result}\"}} {}",
                counter.get()
            );
        }
        out
    }
}

type SinkReading = fn(&SinkMetrics) -> u64;

impl Metrics {
    fn render_sinks(&self, out: &mut String) {
        let now_ms = unix_ms();
        let readings: [(&str, &str, &str, SinkReading); 15] = [
            (
                "cefrelay_sink_sent_events_total",
                "Events delivered to the sink",
                "counter",
                |s| s.sent_events.get(),
            ),
            (
                "cefrelay_sink_sent_bytes_total",
                "Bytes delivered to the sink",
                "counter",
                |s| s.sent_bytes.get(),
            ),
            (
                "cefrelay_sink_send_errors_total",
                "Connection, write or request errors",
                "counter",
                |s| s.send_errors.get(),
            ),
            (
                "cefrelay_sink_reconnects_total",
                "Connections made after the first",
                "counter",
                |s| s.reconnects.get(),
            ),
            (
                "cefrelay_sink_resent_events_total",
                "Events sent again after a broken connection (possible duplicates)",
                "counter",
                |s| s.resent_events.get(),
            ),
            (
                "cefrelay_sink_retries_total",
                "HTTP requests sent again after a failure",
                "counter",
                |s| s.retries.get(),
            ),
            (
                "cefrelay_sink_replayed_events_total",
                "Events found in the disk buffer at start and sent again",
                "counter",
                |s| s.replayed_events.get(),
            ),
            (
                "cefrelay_sink_dead_lettered_events_total",
                "Events the sink rejected, written to the dead-letter file",
                "counter",
                |s| s.dead_lettered_events.get(),
            ),
            (
                "cefrelay_sink_buffer_corrupt_entries_total",
                "Disk buffer entries (whole batches) that failed their checksum and were skipped",
                "counter",
                |s| s.corrupt_buffer_entries.get(),
            ),
            (
                "cefrelay_sink_filtered_events_total",
                "Events the sink's filter (its own, or [filter] mode) left out",
                "counter",
                |s| s.filtered_events.get(),
            ),
            (
                "cefrelay_sink_queue_depth",
                "Events buffered for the sink and not yet read by it",
                "gauge",
                |s| s.queue_depth.get(),
            ),
            (
                "cefrelay_sink_unreleased_events",
                "Events the sink has read and sent, held until known to be delivered",
                "gauge",
                |s| s.unreleased_events.get(),
            ),
            (
                "cefrelay_sink_buffered_bytes",
                "Bytes held for the sink, waiting and unreleased",
                "gauge",
                |s| s.buffered_bytes.get(),
            ),
            (
                "cefrelay_sink_buffer_write_failing",
                "1 while the disk buffer cannot write (disk full, I/O error)",
                "gauge",
                |s| s.buffer_write_failing.get(),
            ),
            (
                "cefrelay_sink_connected",
                "1 while the sink is reachable",
                "gauge",
                |s| s.connected.get(),
            ),
        ];
        for (name, help, kind, read) in readings {
            header(out, name, help, kind);
            for sink in &self.sinks {
                let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", sink.name, read(sink));
            }
        }
        header(
            out,
            "cefrelay_sink_oldest_event_age_seconds",
            "Age of the oldest event buffered and not yet read by the sink",
            "gauge",
        );
        for sink in &self.sinks {
            let oldest = sink.oldest_unix_ms.get();
            let age = if oldest == 0 {
                0.0
            } else {
                now_ms.saturating_sub(oldest) as f64 / 1000.0
            };
            let _ = writeln!(
                out,
                "cefrelay_sink_oldest_event_age_seconds{{sink=\"{}\"}} {age:.3}",
                sink.name
            );
        }
        header(
            out,
            "cefrelay_sink_dropped_events_total",
            "Events a sink lost, by reason",
            "counter",
        );
        for sink in &self.sinks {
            for (reason, counter) in [
                ("buffer_full", &sink.dropped_buffer_full),
                ("rejected", &sink.dropped_rejected),
                ("write_error", &sink.dropped_write_error),
            ] {
                let _ = writeln!(
                    out,
                    "cefrelay_sink_dropped_events_total{{sink=\"{}\",reason=\"{reason}\"}} {}",
                    sink.name,
                    counter.get()
                );
            }
        }
        header(out, "cefrelay_sink_info", "What each sink is", "gauge");
        for sink in &self.sinks {
            let _ = writeln!(
                out,
                "cefrelay_sink_info{{sink=\"{}\",type=\"{}\"}} 1",
                sink.name, sink.kind
            );
        }
        header(
            out,
            "cefrelay_sink_requests_total",
            "HTTP requests by status (`error`: no response)",
            "counter",
        );
        for sink in &self.sinks {
            let requests = sink.requests.lock().unwrap_or_else(|p| p.into_inner());
            for (status, count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "cefrelay_sink_requests_total{{sink=\"{}\",status=\"{status}\"}} {count}",
                    sink.name
                );
            }
        }
        let name = "cefrelay_sink_request_duration_seconds";
        header(out, name, "HTTP request latency", "histogram");
        for sink in self
            .sinks
            .iter()
            .filter(|s| s.request_seconds.buckets[LATENCY_BUCKETS.len()].get() > 0)
        {
            let histogram = &sink.request_seconds;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&histogram.buckets) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{sink=\"{}\",le=\"{bound}\"}} {}",
                    sink.name,
                    bucket.get()
                );
            }
            let count = histogram.buckets[LATENCY_BUCKETS.len()].get();
            let _ = writeln!(
                out,
                "{name}_bucket{{sink=\"{}\",le=\"+Inf\"}} {count}",
                sink.name
            );
            let _ = writeln!(
                out,
                "{name}_sum{{sink=\"{}\"}} {:.6}",
                sink.name,
                histogram.sum_micros.get() as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count{{sink=\"{}\"}} {count}", sink.name);
        }
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
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
        ] {
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
        // Far in the future: the age reads 0 without the test depending on the clock.
        metrics.sinks[1].oldest_unix_ms.set(u64::MAX);
        metrics.sinks[1].request(Some(200), 0.02);
        metrics.sinks[1].request(Some(200), 0.3);
        metrics.sinks[1].request(None, 2.0);
        metrics.reloads.add(value());
        metrics.reloads_failed.add(value());
        metrics
    }

    /// The golden text was rendered before the metric declarations moved next to their
    /// fields: dashboards and alerts read these exact names, labels and help texts.
    #[test]
    fn the_rendered_text_matches_the_golden_file_line_for_line() {
        let rendered = metrics_with_distinct_values().render(&[("udp://0.0.0.0:514".into(), 7)]);
        let golden = include_str!("../../fixtures/metrics/render.prom");
        for (line, (got, want)) in rendered.lines().zip(golden.lines()).enumerate() {
            assert_eq!(got, want, "line {}", line + 1);
        }
        assert_eq!(rendered, golden);
    }
}
