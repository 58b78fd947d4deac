//! What the platform rules and the threat enrichment did: per rule (label `rule`, its name, and
//! `dry_run`), the suppression table's size and evictions, and threats by MITRE lookup step.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use cefrelay_panos::mitre::Step;

use super::{Counter, Family, Gauge};

/// One rule's counters. A dry-run rule counts what it would have done in the same counters, under
/// `dry_run="true"`.
#[derive(Debug, Default)]
pub struct RuleMetrics {
    pub matched: Counter,
    pub dropped: Counter,
    pub sampled_out: Counter,
    pub suppressed: Counter,
    pub summaries: Counter,
}

type RuleReading = fn(&RuleMetrics) -> u64;

const RULE_COUNTERS: [(Family, RuleReading); 5] = [
    (
        Family::counter(
            "cefrelay_rule_matched_total",
            "Events a rule matched (first match wins)",
        ),
        |r| r.matched.get(),
    ),
    (
        Family::counter("cefrelay_rule_dropped_total", "Events a drop rule dropped"),
        |r| r.dropped.get(),
    ),
    (
        Family::counter(
            "cefrelay_rule_sampled_out_total",
            "Events a sample rule left out",
        ),
        |r| r.sampled_out.get(),
    ),
    (
        Family::counter(
            "cefrelay_rule_suppressed_total",
            "Events a suppress rule held back, each counted in a summary event",
        ),
        |r| r.suppressed.get(),
    ),
    (
        Family::counter(
            "cefrelay_rule_summaries_total",
            "Summary events a suppress rule emitted when a window closed",
        ),
        |r| r.summaries.get(),
    ),
];

const SUPPRESS_KEYS: Family = Family::gauge(
    "cefrelay_rules_suppress_keys",
    "Suppression windows open, over every suppress rule",
);
const SUPPRESS_EVICTIONS: Family = Family::counter(
    "cefrelay_rules_suppress_evictions_total",
    "Suppression windows closed early because the table was full (their summary is emitted)",
);
const THREATS_CLASSIFIED: Family = Family::counter(
    "cefrelay_threats_classified_total",
    "PAN-OS threat logs mapped to MITRE ATT&CK, by the lookup step that matched",
);
const THREATS_UNMAPPED: Family = Family::counter(
    "cefrelay_threats_unmapped_total",
    "PAN-OS threat logs that no step of the MITRE table maps",
);

/// The MITRE lookup steps, in the order the table tries them: the rows of
/// `cefrelay_threats_classified_total`.
const STEPS: [Step; 5] = [
    Step::Override,
    Step::Regex,
    Step::Category,
    Step::Subtype,
    Step::Fallback,
];

/// Every rule's counters, by name, kept across reloads so that a rule that stays keeps counting.
#[derive(Debug, Default)]
pub struct RulesMetrics {
    // Taken only when the rules are built and when `/metrics` is read.
    rules: Mutex<BTreeMap<(String, bool), Arc<RuleMetrics>>>,
    pub suppress_keys: Gauge,
    pub suppress_evictions: Counter,
    /// By [`Step`], in [`STEPS`] order.
    pub threats_classified: [Counter; STEPS.len()],
    pub threats_unmapped: Counter,
}

impl RulesMetrics {
    /// The counters of the rule `name` (made on first use).
    pub fn rule(&self, name: &str, dry_run: bool) -> Arc<RuleMetrics> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules
            .entry((name.to_string(), dry_run))
            .or_default()
            .clone()
    }

    pub fn classified(&self, step: Step) -> &Counter {
        let row = STEPS.iter().position(|s| *s == step).unwrap_or(0);
        &self.threats_classified[row]
    }

    pub(super) fn render(&self, out: &mut String) {
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        for (family, read) in &RULE_COUNTERS {
            family.header(out);
            for ((name, dry_run), counters) in rules.iter() {
                let _ = writeln!(
                    out,
                    "{}{{rule=\"{}\",dry_run=\"{dry_run}\"}} {}",
                    family.name,
                    escape(name),
                    read(counters)
                );
            }
        }
        drop(rules);
        SUPPRESS_KEYS.header(out);
        let _ = writeln!(out, "{} {}", SUPPRESS_KEYS.name, self.suppress_keys.get());
        SUPPRESS_EVICTIONS.header(out);
        let _ = writeln!(
            out,
            "{} {}",
            SUPPRESS_EVICTIONS.name,
            self.suppress_evictions.get()
        );
        THREATS_CLASSIFIED.header(out);
        for (step, counter) in STEPS.iter().zip(&self.threats_classified) {
            let _ = writeln!(
                out,
                "{}{{step=\"{}\"}} {}",
                THREATS_CLASSIFIED.name,
                step.as_str(),
                counter.get()
            );
        }
        THREATS_UNMAPPED.header(out);
        let _ = writeln!(
            out,
            "{} {}",
            THREATS_UNMAPPED.name,
            self.threats_unmapped.get()
        );
    }
}

/// A label value as Prometheus' text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
