//! What happens to every frame between a listener and the sinks' buffers, stage by stage:
//! decode → filter → rules → enrich → route → encode. It runs inside the connection (or UDP
//! socket) task that read the frame, so the work spreads over as many cores as there are senders,
//! and only whole batches cross to the sink tasks.

pub mod decode;
pub mod enrich;
pub mod filter;
pub mod mock;
pub mod route;
pub mod rules;

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::buffer::Batch;
use crate::config::{FilterMode, Panos, PanosCsv};
use crate::event::{Enriched, Event, Origin};
use crate::sink::Encode;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::observe::Seen;
use filter::Decision;
use route::Route;

/// One sink as the pipeline sees it: which events it takes, and how it wants them written.
#[derive(Debug)]
pub struct SinkStage {
    pub route: Route,
    pub encoder: Arc<dyn Encode>,
}

pub struct Pipeline {
    /// The global filter mode; swapped by a SIGHUP reload while frames flow, hence an atomic.
    filter: AtomicU8,
    /// One per sink, in sink order (the order of the batches handed to [`Self::process`]).
    sinks: Vec<SinkStage>,
    /// What becomes of PAN-OS CSV.
    panos: Panos,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(
        filter: FilterMode,
        panos: Panos,
        sinks: Vec<SinkStage>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Pipeline {
            filter: AtomicU8::new(filter as u8),
            sinks,
            panos,
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

    /// Takes one frame through every stage, appending it to the batch of each sink that takes it.
    pub fn process(
        &self,
        frame: &[u8],
        peer: std::net::IpAddr,
        received_at: OffsetDateTime,
        batches: &mut [Batch],
    ) {
        let origin = Origin { peer, received_at };
        let parse = &self.metrics.parse;
        let (text, lossy) = decode::text(frame, origin, parse);
        // Declared before the event, which borrows the CEF record converted into it.
        let mut converted = String::new();
        let mut event = decode::parse(&text, lossy, origin, parse);
        if event.panos_csv.is_some() {
            match self.panos.csv {
                PanosCsv::Convert => {
                    if decode::csv_to_cef(&event, &self.panos, origin, &mut converted) {
                        decode::attach_converted(&mut event, &converted, origin, parse);
                    }
                }
                PanosCsv::Keep => {}
                PanosCsv::Drop => {
                    parse.panos_dropped.inc();
                    return;
                }
            }
        }
        // Read once: a SIGHUP may swap the mode between two reads.
        let mode = self.filter();
        let global = (
            mode,
            self.filter_and_observe(mode, &event, &text, origin, batches),
        );
        if !rules::keep(&event) {
            return;
        }
        let added = enrich::added(&event);
        let enriched = Enriched {
            event: &event,
            received: frame,
            text: &text,
            origin,
            added: &added,
        };
        for ((sink, batch), metrics) in self.sinks.iter().zip(batches).zip(&self.metrics.sinks) {
            if sink.route.takes(global, &event, &text) {
                sink.encoder.encode(&enriched, &mut batch.data);
                batch.events += 1;
            } else {
                metrics.filtered_events.inc();
            }
        }
    }

    /// The global filter's decision, counted; per-sender counts for real senders, and the
    /// journey of the troubleshooter's mocks (which pass every filter) for its probes.
    fn filter_and_observe(
        &self,
        mode: FilterMode,
        event: &Event<'_>,
        text: &str,
        origin: Origin,
        batches: &mut [Batch],
    ) -> Decision {
        let decision = filter::decide(mode, event, text);
        self.metrics.filter(decision.index()).inc();
        if decision == Decision::ForwardMock {
            let marker = mock::marker(event);
            self.metrics.observer.mock_forwarded(marker);
            for batch in batches.iter_mut() {
                batch.mock_markers.push(marker.to_string());
            }
        } else {
            self.metrics.observer.message(
                origin.peer,
                &Seen {
                    cef_valid: event.valid_cef().is_some(),
                    panos_csv: event.panos_csv.is_some(),
                    panos_type: event
                        .panos_csv
                        .as_ref()
                        .map(|log| log.log_type.map_or("unknown", |t| t.name())),
                    panos_unconverted: event.panos_csv.is_some()
                        && self.panos.csv == PanosCsv::Convert
                        && event.converted.is_none(),
                    outcome: decision.outcome(),
                },
            );
        }
        decision
    }
}
