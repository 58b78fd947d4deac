//! What `cefrelay cef-troubleshoot` asks the running relay through the admin endpoint: counts per
//! sending host (`GET /peers`, for the live-traffic check) and the journey of its mock messages
//! (`GET /mocks`: received, forwarded, written to the sink). Both are bounded, whatever arrives.
//! The same per-sender counts give `/metrics` its per-sender series ([`Observer::render`]): when
//! each sender was last heard from, and how much it sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Mutex;

use serde::Serialize;

use super::metrics::Family;

/// Senders tracked one by one; any more are added up under `other`, so a spoofed-source UDP flood
/// cannot grow the map.
const MAX_PEERS: usize = 1024;
/// Mock messages remembered, newest last.
const MAX_MOCKS: usize = 512;

#[derive(Debug, Default, Clone, Serialize)]
pub struct PeerCounts {
    pub received: u64,
    pub cef_valid: u64,
    /// Messages in PAN-OS's default CSV format (not CEF).
    pub panos_csv: u64,
    /// Of those, by log type (`THREAT`, …, `unknown`).
    pub panos_types: BTreeMap<&'static str, u64>,
    /// Of those, the ones `[panos] csv = "convert"` could not convert (the reason is logged).
    pub panos_unconverted: u64,
    pub forwarded: u64,
    pub dropped_traffic: u64,
    pub dropped_not_cef: u64,
    pub dropped_invalid_cef: u64,
    pub dropped_other: u64,
    /// Unix seconds of the newest message (by its receive time), for "no data from this sender"
    /// alerts. A plain field beside the counts: the lock is held anyway, so it costs a compare.
    pub last_seen: i64,
}

const SENDER_LAST_SEEN: Family = Family::gauge(
    "cefrelay_sender_last_seen_timestamp_seconds",
    "Unix time of the newest message from each sender (at most 1024 senders; the rest as sender=\"other\")",
);
const SENDER_MESSAGES: Family = Family::counter(
    "cefrelay_sender_messages_total",
    "Messages received from each sender, troubleshooter mocks left out (at most 1024 senders; the rest as sender=\"other\")",
);

#[derive(Debug, Clone, Serialize)]
pub struct MockJourney {
    pub marker: String,
    pub forwarded: bool,
    pub written: bool,
}

#[derive(Debug, Default)]
pub struct Observer {
    peers: Mutex<Peers>,
    mocks: Mutex<VecDeque<MockJourney>>,
}

#[derive(Debug, Default)]
struct Peers {
    by_address: HashMap<IpAddr, PeerCounts>,
    other: PeerCounts,
}

/// What one message was, for [`PeerCounts::record`].
pub struct Seen {
    /// When the message was received, in Unix seconds.
    pub at: i64,
    pub cef_valid: bool,
    pub panos_csv: bool,
    /// The PAN-OS log type of a CSV message.
    pub panos_type: Option<&'static str>,
    /// A PAN-OS CSV message that was to be converted and was not.
    pub panos_unconverted: bool,
    pub outcome: Outcome,
}

/// What the filter did with a message, as the per-sender counts tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    DroppedTraffic,
    DroppedNotCef,
    DroppedInvalidCef,
    DroppedOther,
}

impl PeerCounts {
    /// Counts one message.
    pub fn record(&mut self, seen: &Seen) {
        self.received += 1;
        // The newest, not the last counted: messages of one read share a receive time, and
        // the UDP sockets read in parallel may flush out of order.
        self.last_seen = self.last_seen.max(seen.at);
        self.cef_valid += u64::from(seen.cef_valid);
        self.panos_csv += u64::from(seen.panos_csv);
        if let Some(log_type) = seen.panos_type {
            *self.panos_types.entry(log_type).or_default() += 1;
        }
        self.panos_unconverted += u64::from(seen.panos_unconverted);
        *match seen.outcome {
            Outcome::Forwarded => &mut self.forwarded,
            Outcome::DroppedTraffic => &mut self.dropped_traffic,
            Outcome::DroppedNotCef => &mut self.dropped_not_cef,
            Outcome::DroppedInvalidCef => &mut self.dropped_invalid_cef,
            Outcome::DroppedOther => &mut self.dropped_other,
        } += 1;
    }

    /// Adds the counts of `more`.
    fn add(&mut self, more: &PeerCounts) {
        self.received += more.received;
        self.last_seen = self.last_seen.max(more.last_seen);
        self.cef_valid += more.cef_valid;
        self.panos_csv += more.panos_csv;
        for (log_type, count) in &more.panos_types {
            *self.panos_types.entry(log_type).or_default() += count;
        }
        self.panos_unconverted += more.panos_unconverted;
        self.forwarded += more.forwarded;
        self.dropped_traffic += more.dropped_traffic;
        self.dropped_not_cef += more.dropped_not_cef;
        self.dropped_invalid_cef += more.dropped_invalid_cef;
        self.dropped_other += more.dropped_other;
    }
}

