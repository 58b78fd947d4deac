//! A summary line every `log.summary_secs` (5 minutes by default): what came in, what went out,
//! what was dropped and why, and each sink's deliveries and backlog — so a log reader sees the
//! relay working (or not) without a dashboard.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// The counters a summary reports, at one moment.
struct Snapshot {
    received: u64,
    decisions: Vec<(&'static str, bool, u64)>,
    /// Per sink: name, events sent.
    sent: Vec<(String, u64)>,
}

impl Snapshot {
    fn read(metrics: &Metrics) -> Snapshot {
        Snapshot {
            received: metrics.listeners.iter().map(|l| l.frames.get()).sum(),
            decisions: metrics.filter_counts(),
            sent: metrics
                .sinks
                .iter()
                .map(|s| (s.name.clone(), s.sent_events.get()))
                .collect(),
        }
    }
}

/// The line for what happened between `before` and `now`.
fn line(before: &Snapshot, now: &Snapshot, metrics: &Metrics) -> String {
    let delta = |after: u64, earlier: u64| after.saturating_sub(earlier);
    let mut forwarded = 0;
    let mut dropped = String::new();
    for ((label, forwards, count), (_, _, earlier)) in now.decisions.iter().zip(&before.decisions) {
        let n = delta(*count, *earlier);
        if *forwards {
            forwarded += n;
        } else if n > 0 {
            let _ = write!(dropped, " {label}={n}");
        }
    }
    let mut sinks = String::new();
    for (((name, sent), (_, earlier)), sink) in
        now.sent.iter().zip(&before.sent).zip(&metrics.sinks)
    {
        let _ = write!(
            sinks,
            " {name}: sent {} buffered {};",
            delta(*sent, *earlier),
            sink.queue_depth.get()
        );
    }
    format!(
        "received {}, forwarded {forwarded}, dropped{}; sinks:{}",
        delta(now.received, before.received),
        if dropped.is_empty() {
            " none".to_string()
        } else {
            dropped
        },
        sinks.trim_end_matches(';')
    )
}

/// Logs a summary every `every` until `stop`, counting from the moment it is called (not from
/// when the task first runs, which a busy machine can put after the first frames).
pub fn log_every(
    metrics: Arc<Metrics>,
    every: Duration,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> {
    let before = Snapshot::read(&metrics);
    summarise(metrics, before, every, stop)
}

async fn summarise(
    metrics: Arc<Metrics>,
    mut before: Snapshot,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        let now = Snapshot::read(&metrics);
        tracing::info!(
            interval_secs = every.as_secs(),
            "summary: {}",
            line(&before, &now, &metrics)
        );
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::{FilterReason, SinkMetrics};

    #[test]
    fn the_line_counts_what_happened_since_the_last() {
        let reasons = [
            FilterReason {
                forwards: true,
                label: "cef",
            },
            FilterReason {
                forwards: false,
                label: "traffic",
            },
            FilterReason {
                forwards: false,
                label: "not_cef",
            },
        ];
        let metrics = Metrics::new(
            vec!["tcp://127.0.0.1:514".into()],
            vec![SinkMetrics::new("agent", "agent tcp://127.0.0.1:28330")],
            &reasons,
        );
        metrics.listeners[0].frames.add(5);
        let before = Snapshot::read(&metrics);
        metrics.listeners[0].frames.add(10);
        metrics.filter(0).add(6);
        metrics.filter(1).add(4);
        metrics.sinks[0].sent_events.add(6);
        metrics.sinks[0].queue_depth.set(2);
        let now = Snapshot::read(&metrics);
        assert_eq!(
            line(&before, &now, &metrics),
            "received 10, forwarded 6, dropped traffic=4; sinks: agent: sent 6 buffered 2"
        );
    }
}
