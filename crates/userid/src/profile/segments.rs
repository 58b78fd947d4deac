//! Putting segmented events back together.
//!
//! Cisco ISE and Aruba ClearPass split an event longer than their syslog message size into
//! segments sent as separate messages, each headed `<message id> <total> <number>` (numbered
//! from 0). A segment boundary falls wherever the size runs out, inside a value too, so the
//! segments' texts are joined as they are, in order.

use std::borrow::Cow;
use std::collections::HashMap;

/// More segments than this is not a real event but a corrupt or hostile header: ISE's largest
/// events fill a few segments even at its smallest message size.
const MAX_SEGMENTS: u32 = 64;

/// One message's part of a segmented event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment<'a> {
    /// Which event this is part of: the sender's event name and message id, and whatever else
    /// keeps two senders' events apart.
    pub event: String,
    /// How many segments the event has.
    pub total: u32,
    /// This segment's number, from 0.
    pub number: u32,
    /// This segment's text after its header.
    pub text: &'a str,
}

/// `<message id> <total> <number> <text>`, the numbered part of a segment's header, with the
/// one space that ends it; `None` when `header` does not start so.
pub(super) fn numbered(header: &str) -> Option<(&str, u32, u32, &str)> {
    let mut fields = header.splitn(4, ' ');
    let id = fields.next().filter(|id| is_number(id))?;
    let total = fields.next().filter(|n| is_number(n))?.parse().ok()?;
    let number = fields.next().filter(|n| is_number(n))?.parse().ok()?;
    Some((id, total, number, fields.next().unwrap_or_default()))
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Events waiting for the rest of their segments, bounded in number and in time.
#[derive(Debug)]
pub(super) struct Reassembly {
    max_pending: usize,
    max_wait_secs: u64,
    pending: HashMap<String, Pending>,
    /// Events given up since the last [`Reassembly::expire`].
    given_up: usize,
}

#[derive(Debug)]
struct Pending {
    first_seen: u64,
    parts: Vec<Option<String>>,
    missing: usize,
}

impl Reassembly {
    pub(super) fn new(max_pending: usize, max_wait_secs: u64) -> Self {
        Reassembly {
            max_pending,
            max_wait_secs,
            pending: HashMap::new(),
            given_up: 0,
        }
    }

    /// The whole event's text once `segment` completes it; `None` while segments are missing,
    /// and for a segment whose numbers make no sense (number past total, too many segments).
    pub(super) fn add<'a>(&mut self, segment: Segment<'a>, now_secs: u64) -> Option<Cow<'a, str>> {
        let Segment {
            event,
            total,
            number,
            text,
        } = segment;
        if number >= total || total > MAX_SEGMENTS {
            return None;
        }
        if total == 1 {
            return Some(Cow::Borrowed(text));
        }
        if !self.pending.contains_key(&event) && !self.make_room() {
            return None;
        }
        let waiting = self
            .pending
            .entry(event.clone())
            .or_insert_with(|| Pending {
                first_seen: now_secs,
                parts: vec![None; total as usize],
                missing: total as usize,
            });
        // A segment of another size under the same id is a different event's: keep the first.
        let part = waiting.parts.get_mut(number as usize)?;
        if part.is_none() {
            *part = Some(text.to_owned());
            waiting.missing -= 1;
        }
        if waiting.missing > 0 {
            return None;
        }
        let whole = self.pending.remove(&event)?;
        Some(Cow::Owned(whole.parts.into_iter().flatten().collect()))
    }

    /// Makes room for one more pending event by giving up the oldest; `false` when nothing may
    /// be held at all.
    fn make_room(&mut self) -> bool {
        if self.max_pending == 0 {
            self.given_up += 1;
            return false;
        }
        if self.pending.len() < self.max_pending {
            return true;
        }
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, waiting)| waiting.first_seen)
            .map(|(event, _)| event.clone());
        if let Some(oldest) = oldest {
            self.pending.remove(&oldest);
            self.given_up += 1;
        }
        true
    }

    /// Gives up the events first seen more than `max_wait_secs` before `now_secs`; returns how
    /// many events were given up since the previous call, these included.
    pub(super) fn expire(&mut self, now_secs: u64) -> usize {
        let max_wait = self.max_wait_secs;
        let before = self.pending.len();
        self.pending
            .retain(|_, waiting| now_secs.saturating_sub(waiting.first_seen) <= max_wait);
        self.given_up += before - self.pending.len();
        std::mem::take(&mut self.given_up)
    }

    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment<'a>(event: &str, total: u32, number: u32, text: &'a str) -> Segment<'a> {
        Segment {
            event: event.to_owned(),
            total,
            number,
            text,
        }
    }

    #[test]
    fn the_numbered_header_is_id_total_number_then_text() {
        assert_eq!(
            numbered("0001939187 4 0 2019-04-24 15:00:48.610 +00:00"),
            Some(("0001939187", 4, 0, "2019-04-24 15:00:48.610 +00:00"))
        );
        assert_eq!(numbered("0001939187 4 3 "), Some(("0001939187", 4, 3, "")));
        assert_eq!(numbered("0001939187 4 x text"), None);
        assert_eq!(numbered("Passed 4 0 text"), None);
        assert_eq!(numbered("1 99999999999 0 text"), None);
    }

    #[test]
    fn a_single_segment_is_the_event_at_once() {
        let mut reassembly = Reassembly::new(4, 10);
        let whole = reassembly.add(segment("a", 1, 0, "k=v"), 0);
        assert_eq!(whole.as_deref(), Some("k=v"));
        assert_eq!(reassembly.pending(), 0);
    }

    #[test]
    fn segments_in_any_order_are_joined_in_number_order_without_separator() {
        let mut reassembly = Reassembly::new(4, 10);
        assert_eq!(reassembly.add(segment("a", 3, 2, "ss=10.0.0.1"), 0), None);
        assert_eq!(
            reassembly.add(segment("a", 3, 0, "User=jdoe, Framed-IP-Addr"), 0),
            None
        );
        assert_eq!(reassembly.pending(), 1);
        let whole = reassembly.add(segment("a", 3, 1, "e"), 1);
        assert_eq!(
            whole.as_deref(),
            Some("User=jdoe, Framed-IP-Address=10.0.0.1")
        );
        assert_eq!(reassembly.pending(), 0);
    }

    #[test]
    fn a_repeated_segment_does_not_complete_the_event() {
        let mut reassembly = Reassembly::new(4, 10);
        assert_eq!(reassembly.add(segment("a", 2, 0, "x"), 0), None);
        assert_eq!(reassembly.add(segment("a", 2, 0, "x"), 0), None);
        assert_eq!(reassembly.pending(), 1);
    }

    #[test]
    fn events_with_different_ids_are_kept_apart() {
        let mut reassembly = Reassembly::new(4, 10);
        assert_eq!(reassembly.add(segment("a", 2, 0, "a0"), 0), None);
        assert_eq!(reassembly.add(segment("b", 2, 0, "b0"), 0), None);
        assert_eq!(
            reassembly.add(segment("a", 2, 1, "a1"), 0).as_deref(),
            Some("a0a1")
        );
        assert_eq!(
            reassembly.add(segment("b", 2, 1, "b1"), 0).as_deref(),
            Some("b0b1")
        );
    }

    #[test]
    fn nonsense_numbers_are_ignored() {
        let mut reassembly = Reassembly::new(4, 10);
        assert_eq!(reassembly.add(segment("a", 2, 2, "x"), 0), None);
        assert_eq!(reassembly.add(segment("a", 0, 0, "x"), 0), None);
        assert_eq!(
            reassembly.add(segment("a", MAX_SEGMENTS + 1, 0, "x"), 0),
            None
        );
        assert_eq!(reassembly.pending(), 0);
    }

    #[test]
    fn the_oldest_event_is_given_up_when_max_pending_is_reached() {
        let mut reassembly = Reassembly::new(2, 10);
        reassembly.add(segment("old", 2, 0, "o"), 1);
        reassembly.add(segment("mid", 2, 0, "m"), 2);
        reassembly.add(segment("new", 2, 0, "n"), 3);
        assert_eq!(reassembly.pending(), 2);
        // The oldest is gone: its last segment starts a new wait instead of completing it.
        assert_eq!(reassembly.add(segment("old", 2, 1, "o"), 4), None);
        assert_eq!(
            reassembly.add(segment("new", 2, 1, "N"), 4).as_deref(),
            Some("nN")
        );
        assert_eq!(reassembly.expire(4), 2, "old, then mid to make room again");
    }

    #[test]
    fn nothing_is_held_when_max_pending_is_zero() {
        let mut reassembly = Reassembly::new(0, 10);
        assert_eq!(reassembly.add(segment("a", 2, 0, "x"), 0), None);
        assert_eq!(reassembly.pending(), 0);
        assert_eq!(reassembly.expire(0), 1);
    }

    #[test]
    fn events_waiting_longer_than_max_wait_are_given_up_and_counted_once() {
        let mut reassembly = Reassembly::new(4, 10);
        reassembly.add(segment("early", 2, 0, "e"), 100);
        reassembly.add(segment("late", 2, 0, "l"), 105);
        assert_eq!(
            reassembly.expire(110),
            0,
            "exactly max_wait is still waiting"
        );
        assert_eq!(reassembly.expire(111), 1);
        assert_eq!(reassembly.pending(), 1);
        assert_eq!(reassembly.expire(111), 0);
        assert_eq!(reassembly.expire(116), 1);
    }
}