/// What the filter dropped from a sender for the first time, in one [`Observer::merge`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FirstDrops {
    /// PAN-OS TRAFFIC.
    pub traffic: bool,
    /// A line without CEF.
    pub not_cef: bool,
}

impl Observer {
    /// Adds what a source counted of `peer` since its last flush; says which kinds of drop are
    /// this sender's first (the caller says so once: nobody expects them).
    pub fn merge(&self, peer: IpAddr, counted: &PeerCounts) -> FirstDrops {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let peers = &mut *peers;
        let tracked = peers.by_address.len() < MAX_PEERS || peers.by_address.contains_key(&peer);
        let counts = if tracked {
            peers.by_address.entry(peer).or_default()
        } else {
            &mut peers.other
        };
        let first = FirstDrops {
            traffic: tracked && counts.dropped_traffic == 0 && counted.dropped_traffic > 0,
            not_cef: tracked && counts.dropped_not_cef == 0 && counted.dropped_not_cef > 0,
        };
        counts.add(counted);
        first
    }

    /// A mock passed the filter (they always do) on its way to the sink.
    pub fn mock_forwarded(&self, marker: &str) {
        let mut mocks = self.mocks.lock().unwrap_or_else(|p| p.into_inner());
        if mocks.len() == MAX_MOCKS {
            mocks.pop_front();
        }
        mocks.push_back(MockJourney {
            marker: marker.to_string(),
            forwarded: true,
            written: false,
        });
    }

    /// The sink wrote a batch holding these mocks.
    pub fn mocks_written(&self, markers: &[String]) {
        if markers.is_empty() {
            return;
        }
        let mut mocks = self.mocks.lock().unwrap_or_else(|p| p.into_inner());
        for journey in mocks.iter_mut().filter(|j| markers.contains(&j.marker)) {
            journey.written = true;
        }
    }

    /// `{"peers":{"192.0.2.1":{…}},"other":{…}}`
    pub fn peers_json(&self) -> String {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let by_address: HashMap<String, &PeerCounts> = peers
            .by_address
            .iter()
            .map(|(address, counts)| (address.to_string(), counts))
            .collect();
        serde_json::json!({ "peers": by_address, "other": peers.other }).to_string()
    }

    /// The per-sender series of `/metrics`: last seen and messages received, one sample per
    /// tracked sender (sorted, so the text is stable) and `sender="other"` once any sender beyond
    /// [`MAX_PEERS`] was counted. The counts are copied out first, so rendering a thousand lines
    /// never holds the lock the data path takes.
    pub fn render(&self, out: &mut String) {
        let (mut senders, other) = {
            let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            let senders: Vec<(IpAddr, i64, u64)> = peers
                .by_address
                .iter()
                .map(|(address, counts)| (*address, counts.last_seen, counts.received))
                .collect();
            (senders, (peers.other.last_seen, peers.other.received))
        };
        senders.sort_unstable();
        let mut rows: Vec<(String, i64, u64)> = senders
            .into_iter()
            .map(|(address, last_seen, received)| (address.to_string(), last_seen, received))
            .collect();
        if other.1 > 0 {
            rows.push(("other".to_string(), other.0, other.1));
        }
        SENDER_LAST_SEEN.header(out);
        for (sender, last_seen, _) in &rows {
            let name = SENDER_LAST_SEEN.name;
            let _ = writeln!(out, "{name}{{sender=\"{sender}\"}} {last_seen}");
        }
        SENDER_MESSAGES.header(out);
        for (sender, _, received) in &rows {
            let name = SENDER_MESSAGES.name;
            let _ = writeln!(out, "{name}{{sender=\"{sender}\"}} {received}");
        }
    }

