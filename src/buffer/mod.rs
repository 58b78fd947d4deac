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

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cefrelay_wal::{AppendError, Fsync, Options, Unread, Wal};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{BufferConfig, BufferKind, FsyncPolicy, WhenFull};
pub mod batch;

use crate::telemetry::events;
use crate::telemetry::metrics::{unix_ms, SinkMetrics};
pub use batch::Batch;

/// Batches on their way to a disk buffer's writer thread (at most 64 KiB and 256 events each):
/// accepted, not yet on disk.
const DISK_QUEUE_BATCHES: usize = 32;
/// Longest wait between two attempts to write to a disk that refused (full, I/O error).
const WRITE_RETRY_MAX: Duration = Duration::from_secs(1);

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
    Memory(MemoryQueue),
    Disk(DiskQueue),
}

/// The memory buffer's shared parts.
#[derive(Clone)]
struct MemoryQueue {
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

/// The disk buffer's writer side: requests to the writer thread.
#[derive(Clone)]
struct DiskQueue {
    tx: mpsc::Sender<Request>,
    shared: Arc<DiskShared>,
}

struct DiskShared {
    wal: Wal,
    closing: AtomicBool,
    /// Events and bytes in the request queue: accepted, not yet written.
    queued_events: AtomicU64,
    queued_bytes: AtomicU64,
    /// A persist (ack record, freed segments) is running on the blocking pool.
    persisting: AtomicBool,
}

enum Request {
    Append {
        batch: Batch,
        /// Wait for room (and retry write errors) instead of dropping.
        block: bool,
        reply: Option<oneshot::Sender<Result<(), NotBuffered>>>,
    },
    /// Look at `closing`.
    Wake,
}

/// The sink side: one per sink.
pub struct BufferReader {
    store: ReaderStore,
    next_memory_seq: u64,
    /// Read, not yet acknowledged (memory buffer): (seq, events, bytes).
    unacked: VecDeque<(u64, u64, u64)>,
    /// Damaged disk entries already counted in the metrics (the log counts them at open and
    /// when a read finds one).
    corrupt_counted: u64,
    metrics: Arc<SinkMetrics>,
}

enum ReaderStore {
    Memory {
        rx: mpsc::Receiver<Queued>,
        /// The queue's shared parts without its sender, so that the channel ends once every
        /// writer is gone.
        waiting: Arc<Mutex<VecDeque<u64>>>,
        permits: Arc<Semaphore>,
        byte_permits: Arc<Semaphore>,
    },
    Disk {
        shared: Arc<DiskShared>,
        reader: cefrelay_wal::Reader,
        /// The entry being read on the blocking pool; kept across a cancelled `next`.
        reading: Option<(Unread, JoinHandle<std::io::Result<cefrelay_wal::Entry>>)>,
    },
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
            let max_events = (*max_events).clamp(1, Semaphore::MAX_PERMITS);
            let max_bytes = usize::try_from(*max_bytes)
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
            let reader = ReaderStore::Memory {
                rx,
                waiting: queue.waiting.clone(),
                permits: queue.permits.clone(),
                byte_permits: queue.byte_permits.clone(),
            };
            (WriterStore::Memory(queue), reader)
        }
        BufferKind::Disk {
            max_bytes,
            segment_bytes,
            fsync,
        } => {
            let dir = state_dir.join("buffer").join(&metrics.name);
            let options = Options {
                dir: dir.clone(),
                max_bytes: *max_bytes,
                segment_bytes: *segment_bytes,
                fsync: match fsync {
                    FsyncPolicy::Always => Fsync::Always,
                    FsyncPolicy::Interval(_) => Fsync::Interval,
                    FsyncPolicy::Never => Fsync::Never,
                },
            };
            let (wal, reader, recovery) = Wal::open(options).map_err(|error| {
                anyhow::anyhow!(
                    "cannot open the disk buffer of sink `{}` in {}: {error}",
                    metrics.name,
                    dir.display()
                )
            })?;
            if recovery.torn_tail_bytes > 0 || recovery.corrupt_entries > 0 {
                tracing::warn!(
                    sink = %metrics.name,
                    torn_tail_bytes = recovery.torn_tail_bytes,
                    corrupt_entries = recovery.corrupt_entries,
                    "the disk buffer had a damaged tail (an interrupted write); it was cut off"
                );
            }
            if recovery.ack_file_damaged {
                tracing::warn!(sink = %metrics.name, "the disk buffer's record of delivered events was damaged; everything in it is sent again (duplicates, not loss)");
            }
            if recovery.entries > 0 {
                tracing::info!(sink = %metrics.name, events = recovery.events, "replaying undelivered events from the disk buffer");
            }
            if let FsyncPolicy::Interval(every) = fsync {
                tokio::spawn(sync_periodically(wal.clone(), *every, metrics.name.clone()));
            }
            let shared = Arc::new(DiskShared {
                wal,
                closing: AtomicBool::new(false),
                queued_events: AtomicU64::new(0),
                queued_bytes: AtomicU64::new(0),
                persisting: AtomicBool::new(false),
            });
            publish_disk(&shared, &metrics);
            let (tx, rx) = mpsc::channel(DISK_QUEUE_BATCHES);
            let writer = DiskWriterThread {
                shared: shared.clone(),
                metrics: metrics.clone(),
            };
            std::thread::Builder::new()
                .name(format!("buffer-{}", metrics.name))
                .spawn(move || writer.run(rx))
                .map_err(|error| {
                    anyhow::anyhow!(
                        "cannot start the disk buffer writer of sink `{}`: {error}",
                        metrics.name
                    )
                })?;
            (
                WriterStore::Disk(DiskQueue {
                    tx,
                    shared: shared.clone(),
                }),
                ReaderStore::Disk {
                    shared,
                    reader,
                    reading: None,
                },
            )
        }
    };
    let writer = BufferWriter {
        store: writer_store,
        when_full: config.when_full,
        metrics: metrics.clone(),
    };
    let reader = BufferReader {
        store: reader_store,
        next_memory_seq: 1,
        unacked: VecDeque::new(),
        corrupt_counted: 0,
        metrics,
    };
    Ok((writer, reader))
}

