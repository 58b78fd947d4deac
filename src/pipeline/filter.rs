//! Filter: the agent filter, which messages the Azure Monitor agent gets — and, with a sink's own
//! `filter`, which messages that sink gets.

use super::mock;
use crate::config::FilterMode;
use crate::event::Event;
use crate::telemetry::metrics::FilterReason;
use crate::telemetry::observe::Outcome;

/// Why a message was forwarded or dropped; also the `reason` label of the filter metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    ForwardCef,
    ForwardMock,
    ForwardLegacyMatch,
    ForwardAll,
    DropTraffic,
    DropNotCef,
    DropInvalidCef,
    DropLegacyNoMatch,
}

impl Decision {
    pub const ALL: [Decision; 8] = [
        Decision::ForwardCef,
        Decision::ForwardMock,
        Decision::ForwardLegacyMatch,
        Decision::ForwardAll,
        Decision::DropTraffic,
        Decision::DropNotCef,
        Decision::DropInvalidCef,
        Decision::DropLegacyNoMatch,
    ];

    pub fn forwards(self) -> bool {
        matches!(
            self,
            Decision::ForwardCef
                | Decision::ForwardMock
                | Decision::ForwardLegacyMatch
                | Decision::ForwardAll
        )
    }

    /// Every decision as a row of the filter metrics, in the order of [`Self::ALL`].
    pub fn reasons() -> [FilterReason; 8] {
        Decision::ALL.map(|decision| FilterReason {
            forwards: decision.forwards(),
            label: decision.label(),
        })
    }

    /// This decision's position in [`Self::ALL`] (and [`Self::reasons`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// What the per-sender counts make of it.
    pub fn outcome(self) -> Outcome {
        match self {
            d if d.forwards() => Outcome::Forwarded,
            Decision::DropTraffic => Outcome::DroppedTraffic,
            Decision::DropNotCef => Outcome::DroppedNotCef,
            Decision::DropInvalidCef => Outcome::DroppedInvalidCef,
            _ => Outcome::DroppedOther,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Decision::ForwardCef => "cef",
            Decision::ForwardMock => "troubleshoot_mock",
            Decision::ForwardLegacyMatch => "legacy_match",
            Decision::ForwardAll => "all",
            Decision::DropTraffic => "traffic",
            Decision::DropNotCef => "not_cef",
            Decision::DropInvalidCef => "invalid_cef",
            Decision::DropLegacyNoMatch => "legacy_no_match",
        }
    }
}

pub fn decide(mode: FilterMode, event: &Event<'_>, raw_text: &str) -> Decision {
    if mock::is_mock(event) {
        return Decision::ForwardMock;
    }
    match mode {
        FilterMode::All => Decision::ForwardAll,
        FilterMode::Legacy => {
            // A PAN-OS CSV line converted to CEF is CEF by the time the rule looks.
            if raw_text.contains("CEF:") || raw_text.contains("ASA-") || event.converted.is_some() {
                Decision::ForwardLegacyMatch
            } else {
                Decision::DropLegacyNoMatch
            }
        }
        FilterMode::Cef | FilterMode::CefAll => match &event.cef {
            None => Decision::DropNotCef,
            Some(Err(_)) => Decision::DropInvalidCef,
            Some(Ok(cef))
                if mode == FilterMode::Cef && cef.name.eq_ignore_ascii_case("TRAFFIC") =>
            {
                Decision::DropTraffic
            }
            Some(Ok(_)) => Decision::ForwardCef,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cefrelay_syslog::ParseOptions;

    #[test]
    fn a_decisions_index_is_its_place_in_all_so_each_counts_on_its_own_row() {
        for (place, decision) in Decision::ALL.into_iter().enumerate() {
            assert_eq!(decision.index(), place);
            assert_eq!(Decision::reasons()[place].label, decision.label());
        }
    }

    fn decide_text(mode: FilterMode, text: &str) -> Decision {
        let options = ParseOptions::new(time::OffsetDateTime::UNIX_EPOCH);
        decide(mode, &Event::parse(text, false, &options), text)
    }

    const THREAT: &str =
        "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|1|src=1.1.1.1";
    const TRAFFIC: &str =
        "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|src=1.1.1.1";
    const CSV: &str = "<14>Nov 22 10:00:00 fw 1,2026/11/22 10:00:00,0123,THREAT,url,2816";
    const ASA: &str = "<166>Nov 22 10:00:00 asa %ASA-6-302013: Built outbound TCP connection";
    const MOCK: &str = "<164>Nov 22 10:00:00 host CEF: 0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|rt=x";

    #[test]
    fn cef_mode_forwards_cef_but_drops_panos_traffic() {
        assert_eq!(decide_text(FilterMode::Cef, THREAT), Decision::ForwardCef);
        assert_eq!(decide_text(FilterMode::Cef, TRAFFIC), Decision::DropTraffic);
        assert_eq!(decide_text(FilterMode::Cef, CSV), Decision::DropNotCef);
        assert_eq!(
            decide_text(FilterMode::Cef, "<14>Nov 22 10:00:00 fw CEF:0|broken"),
            Decision::DropInvalidCef
        );
    }

    #[test]
    fn troubleshoot_mock_passes_although_it_is_traffic() {
        assert_eq!(decide_text(FilterMode::Cef, MOCK), Decision::ForwardMock);
    }

    #[test]
    fn cef_all_keeps_traffic() {
        assert_eq!(
            decide_text(FilterMode::CefAll, TRAFFIC),
            Decision::ForwardCef
        );
    }

    #[test]
    fn legacy_mode_is_the_old_rsyslog_rule() {
        assert_eq!(
            decide_text(FilterMode::Legacy, ASA),
            Decision::ForwardLegacyMatch
        );
        assert_eq!(
            decide_text(FilterMode::Legacy, TRAFFIC),
            Decision::ForwardLegacyMatch
        );
        assert_eq!(
            decide_text(FilterMode::Legacy, CSV),
            Decision::DropLegacyNoMatch
        );
    }

    #[test]
    fn all_mode_forwards_everything() {
        assert_eq!(decide_text(FilterMode::All, CSV), Decision::ForwardAll);
    }
}
