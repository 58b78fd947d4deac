//! What happens to every frame between a listener and the sinks' buffers, stage by stage:
//! decode → filter → rules → enrich → route → encode. It runs inside the connection (or UDP
//! socket) task that read the frame, so the work spreads over as many cores as there are senders,
//! and only whole batches cross to the sink tasks.

pub mod decode;
pub mod enrich;
pub mod facts;
pub mod filter;
pub mod mock;
pub mod route;
pub mod rules;
mod tap;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use cefrelay_panos::mitre::Table;
use cefrelay_panos::to_cef;
use cefrelay_syslog::ParseOptions;
use time::OffsetDateTime;

use crate::buffer::Batch;
use crate::config::{Config, FilterMode, Panos, PanosCsv};
use crate::event::{Enriched, Event, Origin};
use crate::sink::Encode;
use crate::telemetry::events::FirstDropFromSender;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::observe::Seen;
use crate::telemetry::tally::Tally;
use facts::Facts;
use filter::Decision;
use route::Route;
use rules::suppress::Summary;
use rules::{RuleEngine, SinkSet, Verdict};
use tap::Fate;

/// One sink as the pipeline sees it: its name, which events it takes, and how it wants them
/// written.
#[derive(Debug)]
pub struct SinkStage {
    pub name: String,
    pub route: Route,
    pub encoder: Arc<dyn Encode>,
}

/// The rules and the enrichment of one configuration: replaced whole by a SIGHUP reload, so an
/// event sees either the old set or the new one, never half of each.
pub struct Stages {
    pub rules: RuleEngine,
    /// The MITRE table, when threat enrichment is on.
    pub mitre: Option<Arc<Table>>,
}

impl Stages {
    /// The rules and enrichment of `config`, for sinks named `sinks` (in sink order).
    pub fn new(config: &Config, sinks: &[String], metrics: &Arc<Metrics>) -> Self {
        Stages {
            rules: RuleEngine::new(&config.rules, sinks, metrics.clone()),
            mitre: config.enrich.threat.clone(),
        }
    }
}

pub struct Pipeline {
    /// The global filter mode; swapped by a SIGHUP reload while frames flow, hence an atomic.
    filter: AtomicU8,
    /// One per sink, in sink order (the order of the batches handed to [`Self::process`]).
    sinks: Vec<SinkStage>,
    /// What becomes of PAN-OS CSV.
    panos: Panos,
    stages: ArcSwap<Stages>,
    /// Stages a reload replaced whose suppression windows the next sweep closes.
    retired: Mutex<Vec<Arc<Stages>>>,
    /// User-ID's syslog sources read messages here, before any filter.
    userid: Option<Arc<crate::userid::Service>>,
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(
        config: &Config,
        sinks: Vec<SinkStage>,
        userid: Option<Arc<crate::userid::Service>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let stages = Stages::new(config, &Self::names(&sinks), &metrics);
        Pipeline {
            filter: AtomicU8::new(config.filter as u8),
            sinks,
            panos: config.panos.clone(),
            stages: ArcSwap::from_pointee(stages),
            retired: Mutex::new(Vec::new()),
            userid,
            metrics,
        }
    }

    fn names(sinks: &[SinkStage]) -> Vec<String> {
        sinks.iter().map(|sink| sink.name.clone()).collect()
    }

    /// The sinks' names, in sink order.
    pub fn sink_names(&self) -> Vec<String> {
        Self::names(&self.sinks)
    }

    /// Puts the rules and enrichment of `config` in place at once; the windows the old rules
    /// had open are closed, with their summaries, by the next [`Self::sweep`].
    pub fn set_stages(&self, config: &Config) {
        let fresh = Stages::new(config, &self.sink_names(), &self.metrics);
        let old = self.stages.swap(Arc::new(fresh));
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(old);
    }

