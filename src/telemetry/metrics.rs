//! Every counter the relay keeps, in one place, and their Prometheus text rendering.
//! Counters are plain relaxed atomics: they are read only by the metrics endpoint and tests.
//!
//! Each metric family (name, help, type) is declared once, as a [`Family`] right below the struct
//! whose fields it reads; the `render` functions only decide the order and the labels.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use cefrelay_panos::log::LogType;

pub mod rules;
pub mod userid;

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

/// A Prometheus metric family: what its `# HELP` and `# TYPE` lines say. Shared with the
/// per-sender series of [`super::observe`], which keeps its own counts.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    kind: &'static str,
}

impl Family {
    pub(super) const fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: "counter",
        }
    }

    pub(super) const fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: "gauge",
        }
    }

    const fn histogram(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: "histogram",
        }
    }

    pub(super) fn header(&self, out: &mut String) {
        let Family { name, help, kind } = self;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
}

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
    /// PROXY protocol headers, by [`ProxyHeaderResult`].
    pub proxy_headers: [Counter; ProxyHeaderResult::ALL.len()],
    /// UDP datagrams we received but could not queue because the sink queue was full.
    pub queue_full_drops: Counter,
    /// TLS listeners: Unix seconds when the first certificate served expires; 0 otherwise.
    pub tls_certificate_expiry: Gauge,
}

/// Reads one counter or gauge of a listener, for rendering.
type ListenerReading = fn(&ListenerMetrics) -> u64;

/// The listener counters with one sample per listener, in `/metrics` order.
const LISTENER_COUNTERS: [(Family, ListenerReading); 7] = [
    (
        Family::counter("cefrelay_received_frames_total", "Frames received"),
        |l| l.frames.get(),
    ),
    (
        Family::counter("cefrelay_received_bytes_total", "Bytes of frames received"),
        |l| l.bytes.get(),
    ),
    (
        Family::counter(
            "cefrelay_malformed_frames_total",
            "Frames that broke the framing rules",
        ),
        |l| l.malformed.get(),
    ),
    (
        Family::counter(
            "cefrelay_oversized_frames_total",
            "Frames over max_message_bytes, discarded",
        ),
        |l| l.oversized.get(),
    ),
    (
        Family::counter("cefrelay_connections_total", "Connections accepted"),
        |l| l.connections_total.get(),
    ),
    (
        Family::counter(
            "cefrelay_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out",
        ),
        |l| l.tls_handshake_failures.get(),
    ),
    (
        Family::counter(
            "cefrelay_queue_full_drops_total",
            "UDP messages dropped because the sink queue was full",
        ),
        |l| l.queue_full_drops.get(),
    ),
];

/// `connections_rejected` and `connections_rejected_per_sender`, as two reasons.
const CONNECTIONS_REJECTED: Family = Family::counter(
    "cefrelay_connections_rejected_total",
    "Connections refused: per_sender_limit, or max_connections with every open one busy",
);

/// Reads the per-[`CloseReason`] counters of a listener, for rendering.
type ByCloseReason = fn(&ListenerMetrics) -> &[Counter; CloseReason::ALL.len()];

/// The listener counters kept per [`CloseReason`], in `/metrics` order.
const LISTENER_CLOSE_COUNTERS: [(Family, ByCloseReason); 2] = [
    (
        Family::counter(
            "cefrelay_connections_closed_total",
            "Connections the relay closed, by reason",
        ),
        |l| &l.connections_closed,
    ),
    (
        Family::counter(
            "cefrelay_abandoned_bytes_total",
            "Bytes of unfinished frames and unread bytes in the kernel thrown away when the relay closed a connection",
        ),
        |l| &l.abandoned_bytes,
    ),
];

/// `proxy_headers`, by [`ProxyHeaderResult`].
const PROXY_HEADERS: Family = Family::counter(
    "cefrelay_proxy_headers_total",
    "PROXY protocol headers on TCP/TLS listeners, by result: accepted, local (a balancer's health check), unknown (no client address), or refused as untrusted, missing, malformed, timeout",
);

/// The listener gauges, in `/metrics` order.
const LISTENER_GAUGES: [(Family, ListenerReading); 2] = [
    (
        Family::gauge("cefrelay_connections_active", "Open connections"),
        |l| l.connections_active.get(),
    ),
    (
        Family::gauge(
            "cefrelay_events_awaiting_buffer",
            "Events read from TCP/TLS connections and waiting for room in the buffers (once per buffer)",
        ),
        |l| l.events_awaiting_buffer.get(),
    ),
];