    /// `{"mocks":[{"marker":…,"forwarded":true,"written":true},…]}`
    pub fn mocks_json(&self) -> String {
        let mocks = self.mocks.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::json!({ "mocks": *mocks }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_bounded() {
        let observer = Observer::default();
        let seen = Seen {
            at: 0,
            cef_valid: true,
            panos_csv: false,
            panos_type: None,
            panos_unconverted: false,
            outcome: Outcome::Forwarded,
        };
        let mut one = PeerCounts::default();
        one.record(&seen);
        for n in 0..(MAX_PEERS as u32 + 10) {
            observer.merge(IpAddr::from(n.to_be_bytes()), &one);
        }
        let peers = observer.peers.lock().unwrap();
        assert_eq!(peers.by_address.len(), MAX_PEERS);
        assert_eq!(peers.other.received, 10);
    }

    fn seen_at(at: i64) -> Seen {
        Seen {
            at,
            cef_valid: true,
            panos_csv: false,
            panos_type: None,
            panos_unconverted: false,
            outcome: Outcome::Forwarded,
        }
    }

    /// One message of `peer`, counted and merged as a source does it.
    fn message(observer: &Observer, peer: IpAddr, seen: &Seen) {
        let mut counts = PeerCounts::default();
        counts.record(seen);
        observer.merge(peer, &counts);
    }

    /// The samples of `/metrics` this observer renders, as `name{labels} value` lines.
    fn rendered(observer: &Observer) -> Vec<String> {
        let mut out = String::new();
        observer.render(&mut out);
        out.lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn each_sender_shows_its_newest_message_time_even_when_counted_out_of_order() {
        let observer = Observer::default();
        let (a, b): (IpAddr, IpAddr) =
            ("192.0.2.9".parse().unwrap(), "2001:db8::1".parse().unwrap());
        message(&observer, a, &seen_at(1_700_000_100));
        // An older message flushed later (another UDP socket's reader) does not move it back.
        message(&observer, a, &seen_at(1_700_000_050));
        message(&observer, b, &seen_at(1_700_000_200));
        assert_eq!(
            rendered(&observer),
            [
                r#"cefrelay_sender_last_seen_timestamp_seconds{sender="192.0.2.9"} 1700000100"#,
                r#"cefrelay_sender_last_seen_timestamp_seconds{sender="2001:db8::1"} 1700000200"#,
                r#"cefrelay_sender_messages_total{sender="192.0.2.9"} 2"#,
                r#"cefrelay_sender_messages_total{sender="2001:db8::1"} 1"#,
            ]
        );
    }

    #[test]
    fn senders_beyond_the_bound_are_one_other_series() {
        let observer = Observer::default();
        for n in 0..(MAX_PEERS as u32 + 3) {
            message(
                &observer,
                IpAddr::from(n.to_be_bytes()),
                &seen_at(i64::from(n)),
            );
        }
        let lines = rendered(&observer);
        // One series per tracked sender and one `other`, per metric: bounded whatever arrives.
        assert_eq!(lines.len(), 2 * (MAX_PEERS + 1));
        assert!(lines.contains(&format!(
            r#"cefrelay_sender_last_seen_timestamp_seconds{{sender="other"}} {}"#,
            MAX_PEERS + 2
        )));
        assert!(lines.contains(&r#"cefrelay_sender_messages_total{sender="other"} 3"#.to_string()));
        assert!(SENDER_LAST_SEEN.help.contains(&MAX_PEERS.to_string()));
        assert!(SENDER_MESSAGES.help.contains(&MAX_PEERS.to_string()));
    }

    #[test]
    fn no_other_series_before_a_sender_beyond_the_bound() {
        let observer = Observer::default();
        message(&observer, "192.0.2.1".parse().unwrap(), &seen_at(5));
        assert!(!rendered(&observer)
            .iter()
            .any(|line| line.contains("other")));
    }

    #[test]
    fn a_senders_first_drop_of_each_kind_is_reported_once() {
        let observer = Observer::default();
        let peer = IpAddr::from([192, 0, 2, 1]);
        let counted = |outcome| {
            let mut counts = PeerCounts::default();
            counts.record(&Seen {
                at: 0,
                cef_valid: outcome == Outcome::DroppedTraffic,
                panos_csv: false,
                panos_type: None,
                panos_unconverted: false,
                outcome,
            });
            counts
        };
        let forwarded = counted(Outcome::Forwarded);
        let traffic = counted(Outcome::DroppedTraffic);
        let not_cef = counted(Outcome::DroppedNotCef);
        assert_eq!(observer.merge(peer, &forwarded), FirstDrops::default());
        let first_traffic = FirstDrops {
            traffic: true,
            not_cef: false,
        };
        assert_eq!(observer.merge(peer, &traffic), first_traffic);
        assert_eq!(observer.merge(peer, &traffic), FirstDrops::default());
        let first_not_cef = FirstDrops {
            traffic: false,
            not_cef: true,
        };
        assert_eq!(observer.merge(peer, &not_cef), first_not_cef);
        let other_sender = IpAddr::from([192, 0, 2, 2]);
        assert_eq!(observer.merge(other_sender, &traffic), first_traffic);
    }

    #[test]
    fn mocks_go_from_forwarded_to_written() {
        let observer = Observer::default();
        observer.mock_forwarded("a");
        observer.mock_forwarded("b");
        observer.mocks_written(&["b".to_string()]);
        let json = observer.mocks_json();
        assert!(
            json.contains(r#"{"forwarded":true,"marker":"a","written":false}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"forwarded":true,"marker":"b","written":true}"#),
            "{json}"
        );
    }
}
