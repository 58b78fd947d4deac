//! The suppression windows of every suppress rule, in one bounded table. A key's window opens
//! with its first event and lets `allow` events through; the rest are counted. When the window
//! closes — a later event of the key finds it over, the once-a-second sweep finds it over, or the
//! table is full and it is the oldest — a summary event carries the count, so nothing held back
//! goes unreported.
//!
//! Time is what the caller says it is (the events' receive times, the sweep's clock), so tests
//! drive windows without sleeping.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use cefrelay_cef::{Cef, Extension};
use time::OffsetDateTime;

use super::SinkSet;

/// What a summary event is built from: the first held-back event's header and key.
#[derive(Debug, Clone)]
pub struct SummarySource {
    /// The syslog PRI, host and sender of that event.
    pub pri: u8,
    pub host: String,
    pub peer: IpAddr,
    /// Vendor, product, version, class ID, name, severity; the relay's own for an event
    /// without CEF.
    pub header: [String; 6],
    /// The key's fields as CEF extension pairs.
    pub key: Vec<(String, String)>,
}

/// A closed window with events held back: the line to send, and to which sinks.
#[derive(Debug, Clone)]
pub struct Summary {
    pub rule: usize,
    pub line: String,
    pub peer: IpAddr,
    pub sinks: SinkSet,
    /// A dry-run rule's summary is counted, never sent.
    pub dry_run: bool,
}

#[derive(Debug)]
struct Window {
    start: OffsetDateTime,
    length: Duration,
    passed: u64,
    suppressed: u64,
    /// The sinks the held-back events would have reached.
    sinks: SinkSet,
    source: Option<SummarySource>,
    rule_name: String,
    dry_run: bool,
}

/// Whether an event goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Pass,
    Suppressed,
}

/// The open windows, at most `max` over every rule.
#[derive(Debug)]
pub struct SuppressTable {
    max: usize,
    open: HashMap<(usize, Box<str>), Window>,
    /// Per rule, its keys in the order their windows opened, with the start that opened them
    /// (one rule's windows all have one length, so this is also the order they close in). An
    /// entry whose window has since closed and reopened is stale and skipped.
    opened: Vec<VecDeque<(Box<str>, OffsetDateTime)>>,
    /// Windows closed early because the table was full, since [`Self::take_evicted`].
    evicted: u64,
}

/// What one suppress rule asks of the table for one event.
pub struct Ask<'r> {
    pub rule: usize,
    pub rule_name: &'r str,
    pub dry_run: bool,
    pub allow: u64,
    pub window: Duration,
    pub key: String,
    pub sinks: SinkSet,
}