/// Only TLS listeners whose certificate's date is known have a sample: a 0 would read as
/// "expired in 1970" to an alert.
const TLS_CERTIFICATE_EXPIRY: Family = Family::gauge(
    "cefrelay_tls_certificate_expiry_timestamp_seconds",
    "Unix time when the first certificate a TLS listener serves (leaf or intermediate) expires; set at start and on SIGHUP",
);

/// Not kept by the relay: read from the kernel when `/metrics` is asked for.
const UDP_KERNEL_DROPS: Family = Family::gauge(
    "cefrelay_udp_kernel_drops",
    "Datagrams the kernel dropped on our UDP sockets (/proc/net/udp)",
);

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
            proxy_headers: Default::default(),
            queue_full_drops: Counter::default(),
            tls_certificate_expiry: Gauge::default(),
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

/// What became of a connection's PROXY protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeaderResult {
    /// From a trusted balancer, naming the original sender.
    Accepted,
    /// A v2 LOCAL header: the balancer's own connection (a health check), served as the
    /// balancer's.
    Local,
    /// From a trusted balancer without a client address (v1 UNKNOWN, v2 UNSPEC or UNIX):
    /// served as the balancer's.
    Unknown,
    /// From an address outside `trusted_proxies` (or, when the header is required, any
    /// connection from such an address): closed.
    Untrusted,
    /// A trusted balancer's connection without a header, where one is required: closed.
    Missing,
    /// Not a header of the listener's version(s): closed.
    Malformed,
    /// Not complete within `proxy_header_timeout_secs`: closed.
    Timeout,
}

impl ProxyHeaderResult {
    pub const ALL: [ProxyHeaderResult; 7] = [
        ProxyHeaderResult::Accepted,
        ProxyHeaderResult::Local,
        ProxyHeaderResult::Unknown,
        ProxyHeaderResult::Untrusted,
        ProxyHeaderResult::Missing,
        ProxyHeaderResult::Malformed,
        ProxyHeaderResult::Timeout,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ProxyHeaderResult::Accepted => "accepted",
            ProxyHeaderResult::Local => "local",
            ProxyHeaderResult::Unknown => "unknown",
            ProxyHeaderResult::Untrusted => "untrusted",
            ProxyHeaderResult::Missing => "missing",
            ProxyHeaderResult::Malformed => "malformed",
            ProxyHeaderResult::Timeout => "timeout",
        }
    }
}

impl ListenerMetrics {
    pub fn proxy_header(&self, result: ProxyHeaderResult) -> &Counter {
        &self.proxy_headers[result as usize]
    }

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
    /// The buffer's configured bound in bytes (`max_bytes`), for a "filling up" ratio.
    pub buffer_max_bytes: Gauge,
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

/// Reads one counter or gauge of a sink, for rendering.
type SinkReading = fn(&SinkMetrics) -> u64;

/// The sink counters and gauges with one sample per sink, in `/metrics` order.
const SINK_READINGS: [(Family, SinkReading); 16] = [
    (
        Family::counter(
            "cefrelay_sink_sent_events_total",
            "Events delivered to the sink",
        ),
        |s| s.sent_events.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_sent_bytes_total",
            "Bytes delivered to the sink",
        ),
        |s| s.sent_bytes.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_send_errors_total",
            "Connection, write or request errors",
        ),
        |s| s.send_errors.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_reconnects_total",
            "Connections made after the first",
        ),
        |s| s.reconnects.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_resent_events_total",
            "Events sent again after a broken connection (possible duplicates)",
        ),
        |s| s.resent_events.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_retries_total",
            "HTTP requests sent again after a failure",
        ),
        |s| s.retries.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_replayed_events_total",
            "Events found in the disk buffer at start and sent again",
        ),
        |s| s.replayed_events.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_dead_lettered_events_total",
            "Events the sink rejected, written to the dead-letter file",
        ),
        |s| s.dead_lettered_events.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_buffer_corrupt_entries_total",
            "Disk buffer entries (whole batches) that failed their checksum and were skipped",
        ),
        |s| s.corrupt_buffer_entries.get(),
    ),
    (
        Family::counter(
            "cefrelay_sink_filtered_events_total",
            "Events the sink's filter (its own, or [filter] mode) left out",
        ),
        |s| s.filtered_events.get(),
    ),
    (
        Family::gauge(
            "cefrelay_sink_queue_depth",
            "Events buffered for the sink and not yet read by it",
        ),
        |s| s.queue_depth.get(),
    ),
    (
        Family::gauge(
            "cefrelay_sink_unreleased_events",
            "Events the sink has read and sent, held until known to be delivered",
        ),
        |s| s.unreleased_events.get(),
    ),
    (
        Family::gauge(
            "cefrelay_sink_buffered_bytes",
            "Bytes held for the sink, waiting and unreleased",
        ),
        |s| s.buffered_bytes.get(),
    ),
    (
        Family::gauge(
            "cefrelay_sink_buffer_max_bytes",
            "The buffer's bound in bytes (its max_bytes): buffered_bytes over this is how full it is",
        ),
        |s| s.buffer_max_bytes.get(),
    ),
    (
        Family::gauge(
            "cefrelay_sink_buffer_write_failing",
            "1 while the disk buffer cannot write (disk full, I/O error)",
        ),
        |s| s.buffer_write_failing.get(),
    ),
    (
        Family::gauge("cefrelay_sink_connected", "1 while the sink is reachable"),
        |s| s.connected.get(),
    ),
];

