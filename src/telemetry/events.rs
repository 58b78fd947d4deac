//! Internal events: one struct per thing that happened and is worth a counter, a log line, or
//! both. Its `emit` does the whole of it, so the call site is one line and the counter, the
//! message and the rate limit cannot drift apart:
//!
//! ```ignore
//! events::FrameOversized { peer, len, max }.emit(metrics);
//! ```
//!
//! Writing one (the sink side follows the same pattern):
//! - Name the struct for what happened (`TlsHandshakeFailed`), not for the log level.
//! - Its fields are the log line's fields, borrowed when they are not `Copy`.
//! - `emit(&self, metrics)` takes the metrics it counts into (`&ListenerMetrics`,
//!   `&SinkMetrics`, …; none when it only logs), counts first, then logs if its limiter lets the
//!   line through, with `held_back` (the lines the limiter swallowed since the last one).
//! - The limiter is a `static RateLimited` just above the struct: a flood of bad input or
//!   failing writes must not flood the log. Events that share one budget share one static, said
//!   on the static; keep it so, since splitting one would let more lines through.
//! - Log fields first, then the message. Operators search for these messages and field names:
//!   change them only on purpose.
//!
//! Every line's `tracing` target is this module, `cefrelay::telemetry::events`, whichever module
//! emits it: that is the name a log filter uses to quiet them. Where it happened is in the span
//! around the call (`connection{peer=…}`) and the fields.

use std::io;
use std::net::{IpAddr, SocketAddr};

use cefrelay_wal::AppendError;

use super::metrics::{CloseReason, ListenerMetrics, ParseMetrics, ProxyHeaderResult, SinkMetrics};
use super::RateLimited;

// ---------------------------------------------------------------------------------------------
// Sources: bad frames.

static MALFORMED_WARNING: RateLimited = RateLimited::new(10);

/// Bytes on a TCP/TLS connection that are not a frame in the listener's framing; skipped up to
/// the next LF or NUL.
pub struct FrameMalformed {
    pub peer: SocketAddr,
    pub reason: &'static str,
}

impl FrameMalformed {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.malformed.inc();
        if let Some(held_back) = MALFORMED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, reason = self.reason, held_back, "malformed frame skipped");
        }
    }
}

/// Shared by [`FrameOversized`] and [`DatagramOversized`]: one budget for oversized input.
static OVERSIZED_WARNING: RateLimited = RateLimited::new(10);

/// A TCP/TLS frame longer than `max_message_bytes`; the decoder skips the rest of it.
pub struct FrameOversized {
    pub peer: SocketAddr,
    pub len: usize,
    pub max: usize,
}

impl FrameOversized {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.oversized.inc();
        if let Some(held_back) = OVERSIZED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, len = self.len, max = self.max, held_back, "oversized frame skipped");
        }
    }
}

/// A UDP datagram longer than `max_message_bytes`, dropped whole (its length is not known: the
/// receive buffer holds one byte more than allowed).
pub struct DatagramOversized {
    pub peer: SocketAddr,
    pub max: usize,
}

impl DatagramOversized {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.oversized.inc();
        if let Some(held_back) = OVERSIZED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, max = self.max, held_back, "oversized datagram dropped");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sources: connections.

static HANDSHAKE_WARNING: RateLimited = RateLimited::new(10);

/// A TLS handshake that failed or timed out; the connection is closed.
pub struct TlsHandshakeFailed<'a> {
    pub peer: SocketAddr,
    pub error: &'a io::Error,
}

impl TlsHandshakeFailed<'_> {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.tls_handshake_failures.inc();
        if let Some(held_back) = HANDSHAKE_WARNING.allow() {
            tracing::warn!(peer = %self.peer, error = %self.error, held_back, "TLS handshake failed");
        }
    }
}

/// Shared by the PROXY protocol refusals: one budget, so that a misconfigured balancer or a scan
/// cannot flood the log.
static PROXY_WARNING: RateLimited = RateLimited::new(10);

