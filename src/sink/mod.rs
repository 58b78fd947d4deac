//! Where kept events go, one folder per sink: the local agent over TCP or UDP ([`agent`]), the
//! Logs Ingestion API ([`azure_logs`]), Splunk HEC ([`splunk_hec`]) and any HTTP endpoint
//! ([`http_json`]); the HTTP ones share one driver ([`http`]). Each sits behind its own bounded
//! [`crate::buffer`] and takes the events its route lets through.
//!
//! A new HTTP sink type is a folder — its settings and their validation, its [`Encode`], its
//! [`http::service::Service`], tied together by an [`HttpSinkType`] and an [`HttpSinkSettings`]
//! impl — and one line in [`HTTP_SINK_TYPES`].

pub mod agent;
pub mod azure_logs;
pub mod http;
pub mod http_json;
mod json;
pub mod splunk_hec;
#[cfg(test)]
mod test_support;

use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::buffer::{Batch, BufferReader, BufferWriter, NotBuffered};
use crate::config::raw::RawSink;
use crate::config::validate::Validator;
use crate::config::{ConfigError, HttpSink};
use crate::event::Enriched;
use crate::telemetry::metrics::SinkMetrics;
use crate::telemetry::observe::Observer;
use http::service::Service;
use http::HttpSinkTask;

/// Every HTTP sink type, as `[[sink]] type = "…"` names it. A new one is its folder and a line here.
pub const HTTP_SINK_TYPES: [HttpSinkType; 3] =
    [azure_logs::SINK, splunk_hec::SINK, http_json::SINK];

/// How one output writes each event into its batch: the agent's syslog line, or one JSON record
/// per line for the HTTP sinks (JSON escapes every LF inside a value, so LF separates records).
pub trait Encode: fmt::Debug + Send + Sync {
    /// Appends one event with its record separator (or nothing, for an event this output
    /// cannot carry).
    fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut);
}

/// What the configuration and the app need to know of an HTTP sink type.
pub struct HttpSinkType {
    /// Its `type` in `[[sink]]`.
    pub name: &'static str,
    /// The keys that only some sink types take and this one does.
    pub keys: &'static [&'static str],
    /// Its own keys of a `[[sink]]` table, validated; `key` names a key of that table.
    pub validate: ValidateSettings,
    /// The far end's limit on one request's uncompressed body, and how to say it, if it has one.
    pub max_batch_bytes: Option<(usize, &'static str)>,
    pub gzip: Gzip,
}

/// [`HttpSinkType::validate`].
pub type ValidateSettings = fn(
    &Validator<'_>,
    &dyn Fn(&str) -> String,
    &RawSink,
) -> Result<Arc<dyn HttpSinkSettings>, ConfigError>;

/// Whether a sink type compresses its requests when `gzip` is not set.
pub enum Gzip {
    Off,
    On,
    /// Always, and `gzip = false` is refused with this reason.
    Always(&'static str),
}

/// One HTTP sink's own settings, validated: how it encodes and how it delivers.
pub trait HttpSinkSettings: fmt::Debug + Send + Sync + Any + ComparableSettings {
    fn sink_type(&self) -> &'static HttpSinkType;
    fn encoder(&self) -> Arc<dyn Encode>;
    /// Its delivery task: `config` (the settings all HTTP sinks share) with this sink's service.
    fn delivery(
        &self,
        config: HttpSink,
        client: reqwest::Client,
        parts: DeliveryParts<'_>,
    ) -> Box<dyn HttpDelivery>;
}

/// For telling a changed configuration on SIGHUP: equal settings of the same type. Every
/// `PartialEq` settings type has it, through the blanket impl below.
pub trait ComparableSettings {
    fn same_as(&self, other: &dyn HttpSinkSettings) -> bool;
    fn as_any(&self) -> &dyn Any;
}

impl<T: HttpSinkSettings + PartialEq> ComparableSettings for T {
    fn same_as(&self, other: &dyn HttpSinkSettings) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What every HTTP delivery needs besides its settings.
pub struct DeliveryParts<'a> {
    pub state_dir: &'a Path,
    pub observer: Arc<Observer>,
    pub sink: Arc<SinkMetrics>,
}

impl<'a> DeliveryParts<'a> {
    /// The driver with `service` for `config`.
    pub fn task<S: Service>(
        self,
        config: HttpSink,
        service: S,
        client: reqwest::Client,
    ) -> Box<dyn HttpDelivery> {
        Box::new(HttpSinkTask::new(
            config,
            service,
            client,
            self.state_dir,
            self.observer,
            self.sink,
        ))
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
    parts: DeliveryParts<'_>,
) -> anyhow::Result<Box<dyn HttpDelivery>> {
    let client = http::client(config)?;
    Ok(config.kind.delivery(config.clone(), client, parts))
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
            let batch = batch.take();
            if batch.events == 0 {
                any_open = true;
                continue;
            }
            // A batch dropped under `drop_newest` is counted; only a stopped sink ends the reader.
            any_open |= writer.push(batch).await != Err(NotBuffered::Closed);
        }
        any_open
    }

    /// Never waits (UDP): returns how many events the fullest sink had to drop for want of room
    /// (a sink that has stopped takes nothing, but then the listeners are stopping too).
    pub fn try_send(&self, batches: &mut [Batch]) -> u64 {
        let mut dropped = 0;
        for (writer, batch) in self.writers.iter().zip(batches) {
            let batch = batch.take();
            let events = batch.events;
            if events > 0 && writer.try_push(batch) == Err(NotBuffered::Dropped) {
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
