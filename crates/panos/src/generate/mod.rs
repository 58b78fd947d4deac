//! Realistic PAN-OS 10.x CEF messages for `cefrelay send` and the benchmark harness.
//!
//! The records follow the PAN-OS 10 CEF custom formats ("Set A" in
//! `reference/panos-formats.md` §2.1) key for key, with the quirks real firewalls put on the wire:
//! unescaped `=` in URL query strings, raw backslashes in `domain\user`, rule names and labels
//! with spaces, values wrapped in literal double quotes, empty values, and the GlobalProtect
//! template that has no severity field.
//!
//! Output is deterministic for a given seed and reference time: a tiny xorshift generator
//! ([`Rng`]) drives every choice, so a benchmark can be re-run on exactly the same bytes.
//!
//! A [`Record`] is built once and keeps its text split around the `externalId` value, so the
//! sender only splices a marker (`PREFIX-<n>`) and a syslog header into pre-built bytes per
//! message. That is what lets `send` push hundreds of thousands of messages per second.

mod fields;
mod header;
mod identity;
mod mix;
mod record;
mod rng;
mod system;
#[cfg(test)]
mod tests;
mod threat;
mod traffic;

use time::OffsetDateTime;

pub use header::{write_decimal, HeaderFormat, SyslogHeader};
pub use mix::{LogKind, Mix};
pub use record::Record;
pub use rng::Rng;

/// Default seed of `cefrelay send --seed`, so that two runs send the same messages.
pub const DEFAULT_SEED: u64 = 0x5eed_cef0_2026;

/// Records in a [`Pool`]: enough variety for a receiver's caches and branch predictors to see
/// realistic input, small enough (about 1 MiB) to stay in the CPU caches of the sender.
pub const POOL_SIZE: usize = 1024;

/// One CEF record of `kind`, with its `externalId` value left for the sender to fill in.
/// Deterministic for a given `rng` state and `now`.
pub fn generate(kind: LogKind, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let device = &rng.pick(&fields::DEVICES);
    match kind {
        LogKind::Traffic => traffic::traffic(device, rng, now),
        LogKind::Url
        | LogKind::Vulnerability
        | LogKind::Spyware
        | LogKind::Virus
        | LogKind::Wildfire => threat::threat(kind, device, rng, now),
        LogKind::System => system::system(device, rng, now),
        LogKind::Config => system::config(device, rng, now),
        LogKind::GlobalProtect => identity::globalprotect(device, rng, now),
        LogKind::UserId => identity::userid(device, rng, now),
        LogKind::HipMatch => identity::hipmatch(device, rng, now),
    }
}

/// A fixed set of varied records that the sender cycles through: message `n` is record
/// `n % POOL_SIZE` with `externalId=MARKER-n`.
#[derive(Debug, Clone)]
pub struct Pool {
    records: Vec<Record>,
}

impl Pool {
    /// [`POOL_SIZE`] records in the proportions of `mix`, shuffled, timed around `now`.
    pub fn new(mix: &Mix, seed: u64, now: OffsetDateTime) -> Pool {
        let mut rng = Rng::new(seed);
        let mut kinds = mix.allocate(POOL_SIZE);
        // Fisher–Yates, so that a short run still sees every kind in about the right share.
        for i in (1..kinds.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            kinds.swap(i, j);
        }
        let records = kinds
            .into_iter()
            .map(|kind| generate(kind, &mut rng, now))
            .collect();
        Pool { records }
    }

    /// The record message `n` is made from.
    pub fn record(&self, n: u64) -> &Record {
        &self.records[(n % self.records.len() as u64) as usize]
    }
}
