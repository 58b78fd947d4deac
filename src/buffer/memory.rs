//! The memory buffer: a channel of batches bounded by permits, one per event and one per byte,
//! which a batch holds from its push until the sink reads it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{Batch, Entry, NotBuffered};
use crate::telemetry::metrics::{unix_ms, SinkMetrics};

/// The memory buffer's shared parts.
#[derive(Clone)]
pub(super) struct MemoryQueue {
    tx: mpsc::Sender<Queued>,
    /// One permit per event that may wait.
    permits: Arc<Semaphore>,
    max_permits: u32,
    /// One permit per byte that may wait.
    byte_permits: Arc<Semaphore>,
    max_byte_permits: u32,
    /// Enqueue times (Unix ms) of the waiting batches, in channel order: the front is the age of
    /// the oldest waiting event. Pushed and popped under this lock together with the channel.
    waiting: Arc<Mutex<VecDeque<u64>>>,
}

struct Queued {
    batch: Batch,
    /// Given back when the sink reads the batch.
    permit: MemoryPermit,
}

/// The memory buffer's sink side.
pub(super) struct MemoryReader {
    rx: mpsc::Receiver<Queued>,
    /// The queue's shared parts without its sender, so that the channel ends once every
    /// writer is gone.
    waiting: Arc<Mutex<VecDeque<u64>>>,
    permits: Arc<Semaphore>,
    byte_permits: Arc<Semaphore>,
    next_seq: u64,
    /// Read, not yet acknowledged: (seq, events, bytes).
    unacked: VecDeque<(u64, u64, u64)>,
}

/// A waiting batch's room in a memory buffer, in events and in bytes.
struct MemoryPermit {
    _events: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// Opens a memory buffer that holds at most `max_events` events and `max_bytes` bytes.
pub(super) fn open(max_events: usize, max_bytes: u64) -> (MemoryQueue, MemoryReader) {
    let max_events = max_events.clamp(1, Semaphore::MAX_PERMITS);
    let max_bytes = usize::try_from(max_bytes)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    // Every queued batch holds at least one permit, so the channel never fills first.
    let (tx, rx) = mpsc::channel(max_events);
    let queue = MemoryQueue {
        tx,
        permits: Arc::new(Semaphore::new(max_events)),
        max_permits: u32::try_from(max_events).unwrap_or(u32::MAX),
        byte_permits: Arc::new(Semaphore::new(max_bytes)),
        max_byte_permits: u32::try_from(max_bytes).unwrap_or(u32::MAX),
        waiting: Arc::default(),
    };
    let reader = MemoryReader {
        rx,
        waiting: queue.waiting.clone(),
        permits: queue.permits.clone(),
        byte_permits: queue.byte_permits.clone(),
        next_seq: 1,
        unacked: VecDeque::new(),
    };
    (queue, reader)
}

impl MemoryQueue {
    /// Waits for room, then queues the batch.
    pub(super) async fn push(
        &self,
        batch: Batch,
        metrics: &SinkMetrics,
    ) -> Result<(), NotBuffered> {
        let (events, bytes) = self.permits_for(&batch);
        let closed = |_| NotBuffered::Closed;
        // Events first, then bytes: the reader gives both back on every read, so a
        // writer holding one while it waits for the other never stops it.
        let permit = MemoryPermit {
            _events: self
                .permits
                .clone()
                .acquire_many_owned(events)
                .await
                .map_err(closed)?,
            _bytes: self
                .byte_permits
                .clone()
                .acquire_many_owned(bytes)
                .await
                .map_err(closed)?,
        };
        self.enqueue(batch, permit, metrics)
    }

    /// Queues the batch if there is room now; drops and counts it if not.
    pub(super) fn try_push(&self, batch: Batch, metrics: &SinkMetrics) -> Result<(), NotBuffered> {
        let events = batch.events;
        let (events_needed, bytes_needed) = self.permits_for(&batch);
        let permit = self
            .permits
            .clone()
            .try_acquire_many_owned(events_needed)
            .and_then(|events| {
                let bytes = self
                    .byte_permits
                    .clone()
                    .try_acquire_many_owned(bytes_needed)?;
                Ok(MemoryPermit {
                    _events: events,
                    _bytes: bytes,
                })
            });
        match permit {
            Ok(permit) => self.enqueue(batch, permit, metrics),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                metrics.dropped_buffer_full.add(events);
                Err(NotBuffered::Dropped)
            }
            Err(tokio::sync::TryAcquireError::Closed) => Err(NotBuffered::Closed),
        }
    }

    /// Queues a batch that holds its permits.
    fn enqueue(
        &self,
        batch: Batch,
        permit: MemoryPermit,
        metrics: &SinkMetrics,
    ) -> Result<(), NotBuffered> {
        let (events, bytes) = (batch.events, batch.data.len() as u64);
        // Under the lock, so that the times are in channel order and the reader, which pops
        // under it too, never counts a batch out before it was counted in.
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        match self.tx.try_send(Queued { batch, permit }) {
            Ok(()) => {
                let now = unix_ms();
                waiting.push_back(now);
                if waiting.len() == 1 {
                    metrics.oldest_unix_ms.set(now);
                }
                metrics.queue_depth.add(events);
                metrics.buffered_bytes.add(bytes);
                Ok(())
            }
            // Cannot happen (see `open`), but if it did, it is a full buffer.
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics.dropped_buffer_full.add(events);
                Err(NotBuffered::Dropped)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(NotBuffered::Closed),
        }
    }

    /// (events, bytes) a batch takes; one larger than the whole buffer takes all of it.
    fn permits_for(&self, batch: &Batch) -> (u32, u32) {
        let clamp = |n: usize, max: u32| u32::try_from(n).unwrap_or(u32::MAX).clamp(1, max);
        (
            clamp(batch.events as usize, self.max_permits),
            clamp(batch.data.len(), self.max_byte_permits),
        )
    }
}

impl MemoryReader {
    /// The next batch in channel order; its room goes back to the writers as it is read.
    pub(super) async fn next(&mut self, metrics: &SinkMetrics) -> Option<Entry> {
        let Queued { batch, permit } = self.rx.recv().await?;
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            waiting.pop_front();
            metrics
                .oldest_unix_ms
                .set(waiting.front().copied().unwrap_or(0));
            metrics.queue_depth.sub(batch.events);
            metrics.unreleased_events.add(batch.events);
        }
        // Read: its room is free again, whatever the sink does with it now.
        drop(permit);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked
            .push_back((seq, batch.events, batch.data.len() as u64));
        Some(Entry { seq, batch })
    }

    /// Counts out every read batch up to and including `seq`.
    pub(super) fn ack(&mut self, seq: u64, metrics: &SinkMetrics) {
        while let Some(&(front, events, bytes)) = self.unacked.front() {
            if front > seq {
                break;
            }
            self.unacked.pop_front();
            metrics.unreleased_events.sub(events);
            metrics.buffered_bytes.sub(bytes);
        }
    }
}

impl Drop for MemoryReader {
    /// The sink is gone: writers waiting for room stop waiting.
    fn drop(&mut self) {
        self.permits.close();
        self.byte_permits.close();
    }
}