/// A connection on a PROXY protocol listener from an address outside `trusted_proxies` that sent
/// a header (which anyone could forge), or sent anything at all where the header is required;
/// closed.
pub struct ProxyHeaderUntrusted {
    pub peer: SocketAddr,
    /// Whether it opened with a header (else it was refused for its address alone).
    pub sent_header: bool,
}

impl ProxyHeaderUntrusted {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.proxy_header(ProxyHeaderResult::Untrusted).inc();
        if let Some(held_back) = PROXY_WARNING.allow() {
            tracing::warn!(peer = %self.peer, sent_header = self.sent_header, held_back, "connection closed: not from an address in trusted_proxies");
        }
    }
}

/// A trusted balancer's connection that did not open with a PROXY header, on a listener that
/// requires one; closed.
pub struct ProxyHeaderMissing {
    pub peer: SocketAddr,
}

impl ProxyHeaderMissing {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.proxy_header(ProxyHeaderResult::Missing).inc();
        if let Some(held_back) = PROXY_WARNING.allow() {
            tracing::warn!(peer = %self.peer, held_back, "connection closed: no PROXY protocol header (proxy_protocol_optional = false)");
        }
    }
}

/// A PROXY header that is not one the listener takes (bad signature or syntax, the other
/// version, too long, cut short); closed.
pub struct ProxyHeaderMalformed<'a> {
    pub peer: SocketAddr,
    pub reason: &'a str,
}

impl ProxyHeaderMalformed<'_> {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.proxy_header(ProxyHeaderResult::Malformed).inc();
        if let Some(held_back) = PROXY_WARNING.allow() {
            tracing::warn!(peer = %self.peer, reason = self.reason, held_back, "connection closed: malformed PROXY protocol header");
        }
    }
}

/// A PROXY header not complete within `proxy_header_timeout_secs`; closed.
pub struct ProxyHeaderTimedOut {
    pub peer: SocketAddr,
    pub timeout_secs: u64,
}

impl ProxyHeaderTimedOut {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.proxy_header(ProxyHeaderResult::Timeout).inc();
        if let Some(held_back) = PROXY_WARNING.allow() {
            tracing::warn!(peer = %self.peer, proxy_header_timeout_secs = self.timeout_secs, held_back, "connection closed: PROXY protocol header not received in time");
        }
    }
}

/// Shared by [`ConnectionRefusedPerSender`] and [`ConnectionRefusedAllBusy`]: one budget for
/// refused connections, so a flood of connections cannot flood the log.
static REFUSED_WARNING: RateLimited = RateLimited::new(10);

/// A connection refused: its sender already holds `max_connections_per_sender`.
pub struct ConnectionRefusedPerSender {
    pub peer: SocketAddr,
    pub max: usize,
}

impl ConnectionRefusedPerSender {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.connections_rejected_per_sender.inc();
        if let Some(held_back) = REFUSED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, max = self.max, held_back, "connection refused: max_connections_per_sender reached for this sender");
        }
    }
}

/// A connection refused at `max_connections`: every open connection is busy, none can make room.
pub struct ConnectionRefusedAllBusy {
    pub peer: SocketAddr,
    pub max: usize,
}

impl ConnectionRefusedAllBusy {
    pub fn emit(&self, metrics: &ListenerMetrics) {
        metrics.connections_rejected.inc();
        if let Some(held_back) = REFUSED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, max = self.max, held_back, "connection refused: max_connections reached and every connection is busy");
        }
    }
}

static EVICTED_WARNING: RateLimited = RateLimited::new(10);

/// At `max_connections`, the longest-idle connection was closed to admit the one from `peer`.
/// Only logged: the evicted connection's own task counts its close.
pub struct IdleConnectionEvicted {
    /// The new connection that was let in (the log line says `admitted`, not `peer`: the peer
    /// of the closed connection is another one).
    pub peer: SocketAddr,
    pub max: usize,
}

