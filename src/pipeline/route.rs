//! Route: which sinks take an event. Each sink follows the global filter (`[filter] mode`) unless
//! it has its own `filter`; then its own decides for it. An event no sink takes stops here; one
//! that only some take is counted, for each sink that left it out, in that sink's
//! `cefrelay_sink_filtered_total`.

use super::filter::{self, Decision};
use crate::config::FilterMode;
use crate::event::Event;

/// One sink's route: its own filter, or the global one.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub own_filter: Option<FilterMode>,
}

impl Route {
    /// Whether this sink takes `event`; `global` is the global filter's mode and its decision.
    pub fn takes(&self, global: (FilterMode, Decision), event: &Event<'_>, text: &str) -> bool {
        let (global_mode, global_decision) = global;
        match self.own_filter {
            Some(mode) if mode != global_mode => filter::decide(mode, event, text).forwards(),
            _ => global_decision.forwards(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cefrelay_syslog::ParseOptions;

    #[test]
    fn a_sink_with_its_own_filter_decides_for_itself_and_the_others_follow_the_global_one() {
        let options = ParseOptions::new(time::OffsetDateTime::UNIX_EPOCH);
        let text = "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|a=b";
        let event = Event::parse(text, false, &options);
        let global = (
            FilterMode::Cef,
            filter::decide(FilterMode::Cef, &event, text),
        );
        let follows = Route { own_filter: None };
        let takes_traffic = Route {
            own_filter: Some(FilterMode::CefAll),
        };
        let same_as_global = Route {
            own_filter: Some(FilterMode::Cef),
        };
        assert!(!follows.takes(global, &event, text));
        assert!(takes_traffic.takes(global, &event, text));
        assert!(!same_as_global.takes(global, &event, text));
    }
}