    /// Closes the suppression windows over at `now` (`None`: every window, at shutdown) and
    /// writes their summary events into `batches`.
    pub fn sweep(&self, now: Option<OffsetDateTime>, batches: &mut [Batch]) {
        let retired = std::mem::take(&mut *self.retired.lock().unwrap_or_else(|e| e.into_inner()));
        let mut summaries = Vec::new();
        for stages in retired {
            summaries.extend(stages.rules.close_windows(None));
        }
        summaries.extend(self.stages.load().rules.close_windows(now));
        let now = now.unwrap_or_else(OffsetDateTime::now_utc);
        self.emit(&summaries, now, batches);
    }

    /// Writes summary events to the sinks they are for; they pass no filter or rule again.
    fn emit(&self, summaries: &[Summary], now: OffsetDateTime, batches: &mut [Batch]) {
        for summary in summaries {
            let event = Event::parse(&summary.line, false, &ParseOptions::new(now));
            let origin = Origin {
                peer: summary.peer,
                received_at: now,
            };
            let enriched = Enriched {
                event: &event,
                received: summary.line.as_bytes(),
                text: &summary.line,
                origin,
                added: &[],
            };
            for (index, (sink, batch)) in self.sinks.iter().zip(batches.iter_mut()).enumerate() {
                if summary.sinks & (1 << index) != 0 {
                    sink.encoder.encode(&enriched, batch.data_for_next_record());
                    batch.events += 1;
                }
            }
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

    /// An empty tally for a source to count into (see [`Self::process`], [`Self::flush`]).
    pub fn tally(&self) -> Tally {
        Tally::new(Decision::ALL.len(), self.sinks.len())
    }

    /// Adds what `tally` counted to the shared metrics and per-sender counts, and empties it;
    /// says so the first time the filter drops TRAFFIC or non-CEF lines from a sender.
    pub fn flush(&self, tally: &mut Tally) {
        let parse = &self.metrics.parse;
        let counters = [&parse.rfc3164, &parse.rfc5424, &parse.no_header]
            .into_iter()
            .zip(tally.parsed)
            .chain(
                [&parse.cef_valid, &parse.cef_invalid]
                    .into_iter()
                    .zip(tally.cef),
            )
            .chain(
                (0..tally.filter.len())
                    .map(|i| self.metrics.filter(i))
                    .zip(tally.filter.iter().copied()),
            )
            .chain(
                self.metrics
                    .sinks
                    .iter()
                    .map(|sink| &sink.filtered_events)
                    .zip(tally.sink_filtered.iter().copied()),
            );
        for (counter, count) in counters {
            if count > 0 {
                counter.add(count);
            }
        }
        tally.clear_counters();
        let filter = self.filter().name();
        for (peer, counts) in tally.take_senders() {
            let first = self.metrics.observer.merge(peer, &counts);
            for traffic in [true, false] {
                if (traffic && first.traffic) || (!traffic && first.not_cef) {
                    FirstDropFromSender {
                        peer,
                        traffic,
                        filter,
                    }
                    .emit();
                }
            }
        }
    }

    /// Takes one frame through every stage, appending it to the batch of each sink that takes it.
    /// Its counts go into `tally`, which the caller flushes before it waits for anything.
    pub fn process(
        &self,
        frame: &[u8],
        peer: std::net::IpAddr,
        received_at: OffsetDateTime,
        batches: &mut [Batch],
        tally: &mut Tally,
    ) {
        let origin = Origin { peer, received_at };
        let parse = &self.metrics.parse;
        let (text, lossy) = decode::text(frame, origin, parse);
        // Before any filter: a message the agent never gets may still carry a login.
        if let Some(userid) = self.userid.as_ref().filter(|u| u.listens_to(peer)) {
            userid.observe_syslog(&text, peer, received_at);
        }
        // Declared before the event, which borrows the CEF records converted into them.
        let mut converted_header = String::new();
        let mut converted = String::new();
        let mut event = decode::parse(&text, lossy, origin, tally);
        if event.panos_csv.is_some() {
            match self.panos.csv {
                PanosCsv::Convert => {
                    // The header first: the filter and the routes decide by it, and the rest, the
                    // ~60 pairs that cost nearly all of the conversion, is written below only for
                    // a log that a sink takes (the agent's filter drops TRAFFIC by its Name).
                    // Room for any header at once: grown from empty it was copied five times.
                    converted_header.reserve(256);
                    let header = to_cef::to_cef_header;
                    if decode::csv_to_cef(
                        &event,
                        &self.panos,
                        origin,
                        header,
                        &mut converted_header,
                    ) {
                        decode::attach_converted(&mut event, &converted_header, origin, parse);
                    }
                }
                PanosCsv::Keep => {}
                PanosCsv::Drop => {
                    parse.panos_dropped.inc();
                    self.tap(Fate::PanosCsvDropped, &event, &text, origin);
                    return;
                }
            }
        }
        // Read once: a SIGHUP may swap the mode between two reads.
        let mode = self.filter();
        let global = (
            mode,
            self.filter_and_observe(mode, &event, &text, origin, batches, tally),
        );
        let mut takers: SinkSet = 0;
        for (index, sink) in self.sinks.iter().enumerate() {
            if sink.route.takes(global, &event, &text) {
                takers |= 1 << index;
            } else {
                tally.sink_filtered[index] += 1;
            }
        }
        // A tap's condition may read any field of a log it sees dropped.
        if event.converted.is_some() && (takers != 0 || self.metrics.tap.is_tapped()) {
            // The CEF names every column the CSV leaves bare: about twice the text. Grown from
            // empty it was reallocated and copied eight times per log.
            converted.reserve(2 * text.len() + 256);
            converted.push_str(&converted_header);
            let extension = to_cef::to_cef_extension;
            if decode::csv_to_cef(&event, &self.panos, origin, extension, &mut converted) {
                let extension_start = converted_header.len();
                decode::complete_converted(&mut event, &converted, extension_start, origin, parse);
            }
        }
        if takers == 0 {
            self.tap(Fate::NotTaken(global.1), &event, &text, origin);
            return;
        }
        let stages = self.stages.load();
        let facts = Facts::new(&event, origin, &text, stages.mitre.as_deref());
        let rules = &stages.rules;
        if !rules.is_empty() {
            let mut summaries = Vec::new();
            match rules.global(&facts, received_at, takers, &mut summaries) {
                Verdict::Forward => {}
                Verdict::Drop => takers = 0,
                Verdict::Route(sinks) => takers &= sinks,
            }
            for index in 0..self.sinks.len() {
                let bit = 1 << index;
                if takers & bit != 0
                    && rules.sink_has_rules(index)
                    && !rules.sink_takes(index, &facts, received_at, &mut summaries)
                {
                    takers &= !bit;
                }
            }
            self.emit(&summaries, received_at, batches);
            if takers == 0 {
                self.tap(Fate::RulesDropped(global.1), &event, &text, origin);
                return;
            }
        }
        let added = enrich::added(&facts, &self.metrics.rules);
        let enriched = Enriched {
            event: &event,
            received: frame,
            text: &text,
            origin,
            added: &added,
        };
        for (index, (sink, batch)) in self.sinks.iter().zip(batches.iter_mut()).enumerate() {
            if takers & (1 << index) != 0 {
                sink.encoder.encode(&enriched, batch.data_for_next_record());
                batch.events += 1;
            }
        }
        self.tap(Fate::Forwarded(global.1, takers), &event, &text, origin);
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
        tally: &mut Tally,
    ) -> Decision {
        let decision = filter::decide(mode, event, text);
        tally.filter[decision.index()] += 1;
        if decision == Decision::ForwardMock {
            let marker = mock::marker(event);
            self.metrics.observer.mock_forwarded(marker);
            for batch in batches.iter_mut() {
                batch.mock_markers.push(marker.to_string());
            }
        } else {
            if tally.senders_full() {
                self.flush(tally);
            }
            tally.seen(
                origin.peer,
                &Seen {
                    at: origin.received_at.unix_timestamp(),
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
