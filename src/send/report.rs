//! What the connections did, summed up and printed (as text or `--json`).

use std::io::{self, Write as _};

use anyhow::Context;

/// What one connection did.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) sent: u64,
    pub(super) bytes: u64,
    pub(super) errors: u64,
    pub(super) last_error: Option<String>,
}

impl Tally {
    pub(super) fn error(&mut self, error: &io::Error) {
        self.errors += 1;
        self.last_error = Some(error.to_string());
    }
}

/// The `--json` report, keys in this order.
#[derive(serde::Serialize)]
struct Summary {
    sent: u64,
    bytes: u64,
    seconds: f64,
    rate: f64,
    errors: u64,
}

#[derive(Debug, Default)]
pub(super) struct Report {
    pub(super) sent: u64,
    /// Bytes of framed messages handed to the kernel (TLS record overhead not included).
    pub(super) bytes: u64,
    pub(super) seconds: f64,
    pub(super) errors: u64,
    pub(super) last_error: Option<String>,
}

impl Report {
    pub(super) fn print(&self, json: bool) -> anyhow::Result<()> {
        // A run shorter than the clock's resolution still gets a finite rate.
        let seconds = self.seconds.max(1e-9);
        let rate = self.sent as f64 / seconds;
        let line = if json {
            serde_json::to_string(&Summary {
                sent: self.sent,
                bytes: self.bytes,
                seconds: (self.seconds * 1000.0).round() / 1000.0,
                rate: (rate * 10.0).round() / 10.0,
                errors: self.errors,
            })
            .context("encoding the JSON report")?
        } else {
            format!(
                "sent {} messages ({} bytes) in {:.3} s: {:.0} msg/s, {:.1} MB/s, {} errors",
                self.sent,
                self.bytes,
                self.seconds,
                rate,
                self.bytes as f64 / seconds / 1e6,
                self.errors
            )
        };
        writeln!(io::stdout().lock(), "{line}").context("writing the report to standard output")
    }
}
