//! Enrich: fields the relay adds to an event, computed once for every sink. With `[enrich]
//! threat` on (the default), a PAN-OS THREAT log (CEF, or CSV converted or kept) gains:
//!
//! | key                | value                                                         |
//! |--------------------|---------------------------------------------------------------|
//! | `PanOSAlertType`   | the alert type, as Sophos' mapping expression computes it     |
//! | `threatAttackID`   | the MITRE ATT&CK technique (`T1203`) or tactic (`TA0002`)      |
//! | `threatAttackName` | its ATT&CK name                                               |
//! | `mitreSource`      | the table step that matched: override, regex, category, subtype or fallback |
//!
//! The last three only when the table maps the threat (else it is counted as unmapped). CEF
//! outputs append them to the extension, CommonSecurityLog to `AdditionalExtensions`, JSON and
//! HEC under `enrich`; `format = "raw"` forwards the frame as received and carries none.

use std::borrow::Cow;

use super::facts::Facts;
use crate::telemetry::metrics::rules::RulesMetrics;

/// The fields added to the event of `facts`, in order; counted by lookup step.
pub fn added<'f>(
    facts: &Facts<'f, '_>,
    metrics: &RulesMetrics,
) -> Vec<(&'static str, Cow<'f, str>)> {
    let Some(threat) = facts.threat() else {
        return Vec::new();
    };
    let mut added = Vec::with_capacity(4);
    if !threat.alert_type.is_empty() {
        added.push(("PanOSAlertType", threat.alert_type.clone()));
    }
    match threat.classification {
        Some(found) => {
            metrics.classified(found.source).inc();
            added.push(("threatAttackID", Cow::Borrowed(found.id)));
            added.push(("threatAttackName", Cow::Borrowed(found.name)));
            added.push(("mitreSource", Cow::Borrowed(found.source.as_str())));
        }
        None => metrics.threats_unmapped.inc(),
    }
    added
}
