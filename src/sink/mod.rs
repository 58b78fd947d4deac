//! Where kept messages go. Today: the local Azure Monitor agent over TCP ([`agent`]).

pub mod agent;
pub mod encode;
pub mod records;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::pipeline::Batch;
use crate::telemetry::metrics::Metrics;

/// The bounded queue in front of a sink. TCP readers wait on [`SinkQueue::send`] when it is full
/// (their senders' TCP windows close); UDP readers use [`SinkQueue::try_send`] and count the drop.
#[derive(Clone)]
pub struct SinkQueue {
    tx: mpsc::Sender<Batch>,
    metrics: Arc<Metrics>,
}

/// Capacity in batches for a queue of `events` events of at most one batch each.
pub fn queue(events: usize, metrics: Arc<Metrics>) -> (SinkQueue, mpsc::Receiver<Batch>) {
    let batches = (events / crate::pipeline::BATCH_MAX_EVENTS as usize).max(1);
    let (tx, rx) = mpsc::channel(batches);
    (SinkQueue { tx, metrics }, rx)
}

impl SinkQueue {
    /// Waits for room; fails only when the sink has stopped.
    pub async fn send(&self, batch: Batch) -> Result<(), Batch> {
        let events = batch.events;
        self.metrics.sink.queue_depth.add(events);
        self.tx.send(batch).await.map_err(|e| {
            self.metrics.sink.queue_depth.sub(events);
            e.0
        })
    }

    /// Queues without waiting; gives the batch back when the queue is full.
    pub fn try_send(&self, batch: Batch) -> Result<(), Batch> {
        let events = batch.events;
        self.metrics.sink.queue_depth.add(events);
        self.tx.try_send(batch).map_err(|e| {
            self.metrics.sink.queue_depth.sub(events);
            e.into_inner()
        })
    }
}
