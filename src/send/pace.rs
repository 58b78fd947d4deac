//! Keeping to `--rate`, and stopping at the end of `--duration` or on Ctrl-C.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// After the stop (--duration, Ctrl-C) a batch already being written gets this long to finish,
/// so that the receiver does not see a cut-off last message; and closing gets as long again.
pub(super) const FINISH_GRACE: Duration = Duration::from_secs(5);
/// With --rate, a connection sleeps at least this long between bursts: smooth enough for any
/// receiver, and at most 200 wake-ups per second however high the rate.
const PACING_TICK: Duration = Duration::from_millis(5);

/// Keeps one connection at its share of --rate: messages go in bursts of whatever is due, with
/// at least [`PACING_TICK`] between bursts.
pub(super) struct Pacer {
    pub(super) per_second: f64,
    pub(super) start: Instant,
    pub(super) released: u64,
}

impl Pacer {
    /// Waits until at least one message is due, then releases up to `want` of them.
    pub(super) async fn allowance(&mut self, want: u64) -> u64 {
        loop {
            match self.release(self.start.elapsed(), want) {
                Ok(released) => return released,
                Err(wake) => {
                    let wake = self
                        .start
                        .checked_add(wake)
                        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                    tokio::time::sleep_until(wake).await;
                }
            }
        }
    }

    /// At `elapsed` since the start: how many messages go now (at most `want`), or when (since
    /// the start) to look again.
    fn release(&mut self, elapsed: Duration, want: u64) -> Result<u64, Duration> {
        // The first message is due at once, the next ones every 1/rate seconds after it.
        let due = (elapsed.as_secs_f64() * self.per_second) as u64 + 1;
        if due > self.released {
            let released = (due - self.released).min(want);
            self.released += released;
            return Ok(released);
        }
        let next_due = Duration::try_from_secs_f64(self.released as f64 / self.per_second)
            .unwrap_or(Duration::MAX);
        Err(next_due.max(elapsed.saturating_add(PACING_TICK)))
    }
}

/// The end of --duration, or Ctrl-C.
#[derive(Clone)]
pub(super) struct Stop {
    pub(super) deadline: Option<Instant>,
    pub(super) interrupted: CancellationToken,
}

impl Stop {
    pub(super) fn reached(&self) -> bool {
        self.interrupted.is_cancelled() || self.deadline.is_some_and(|at| Instant::now() >= at)
    }

    async fn wait(&self) {
        match self.deadline {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = self.interrupted.cancelled() => {}
            },
            None => self.interrupted.cancelled().await,
        }
    }

    /// `work`'s output, or `None` if the stop comes first.
    pub(super) async fn or_stop<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            output = work => Some(output),
            () = self.wait() => None,
        }
    }

    /// `work`'s output, or `None` if it is still running [`FINISH_GRACE`] after the stop.
    pub(super) async fn or_stop_with_grace<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            output = work => Some(output),
            () = async { self.wait().await; tokio::time::sleep(FINISH_GRACE).await } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_releases_messages_at_the_rate_in_bursts() {
        let mut pacer = Pacer {
            per_second: 1000.0,
            start: Instant::now(),
            released: 0,
        };
        let (mut elapsed, mut released, mut bursts) = (Duration::ZERO, 0, 0);
        while elapsed <= Duration::from_secs(1) {
            match pacer.release(elapsed, 1_000_000) {
                Ok(n) => {
                    released += n;
                    bursts += 1;
                }
                Err(wake) => {
                    assert!(wake > elapsed, "the pacer must not busy-loop");
                    elapsed = wake;
                }
            }
        }
        // One at the start, then one every millisecond.
        assert_eq!(released, 1001);
        assert!(bursts <= 202, "{bursts} bursts: one sleep per message?");
        // A slow rate sleeps until the next message, not a tick at a time.
        let mut slow = Pacer {
            per_second: 2.0,
            start: Instant::now(),
            released: 0,
        };
        assert_eq!(slow.release(Duration::ZERO, 64), Ok(1));
        assert_eq!(
            slow.release(Duration::ZERO, 64),
            Err(Duration::from_millis(500))
        );
    }
}
