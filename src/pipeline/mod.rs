//! What happens to every frame between a listener and the sink queue: parse, count, filter, encode.
//! It runs inside the connection (or UDP socket) task that read the frame, so the work spreads over
//! as many cores as there are senders, and only whole batches cross to the sink task.

pub mod filter;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use bytes::BytesMut;
use cefrelay_syslog::{Format, ParseOptions};
use time::OffsetDateTime;

use crate::config::{Config, FilterMode};
use crate::event::Event;
use crate::sink::encode::{Encoder, Origin, RecordEncoder};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::observe::Seen;
use crate::telemetry::RateLimited;
use filter::Decision;

/// One warning per interval about frames that are not UTF-8; the rest are counted.
static INVALID_UTF8_WARNING: RateLimited = RateLimited::new(10);

/// Encoded messages on their way to the sink. Batches, not single messages, cross task boundaries.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: BytesMut,
    pub events: u64,
    /// Markers of the troubleshooter's mock messages in this batch (almost always none).
    pub mock_markers: Vec<String>,
}

/// A batch is handed to the sink once it holds this many events or bytes.
pub const BATCH_MAX_EVENTS: u64 = 256;
pub const BATCH_MAX_BYTES: usize = 64 * 1024;

impl Batch {
    pub fn is_full(&self) -> bool {
        self.events >= BATCH_MAX_EVENTS || self.data.len() >= BATCH_MAX_BYTES
    }
}

/// One batch per sink: they go out together as soon as any of them is full.
pub fn any_full(batches: &[Batch]) -> bool {
    batches.iter().any(Batch::is_full)
}

pub fn any_events(batches: &[Batch]) -> bool {
    batches.iter().any(|batch| batch.events > 0)
}

pub struct Pipeline {
    /// Swapped by a SIGHUP reload while frames flow, hence an atomic.
    filter: AtomicU8,
    /// One per sink, in sink order.
    encoders: Vec<RecordEncoder>,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        let mut encoders = Vec::new();
        if config.forward.enabled {
            encoders.push(RecordEncoder::Agent(Encoder {
                format: config.forward.format,
                framing: config.forward.framing,
                agent: config.forward.agent,
            }));
        }
        encoders.extend(config.sinks.iter().map(RecordEncoder::for_sink));
        Pipeline {
            filter: AtomicU8::new(config.filter as u8),
            encoders,
            metrics,
        }
    }

    pub fn filter(&self) -> FilterMode {
        FilterMode::ALL
            .into_iter()
            .find(|mode| *mode as u8 == self.filter.load(Relaxed))
            .unwrap_or(FilterMode::Cef)
    }

    pub fn set_filter(&self, mode: FilterMode) {
        self.filter.store(mode as u8, Relaxed);
    }

    /// Parses one frame and, if the filter keeps it, appends it to each sink's batch.
    pub fn process(
        &self,
        frame: &[u8],
        peer: std::net::IpAddr,
        received_at: OffsetDateTime,
        batches: &mut [Batch],
    ) {
        // `from_utf8` first: it is much faster than `from_utf8_lossy` on the valid text that
        // nearly every frame is.
        let (text, lossy) = match std::str::from_utf8(frame) {
            Ok(text) => (Cow::Borrowed(text), false),
            Err(_) => (String::from_utf8_lossy(frame), true),
        };
        let options = ParseOptions::new(received_at);
        let event = Event::parse(&text, lossy, &options);

        let parse = &self.metrics.parse;
        match event.syslog.format {
            Format::Rfc3164 => parse.rfc3164.inc(),
            Format::Rfc5424 => parse.rfc5424.inc(),
            Format::None => parse.no_header.inc(),
        }
        match &event.cef {
            Some(Ok(_)) => parse.cef_valid.inc(),
            Some(Err(_)) => parse.cef_invalid.inc(),
            None => {}
        }
        if lossy {
            parse.invalid_utf8.inc();
            if let Some(held_back) = INVALID_UTF8_WARNING.allow() {
                let valid_up_to = std::str::from_utf8(frame).err().map(|e| e.valid_up_to());
                tracing::warn!(
                    %peer,
                    len = frame.len(),
                    valid_up_to,
                    held_back,
                    "frame is not valid UTF-8: decoded lossily, invalid bytes as U+FFFD"
                );
            }
        }

        let decision = filter::decide(self.filter(), &event, &text);
        self.metrics.filter(decision).inc();
        if decision != Decision::ForwardMock {
            // Per-sender counts describe the real senders, not the troubleshooter's own probes.
            self.metrics.observer.message(
                peer,
                &Seen {
                    cef_valid: event.valid_cef().is_some(),
                    panos_csv: cefrelay_panos::looks_like_csv(event.syslog.msg),
                    decision,
                },
            );
        } else {
            let marker = event.syslog.hostname.unwrap_or_default();
            self.metrics.observer.mock_forwarded(marker);
            for batch in batches.iter_mut() {
                batch.mock_markers.push(marker.to_string());
            }
        }
        if decision.forwards() {
            let origin = Origin { peer, received_at };
            for (encoder, batch) in self.encoders.iter().zip(batches.iter_mut()) {
                encoder.encode(&event, frame, &text, origin, &mut batch.data);
                batch.events += 1;
            }
        }
    }
}
