//! Rules: the platform's own keep, drop, sample, suppress and route rules (`[[rule]]`), tried in
//! order after the agent filter; the first that matches decides. The global rules decide for
//! every sink; a sink's own rules (named by its `rules`) then decide for that sink alone.
//! A dry-run rule counts what it would do and lets the next rule decide.

mod by_type;
pub mod sample;
pub mod suppress;

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::facts::{Facts, FieldMemo, MEMO_SLOTS};
use crate::config::rules::{Action, Condition, Field, Rule, Rules};
use crate::telemetry::metrics::rules::{RuleMetrics, RulesMetrics};
use by_type::RuleList;
use suppress::{Admit, Ask, Summary, SummarySource, SuppressTable};

/// A set of sinks by their index (`config::limits::SINKS` keeps it within 64).
pub type SinkSet = u64;

/// What the global rules say of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// To every sink that takes it (no rule matched, or a keep, sample or suppress let it on).
    Forward,
    Drop,
    /// To these sinks only, of those that take it.
    Route(SinkSet),
}

struct Compiled {
    rule: Rule,
    /// The sinks a route rule names.
    route: SinkSet,
    metrics: Arc<RuleMetrics>,
}

/// The rules of one configuration, with their suppression windows.
pub struct RuleEngine {
    rules: Vec<Compiled>,
    /// The global rules.
    global: RuleList,
    /// Per sink (in sink order), its own rules.
    per_sink: Vec<RuleList>,
    suppress: Mutex<SuppressTable>,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
}

/// Emits, for a rule's event, what its summary event will carry.
fn summary_source(facts: &Facts<'_, '_>, key: &[Field]) -> SummarySource {
    let event = facts.event;
    let syslog = &event.syslog;
    let pri = syslog.facility.unwrap_or(1) * 8 + syslog.severity.unwrap_or(5);
    let header = match event.valid_cef() {
        Some(cef) => cef.header().map(str::to_string),
        None => [
            "cefrelay",
            "cefrelay",
            env!("CARGO_PKG_VERSION"),
            "suppressed",
            "Suppressed events",
            "1",
        ]
        .map(String::from),
    };
    let key = key
        .iter()
        .filter_map(|field| {
            let found = facts.get(field)?;
            let name = summary_key(field, found.extension_key)?;
            Some((name, found.value.into_owned()))
        })
        .collect();
    SummarySource {
        pri,
        host: syslog
            .hostname
            .map_or_else(|| facts.origin.peer.to_string(), str::to_string),
        peer: facts.origin.peer,
        header,
        key,
    }
}

/// The CEF extension key a key field is written under in a summary; `None` for the fields the
/// summary's header already carries.
fn summary_key(field: &Field, extension_key: Option<&str>) -> Option<String> {
    if let Some(key) = extension_key {
        return Some(key.to_string());
    }
    let name = match field {
        Field::Peer => "dvc",
        Field::Host => "dvchost",
        Field::AlertType => "PanOSAlertType",
        Field::ThreatId => "threatAttackID",
        Field::ThreatName => "threatAttackName",
        Field::Named(name) | Field::Extension(name) => name.as_str(),
        Field::Panos(name) => name,
        _ => return None,
    };
    cefrelay_cef::is_valid_key(name).then(|| name.to_string())
}

