//! Where kept events go, one folder per sink: the local agent over TCP or UDP ([`agent`]), the
//! Logs Ingestion API ([`azure_logs`]), Splunk HEC ([`splunk_hec`]) and any HTTP endpoint
//! ([`http_json`]); the HTTP ones share one driver ([`http`]). Each sits behind its own bounded
//! [`crate::buffer`] and takes the events its route lets through.
//!
//! A new HTTP sink type is a folder (its settings and their validation, its encoder, its
//! [`http::service::Service`]) registered here: a variant of [`HttpSinkKind`] (in config) and an arm
//! in each of [`SinkEncoder::for_http`] and [`http_delivery`].

pub mod agent;
pub mod azure_logs;
pub mod http;
pub mod http_json;
mod json;
pub mod splunk_hec;
#[cfg(test)]
mod test_support;

use std::path::Path;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::buffer::{Batch, BufferReader, BufferWriter, NotBuffered};
use crate::config::{HttpSink, HttpSinkKind};
use crate::event::Enriched;
use crate::telemetry::metrics::SinkMetrics;
use crate::telemetry::observe::Observer;
use http::service::Service;
use http::HttpSinkTask;

/// How one sink wants each event: the agent's syslog line, or one JSON record per line for the
/// HTTP sinks (JSON escapes every LF inside a value, so LF separates records safely).
#[derive(Debug, Clone)]
pub enum SinkEncoder {
    Agent(agent::encoder::Encoder),
    /// A CommonSecurityLog row for the Logs Ingestion API.
    CommonSecurityLog,
    SplunkHec(splunk_hec::encoder::HecOptions),
    /// The `cefrelay parse` shape.
    EventJson,
}

impl SinkEncoder {
    pub fn for_http(sink: &HttpSink) -> Self {
        match &sink.kind {
            HttpSinkKind::AzureLogsIngestion(_) => SinkEncoder::CommonSecurityLog,
            HttpSinkKind::SplunkHec(settings) => SinkEncoder::SplunkHec(settings.envelope.clone()),
            HttpSinkKind::Http(_) => SinkEncoder::EventJson,
        }
    }

    /// Appends one event.
    pub fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut) {
        match self {
            SinkEncoder::Agent(encoder) => {
                return encoder.encode(event.event, event.received, event.origin, out)
            }
            SinkEncoder::CommonSecurityLog => azure_logs::encoder::write_csl(event, out),
            // HEC answers 400 to a blank `event` and would reject the whole request with it:
            // an event with nothing in it is left out rather than take its batch down.
            SinkEncoder::SplunkHec(_) if event.text.trim().is_empty() => return,
            SinkEncoder::SplunkHec(options) => splunk_hec::encoder::write_hec(event, options, out),
            SinkEncoder::EventJson => http_json::encoder::write_event_json(event, out),
        }
        out.put_u8(b'\n');
    }
}

/// An HTTP sink's delivery task, whatever its type.
pub trait HttpDelivery: Send {
    fn spawn(self: Box<Self>, buffer: BufferReader, abort: CancellationToken) -> JoinHandle<()>;
}

impl<S: Service> HttpDelivery for HttpSinkTask<S> {
    fn spawn(self: Box<Self>, buffer: BufferReader, abort: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(buffer, abort))
    }
}

/// Builds an HTTP sink's delivery: its client (fails on an unusable CA file) and its service.
pub fn http_delivery(
    config: &HttpSink,
    state_dir: &Path,
    observer: Arc<Observer>,
    sink: Arc<SinkMetrics>,
) -> anyhow::Result<Box<dyn HttpDelivery>> {
    let client = http::client(config)?;
    let config = config.clone();
    Ok(match &config.kind {
        HttpSinkKind::AzureLogsIngestion(settings) => {
            let service = azure_logs::service::AzureLogs::new(settings, client.clone());
            Box::new(HttpSinkTask::new(
                config, service, client, state_dir, observer, sink,
            ))
        }
        HttpSinkKind::SplunkHec(settings) => {
            let service = splunk_hec::service::SplunkHec::new(settings, client.clone());
            Box::new(HttpSinkTask::new(
                config, service, client, state_dir, observer, sink,
            ))
        }
        HttpSinkKind::Http(settings) => {
            let service = http_json::service::HttpJson::new(settings);
            Box::new(HttpSinkTask::new(
                config, service, client, state_dir, observer, sink,
            ))
        }
    })
}

/// The listener side of every sink's buffer, in sink order (the order of the pipeline's encoders).
pub struct Sinks {
    writers: Vec<BufferWriter>,
}

impl Sinks {
    pub fn new(writers: Vec<BufferWriter>) -> Self {
        Sinks { writers }
    }

    /// One empty batch per sink.
    pub fn batches(&self) -> Vec<Batch> {
        self.writers.iter().map(|_| Batch::default()).collect()
    }

    /// Hands each sink its batch, waiting for room where a sink's buffer blocks (this is the
    /// backpressure on TCP readers). False once every sink has stopped.
    pub async fn send(&self, batches: &mut [Batch]) -> bool {
        let mut any_open = false;
        for (writer, batch) in self.writers.iter().zip(batches) {
            let batch = std::mem::take(batch);
            if batch.events == 0 {
                any_open = true;
                continue;
            }
            // A batch dropped under `drop_newest` is counted; only a stopped sink ends the reader.
            any_open |= writer.push(batch).await != Err(NotBuffered::Closed);
        }
        any_open
    }

    /// Never waits (UDP): returns how many events the fullest sink had to drop.
    pub fn try_send(&self, batches: &mut [Batch]) -> u64 {
        let mut dropped = 0;
        for (writer, batch) in self.writers.iter().zip(batches) {
            let batch = std::mem::take(batch);
            let events = batch.events;
            if events > 0 && writer.try_push(batch).is_err() {
                dropped = dropped.max(events);
            }
        }
        dropped
    }
}

impl Drop for Sinks {
    /// The last listener task is gone: the sinks drain what is buffered and stop.
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Origin};
    use cefrelay_syslog::ParseOptions;

    #[test]
    fn hec_leaves_out_a_blank_message_and_keeps_the_others() {
        let received_at = time::macros::datetime!(2026-11-22 10:00:00 UTC);
        let options = ParseOptions::new(received_at);
        let origin = Origin {
            peer: "192.0.2.7".parse().expect("ip"),
            received_at,
        };
        let hec = SinkEncoder::SplunkHec(splunk_hec::encoder::HecOptions::default());
        let mut out = BytesMut::new();
        for text in ["  ", "<14>Nov 22 10:00:00 fw CEF:0|V|P|1|2|N|3|a=b"] {
            let event = Event::parse(text, false, &options);
            let enriched = Enriched {
                event: &event,
                received: text.as_bytes(),
                text,
                origin,
                added: &[],
            };
            hec.encode(&enriched, &mut out);
        }
        let text = String::from_utf8(out.to_vec()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("CEF:0|V|P"), "{text}");
    }
}