impl IdleConnectionEvicted {
    pub fn emit(&self) {
        if let Some(held_back) = EVICTED_WARNING.allow() {
            tracing::warn!(admitted = %self.peer, max = self.max, held_back, "max_connections reached: the longest-idle connection was closed to admit a new one");
        }
    }
}

static FRAME_TIMEOUT_WARNING: RateLimited = RateLimited::new(10);

/// A connection closed because a frame begun was not completed within `frame_timeout_secs`.
/// Only logged: the close is counted with every other close, by reason.
pub struct FrameTimedOut {
    pub peer: SocketAddr,
    pub frame_timeout_secs: u64,
}

impl FrameTimedOut {
    pub fn emit(&self) {
        if let Some(held_back) = FRAME_TIMEOUT_WARNING.allow() {
            tracing::warn!(peer = %self.peer, frame_timeout_secs = self.frame_timeout_secs, held_back, "connection closed: a frame begun was not completed in time");
        }
    }
}

static ABANDONED_WARNING: RateLimited = RateLimited::new(10);

/// The relay closed a connection with bytes that never became a frame: the start of one in the
/// read buffer, and what was still waiting in the kernel.
pub struct BytesAbandoned {
    pub peer: SocketAddr,
    pub reason: CloseReason,
    pub unfinished_frame_bytes: usize,
    pub unread_bytes: u64,
}

impl BytesAbandoned {
    /// Nothing thrown away is nothing to count or say.
    pub fn emit(&self, metrics: &ListenerMetrics) {
        let abandoned = self.unfinished_frame_bytes as u64 + self.unread_bytes;
        if abandoned == 0 {
            return;
        }
        metrics.abandoned(self.reason).add(abandoned);
        if let Some(held_back) = ABANDONED_WARNING.allow() {
            tracing::warn!(peer = %self.peer, reason = self.reason.label(), unfinished_frame_bytes = self.unfinished_frame_bytes, unread_bytes = self.unread_bytes, held_back, "connection closed with bytes that never became a frame");
        }
    }
}

static ACCEPT_WARNING: RateLimited = RateLimited::new(10);

/// `accept` failed (EMFILE and friends); the listener pauses and goes on. Only logged.
pub struct AcceptFailed<'a> {
    pub error: &'a io::Error,
    /// Out of descriptors, the longest-idle connection was closed to free one.
    pub evicted_longest_idle: bool,
}

impl AcceptFailed<'_> {
    pub fn emit(&self) {
        if let Some(held_back) = ACCEPT_WARNING.allow() {
            tracing::warn!(error = %self.error, evicted_longest_idle = self.evicted_longest_idle, held_back, "accept failed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decode.

static INVALID_UTF8_WARNING: RateLimited = RateLimited::new(10);

/// A frame that is not valid UTF-8, decoded lossily (invalid bytes as U+FFFD) and kept.
pub struct FrameNotUtf8 {
    pub peer: IpAddr,
    pub len: usize,
    pub valid_up_to: usize,
}

impl FrameNotUtf8 {
    pub fn emit(&self, parse: &ParseMetrics) {
        parse.invalid_utf8.inc();
        if let Some(held_back) = INVALID_UTF8_WARNING.allow() {
            tracing::warn!(
                peer = %self.peer,
                len = self.len,
                valid_up_to = self.valid_up_to,
                held_back,
                "frame is not valid UTF-8: decoded lossily, invalid bytes as U+FFFD"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Buffer.

/// Shared by [`BufferBatchNotWritten`], [`BufferFsyncFailed`] and [`BufferDeliveryNotRecorded`]:
/// one budget for a disk buffer's I/O errors, which come in bursts from the same cause.
static DISK_ERROR: RateLimited = RateLimited::new(10);

/// The disk buffer could not take a batch (an I/O error that is not waited out, or an entry that
/// can never fit): the batch is dropped.
pub struct BufferBatchNotWritten<'a> {
    pub error: &'a AppendError,
    pub events: u64,
}

impl BufferBatchNotWritten<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        metrics.dropped_write_error.add(self.events);
        if let Some(held_back) = DISK_ERROR.allow() {
            tracing::error!(sink = %metrics.name, error = %self.error, events = self.events, held_back, "cannot write to the disk buffer; batch dropped");
        }
    }
}

/// The periodic fsync of a disk buffer failed; the next one tries again. Only logged.
pub struct BufferFsyncFailed<'a> {
    pub sink: &'a str,
    pub error: &'a io::Error,
}

impl BufferFsyncFailed<'_> {
    pub fn emit(&self) {
        if let Some(held_back) = DISK_ERROR.allow() {
            tracing::error!(sink = %self.sink, error = %self.error, held_back, "fsync of the disk buffer failed");
        }
    }
}

/// The disk buffer could not record what was delivered; the next acknowledgement tries again.
/// Only logged.
pub struct BufferDeliveryNotRecorded<'a> {
    pub error: &'a io::Error,
}

impl BufferDeliveryNotRecorded<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        if let Some(held_back) = DISK_ERROR.allow() {
            tracing::error!(sink = %metrics.name, error = %self.error, held_back, "cannot record delivery in the disk buffer; delivered events may be sent again after a restart");
        }
    }
}

