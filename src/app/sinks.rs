//! The sinks, built once from the configuration, in one order everywhere (the agent forward
//! first, then the `[[sink]]`s): for each, its metrics, what the pipeline needs of it (route and
//! encoder), the listener side of its buffer, and the task that delivers from the other side.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Refused;
use crate::buffer::{self, BufferReader, BufferWriter};
use crate::config::{BufferConfig, BufferKind, Config, Forward, Protocol, AGENT_SINK_NAME};
use crate::pipeline::route::Route;
use crate::pipeline::SinkStage;
use crate::sink::agent::encoder::Encoder;
use crate::sink::agent::tcp::AgentSink;
use crate::sink::agent::udp;
use crate::sink::{http_delivery, DeliveryParts, HttpDelivery};
use crate::telemetry::metrics::{Metrics, SinkMetrics};

/// One sink, ready to run.
pub struct BuiltSink {
    pub stage: SinkStage,
    pub writer: BufferWriter,
    pub on_disk: bool,
    pub delivery: Delivery,
}

/// The task that takes a sink's batches from its buffer to the far end.
pub enum Delivery {
    AgentTcp(AgentSink),
    AgentUdp(Forward, Arc<SinkMetrics>, BufferReader),
    Http(Box<dyn HttpDelivery>, BufferReader),
}

/// Every sink's name and kind, for its metrics, in sink order.
pub fn metrics(config: &Config) -> Vec<SinkMetrics> {
    let mut sinks = Vec::new();
    if config.forward.enabled {
        let address = config
            .forward
            .addresses
            .first()
            .map_or_else(String::new, |a| a.to_string());
        let kind = format!("agent {}://{address}", config.forward.protocol);
        let metrics = SinkMetrics::new(AGENT_SINK_NAME, &kind);
        metrics
            .buffer_max_bytes
            .set(max_bytes(&config.forward.buffer));
        sinks.push(metrics);
    }
    for sink in &config.sinks {
        let metrics = SinkMetrics::new(&sink.name, sink.type_name());
        metrics.buffer_max_bytes.set(max_bytes(&sink.buffer));
        sinks.push(metrics);
    }
    sinks
}

/// The byte bound of a buffer, memory or disk: what "filling up" is measured against.
fn max_bytes(buffer: &BufferConfig) -> u64 {
    match buffer.kind {
        BufferKind::Memory { max_bytes, .. } | BufferKind::Disk { max_bytes, .. } => max_bytes,
    }
}

/// What the pipeline needs of every sink (name, route, encoder), in sink order.
pub fn stages(config: &Config) -> Vec<SinkStage> {
    let mut stages = Vec::new();
    if config.forward.enabled {
        let forward = &config.forward;
        stages.push(SinkStage {
            name: AGENT_SINK_NAME.to_string(),
            route: Route {
                own_filter: forward.filter,
            },
            encoder: Arc::new(Encoder {
                format: forward.format,
                framing: forward.framing,
                agent: forward.agent,
            }),
        });
    }
    for sink in &config.sinks {
        stages.push(SinkStage {
            name: sink.name.clone(),
            route: Route {
                own_filter: sink.filter,
            },
            encoder: sink.kind.encoder(),
        });
    }
    stages
}

/// Opens every sink's buffer and builds its delivery; `metrics.sinks` is in sink order.
pub fn build(config: &Config, metrics: &Arc<Metrics>) -> Result<Vec<BuiltSink>, Refused> {
    let mut built = Vec::new();
    let mut stages = stages(config).into_iter();
    let mut next_stage = || {
        stages
            .next()
            .ok_or_else(|| Refused::Failed(anyhow::anyhow!("a sink has no stage")))
    };
    let mut sink_metrics = metrics.sinks.iter().cloned();
    let mut next_metrics = || {
        sink_metrics
            .next()
            .ok_or_else(|| Refused::Failed(anyhow::anyhow!("a sink has no metrics")))
    };
    if config.forward.enabled {
        let forward = &config.forward;
        let sink = next_metrics()?;
        let (writer, reader) = buffer::open(&forward.buffer, &config.state_dir, sink.clone())
            .map_err(Refused::Failed)?;
        let delivery = match forward.protocol {
            Protocol::Udp => Delivery::AgentUdp(forward.clone(), sink, reader),
            Protocol::Tcp | Protocol::Tls => Delivery::AgentTcp(AgentSink::new(
                forward.clone(),
                metrics.observer.clone(),
                sink,
                reader,
            )),
        };
        built.push(BuiltSink {
            stage: next_stage()?,
            writer,
            on_disk: matches!(forward.buffer.kind, BufferKind::Disk { .. }),
            delivery,
        });
    }
    for config_sink in &config.sinks {
        let sink = next_metrics()?;
        let (writer, reader) = buffer::open(&config_sink.buffer, &config.state_dir, sink.clone())
            .map_err(Refused::Failed)?;
        let parts = DeliveryParts {
            state_dir: &config.state_dir,
            observer: metrics.observer.clone(),
            sink,
        };
        let task = http_delivery(config_sink, parts)
            .map_err(|error| Refused::BadConfig(format!("{error:#}")))?;
        built.push(BuiltSink {
            stage: next_stage()?,
            writer,
            on_disk: matches!(config_sink.buffer.kind, BufferKind::Disk { .. }),
            delivery: Delivery::Http(task, reader),
        });
    }
    Ok(built)
}

impl Delivery {
    /// Starts delivering; the task ends once the buffer is closed and empty, or on `abort`.
    pub fn spawn(self, metrics: &Arc<Metrics>, abort: CancellationToken) -> JoinHandle<()> {
        match self {
            Delivery::AgentTcp(sink) => tokio::spawn(sink.run(abort)),
            Delivery::AgentUdp(forward, sink, reader) => tokio::spawn(udp::run_udp(
                forward,
                metrics.observer.clone(),
                sink,
                reader,
                abort,
            )),
            Delivery::Http(task, reader) => task.spawn(reader, abort),
        }
    }
}