async fn sync_periodically(wal: Wal, every: Duration, sink: String) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let wal = wal.clone();
        match tokio::task::spawn_blocking(move || wal.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => events::BufferFsyncFailed {
                sink: &sink,
                error: &error,
            }
            .emit(),
            Err(_) => return,
        }
    }
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
            WriterStore::Memory(queue) => {
                let (events, bytes) = queue.permits_for(&batch);
                let closed = |_| NotBuffered::Closed;
                // Events first, then bytes: the reader gives both back on every read, so a
                // writer holding one while it waits for the other never stops it.
                let permit = MemoryPermit {
                    _events: queue
                        .permits
                        .clone()
                        .acquire_many_owned(events)
                        .await
                        .map_err(closed)?,
                    _bytes: queue
                        .byte_permits
                        .clone()
                        .acquire_many_owned(bytes)
                        .await
                        .map_err(closed)?,
                };
                self.enqueue(queue, batch, permit)
            }
            WriterStore::Disk(queue) => {
                if queue.shared.closing.load(Ordering::Acquire) {
                    return Err(NotBuffered::Closed);
                }
                let (events, bytes) = (batch.events, batch.data.len() as u64);
                let (reply, outcome) = oneshot::channel();
                let request = Request::Append {
                    batch,
                    block: true,
                    reply: Some(reply),
                };
                // Counted before it is in the queue (the writer may take it out at once), and
                // counted out again if it never gets there, also when this future is dropped
                // while it waits for a place (a connection closed at shutdown).
                let counted = QueuedCount::new(queue, events, bytes);
                if queue.tx.send(request).await.is_err() {
                    return Err(NotBuffered::Closed);
                }
                counted.handed_over();
                outcome.await.unwrap_or(Err(NotBuffered::Closed))
            }
        }
    }

    /// Never waits (UDP readers cannot push back): a full buffer drops the batch and counts it.
    /// A disk buffer takes the batch into its writer's queue; a write that fails there is
    /// counted by the writer (`dropped{reason="write_error"}`).
    pub fn try_push(&self, batch: Batch) -> Result<(), NotBuffered> {
        let events = batch.events;
        match &self.store {
            WriterStore::Memory(queue) => {
                let (events_needed, bytes_needed) = queue.permits_for(&batch);
                let permit = queue
                    .permits
                    .clone()
                    .try_acquire_many_owned(events_needed)
                    .and_then(|events| {
                        let bytes = queue
                            .byte_permits
                            .clone()
                            .try_acquire_many_owned(bytes_needed)?;
                        Ok(MemoryPermit {
                            _events: events,
                            _bytes: bytes,
                        })
                    });
                match permit {
                    Ok(permit) => self.enqueue(queue, batch, permit),
                    Err(tokio::sync::TryAcquireError::NoPermits) => {
                        self.metrics.dropped_buffer_full.add(events);
                        Err(NotBuffered::Dropped)
                    }
                    Err(tokio::sync::TryAcquireError::Closed) => Err(NotBuffered::Closed),
                }
            }
            WriterStore::Disk(queue) => {
                if queue.shared.closing.load(Ordering::Acquire) {
                    return Err(NotBuffered::Closed);
                }
                let bytes = batch.data.len() as u64;
                let request = Request::Append {
                    batch,
                    block: false,
                    reply: None,
                };
                queue.queued(events, bytes);
                match queue.tx.try_send(request) {
                    Ok(()) => Ok(()),
                    Err(error) => {
                        queue.unqueued(events, bytes);
                        match error {
                            mpsc::error::TrySendError::Full(_) => {
                                self.metrics.dropped_buffer_full.add(events);
                                Err(NotBuffered::Dropped)
                            }
                            mpsc::error::TrySendError::Closed(_) => Err(NotBuffered::Closed),
                        }
                    }
                }
            }
        }
    }

    /// Queues a batch that holds its permits.
    fn enqueue(
        &self,
        queue: &MemoryQueue,
        batch: Batch,
        permit: MemoryPermit,
    ) -> Result<(), NotBuffered> {
        let (events, bytes) = (batch.events, batch.data.len() as u64);
        // Under the lock, so that the times are in channel order and the reader, which pops
        // under it too, never counts a batch out before it was counted in.
        let mut waiting = queue.waiting.lock().unwrap_or_else(|p| p.into_inner());
        match queue.tx.try_send(Queued { batch, permit }) {
            Ok(()) => {
                let now = unix_ms();
                waiting.push_back(now);
                if waiting.len() == 1 {
                    self.metrics.oldest_unix_ms.set(now);
                }
                self.metrics.queue_depth.add(events);
                self.metrics.buffered_bytes.add(bytes);
                Ok(())
            }
            // Cannot happen (see `open`), but if it did, it is a full buffer.
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped_buffer_full.add(events);
                Err(NotBuffered::Dropped)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(NotBuffered::Closed),
        }
    }

    /// No more batches: the reader ends once it has returned everything (a disk buffer keeps
    /// what is left for the next start). Batches already queued for the disk are written first.
    pub fn close(&self) {
        if let WriterStore::Disk(queue) = &self.store {
            queue.shared.closing.store(true, Ordering::Release);
            // If the queue is full, the writer is busy and sees `closing` after this request.
            let _ = queue.tx.try_send(Request::Wake);
        }
    }
}

