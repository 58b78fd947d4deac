//! The buffer in front of each sink: bounded, in memory or on disk (a write-ahead log from
//! `cefrelay-wal`). Listener tasks push whole batches; the sink reads them in order and
//! acknowledges each once the far end has it. Only acknowledged batches leave the buffer, so a
//! sink that is down, slow or throttling keeps everything it has not delivered, up to the limit.
//!
//! Memory: the bound is in events. A batch takes one permit per event when it is pushed and gives
//! them back when the sink reads it, so `max_events` events wait at most, whatever the batch size
//! (a slow sender makes batches of one event). What the sink has read and not yet acknowledged
//! is held by the sink itself (the agent's resend window, an HTTP request in flight), bounded
//! there, and never holds buffer capacity: capacity that waited for acknowledgements could
//! deadlock a sink that needs to read more to learn what was delivered.
//!
//! Disk: the bound is `max_bytes` of unacknowledged entries. The file I/O never runs on the async
//! worker threads: appends go through a bounded queue to a writer thread of the buffer's own,
//! reads and the acknowledgement bookkeeping (ack record, freeing delivered segments) run on
//! tokio's blocking pool. A write error (disk full, EIO) under `when_full = "block"` pushes back
//! like a full buffer: the TCP reader waits while the writer retries, until space returns;
//! UDP readers and `drop_newest` drop and count. While it cannot write, the sink's
//! `buffer_write_failing` gauge is 1 and `/health` says why.
//!
//! Metrics: `queue_depth` counts the events waiting (accepted, not yet read by the sink) and the
//! oldest-event age is theirs; `unreleased_events` counts those read and not yet acknowledged.

use std::path::Path;
use std::sync::Arc;

use crate::config::{BufferConfig, BufferKind, WhenFull};
use crate::telemetry::metrics::SinkMetrics;

pub mod batch;
mod disk;
mod memory;
#[cfg(test)]
mod tests;

pub use batch::Batch;

/// A batch as the sink reads it: numbered in buffer order, so acknowledgements can say "up to".
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    pub batch: Batch,
}

/// The listener side. Cheap to clone: every listener task holds one per sink.
#[derive(Clone)]
pub struct BufferWriter {
    store: WriterStore,
    when_full: WhenFull,
    metrics: Arc<SinkMetrics>,
}

#[derive(Clone)]
enum WriterStore {
    Memory(memory::MemoryQueue),
    Disk(disk::DiskQueue),
}

/// The sink side: one per sink.
pub struct BufferReader {
    store: ReaderStore,
    metrics: Arc<SinkMetrics>,
}

enum ReaderStore {
    Memory(memory::MemoryReader),
    Disk(disk::DiskReader),
}

/// Why a batch was not buffered.
#[derive(Debug, PartialEq, Eq)]
pub enum NotBuffered {
    /// Full under `drop_newest` or for a UDP reader, or a disk write failed: dropped and counted.
    Dropped,
    /// The sink has stopped (shutdown).
    Closed,
}

/// Opens a sink's buffer. A disk buffer lives in `state_dir/buffer/<sink name>` and comes back
/// with whatever a previous run left unacknowledged, which the reader returns first.
pub fn open(
    config: &BufferConfig,
    state_dir: &Path,
    metrics: Arc<SinkMetrics>,
) -> anyhow::Result<(BufferWriter, BufferReader)> {
    let (writer_store, reader_store) = match &config.kind {
        BufferKind::Memory {
            max_events,
            max_bytes,
        } => {
            let (queue, reader) = memory::open(*max_events, *max_bytes);
            (WriterStore::Memory(queue), ReaderStore::Memory(reader))
        }
        BufferKind::Disk {
            max_bytes,
            segment_bytes,
            fsync,
        } => {
            let (queue, reader) =
                disk::open(state_dir, *max_bytes, *segment_bytes, *fsync, &metrics)?;
            (WriterStore::Disk(queue), ReaderStore::Disk(reader))
        }
    };
    let writer = BufferWriter {
        store: writer_store,
        when_full: config.when_full,
        metrics: metrics.clone(),
    };
    let reader = BufferReader {
        store: reader_store,
        metrics,
    };
    Ok((writer, reader))
}

impl BufferWriter {
    /// For TCP and TLS readers: under `block`, waits for room (the reader stops reading, so the
    /// sender's TCP window closes), also while a disk buffer cannot write; under `drop_newest`,
    /// drops and counts.
    pub async fn push(&self, batch: Batch) -> Result<(), NotBuffered> {
        if self.when_full == WhenFull::DropNewest {
            return self.try_push(batch);
        }
        match &self.store {
            WriterStore::Memory(queue) => queue.push(batch, &self.metrics).await,
            WriterStore::Disk(queue) => queue.push(batch).await,
        }
    }

    /// Never waits (UDP readers cannot push back): a full buffer drops the batch and counts it.
    /// A disk buffer takes the batch into its writer's queue; a write that fails there is
    /// counted by the writer (`dropped{reason="write_error"}`).
    pub fn try_push(&self, batch: Batch) -> Result<(), NotBuffered> {
        match &self.store {
            WriterStore::Memory(queue) => queue.try_push(batch, &self.metrics),
            WriterStore::Disk(queue) => queue.try_push(batch, &self.metrics),
        }
    }

    /// No more batches: the reader ends once it has returned everything (a disk buffer keeps
    /// what is left for the next start). Batches already queued for the disk are written first.
    pub fn close(&self) {
        if let WriterStore::Disk(queue) = &self.store {
            queue.close();
        }
    }
}

impl BufferReader {
    /// The next batch in order; `None` once the writers are closed and everything was read.
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Entry> {
        match &mut self.store {
            ReaderStore::Memory(reader) => reader.next(&self.metrics).await,
            ReaderStore::Disk(reader) => reader.next(&self.metrics).await,
        }
    }

    /// Every batch up to and including `seq` was delivered (or given up on and counted).
    /// Never blocks: a disk buffer records it in memory at once (room for writers) and writes
    /// the ack record and frees disk space on the blocking pool.
    pub fn ack(&mut self, seq: u64) {
        match &mut self.store {
            ReaderStore::Memory(reader) => reader.ack(seq, &self.metrics),
            ReaderStore::Disk(reader) => reader.ack(seq, &self.metrics),
        }
    }
}