static CANNOT_WRITE: RateLimited = RateLimited::new(10);

/// The disk refused a write (full, I/O error): the sink is degraded, with the reason on
/// `/health`, until a write succeeds ([`BufferWritesAgain`]).
pub struct BufferCannotWrite<'a> {
    pub error: &'a io::Error,
}

impl BufferCannotWrite<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        let reason = self.error.to_string();
        {
            let mut current = metrics
                .buffer_error
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *current != reason {
                *current = reason;
            }
        }
        metrics.buffer_write_failing.set(1);
        // Rate-limited, transitions included: while a disk refills as fast as it drains, the
        // state flips many times a second. The gauge and /health tell the current state.
        if let Some(held_back) = CANNOT_WRITE.allow() {
            tracing::error!(sink = %metrics.name, error = %self.error, held_back, "the disk buffer cannot write: under when_full = \"block\" TCP input waits until it can; UDP input is dropped and counted");
        }
    }
}

static WRITES_AGAIN: RateLimited = RateLimited::new(10);

/// A write succeeded after [`BufferCannotWrite`]: the sink is no longer degraded.
pub struct BufferWritesAgain;

impl BufferWritesAgain {
    pub fn emit(&self, metrics: &SinkMetrics) {
        metrics.buffer_write_failing.set(0);
        if let Some(held_back) = WRITES_AGAIN.allow() {
            tracing::info!(sink = %metrics.name, held_back, "the disk buffer writes again");
        }
    }
}

static PANOS_WARNING: RateLimited = RateLimited::new(10);

/// A PAN-OS CSV line was converted to a CEF record that the CEF parser refused: a gap in the
/// conversion (never expected), so the line goes on as what it was, not CEF.
pub struct PanosNotConverted<'a> {
    pub peer: IpAddr,
    pub error: &'a cefrelay_cef::CefError,
}

impl PanosNotConverted<'_> {
    pub fn emit(&self, metrics: &ParseMetrics) {
        metrics.panos_unconverted.inc();
        if let Some(held_back) = PANOS_WARNING.allow() {
            tracing::warn!(peer = %self.peer, error = %self.error, held_back, "PAN-OS CSV not converted: the CEF made of it does not parse");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sinks.

static RETRY_WARNING: RateLimited = RateLimited::new(10);

/// An HTTP request failed and waits to be sent again (5xx, 429, a connection error, …).
pub struct HttpRequestRetried<'a> {
    pub sink: &'a str,
    pub reason: &'a str,
    pub attempt: u32,
    pub retry_in: std::time::Duration,
}

impl HttpRequestRetried<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        metrics.retries.inc();
        metrics.connected.set(0);
        if let Some(held_back) = RETRY_WARNING.allow() {
            tracing::warn!(sink = %self.sink, reason = self.reason, attempt = self.attempt, retry_in_ms = self.retry_in.as_millis() as u64, held_back, "request failed; will retry");
        }
    }
}