/// A waiting batch's room in a memory buffer, in events and in bytes.
struct MemoryPermit {
    _events: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl MemoryQueue {
    /// (events, bytes) a batch takes; one larger than the whole buffer takes all of it.
    fn permits_for(&self, batch: &Batch) -> (u32, u32) {
        let clamp = |n: usize, max: u32| u32::try_from(n).unwrap_or(u32::MAX).clamp(1, max);
        (
            clamp(batch.events as usize, self.max_permits),
            clamp(batch.data.len(), self.max_byte_permits),
        )
    }
}

/// Events and bytes counted into a disk buffer's queue; counted out when dropped before
/// [`QueuedCount::handed_over`].
struct QueuedCount<'a> {
    queue: &'a DiskQueue,
    events: u64,
    bytes: u64,
}

impl<'a> QueuedCount<'a> {
    fn new(queue: &'a DiskQueue, events: u64, bytes: u64) -> Self {
        queue.queued(events, bytes);
        QueuedCount {
            queue,
            events,
            bytes,
        }
    }

    /// The writer has it: the writer counts it out.
    fn handed_over(self) {
        std::mem::forget(self);
    }
}

impl Drop for QueuedCount<'_> {
    fn drop(&mut self) {
        self.queue.unqueued(self.events, self.bytes);
    }
}

