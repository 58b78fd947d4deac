//! Rules: the platform's own drop and keep rules run here, after the agent filter and before
//! enrichment (the `[[rule]]` tables of the rules issue). None can be configured yet: every event
//! the filter kept is kept.

use crate::event::Event;

/// Whether the rules keep `event`.
pub fn keep(_event: &Event<'_>) -> bool {
    true
}