static REJECT_WARNING: RateLimited = RateLimited::new(10);

/// The far end rejected a batch for good (400, 403, a record too large): its records go to the
/// dead-letter file, or are dropped and counted when that is full or cannot be written.
pub struct HttpBatchRejected<'a> {
    pub sink: &'a str,
    pub status: reqwest::StatusCode,
    pub reason: &'a str,
    pub events: u64,
    pub dead_letter: &'a std::path::Path,
    pub dead_lettered: bool,
}

impl HttpBatchRejected<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        if self.dead_lettered {
            metrics.dead_lettered_events.add(self.events);
        } else {
            metrics.dropped_rejected.add(self.events);
        }
        if let Some(held_back) = REJECT_WARNING.allow() {
            if self.dead_lettered {
                tracing::error!(sink = %self.sink, status = %self.status, reason = self.reason, events = self.events, dead_letter = %self.dead_letter.display(), held_back, "the far end rejected a batch; written to the dead-letter file, not retried");
            } else {
                tracing::error!(sink = %self.sink, status = %self.status, reason = self.reason, events = self.events, dead_letter = %self.dead_letter.display(), held_back, "the far end rejected a batch and the dead-letter file could not take it (full with no rotation, larger than a file, or not writable): dropped and counted in cefrelay_sink_dropped_events_total{{reason=\"rejected\"}}, not retried");
            }
        }
    }
}

static UDP_SEND_WARNING: RateLimited = RateLimited::new(10);

/// A datagram to the agent could not be sent (ICMP port unreachable while it is down): the
/// message is gone, which is why TCP is the default.
pub struct AgentUdpSendFailed<'a> {
    pub error: &'a io::Error,
    pub address: SocketAddr,
}

impl AgentUdpSendFailed<'_> {
    pub fn emit(&self, metrics: &SinkMetrics) {
        metrics.send_errors.inc();
        if let Some(held_back) = UDP_SEND_WARNING.allow() {
            tracing::warn!(error = %self.error, address = %self.address, held_back, "UDP send to the agent failed; message lost");
        }
    }
}

static QUEUE_QUERY_WARNING: RateLimited = RateLimited::new(1);

/// The kernel could not say what the agent's connection has queued (sock_diag): written batches
/// wait for the kernels' whole buffers to be written behind them instead.
pub struct AgentQueuesUnreadable<'a> {
    pub error: &'a io::Error,
}

impl AgentQueuesUnreadable<'_> {
    pub fn emit(&self) {
        if let Some(held_back) = QUEUE_QUERY_WARNING.allow() {
            tracing::warn!(error = %self.error, held_back, "cannot ask the kernel about the agent connection's queues");
        }
    }
}

/// The filter dropped PAN-OS TRAFFIC, or a line without CEF, from a sender for the first time:
/// by design (the agent filter), but a Sentinel admin moving off the rsyslog rule, which
/// forwarded both, would not know. Once per sender and kind, so no limiter.
pub struct FirstDropFromSender {
    pub peer: IpAddr,
    /// PAN-OS TRAFFIC; otherwise a line without CEF.
    pub traffic: bool,
    /// The filter that dropped it, as the configuration spells it.
    pub filter: &'static str,
}

impl FirstDropFromSender {
    pub fn emit(&self) {
        let (peer, filter) = (self.peer, self.filter);
        if self.traffic {
            tracing::warn!(
                %peer, filter,
                "dropping PAN-OS TRAFFIC from this sender, as filter = \"{filter}\" does (the agent gets threats, not sessions); filter = \"cef-all\" forwards TRAFFIC (said once per sender)"
            );
        } else {
            tracing::warn!(
                %peer, filter,
                "dropping this sender's lines without CEF, as filter = \"{filter}\" does (e.g. Cisco ASA, or PAN-OS CSV with [panos] csv = \"keep\"); filter = \"legacy\" forwards ASA as the old rsyslog rule did, \"all\" everything (said once per sender)"
            );
        }
    }
}