impl DiskQueue {
    fn queued(&self, events: u64, bytes: u64) {
        self.shared
            .queued_events
            .fetch_add(events, Ordering::Relaxed);
        self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn unqueued(&self, events: u64, bytes: u64) {
        self.shared
            .queued_events
            .fetch_sub(events, Ordering::Relaxed);
        self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Sets a disk buffer's gauges from the log's own counts (under its lock, so that of two
/// threads publishing at once the later count wins) plus the writer's queue.
fn publish_disk(shared: &DiskShared, metrics: &SinkMetrics) {
    shared.wal.with_stats(|stats| {
        let queued_events = shared.queued_events.load(Ordering::Relaxed);
        let queued_bytes = shared.queued_bytes.load(Ordering::Relaxed);
        metrics.queue_depth.set(stats.unread_events + queued_events);
        metrics
            .unreleased_events
            .set(stats.events.saturating_sub(stats.unread_events));
        metrics.buffered_bytes.set(stats.bytes + queued_bytes);
        metrics
            .oldest_unix_ms
            .set(stats.oldest_unread_unix_ms.unwrap_or(0));
    });
}

/// The thread that writes a disk buffer: the only one that appends to it.
struct DiskWriterThread {
    shared: Arc<DiskShared>,
    metrics: Arc<SinkMetrics>,
}

impl DiskWriterThread {
    fn run(self, mut requests: mpsc::Receiver<Request>) {
        while let Some(request) = requests.blocking_recv() {
            if let Request::Append {
                batch,
                block,
                reply,
            } = request
            {
                let outcome = self.append(&batch, block);
                self.shared
                    .queued_events
                    .fetch_sub(batch.events, Ordering::Relaxed);
                self.shared
                    .queued_bytes
                    .fetch_sub(batch.data.len() as u64, Ordering::Relaxed);
                publish_disk(&self.shared, &self.metrics);
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            if self.shared.closing.load(Ordering::Acquire) {
                // No new requests; the ones queued already are written, then the queue ends.
                requests.close();
            }
        }
        self.shared.wal.close();
    }

    fn append(&self, batch: &Batch, block: bool) -> Result<(), NotBuffered> {
        let wal = &self.shared.wal;
        let events = batch.events;
        let mut retry_in = Duration::from_millis(10);
        loop {
            let seen = wal.room_generation();
            let error = match wal.append(events as u32, &batch.mock_markers, &batch.data) {
                Ok(_) => {
                    if self.metrics.buffer_write_failing.get() != 0 {
                        events::BufferWritesAgain.emit(&self.metrics);
                    }
                    return Ok(());
                }
                Err(error) => error,
            };
            let closing = self.shared.closing.load(Ordering::Acquire);
            match error {
                AppendError::Closed => return Err(NotBuffered::Closed),
                AppendError::Full if block && !closing => {
                    // Acknowledgements make room; the timeout only re-checks `closing`.
                    wal.wait_for_room(seen, WRITE_RETRY_MAX);
                }
                AppendError::Full => {
                    self.metrics.dropped_buffer_full.add(events);
                    return Err(NotBuffered::Dropped);
                }
                AppendError::Io(error) if block && !closing => {
                    events::BufferCannotWrite { error: &error }.emit(&self.metrics);
                    // Space may come back from delivered entries (freed here if the blocking
                    // pool has not done it yet) or from outside: try again now and then.
                    if wal.persist_needed() {
                        let _ = wal.persist();
                    }
                    wal.wait_for_room(seen, retry_in);
                    retry_in = (retry_in * 2).min(WRITE_RETRY_MAX);
                }
                other => {
                    if let AppendError::Io(error) = &other {
                        events::BufferCannotWrite { error }.emit(&self.metrics);
                    }
                    events::BufferBatchNotWritten {
                        error: &other,
                        events,
                    }
                    .emit(&self.metrics);
                    return Err(NotBuffered::Dropped);
                }
            }
        }
    }
}

impl BufferReader {
    /// The next batch in order; `None` once the writers are closed and everything was read.
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Entry> {
        match &mut self.store {
            ReaderStore::Memory { rx, waiting, .. } => {
                let Queued { batch, permit } = rx.recv().await?;
                {
                    let mut waiting = waiting.lock().unwrap_or_else(|p| p.into_inner());
                    waiting.pop_front();
                    self.metrics
                        .oldest_unix_ms
                        .set(waiting.front().copied().unwrap_or(0));
                    self.metrics.queue_depth.sub(batch.events);
                    self.metrics.unreleased_events.add(batch.events);
                }
                // Read: its room is free again, whatever the sink does with it now.
                drop(permit);
                let seq = self.next_memory_seq;
                self.next_memory_seq += 1;
                self.unacked
                    .push_back((seq, batch.events, batch.data.len() as u64));
                Some(Entry { seq, batch })
            }
            ReaderStore::Disk {
                shared,
                reader,
                reading,
            } => loop {
                if reading.is_none() {
                    let unread = reader.next_unread().await?;
                    let task = unread.clone();
                    *reading = Some((unread, tokio::task::spawn_blocking(move || task.read())));
                }
                let (_, task) = reading.as_mut().expect("set above");
                let read = task.await.unwrap_or_else(|error| {
                    Err(std::io::Error::other(format!("read task failed: {error}")))
                });
                let (unread, _) = reading.take().expect("set above");
                let entry = reader.advance(&unread, read);
                let corrupt = shared.wal.stats().corrupt_entries;
                if corrupt > self.corrupt_counted {
                    self.metrics
                        .corrupt_buffer_entries
                        .add(corrupt - self.corrupt_counted);
                    self.corrupt_counted = corrupt;
                }
                publish_disk(shared, &self.metrics);
                let Some(entry) = entry else {
                    continue;
                };
                if entry.replayed {
                    self.metrics.replayed_events.add(u64::from(entry.events));
                }
                let batch = Batch {
                    // Takes over the read buffer: no copy.
                    data: BytesMut::from(Bytes::from(entry.data)),
                    events: u64::from(entry.events),
                    mock_markers: entry.markers,
                };
                return Some(Entry {
                    seq: entry.seq,
                    batch,
                });
            },
        }
    }

    /// Every batch up to and including `seq` was delivered (or given up on and counted).
    /// Never blocks: a disk buffer records it in memory at once (room for writers) and writes
    /// the ack record and frees disk space on the blocking pool.
    pub fn ack(&mut self, seq: u64) {
        match &self.store {
            ReaderStore::Memory { .. } => {
                while let Some(&(front, events, bytes)) = self.unacked.front() {
                    if front > seq {
                        break;
                    }
                    self.unacked.pop_front();
                    self.metrics.unreleased_events.sub(events);
                    self.metrics.buffered_bytes.sub(bytes);
                }
            }
            ReaderStore::Disk { shared, .. } => {
                if shared.wal.release(seq) {
                    persist_in_background(shared.clone(), self.metrics.clone());
                }
                publish_disk(shared, &self.metrics);
            }
        }
    }
}

impl Drop for BufferReader {
    /// The sink is gone: writers waiting for room stop waiting.
    fn drop(&mut self) {
        if let ReaderStore::Memory {
            permits,
            byte_permits,
            ..
        } = &self.store
        {
            permits.close();
            byte_permits.close();
        }
    }
}

/// Writes the ack record and frees delivered segments on the blocking pool; one run at a time,
/// which goes on while acknowledgements keep coming. A failure is logged and left to the next
/// acknowledgement (or the writer, which persists before retrying a refused write).
fn persist_in_background(shared: Arc<DiskShared>, metrics: Arc<SinkMetrics>) {
    if shared.persisting.swap(true, Ordering::AcqRel) {
        return;
    }
    let work = move || loop {
        let result = shared.wal.persist();
        shared.persisting.store(false, Ordering::Release);
        if let Err(error) = result {
            events::BufferDeliveryNotRecorded { error: &error }.emit(&metrics);
            return;
        }
        if !shared.wal.persist_needed() || shared.persisting.swap(true, Ordering::AcqRel) {
            return;
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: u64) -> Batch {
        Batch {
            data: BytesMut::from(&b"x\n".repeat(events as usize)[..]),
            events,
            mock_markers: Vec::new(),
        }
    }

    fn memory(max_events: usize) -> (BufferWriter, BufferReader, Arc<SinkMetrics>) {
        let metrics = Arc::new(SinkMetrics::new("test", "test"));
        let dir = std::path::PathBuf::from("/nonexistent");
        let (writer, reader) =
            open(&BufferConfig::memory(max_events), &dir, metrics.clone()).unwrap();
        (writer, reader, metrics)
    }

    #[tokio::test]
    async fn the_memory_bound_counts_events_not_batches() {
        let (writer, mut reader, metrics) = memory(1000);
        for _ in 0..1000 {
            writer.try_push(batch(1)).unwrap();
        }
        assert_eq!(writer.try_push(batch(1)), Err(NotBuffered::Dropped));
        assert_eq!(metrics.dropped_buffer_full.get(), 1);
        assert_eq!(metrics.queue_depth.get(), 1000);
        // Reading gives the room back, long before the sink acknowledges anything.
        let first = reader.next().await.unwrap();
        assert_eq!(
            (metrics.queue_depth.get(), metrics.unreleased_events.get()),
            (999, 1)
        );
        writer.try_push(batch(1)).unwrap();
        assert_eq!(writer.try_push(batch(1)), Err(NotBuffered::Dropped));
        reader.ack(first.seq);
        assert_eq!(metrics.unreleased_events.get(), 0);
        assert_eq!(metrics.buffered_bytes.get(), 2000);
    }

    #[tokio::test]
    async fn a_blocked_push_goes_on_when_the_sink_reads_and_the_depth_never_passes_the_bound() {
        let (writer, mut reader, metrics) = memory(512);
        let pusher = tokio::spawn({
            let writer = writer.clone();
            async move {
                for _ in 0..40 {
                    writer.push(batch(100)).await.unwrap();
                }
            }
        });
        let mut read = 0;
        while read < 40 * 100 {
            assert!(metrics.queue_depth.get() <= 512);
            let entry = reader.next().await.unwrap();
            read += entry.batch.events;
            reader.ack(entry.seq);
        }
        pusher.await.unwrap();
        assert_eq!(metrics.queue_depth.get(), 0);
        assert_eq!(metrics.oldest_unix_ms.get(), 0);
    }

    #[tokio::test]
    async fn the_memory_bound_counts_bytes_too() {
        let metrics = Arc::new(SinkMetrics::new("test", "test"));
        let config = BufferConfig {
            kind: BufferKind::Memory {
                max_events: 1000,
                max_bytes: 64 * 1024,
            },
            when_full: WhenFull::Block,
        };
        let dir = std::path::PathBuf::from("/nonexistent");
        let (writer, mut reader) = open(&config, &dir, metrics.clone()).unwrap();
        let big = || Batch {
            data: BytesMut::from(&[b'x'; 16 * 1024][..]),
            events: 1,
            mock_markers: Vec::new(),
        };
        for _ in 0..4 {
            writer.try_push(big()).unwrap();
        }
        // 4 events of 1000, but 64 KiB of 64 KiB: full.
        assert_eq!(writer.try_push(big()), Err(NotBuffered::Dropped));
        assert_eq!(metrics.buffered_bytes.get(), 64 * 1024);
        reader.next().await.unwrap();
        writer.try_push(big()).unwrap();
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_whole_bound_still_goes_through_alone() {
        let (writer, mut reader, _) = memory(10);
        writer.push(batch(256)).await.unwrap();
        assert_eq!(writer.try_push(batch(1)), Err(NotBuffered::Dropped));
        assert_eq!(reader.next().await.unwrap().batch.events, 256);
        writer.try_push(batch(1)).unwrap();
    }

    #[tokio::test]
    async fn a_memory_reader_ends_once_every_writer_is_gone() {
        let (writer, mut reader, _) = memory(100);
        writer.push(batch(2)).await.unwrap();
        let clone = writer.clone();
        drop(writer);
        clone.try_push(batch(1)).unwrap();
        drop(clone);
        assert_eq!(reader.next().await.unwrap().batch.events, 2);
        assert_eq!(reader.next().await.unwrap().batch.events, 1);
        assert!(reader.next().await.is_none(), "nothing can come any more");
    }

    #[tokio::test]
    async fn a_stopped_sink_releases_writers_waiting_for_room() {
        let (writer, reader, _) = memory(1);
        writer.push(batch(1)).await.unwrap();
        let waiting = tokio::spawn({
            let writer = writer.clone();
            async move { writer.push(batch(1)).await }
        });
        drop(reader);
        assert_eq!(waiting.await.unwrap(), Err(NotBuffered::Closed));
    }

    fn disk(state: &Path, when_full: WhenFull) -> (BufferWriter, BufferReader, Arc<SinkMetrics>) {
        disk_of(state, when_full, 64 << 20)
    }

    fn disk_of(
        state: &Path,
        when_full: WhenFull,
        max_bytes: u64,
    ) -> (BufferWriter, BufferReader, Arc<SinkMetrics>) {
        let metrics = Arc::new(SinkMetrics::new("test", "test"));
        let config = BufferConfig {
            kind: BufferKind::Disk {
                max_bytes,
                segment_bytes: 64 << 20,
                fsync: FsyncPolicy::Never,
            },
            when_full,
        };
        let (writer, reader) = open(&config, state, metrics.clone()).unwrap();
        (writer, reader, metrics)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disk_buffer_counts_waiting_and_unreleased_apart_and_ends_after_close() {
        let state = tempfile::tempdir().unwrap();
        let (writer, mut reader, metrics) = disk(state.path(), WhenFull::Block);
        for _ in 0..3 {
            writer.push(batch(2)).await.unwrap();
        }
        assert_eq!(metrics.queue_depth.get(), 6);
        assert!(metrics.oldest_unix_ms.get() > 0);
        let first = reader.next().await.unwrap();
        assert_eq!(
            (metrics.queue_depth.get(), metrics.unreleased_events.get()),
            (4, 2)
        );
        reader.ack(first.seq);
        assert_eq!(metrics.unreleased_events.get(), 0);
        // UDP's way in: queued to the writer, written in order.
        writer.try_push(batch(1)).unwrap();
        writer.close();
        let mut events = Vec::new();
        while let Some(entry) = reader.next().await {
            events.push(entry.batch.events);
            reader.ack(entry.seq);
        }
        assert_eq!(events, [2, 2, 1]);
        assert_eq!(metrics.queue_depth.get(), 0);
        assert_eq!(writer.try_push(batch(1)), Err(NotBuffered::Closed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_holds_a_blocking_push_until_space_returns_and_drops_a_udp_one() {
        let Some(disk_dir) = SmallDisk::mount("1m") else {
            return;
        };
        let (writer, mut reader, metrics) = disk(disk_dir.path(), WhenFull::Block);
        let filler = disk_dir.path().join("filler");
        {
            let mut file = std::fs::File::create(&filler).unwrap();
            while std::io::Write::write_all(&mut file, &[0u8; 4096]).is_ok() {}
            while std::io::Write::write_all(&mut file, &[0u8]).is_ok() {}
        }
        // UDP: dropped and counted as a write error.
        writer.try_push(batch(3)).unwrap();
        let counted = tokio::time::timeout(Duration::from_secs(60), async {
            while metrics.dropped_write_error.get() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        counted.await.expect("the UDP batch is counted");
        assert_eq!(metrics.dropped_write_error.get(), 3);
        assert_eq!(metrics.buffer_write_failing.get(), 1);
        assert!(metrics
            .buffer_error
            .lock()
            .unwrap()
            .contains("No space left"));
        // TCP: waits, is not dropped.
        let pushed = tokio::spawn({
            let writer = writer.clone();
            async move { writer.push(batch(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!pushed.is_finished(), "a full disk must hold the push back");
        assert_eq!(metrics.dropped_write_error.get(), 3);
        std::fs::remove_file(&filler).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(60), pushed)
            .await
            .expect("the push goes through once space returns")
            .unwrap();
        assert_eq!(outcome, Ok(()));
        assert_eq!(metrics.buffer_write_failing.get(), 0);
        assert_eq!(reader.next().await.unwrap().batch.events, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_given_up_while_the_disk_queue_is_full_is_not_counted_as_waiting() {
        let state = tempfile::tempdir().unwrap();
        // Room for one entry of one event: the writer waits for room from the second on.
        let (writer, mut reader, metrics) = disk_of(state.path(), WhenFull::Block, 40);
        writer.push(batch(1)).await.unwrap();
        let second = tokio::spawn({
            let writer = writer.clone();
            async move { writer.push(batch(1)).await }
        });
        // Let the writer take the second push and wait for room with it; then nothing leaves
        // the queue, and it fills.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut queued = 0;
        while writer.try_push(batch(1)).is_ok() {
            queued += 1;
        }
        assert_eq!(queued, DISK_QUEUE_BATCHES as u64, "the writer is waiting");
        // The batch that found the queue full.
        assert_eq!(metrics.dropped_buffer_full.get(), 1);
        // A connection closed while it waits for a place in the queue.
        let given_up = tokio::time::timeout(Duration::from_millis(50), writer.push(batch(1))).await;
        assert!(
            given_up.is_err(),
            "the queue was full, the push had to wait"
        );
        // Deliver everything: the queued UDP batches are written or, when there was no room at
        // their turn, dropped and counted.
        let settled = tokio::time::timeout(Duration::from_secs(60), async {
            let mut read = 0;
            while read + metrics.dropped_buffer_full.get() < 2 + queued + 1
                || metrics.queue_depth.get() != 0
            {
                if let Ok(Some(entry)) =
                    tokio::time::timeout(Duration::from_millis(20), reader.next()).await
                {
                    read += entry.batch.events;
                    reader.ack(entry.seq);
                }
            }
        });
        assert!(
            settled.await.is_ok(),
            "the push given up is still counted: {} waiting",
            metrics.queue_depth.get()
        );
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(metrics.buffered_bytes.get(), 0);
    }

    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/util/small_disk.rs"
    ));
}