impl SuppressTable {
    pub fn new(max: usize, rules: usize) -> Self {
        SuppressTable {
            max,
            open: HashMap::new(),
            opened: (0..rules).map(|_| VecDeque::new()).collect(),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// The windows closed early since the last call.
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// Lets an event of `ask.key` through or holds it back; windows that close on the way are
    /// pushed to `summaries`. `source` describes the event, asked only when it is the first one
    /// held back in its window.
    pub fn admit(
        &mut self,
        ask: Ask<'_>,
        now: OffsetDateTime,
        source: impl FnOnce() -> SummarySource,
        summaries: &mut Vec<Summary>,
    ) -> Admit {
        let id = (ask.rule, ask.key.into_boxed_str());
        if let Some(window) = self.open.get_mut(&id) {
            if now < window.start + window.length {
                window.sinks |= ask.sinks;
                if window.passed < ask.allow {
                    window.passed += 1;
                    return Admit::Pass;
                }
                window.suppressed += 1;
                if window.source.is_none() {
                    window.source = Some(source());
                }
                return Admit::Suppressed;
            }
            let over = self.open.remove(&id).expect("the window was just found");
            summaries.extend(summary(ask.rule, over));
        }
        if self.open.len() >= self.max {
            self.evict_oldest(summaries);
        }
        let passes = ask.allow > 0;
        let window = Window {
            start: now,
            length: ask.window,
            passed: u64::from(passes),
            suppressed: u64::from(!passes),
            sinks: ask.sinks,
            source: (!passes).then(source),
            rule_name: ask.rule_name.to_string(),
            dry_run: ask.dry_run,
        };
        self.opened[ask.rule].push_back((id.1.clone(), now));
        self.open.insert(id, window);
        if passes {
            Admit::Pass
        } else {
            Admit::Suppressed
        }
    }

    /// Closes every window that is over at `now`.
    pub fn close_over(&mut self, now: OffsetDateTime, summaries: &mut Vec<Summary>) {
        for rule in 0..self.opened.len() {
            while let Some((key, start)) = self.opened[rule].front() {
                let id = (rule, key.clone());
                match self.open.get(&id) {
                    Some(window) if window.start == *start => {
                        if now < window.start + window.length {
                            break;
                        }
                        let over = self.open.remove(&id).expect("the window was just found");
                        summaries.extend(summary(rule, over));
                    }
                    // Stale: that window closed already.
                    _ => {}
                }
                self.opened[rule].pop_front();
            }
        }
    }

    /// Closes every window, over or not: at shutdown and when a reload replaces the rules.
    pub fn close_all(&mut self, summaries: &mut Vec<Summary>) {
        for ((rule, _), window) in self.open.drain() {
            summaries.extend(summary(rule, window));
        }
        self.opened.iter_mut().for_each(VecDeque::clear);
    }

    /// Closes the window that opened first, over every rule.
    fn evict_oldest(&mut self, summaries: &mut Vec<Summary>) {
        loop {
            let oldest = self
                .opened
                .iter()
                .enumerate()
                .filter_map(|(rule, keys)| keys.front().map(|(_, start)| (rule, *start)))
                .min_by_key(|(_, start)| *start);
            let Some((rule, _)) = oldest else { return };
            let (key, start) = self.opened[rule]
                .pop_front()
                .expect("the front was just read");
            let id = (rule, key);
            if self.open.get(&id).is_some_and(|w| w.start == start) {
                let window = self.open.remove(&id).expect("the window was just found");
                self.evicted += 1;
                summaries.extend(summary(rule, window));
                return;
            }
        }
    }
}

/// The summary of a closed window, if it held anything back.
fn summary(rule: usize, window: Window) -> Option<Summary> {
    let source = window.source?;
    if window.suppressed == 0 {
        return None;
    }
    let end = window.start + window.length;
    let millis = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000).to_string();
    let [vendor, product, version, class_id, name, severity] = &source.header;
    let mut extensions: Vec<(&str, std::borrow::Cow<'_, str>)> = vec![
        ("cnt", window.suppressed.to_string().into()),
        ("start", millis(window.start).into()),
        ("end", millis(end).into()),
        ("cefrelayRule", window.rule_name.as_str().into()),
    ];
    for (key, value) in &source.key {
        extensions.push((key, value.as_str().into()));
    }
    let cef = Cef {
        version: 0,
        device_vendor: vendor.into(),
        device_product: product.into(),
        device_version: version.into(),
        signature_id: class_id.into(),
        name: name.into(),
        severity: severity.into(),
        extensions: Extension::from_pairs(extensions),
    };
    let stamp = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second]"
    );
    let when = end.format(&stamp).unwrap_or_default();
    let mut line = format!("<{}>{when} {} ", source.pri, source.host);
    cefrelay_cef::encode(&cef, &mut line);
    Some(Summary {
        rule,
        line,
        peer: source.peer,
        sinks: window.sinks,
        dry_run: window.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_764_000_000 + secs).unwrap()
    }

    fn ask(key: &str, allow: u64) -> Ask<'static> {
        Ask {
            rule: 0,
            rule_name: "repeats",
            dry_run: false,
            allow,
            window: Duration::from_secs(60),
            key: key.to_string(),
            sinks: 0b1,
        }
    }

    fn source() -> SummarySource {
        SummarySource {
            pri: 14,
            host: "fw1".into(),
            peer: "192.0.2.1".parse().unwrap(),
            header: [
                "Palo Alto Networks",
                "PAN-OS",
                "10.1",
                "general",
                "SYSTEM",
                "1",
            ]
            .map(String::from),
            key: vec![("cat".into(), "ntpd-sync".into())],
        }
    }

    #[test]
    fn a_window_lets_allow_through_and_its_summary_counts_the_rest() {
        let mut table = SuppressTable::new(10, 1);
        let mut summaries = Vec::new();
        let outcomes: Vec<Admit> = (0..5)
            .map(|n| table.admit(ask("k", 2), at(n), source, &mut summaries))
            .collect();
        assert_eq!(
            outcomes,
            [
                Admit::Pass,
                Admit::Pass,
                Admit::Suppressed,
                Admit::Suppressed,
                Admit::Suppressed
            ]
        );
        table.close_over(at(59), &mut summaries);
        assert!(summaries.is_empty(), "the window is not over yet");
        table.close_over(at(60), &mut summaries);
        assert_eq!(summaries.len(), 1);
        let line = &summaries[0].line;
        assert!(line.starts_with("<14>Nov 24 16:01:00 fw1 CEF:0|Palo Alto Networks|PAN-OS|10.1|general|SYSTEM|1|cnt=3 start=1764000000000 end=1764000060000 cefrelayRule=repeats cat=ntpd-sync"), "{line}");
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_window_that_held_nothing_back_closes_silently() {
        let mut table = SuppressTable::new(10, 1);
        let mut summaries = Vec::new();
        table.admit(ask("k", 2), at(0), source, &mut summaries);
        table.close_over(at(61), &mut summaries);
        assert!(summaries.is_empty());
    }

    #[test]
    fn the_next_event_after_the_window_closes_it_and_opens_another() {
        let mut table = SuppressTable::new(10, 1);
        let mut summaries = Vec::new();
        table.admit(ask("k", 1), at(0), source, &mut summaries);
        table.admit(ask("k", 1), at(1), source, &mut summaries);
        let next = table.admit(ask("k", 1), at(70), source, &mut summaries);
        assert_eq!(next, Admit::Pass);
        assert_eq!(summaries.len(), 1);
        assert!(summaries[0].line.contains("cnt=1 "));
        // The stale entry of the first window must not close the second one.
        table.close_over(at(80), &mut summaries);
        assert_eq!((summaries.len(), table.len()), (1, 1));
    }

    #[test]
    fn a_full_table_closes_its_oldest_window_early_and_counts_it() {
        let mut table = SuppressTable::new(2, 1);
        let mut summaries = Vec::new();
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            table.admit(ask(key, 0), at(n as i64), source, &mut summaries);
        }
        assert_eq!(
            (table.len(), table.take_evicted(), summaries.len()),
            (2, 1, 1)
        );
        assert!(summaries[0].line.contains("cnt=1 "));
    }

    #[test]
    fn close_all_reports_every_open_window() {
        let mut table = SuppressTable::new(10, 1);
        let mut summaries = Vec::new();
        for key in ["a", "b"] {
            table.admit(ask(key, 0), at(0), source, &mut summaries);
        }
        table.close_all(&mut summaries);
        assert_eq!((summaries.len(), table.len()), (2, 0));
    }
}
