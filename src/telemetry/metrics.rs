//! Every counter the relay keeps, in one place, and their Prometheus text rendering.
//! Counters are plain relaxed atomics: they are read only by the metrics endpoint and tests.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::pipeline::filter::Decision;

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
    pub connections_rejected: Counter,
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
            tls_handshake_failures: Counter::default(),
            queue_full_drops: Counter::default(),
        }
    }
}

#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub sent_events: Counter,
    pub sent_bytes: Counter,
    pub send_errors: Counter,
    pub reconnects: Counter,
    pub resent_events: Counter,
    pub queue_depth: Gauge,
    pub connected: Gauge,
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

#[derive(Debug)]
pub struct Metrics {
    pub listeners: Vec<ListenerMetrics>,
    pub parse: ParseMetrics,
    filter: [Counter; Decision::ALL.len()],
    pub sink: SinkMetrics,
    /// Name of the sink for the `sink` label, e.g. `agent tcp://127.0.0.1:25226`.
    pub sink_name: String,
    /// SIGHUP reloads, successful or not.
    pub reloads: Counter,
    /// Per-sender counts and mock journeys for `cef-troubleshoot`.
    pub observer: super::observe::Observer,
}

impl Metrics {
    pub fn new(listener_names: Vec<String>, sink_name: String) -> Self {
        Metrics {
            listeners: listener_names
                .into_iter()
                .map(ListenerMetrics::new)
                .collect(),
            parse: ParseMetrics::default(),
            filter: Default::default(),
            sink: SinkMetrics::default(),
            sink_name,
            reloads: Counter::default(),
            observer: Default::default(),
        }
    }

    pub fn filter(&self, decision: Decision) -> &Counter {
        let index = Decision::ALL
            .iter()
            .position(|d| *d == decision)
            .unwrap_or_default();
        &self.filter[index]
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, udp_kernel_drops: &[(String, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let listener_counters: [(&str, &str, ListenerReading); 8] = [
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
                "cefrelay_connections_rejected_total",
                "Connections refused at max_connections",
                |l| l.connections_rejected.get(),
            ),
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
            "cefrelay_connections_active",
            "Open connections",
            "gauge",
        );
        for l in &self.listeners {
            let _ = writeln!(
                out,
                "cefrelay_connections_active{{listener=\"{}\"}} {}",
                l.name,
                l.connections_active.get()
            );
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
        for decision in Decision::ALL {
            let action = if decision.forwards() {
                "forward"
            } else {
                "drop"
            };
            let _ = writeln!(
                out,
                "cefrelay_filter_total{{action=\"{action}\",reason=\"{}\"}} {}",
                decision.label(),
                self.filter(decision).get()
            );
        }

        let sink = &self.sink;
        let sink_label = &self.sink_name;
        for (name, help, kind, value) in [
            (
                "cefrelay_sink_sent_events_total",
                "Events written to the sink",
                "counter",
                sink.sent_events.get(),
            ),
            (
                "cefrelay_sink_sent_bytes_total",
                "Bytes written to the sink",
                "counter",
                sink.sent_bytes.get(),
            ),
            (
                "cefrelay_sink_send_errors_total",
                "Connection or write errors",
                "counter",
                sink.send_errors.get(),
            ),
            (
                "cefrelay_sink_reconnects_total",
                "Connections made after the first",
                "counter",
                sink.reconnects.get(),
            ),
            (
                "cefrelay_sink_resent_events_total",
                "Events sent again after a broken connection (possible duplicates)",
                "counter",
                sink.resent_events.get(),
            ),
            (
                "cefrelay_sink_queue_depth",
                "Events waiting for the sink",
                "gauge",
                sink.queue_depth.get(),
            ),
            (
                "cefrelay_sink_connected",
                "1 while connected to the sink",
                "gauge",
                sink.connected.get(),
            ),
        ] {
            header(&mut out, name, help, kind);
            let _ = writeln!(out, "{name}{{sink=\"{sink_label}\"}} {value}");
        }
        header(
            &mut out,
            "cefrelay_config_reloads_total",
            "SIGHUP reloads",
            "counter",
        );
        let _ = writeln!(out, "cefrelay_config_reloads_total {}", self.reloads.get());
        out
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
