//! Counts kept by the task that reads one connection (or one UDP socket) while its frames go
//! through the pipeline, added to the shared metrics and the per-sender table after each read
//! ([`crate::pipeline::Pipeline::flush`]) instead of once per message: a read holds tens to
//! thousands of frames, and every shared counter touched per message is a cache line the cores
//! pass back and forth (and the per-sender table a process-wide lock).
//!
//! A source flushes before each wait (for the socket, or for room in the buffers), so nothing it
//! counted sits here while it is idle: the metrics and `GET /peers` are as current as the last
//! read.

use std::net::IpAddr;

use super::observe::{PeerCounts, Seen};

/// Senders one tally keeps apart before it must be flushed: one for a TCP connection; a UDP
/// read of many datagrams may hold more.
pub const MAX_SENDERS: usize = 16;

/// What the pipeline counted since the last flush.
#[derive(Debug)]
pub struct Tally {
    /// By syslog header format: RFC 3164, RFC 5424, none.
    pub parsed: [u64; 3],
    /// CEF records: valid, invalid.
    pub cef: [u64; 2],
    /// By filter decision, in the order of the filter metrics.
    pub filter: Vec<u64>,
    /// By sink: events its route did not take.
    pub sink_filtered: Vec<u64>,
    senders: Vec<(IpAddr, PeerCounts)>,
}

impl Tally {
    /// An empty tally for `decisions` filter decisions and `sinks` sinks.
    pub fn new(decisions: usize, sinks: usize) -> Self {
        Tally {
            parsed: [0; 3],
            cef: [0; 2],
            filter: vec![0; decisions],
            sink_filtered: vec![0; sinks],
            senders: Vec::new(),
        }
    }

    /// Counts one message of `peer`.
    pub fn seen(&mut self, peer: IpAddr, seen: &Seen) {
        let at = match self
            .senders
            .iter()
            .position(|(address, _)| *address == peer)
        {
            Some(at) => at,
            None => {
                self.senders.push((peer, PeerCounts::default()));
                self.senders.len() - 1
            }
        };
        self.senders[at].1.record(seen);
    }

    /// Whether a message from a sender not seen since the last flush needs a flush first.
    pub fn senders_full(&self) -> bool {
        self.senders.len() >= MAX_SENDERS
    }

    /// The per-sender counts, leaving none; the counters are the caller's to zero with
    /// [`Self::clear_counters`] once added.
    pub fn take_senders(&mut self) -> std::vec::Drain<'_, (IpAddr, PeerCounts)> {
        self.senders.drain(..)
    }

    pub fn clear_counters(&mut self) {
        self.parsed = [0; 3];
        self.cef = [0; 2];
        self.filter.fill(0);
        self.sink_filtered.fill(0);
    }
}