impl RuleEngine {
    /// `sinks`: every sink's name, in sink order.
    pub fn new(
        config: &Rules,
        sinks: &[String],
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> Self {
        let rules_metrics: &RulesMetrics = &metrics.rules;
        let mut rules: Vec<Compiled> = config
            .rules
            .iter()
            .map(|rule| {
                let route = match &rule.action {
                    Action::Route { sinks: names } => sinks
                        .iter()
                        .enumerate()
                        .filter(|(_, sink)| names.contains(sink))
                        .fold(0, |set, (index, _)| set | 1 << index),
                    _ => 0,
                };
                Compiled {
                    rule: rule.clone(),
                    route,
                    metrics: rules_metrics.rule(&rule.name, rule.dry_run),
                }
            })
            .collect();
        Condition::share_memo_slots(
            rules
                .iter_mut()
                .map(|compiled| &mut compiled.rule.condition),
            MEMO_SLOTS,
        );
        let position = |name: &str| rules.iter().position(|c| c.rule.name == name);
        let condition_of = |index: usize| &rules[index].rule.condition;
        let global = RuleList::new(
            (0..rules.len())
                .filter(|&index| !config.is_sink_rule(&rules[index].rule.name))
                .collect(),
            condition_of,
        );
        let per_sink = sinks
            .iter()
            .map(|sink| {
                let own = config
                    .sink_rules
                    .iter()
                    .filter(|(name, _)| name == sink)
                    .flat_map(|(_, names)| names.iter().filter_map(|n| position(n)))
                    .collect();
                RuleList::new(own, condition_of)
            })
            .collect();
        let count = rules.len();
        RuleEngine {
            rules,
            global,
            per_sink,
            suppress: Mutex::new(SuppressTable::new(config.max_suppress_keys, count)),
            metrics,
        }
    }

    /// Whether no rule applies anywhere (the default): the pipeline then skips the stage.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the global rules make of the event that the sinks in `takers` take.
    pub fn global(
        &self,
        facts: &Facts<'_, '_>,
        now: OffsetDateTime,
        takers: SinkSet,
        summaries: &mut Vec<Summary>,
    ) -> Verdict {
        self.first_match(&self.global, facts, now, takers, summaries)
            .unwrap_or(Verdict::Forward)
    }

    /// Whether the sink at `sink` takes the event, by its own rules.
    pub fn sink_takes(
        &self,
        sink: usize,
        facts: &Facts<'_, '_>,
        now: OffsetDateTime,
        summaries: &mut Vec<Summary>,
    ) -> bool {
        let Some(own) = self.per_sink.get(sink).filter(|own| !own.is_empty()) else {
            return true;
        };
        self.first_match(own, facts, now, 1 << sink, summaries) != Some(Verdict::Drop)
    }

    /// The global rule that decides for the event, and its action (`cefrelay tap` says why): the
    /// first that matches and is not a dry run, as [`Self::global`] tries them, without counting
    /// or sampling anything.
    pub fn deciding_rule(&self, facts: &Facts<'_, '_>) -> Option<(&str, &'static str)> {
        let memo = FieldMemo::new();
        self.global
            .candidates(facts, &memo)
            .iter()
            .map(|&index| &self.rules[index].rule)
            .find(|rule| !rule.dry_run && matches(&rule.condition, facts, &memo))
            .map(|rule| (rule.name.as_str(), rule.action.name()))
    }

    /// Whether the sink at `sink` has rules of its own.
    pub fn sink_has_rules(&self, sink: usize) -> bool {
        self.per_sink.get(sink).is_some_and(|own| !own.is_empty())
    }

    fn first_match(
        &self,
        list: &RuleList,
        facts: &Facts<'_, '_>,
        now: OffsetDateTime,
        takers: SinkSet,
        summaries: &mut Vec<Summary>,
    ) -> Option<Verdict> {
        // The fields this pass reads, each read once however many rules test it.
        let memo = FieldMemo::new();
        for &index in list.candidates(facts, &memo) {
            let compiled = &self.rules[index];
            if !matches(&compiled.rule.condition, facts, &memo) {
                continue;
            }
            let verdict = self.apply(compiled, index, facts, now, takers, summaries);
            if !compiled.rule.dry_run {
                return Some(verdict);
            }
        }
        None
    }

    /// The verdict of a rule that matches, counted.
    fn apply(
        &self,
        compiled: &Compiled,
        index: usize,
        facts: &Facts<'_, '_>,
        now: OffsetDateTime,
        takers: SinkSet,
        summaries: &mut Vec<Summary>,
    ) -> Verdict {
        let counters = &compiled.metrics;
        counters.matched.inc();
        match &compiled.rule.action {
            Action::Keep => Verdict::Forward,
            Action::Drop => {
                counters.dropped.inc();
                Verdict::Drop
            }
            Action::Sample { rate, key } => {
                let kept = match key {
                    Some(fields) => {
                        let values: Vec<_> = fields.iter().map(|f| facts.get(f)).collect();
                        sample::keeps(values.iter().map(|v| v.as_ref().map(|f| &*f.value)), *rate)
                    }
                    None => sample::keeps([Some(facts.text)], *rate),
                };
                if kept {
                    Verdict::Forward
                } else {
                    counters.sampled_out.inc();
                    Verdict::Drop
                }
            }
            Action::Suppress { key, allow, window } => {
                let mut joined = String::new();
                for field in key {
                    if let Some(found) = facts.get(field) {
                        joined.push_str(&found.value);
                    }
                    joined.push('\u{1f}');
                }
                let ask = Ask {
                    rule: index,
                    rule_name: &compiled.rule.name,
                    dry_run: compiled.rule.dry_run,
                    allow: *allow,
                    window: *window,
                    key: joined,
                    sinks: takers,
                };
                let before = summaries.len();
                let admit = {
                    let mut table = self.suppress.lock().unwrap_or_else(|e| e.into_inner());
                    let admit = table.admit(ask, now, || summary_source(facts, key), summaries);
                    self.count_table(&mut table);
                    admit
                };
                self.count_summaries(&summaries[before..]);
                summaries.retain(|summary| !summary.dry_run);
                match admit {
                    Admit::Pass => Verdict::Forward,
                    Admit::Suppressed => {
                        counters.suppressed.inc();
                        Verdict::Drop
                    }
                }
            }
            Action::Route { .. } => Verdict::Route(compiled.route),
        }
    }

    /// Closes the windows over at `now` (the sweep), or all of them; returns the summaries to send.
    pub fn close_windows(&self, now: Option<OffsetDateTime>) -> Vec<Summary> {
        let mut summaries = Vec::new();
        {
            let mut table = self.suppress.lock().unwrap_or_else(|e| e.into_inner());
            match now {
                Some(now) => table.close_over(now, &mut summaries),
                None => table.close_all(&mut summaries),
            }
            self.count_table(&mut table);
        }
        self.count_summaries(&summaries);
        summaries.retain(|summary| !summary.dry_run);
        summaries
    }

    fn count_table(&self, table: &mut SuppressTable) {
        let rules = &self.metrics.rules;
        rules.suppress_keys.set(table.len() as u64);
        rules.suppress_evictions.add(table.take_evicted());
    }

    fn count_summaries(&self, summaries: &[Summary]) {
        for summary in summaries {
            if let Some(compiled) = self.rules.get(summary.rule) {
                compiled.metrics.summaries.inc();
            }
        }
    }
}

/// Whether `facts` satisfy `condition`; each field is looked up only when a test reads it.
pub fn matches<'f>(condition: &Condition, facts: &Facts<'f, '_>, memo: &FieldMemo<'f>) -> bool {
    match condition {
        Condition::All(parts) => parts.iter().all(|part| matches(part, facts, memo)),
        Condition::Any(parts) => parts.iter().any(|part| matches(part, facts, memo)),
        Condition::Not(inner) => !matches(inner, facts, memo),
        Condition::Test {
            field,
            test,
            memo: slot,
        } => memo.with_value(facts, field, *slot, |value| test.passes(value)),
    }
}
