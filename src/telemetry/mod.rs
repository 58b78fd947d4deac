//! Logs and metrics: every counter lives in [`metrics`], the admin endpoint in [`admin`], and
//! each event worth a counter and a log line in [`events`], whose warnings go through
//! [`RateLimited`] so a flood of garbage cannot flood the log.

pub mod admin;
pub mod events;
pub mod metrics;
pub mod observe;
pub mod process;
pub mod summary;
pub mod tally;
pub mod tap;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Log, LogFormat};

/// Sets up `tracing` output on standard error; `RUST_LOG` overrides the configured level.
/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org): journald and log
/// files must not get escape codes.
pub fn init_logging(log: &Log) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_wanted(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether log lines get colour: on a terminal, unless `NO_COLOR` is set to anything but "".
fn colour_wanted(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Lets one warning of a kind through per interval and says how many were held back meanwhile.
#[derive(Debug)]
pub struct RateLimited {
    interval_secs: u64,
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimited {
    pub const fn new(interval_secs: u64) -> Self {
        RateLimited {
            interval_secs,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last one)` when a warning may be logged now.
    pub fn allow(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Relaxed);
        if now >= last.saturating_add(self.interval_secs)
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_warning_in_an_interval_passes_and_the_rest_are_counted() {
        let limit = RateLimited::new(3600);
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.suppressed.load(Relaxed), 2);
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        use std::ffi::OsStr;
        assert!(colour_wanted(true, None));
        assert!(!colour_wanted(false, None), "journald, a pipe, a file");
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(
            colour_wanted(true, Some(OsStr::new(""))),
            "NO_COLOR= means unset"
        );
    }
}
