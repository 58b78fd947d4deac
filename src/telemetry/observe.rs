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

/// What one message was, for [`Observer::message`].
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

impl Observer {
    /// Counts one message of `peer`; `true` the first time the filter drops PAN-OS TRAFFIC or a
    /// line without CEF from this sender (the caller says so once: nobody expects it).
    pub fn message(&self, peer: IpAddr, seen: &Seen) -> bool {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let peers = &mut *peers;
        let tracked = peers.by_address.len() < MAX_PEERS || peers.by_address.contains_key(&peer);
        let counts = if tracked {
            peers.by_address.entry(peer).or_default()
        } else {
            &mut peers.other
        };
        let first_drop = tracked
            && match seen.outcome {
                Outcome::DroppedTraffic => counts.dropped_traffic == 0,
                Outcome::DroppedNotCef => counts.dropped_not_cef == 0,
                _ => false,
            };
        counts.received += 1;
        // The newest, not the last counted: UDP sockets read in parallel may count out of order.
        counts.last_seen = counts.last_seen.max(seen.at);
        counts.cef_valid += u64::from(seen.cef_valid);
        counts.panos_csv += u64::from(seen.panos_csv);
        if let Some(log_type) = seen.panos_type {
            *counts.panos_types.entry(log_type).or_default() += 1;
        }
        counts.panos_unconverted += u64::from(seen.panos_unconverted);
        *match seen.outcome {
            Outcome::Forwarded => &mut counts.forwarded,
            Outcome::DroppedTraffic => &mut counts.dropped_traffic,
            Outcome::DroppedNotCef => &mut counts.dropped_not_cef,
            Outcome::DroppedInvalidCef => &mut counts.dropped_invalid_cef,
            Outcome::DroppedOther => &mut counts.dropped_other,
        } += 1;
        first_drop
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
        for n in 0..(MAX_PEERS as u32 + 10) {
            observer.message(IpAddr::from(n.to_be_bytes()), &seen);
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
        observer.message(a, &seen_at(1_700_000_100));
        // An older message counted later (another UDP socket's reader) does not move it back.
        observer.message(a, &seen_at(1_700_000_050));
        observer.message(b, &seen_at(1_700_000_200));
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
            observer.message(IpAddr::from(n.to_be_bytes()), &seen_at(i64::from(n)));
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
        observer.message("192.0.2.1".parse().unwrap(), &seen_at(5));
        assert!(!rendered(&observer)
            .iter()
            .any(|line| line.contains("other")));
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
