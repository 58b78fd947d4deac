//! The disk buffer: a write-ahead log appended to by a writer thread of its own, read and
//! persisted on tokio's blocking pool, and synced periodically under `fsync = "<interval>"`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cefrelay_wal::{AppendError, Fsync, Options, Recovery, Unread, Wal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Batch, Entry, NotBuffered};
use crate::config::FsyncPolicy;
use crate::telemetry::events;
use crate::telemetry::metrics::SinkMetrics;

/// Batches on their way to a disk buffer's writer thread (at most 64 KiB and 256 events each):
/// accepted, not yet on disk.
pub(super) const DISK_QUEUE_BATCHES: usize = 32;
/// Longest wait between two attempts to write to a disk that refused (full, I/O error).
const WRITE_RETRY_MAX: Duration = Duration::from_secs(1);

/// The disk buffer's writer side: requests to the writer thread.
#[derive(Clone)]
pub(super) struct DiskQueue {
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

/// The disk buffer's sink side.
pub(super) struct DiskReader {
    shared: Arc<DiskShared>,
    reader: cefrelay_wal::Reader,
    /// The entry being read on the blocking pool; kept across a cancelled `next`.
    reading: Option<(Unread, JoinHandle<std::io::Result<cefrelay_wal::Entry>>)>,
    /// Damaged entries already counted in the metrics (the log counts them at open and when a
    /// read finds one).
    corrupt_counted: u64,
}

/// Opens the disk buffer in `state_dir/buffer/<sink name>` and starts its writer thread (and its
/// periodic fsync under an interval policy).
pub(super) fn open(
    state_dir: &Path,
    max_bytes: u64,
    segment_bytes: u64,
    fsync: FsyncPolicy,
    metrics: &Arc<SinkMetrics>,
) -> anyhow::Result<(DiskQueue, DiskReader)> {
    let (wal, reader) = open_wal(state_dir, max_bytes, segment_bytes, fsync, &metrics.name)?;
    if let FsyncPolicy::Interval(every) = fsync {
        tokio::spawn(sync_periodically(wal.clone(), every, metrics.name.clone()));
    }
    let shared = Arc::new(DiskShared {
        wal,
        closing: AtomicBool::new(false),
        queued_events: AtomicU64::new(0),
        queued_bytes: AtomicU64::new(0),
        persisting: AtomicBool::new(false),
    });
    publish_disk(&shared, metrics);
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
    Ok((
        DiskQueue {
            tx,
            shared: shared.clone(),
        },
        DiskReader {
            shared,
            reader,
            reading: None,
            corrupt_counted: 0,
        },
    ))
}

/// Opens the log itself and says what it recovered from a previous run.
fn open_wal(
    state_dir: &Path,
    max_bytes: u64,
    segment_bytes: u64,
    fsync: FsyncPolicy,
    sink: &str,
) -> anyhow::Result<(Wal, cefrelay_wal::Reader)> {
    let dir = state_dir.join("buffer").join(sink);
    let options = Options {
        dir: dir.clone(),
        max_bytes,
        segment_bytes,
        fsync: match fsync {
            FsyncPolicy::Always => Fsync::Always,
            FsyncPolicy::Interval(_) => Fsync::Interval,
            FsyncPolicy::Never => Fsync::Never,
        },
    };
    let (wal, reader, recovery) = Wal::open(options).map_err(|error| {
        anyhow::anyhow!(
            "cannot open the disk buffer of sink `{sink}` in {}: {error}",
            dir.display()
        )
    })?;
    log_recovery(&recovery, sink);
    Ok((wal, reader))
}

fn log_recovery(recovery: &Recovery, sink: &str) {
    if recovery.torn_tail_bytes > 0 || recovery.corrupt_entries > 0 {
        tracing::warn!(
            sink = %sink,
            torn_tail_bytes = recovery.torn_tail_bytes,
            corrupt_entries = recovery.corrupt_entries,
            "the disk buffer had a damaged tail (an interrupted write); it was cut off"
        );
    }
    if recovery.ack_file_damaged {
        tracing::warn!(sink = %sink, "the disk buffer's record of delivered events was damaged; everything in it is sent again (duplicates, not loss)");
    }
    if recovery.entries > 0 {
        tracing::info!(sink = %sink, events = recovery.events, "replaying undelivered events from the disk buffer");
    }
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

impl DiskQueue {
    /// Hands the batch to the writer thread and waits until it is written.
    pub(super) async fn push(&self, batch: Batch) -> Result<(), NotBuffered> {
        if self.shared.closing.load(Ordering::Acquire) {
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
        let counted = QueuedCount::new(self, events, bytes);
        if self.tx.send(request).await.is_err() {
            return Err(NotBuffered::Closed);
        }
        counted.handed_over();
        outcome.await.unwrap_or(Err(NotBuffered::Closed))
    }

    /// Hands the batch to the writer thread if its queue has a place; drops and counts it if not.
    pub(super) fn try_push(&self, batch: Batch, metrics: &SinkMetrics) -> Result<(), NotBuffered> {
        let events = batch.events;
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(NotBuffered::Closed);
        }
        let bytes = batch.data.len() as u64;
        let request = Request::Append {
            batch,
            block: false,
            reply: None,
        };
        self.queued(events, bytes);
        match self.tx.try_send(request) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.unqueued(events, bytes);
                match error {
                    mpsc::error::TrySendError::Full(_) => {
                        metrics.dropped_buffer_full.add(events);
                        Err(NotBuffered::Dropped)
                    }
                    mpsc::error::TrySendError::Closed(_) => Err(NotBuffered::Closed),
                }
            }
        }
    }

    /// Tells the writer thread to write what is queued and stop.
    pub(super) fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        // If the queue is full, the writer is busy and sees `closing` after this request.
        let _ = self.tx.try_send(Request::Wake);
    }

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

impl DiskReader {
    /// The next entry in log order, read on the blocking pool; damaged entries are counted and
    /// skipped.
    pub(super) async fn next(&mut self, metrics: &SinkMetrics) -> Option<Entry> {
        loop {
            if self.reading.is_none() {
                let unread = self.reader.next_unread().await?;
                let task = unread.clone();
                self.reading = Some((unread, tokio::task::spawn_blocking(move || task.read())));
            }
            let (_, task) = self.reading.as_mut().expect("set above");
            let read = task.await.unwrap_or_else(|error| {
                Err(std::io::Error::other(format!("read task failed: {error}")))
            });
            let (unread, _) = self.reading.take().expect("set above");
            let entry = self.reader.advance(&unread, read);
            let corrupt = self.shared.wal.stats().corrupt_entries;
            if corrupt > self.corrupt_counted {
                metrics
                    .corrupt_buffer_entries
                    .add(corrupt - self.corrupt_counted);
                self.corrupt_counted = corrupt;
            }
            publish_disk(&self.shared, metrics);
            let Some(entry) = entry else {
                continue;
            };
            if entry.replayed {
                metrics.replayed_events.add(u64::from(entry.events));
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
        }
    }

    /// Releases every entry up to and including `seq` in memory; the ack record and the freed
    /// segments follow on the blocking pool.
    pub(super) fn ack(&self, seq: u64, metrics: &Arc<SinkMetrics>) {
        if self.shared.wal.release(seq) {
            persist_in_background(self.shared.clone(), metrics.clone());
        }
        publish_disk(&self.shared, metrics);
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
