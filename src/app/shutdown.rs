//! Stopping (mini-redis, linkerd2-proxy drain): the first SIGTERM or SIGINT stops accepting and
//! drains the buffers to the sinks within the grace period; a second one exits at once. In-process
//! callers (tests) cancel the same tokens themselves.

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::telemetry::metrics::{Metrics, SinkMetrics};

/// The two ways to stop a running app.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Stop accepting, drain the buffers, then return.
    pub drain: CancellationToken,
    /// Stop now, whatever is left.
    pub now: CancellationToken,
}

impl Shutdown {
    /// SIGTERM and SIGINT: the first drains, the second stops at once.
    pub fn on_signals(&self) -> anyhow::Result<()> {
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            for token in [&shutdown.drain, &shutdown.now] {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
                token.cancel();
            }
        });
        Ok(())
    }
}

/// What the grace period left behind, read before the sinks are stopped: stopping them ends the
/// pushes that wait for room, which takes those events out of every gauge.
pub struct Leftover {
    /// In memory and not seen delivered: lost.
    pub lost: u64,
    /// Of `lost`, what sinks had taken (being sent, or sent and not seen read): some of it may
    /// have reached the far end.
    pub taken_by_sinks: u64,
    /// In disk buffers: sent first on the next start.
    pub kept: u64,
}

impl Leftover {
    /// `on_disk[i]` says whether sink `i` (in `metrics.sinks` order) has a disk buffer.
    pub fn read(metrics: &Metrics, on_disk: &[bool]) -> Leftover {
        // Waiting: never sent. Unreleased: sent, but not known to have been delivered.
        let left = |disk: bool, reading: fn(&SinkMetrics) -> u64| {
            metrics
                .sinks
                .iter()
                .zip(on_disk)
                .filter(|(_, &on_disk)| on_disk == disk)
                .map(|(sink, _)| reading(sink))
                .sum::<u64>()
        };
        let waiting = |sink: &SinkMetrics| sink.queue_depth.get();
        let unreleased = |sink: &SinkMetrics| sink.unreleased_events.get();
        // Read from a connection and still waiting for buffer room: in no buffer at all.
        let stranded: u64 = metrics
            .listeners
            .iter()
            .map(|listener| listener.events_awaiting_buffer.get())
            .sum();
        let taken_by_sinks = left(false, unreleased);
        Leftover {
            lost: left(false, waiting) + taken_by_sinks + stranded,
            taken_by_sinks,
            kept: left(true, waiting) + left(true, unreleased),
        }
    }

    /// Logs it; the exit code is 1 when anything was lost.
    pub fn report(&self) -> u8 {
        if self.lost == 0 {
            tracing::info!(events_kept = self.kept, "grace period over: the undelivered events stay in the disk buffers and go first on the next start");
            0
        } else {
            tracing::warn!(events_lost = self.lost, of_which_taken_by_sinks = self.taken_by_sinks, events_kept = self.kept, "grace period over before the memory buffers were drained: events not seen delivered are lost (some a sink had taken, being sent or sent and not seen read, may have reached the far end)");
            1
        }
    }
}