/// Computed from `oldest_unix_ms` when rendered.
const OLDEST_EVENT_AGE: Family = Family::gauge(
    "cefrelay_sink_oldest_event_age_seconds",
    "Age of the oldest event buffered and not yet read by the sink",
);
/// `dropped_buffer_full`, `dropped_rejected` and `dropped_write_error`, as three reasons.
const DROPPED_EVENTS: Family = Family::counter(
    "cefrelay_sink_dropped_events_total",
    "Events a sink lost, by reason",
);
/// `name` and `kind`, always 1.
const SINK_INFO: Family = Family::gauge("cefrelay_sink_info", "What each sink is");
const REQUESTS: Family = Family::counter(
    "cefrelay_sink_requests_total",
    "HTTP requests by status (`error`: no response)",
);
const REQUEST_DURATION: Family = Family::histogram(
    "cefrelay_sink_request_duration_seconds",
    "HTTP request latency",
);

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

    /// The buckets, sum and count of one sink's samples; nothing before the first observation.
    fn render(&self, out: &mut String, name: &str, sink: &str) {
        let count = self.buckets[LATENCY_BUCKETS.len()].get();
        if count == 0 {
            return;
        }
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{sink=\"{sink}\",le=\"{bound}\"}} {}",
                bucket.get()
            );
        }
        let _ = writeln!(out, "{name}_bucket{{sink=\"{sink}\",le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.get() as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{sink=\"{sink}\"}} {sum:.6}");
        let _ = writeln!(out, "{name}_count{{sink=\"{sink}\"}} {count}");
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
    /// PAN-OS CSV converted to CEF, by log type in `LogType::ALL` order, then unknown types.
    pub panos_converted: [Counter; PANOS_TYPES],
    /// PAN-OS CSV whose converted CEF did not parse (never expected: the reason is logged).
    pub panos_unconverted: Counter,
    /// PAN-OS CSV dropped under `[panos] csv = "drop"`.
    pub panos_dropped: Counter,
}

/// The rows of `cefrelay_panos_converted_total`: every known log type, and `unknown`.
pub const PANOS_TYPES: usize = LogType::ALL.len() + 1;

impl ParseMetrics {
    /// The counter of PAN-OS CSV of `log_type` (`None`: a type we do not know) converted to CEF.
    pub fn panos_converted(&self, log_type: Option<LogType>) -> &Counter {
        let row = log_type
            .and_then(|t| LogType::ALL.iter().position(|known| *known == t))
            .unwrap_or(LogType::ALL.len());
        &self.panos_converted[row]
    }
}

/// `rfc3164`, `rfc5424` and `no_header`, as three formats.
const PARSED: Family = Family::counter("cefrelay_parsed_total", "Messages by syslog header format");
/// `cef_valid` and `cef_invalid`, as two results.
const CEF: Family = Family::counter(
    "cefrelay_cef_total",
    "Messages carrying a CEF marker, by validity",
);
const INVALID_UTF8: Family =
    Family::counter("cefrelay_invalid_utf8_total", "Messages decoded lossily");
