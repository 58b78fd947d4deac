//! The data path's side of `cefrelay tap`: what became of a message, offered to the open taps
//! (`telemetry::tap`). With no tap open, as nearly always, it costs one relaxed atomic load; the
//! rest is kept out of line so that the common case stays small.

use std::borrow::Cow;

use super::facts::{Facts, FieldMemo};
use super::filter::Decision;
use super::rules::{self, SinkSet};
use super::Pipeline;
use crate::event::{Event, Origin};
use crate::telemetry::tap::TapEvent;

/// Where a message's journey ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fate {
    /// Dropped before the filter: `[panos] csv = "drop"`.
    PanosCsvDropped,
    /// No sink's filter takes it.
    NotTaken(Decision),
    /// The rules left no sink to take it.
    RulesDropped(Decision),
    /// Written to these sinks.
    Forwarded(Decision, SinkSet),
}

impl Pipeline {
    /// Shows the message's fate to the taps that want it.
    #[inline]
    pub(super) fn tap(&self, fate: Fate, event: &Event<'_>, text: &str, origin: Origin) {
        if self.metrics.tap.is_tapped() {
            self.offer_to_taps(fate, event, text, origin);
        }
    }

    #[cold]
    #[inline(never)]
    fn offer_to_taps(&self, fate: Fate, event: &Event<'_>, text: &str, origin: Origin) {
        let stages = self.stages.load();
        let facts = Facts::new(event, origin, text, stages.mitre.as_deref());
        let sinks = match fate {
            Fate::Forwarded(_, sinks) => sinks,
            _ => 0,
        };
        // Built for the first tap that has room, and copied for any other.
        let mut shown: Option<TapEvent> = None;
        for tap in self.metrics.tap.taps().iter() {
            if !tap.shows(sinks != 0)
                || !tap
                    .condition
                    .as_ref()
                    .is_none_or(|c| rules::matches(c, &facts, &FieldMemo::new()))
                || !tap.has_room()
            {
                continue;
            }
            let event = shown.get_or_insert_with(|| {
                let (decision, reason) = why(fate, &stages.rules, &facts);
                let (text, omitted) = TapEvent::shown_text(text);
                TapEvent {
                    received_at: origin.received_at,
                    sender: origin.peer,
                    sinks,
                    decision: decision.map(Decision::label),
                    reason,
                    text,
                    omitted,
                }
            });
            tap.offer(event.clone());
        }
    }
}

/// The filter's decision and what settled the fate, in words.
fn why(
    fate: Fate,
    rules: &rules::RuleEngine,
    facts: &Facts<'_, '_>,
) -> (Option<Decision>, Cow<'static, str>) {
    let named = |(name, action): (&str, &str)| Cow::Owned(format!("rule {name} ({action})"));
    match fate {
        Fate::PanosCsvDropped => (None, Cow::Borrowed("[panos] csv = \"drop\"")),
        Fate::NotTaken(decision) if decision.forwards() => {
            (Some(decision), Cow::Borrowed("sink filters"))
        }
        Fate::NotTaken(decision) => (Some(decision), Cow::Borrowed("filter")),
        // After a keep rule, the sinks' own rules are what dropped it.
        Fate::RulesDropped(decision) => (
            Some(decision),
            rules
                .deciding_rule(facts)
                .filter(|(_, action)| *action != "keep")
                .map_or(Cow::Borrowed("sink rules"), named),
        ),
        Fate::Forwarded(decision, _) => (
            Some(decision),
            rules
                .deciding_rule(facts)
                .map_or(Cow::Borrowed("filter"), named),
        ),
    }
}