const PANOS_CONVERTED: Family = Family::counter(
    "cefrelay_panos_converted_total",
    "PAN-OS CSV messages converted to CEF, by log type",
);
const PANOS_UNCONVERTED: Family = Family::counter(
    "cefrelay_panos_unconverted_total",
    "PAN-OS CSV messages whose conversion to CEF failed (the reason is logged)",
);
const PANOS_DROPPED: Family = Family::counter(
    "cefrelay_panos_dropped_total",
    "PAN-OS CSV messages dropped because [panos] csv = \"drop\"",
);

/// A reason the filter gives for its decision: a row of `cefrelay_filter_total`.
#[derive(Debug, Clone, Copy)]
pub struct FilterReason {
    pub forwards: bool,
    pub label: &'static str,
}

const FILTER: Family = Family::counter("cefrelay_filter_total", "Agent filter decisions by reason");

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
    pub observer: Arc<super::observe::Observer>,
    /// What the platform rules and the threat enrichment did.
    pub rules: rules::RulesMetrics,
    /// User-ID, when configured.
    pub userid: Arc<userid::UseridMetrics>,
    /// The open `cefrelay tap`s, which the pipeline offers messages to.
    pub tap: super::tap::TapHub,
}

/// `reloads` and `reloads_failed`, as two results.
const CONFIG_RELOADS: Family = Family::counter(
    "cefrelay_config_reloads_total",
    "SIGHUP reloads, by whether they applied",
);

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
            rules: Default::default(),
            userid: Default::default(),
            tap: Default::default(),
        }
    }

    /// The counter of the filter reason at `index` in the list given to [`Self::new`].
    pub fn filter(&self, index: usize) -> &Counter {
        &self.filter[index].1
    }

    /// Every filter decision's label, whether it forwards, and its count.
    pub fn filter_counts(&self) -> Vec<(&'static str, bool, u64)> {
        self.filter
            .iter()
            .map(|(reason, counter)| (reason.label, reason.forwards, counter.get()))
            .collect()
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, udp_kernel_drops: &[(String, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        self.render_listeners(&mut out, udp_kernel_drops);
        self.render_decisions(&mut out);
        self.render_sinks(&mut out);
        self.rules.render(&mut out);
        self.observer.render(&mut out);
        if self.userid.view.get().is_some() {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            self.userid
                .render(&mut out, u64::try_from(now).unwrap_or(0));
        }
        CONFIG_RELOADS.header(&mut out);
        for (result, counter) in [("ok", &self.reloads), ("failed", &self.reloads_failed)] {
            let name = CONFIG_RELOADS.name;
            let _ = writeln!(out, "{name}{{result=\"{result}\"}} {}", counter.get());
        }
        out
    }

    fn render_listeners(&self, out: &mut String, udp_kernel_drops: &[(String, u64)]) {
        for (family, read) in &LISTENER_COUNTERS {
            self.render_per_listener(out, family, *read);
        }
        CONNECTIONS_REJECTED.header(out);
        for l in &self.listeners {
            for (reason, counter) in [
                ("max_connections", &l.connections_rejected),
                ("per_sender_limit", &l.connections_rejected_per_sender),
            ] {
                let _ = writeln!(
                    out,
                    "{}{{listener=\"{}\",reason=\"{reason}\"}} {}",
                    CONNECTIONS_REJECTED.name,
                    l.name,
                    counter.get()
                );
            }
        }
        for (family, counters) in &LISTENER_CLOSE_COUNTERS {
            family.header(out);
            for l in &self.listeners {
                for (reason, counter) in CloseReason::ALL.iter().zip(counters(l)) {
                    let _ = writeln!(
                        out,
                        "{}{{listener=\"{}\",reason=\"{}\"}} {}",
                        family.name,
                        l.name,
                        reason.label(),
                        counter.get()
                    );
                }
            }
        }
        PROXY_HEADERS.header(out);
        for l in &self.listeners {
            for result in ProxyHeaderResult::ALL {
                let _ = writeln!(
                    out,
                    "{}{{listener=\"{}\",result=\"{}\"}} {}",
                    PROXY_HEADERS.name,
                    l.name,
                    result.label(),
                    l.proxy_header(result).get()
                );
            }
        }
        for (family, read) in &LISTENER_GAUGES {
            self.render_per_listener(out, family, *read);
        }
        UDP_KERNEL_DROPS.header(out);
        for (listener, drops) in udp_kernel_drops {
            let name = UDP_KERNEL_DROPS.name;
            let _ = writeln!(out, "{name}{{listener=\"{listener}\"}} {drops}");
        }
        TLS_CERTIFICATE_EXPIRY.header(out);
        for l in &self.listeners {
            let expiry = l.tls_certificate_expiry.get();
            if expiry != 0 {
                let name = TLS_CERTIFICATE_EXPIRY.name;
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {expiry}", l.name);
            }
        }
    }

    fn render_per_listener(&self, out: &mut String, family: &Family, read: ListenerReading) {
        family.header(out);
        for l in &self.listeners {
            let _ = writeln!(
                out,
                "{}{{listener=\"{}\"}} {}",
                family.name,
                l.name,
                read(l)
            );
        }
    }

    /// What the decode stage made of the messages, and what the filter decided.
    fn render_decisions(&self, out: &mut String) {
        PARSED.header(out);
        for (format, counter) in [
            ("rfc3164", &self.parse.rfc3164),
            ("rfc5424", &self.parse.rfc5424),
            ("none", &self.parse.no_header),
        ] {
            let name = PARSED.name;
            let _ = writeln!(out, "{name}{{format=\"{format}\"}} {}", counter.get());
        }
        CEF.header(out);
        for (result, counter) in [
            ("valid", &self.parse.cef_valid),
            ("invalid", &self.parse.cef_invalid),
        ] {
            let name = CEF.name;
            let _ = writeln!(out, "{name}{{result=\"{result}\"}} {}", counter.get());
        }
        INVALID_UTF8.header(out);
        let name = INVALID_UTF8.name;
        let _ = writeln!(out, "{name} {}", self.parse.invalid_utf8.get());
        PANOS_CONVERTED.header(out);
        let types = LogType::ALL.iter().map(|t| t.name()).chain(["unknown"]);
        for (log_type, counter) in types.zip(&self.parse.panos_converted) {
            let name = PANOS_CONVERTED.name;
            let _ = writeln!(out, "{name}{{type=\"{log_type}\"}} {}", counter.get());
        }
        for (family, counter) in [
            (&PANOS_UNCONVERTED, &self.parse.panos_unconverted),
            (&PANOS_DROPPED, &self.parse.panos_dropped),
        ] {
            family.header(out);
            let _ = writeln!(out, "{} {}", family.name, counter.get());
        }
        FILTER.header(out);
        for (reason, counter) in &self.filter {
            let action = if reason.forwards { "forward" } else { "drop" };
            let _ = writeln!(
                out,
                "{}{{action=\"{action}\",reason=\"{}\"}} {}",
                FILTER.name,
                reason.label,
                counter.get()
            );
        }
    }

    fn render_sinks(&self, out: &mut String) {
        for (family, read) in &SINK_READINGS {
            family.header(out);
            for sink in &self.sinks {
                let _ = writeln!(
                    out,
                    "{}{{sink=\"{}\"}} {}",
                    family.name,
                    sink.name,
                    read(sink)
                );
            }
        }
        let now_ms = unix_ms();
        OLDEST_EVENT_AGE.header(out);
        for sink in &self.sinks {
            let oldest = sink.oldest_unix_ms.get();
            let age = if oldest == 0 {
                0.0
            } else {
                now_ms.saturating_sub(oldest) as f64 / 1000.0
            };
            let name = OLDEST_EVENT_AGE.name;
            let _ = writeln!(out, "{name}{{sink=\"{}\"}} {age:.3}", sink.name);
        }
        DROPPED_EVENTS.header(out);
        for sink in &self.sinks {
            for (reason, counter) in [
                ("buffer_full", &sink.dropped_buffer_full),
                ("rejected", &sink.dropped_rejected),
                ("write_error", &sink.dropped_write_error),
            ] {
                let _ = writeln!(
                    out,
                    "{}{{sink=\"{}\",reason=\"{reason}\"}} {}",
                    DROPPED_EVENTS.name,
                    sink.name,
                    counter.get()
                );
            }
        }
        SINK_INFO.header(out);
        for sink in &self.sinks {
            let _ = writeln!(
                out,
                "{}{{sink=\"{}\",type=\"{}\"}} 1",
                SINK_INFO.name, sink.name, sink.kind
            );
        }
        REQUESTS.header(out);
        for sink in &self.sinks {
            let requests = sink.requests.lock().unwrap_or_else(|p| p.into_inner());
            for (status, count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "{}{{sink=\"{}\",status=\"{status}\"}} {count}",
                    REQUESTS.name, sink.name
                );
            }
        }
        REQUEST_DURATION.header(out);
        for sink in &self.sinks {
            sink.request_seconds
                .render(out, REQUEST_DURATION.name, &sink.name);
        }
    }
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
