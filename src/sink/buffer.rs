//! The buffer in front of each sink: bounded, in memory or on disk (a write-ahead log from
//! `cefrelay-wal`). Listener tasks push whole batches; the sink reads them in order and
//! acknowledges each once the far end has it. Only acknowledged batches leave the buffer, so a
//! sink that is down, slow or throttling keeps everything it has not delivered, up to the limit.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cefrelay_wal::{AppendError, Fsync, Options, Wal};
use tokio::sync::mpsc;

use crate::config::{BufferConfig, BufferKind, FsyncPolicy, WhenFull};
use crate::pipeline::{Batch, BATCH_MAX_EVENTS};
use crate::telemetry::metrics::{unix_ms, SinkMetrics};
use crate::telemetry::RateLimited;

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
    Memory(mpsc::Sender<(Batch, u64)>),
    Disk(Wal),
}

/// The sink side: one per sink.
pub struct BufferReader {
    store: ReaderStore,
    next_memory_seq: u64,
    /// Read, not yet acknowledged: (seq, events, bytes, enqueued Unix ms).
    unacked: VecDeque<(u64, u64, u64, u64)>,
    /// Damaged disk entries already counted in the metrics (the log counts them at open and
    /// when a read finds one).
    corrupt_counted: u64,
    metrics: Arc<SinkMetrics>,
}

enum ReaderStore {
    Memory(mpsc::Receiver<(Batch, u64)>),
    Disk(Wal, cefrelay_wal::Reader),
}

/// Why a batch was not buffered.
#[derive(Debug, PartialEq, Eq)]
pub enum NotBuffered {
    /// Full under `drop_newest` or for a UDP reader, or a disk write failed: dropped and counted.
    Dropped,
    /// The sink has stopped (shutdown).
    Closed,
}

static WRITE_ERROR: RateLimited = RateLimited::new(10);

/// Opens a sink's buffer. A disk buffer lives in `state_dir/buffer/<sink name>` and comes back
/// with whatever a previous run left unacknowledged, which the reader returns first.
pub fn open(
    config: &BufferConfig,
    state_dir: &Path,
    metrics: Arc<SinkMetrics>,
) -> anyhow::Result<(BufferWriter, BufferReader)> {
    let (writer_store, reader_store) = match &config.kind {
        BufferKind::Memory { max_events } => {
            let batches = (*max_events / BATCH_MAX_EVENTS as usize).max(1);
            let (tx, rx) = mpsc::channel(batches);
            (WriterStore::Memory(tx), ReaderStore::Memory(rx))
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
            metrics.queue_depth.add(recovery.events);
            metrics.buffered_bytes.add(recovery.bytes);
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
            (
                WriterStore::Disk(wal.clone()),
                ReaderStore::Disk(wal, reader),
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
            Ok(Err(error)) => {
                if let Some(held_back) = WRITE_ERROR.allow() {
                    tracing::error!(%sink, %error, held_back, "fsync of the disk buffer failed");
                }
            }
            Err(_) => return,
        }
    }
}

impl BufferWriter {
    /// For TCP and TLS readers: under `block`, waits for room (the reader stops reading, so the
    /// sender's TCP window closes); under `drop_newest`, drops and counts.
    pub async fn push(&self, batch: Batch) -> Result<(), NotBuffered> {
        if self.when_full == WhenFull::DropNewest {
            return self.try_push(batch);
        }
        let (events, bytes) = (batch.events, batch.data.len() as u64);
        match &self.store {
            WriterStore::Memory(tx) => {
                self.accepted(events, bytes);
                tx.send((batch, unix_ms())).await.map_err(|_| {
                    self.unaccepted(events, bytes);
                    NotBuffered::Closed
                })
            }
            WriterStore::Disk(wal) => {
                let markers = batch.mock_markers.clone();
                match wal.append_wait(events as u32, &markers, &batch.data).await {
                    Ok(_) => {
                        self.accepted(events, bytes);
                        Ok(())
                    }
                    Err(error) => Err(self.append_failed(error, events)),
                }
            }
        }
    }

    /// Never waits (UDP readers cannot push back): a full buffer drops the batch and counts it.
    pub fn try_push(&self, batch: Batch) -> Result<(), NotBuffered> {
        let (events, bytes) = (batch.events, batch.data.len() as u64);
        match &self.store {
            WriterStore::Memory(tx) => {
                self.accepted(events, bytes);
                tx.try_send((batch, unix_ms())).map_err(|error| {
                    self.unaccepted(events, bytes);
                    match error {
                        mpsc::error::TrySendError::Full(_) => {
                            self.metrics.dropped_buffer_full.add(events);
                            NotBuffered::Dropped
                        }
                        mpsc::error::TrySendError::Closed(_) => NotBuffered::Closed,
                    }
                })
            }
            WriterStore::Disk(wal) => {
                match wal.append(events as u32, &batch.mock_markers, &batch.data) {
                    Ok(_) => {
                        self.accepted(events, bytes);
                        Ok(())
                    }
                    Err(error) => Err(self.append_failed(error, events)),
                }
            }
        }
    }

    fn accepted(&self, events: u64, bytes: u64) {
        self.metrics.queue_depth.add(events);
        self.metrics.buffered_bytes.add(bytes);
    }

    fn unaccepted(&self, events: u64, bytes: u64) {
        self.metrics.queue_depth.sub(events);
        self.metrics.buffered_bytes.sub(bytes);
    }

    fn append_failed(&self, error: AppendError, events: u64) -> NotBuffered {
        match error {
            AppendError::Closed => return NotBuffered::Closed,
            AppendError::Full => self.metrics.dropped_buffer_full.add(events),
            other => {
                self.metrics.dropped_write_error.add(events);
                if let Some(held_back) = WRITE_ERROR.allow() {
                    tracing::error!(sink = %self.metrics.name, error = %other, held_back, "cannot write to the disk buffer; batch dropped");
                }
            }
        }
        NotBuffered::Dropped
    }

    /// No more batches: the reader ends once it has returned everything (a disk buffer keeps
    /// what is left for the next start).
    pub fn close(&self) {
        if let WriterStore::Disk(wal) = &self.store {
            wal.close();
        }
    }
}

impl BufferReader {
    /// The next batch in order; `None` once the writers are closed and everything was read.
    pub async fn next(&mut self) -> Option<Entry> {
        let (seq, batch, enqueued) = match &mut self.store {
            ReaderStore::Memory(rx) => {
                let (batch, enqueued) = rx.recv().await?;
                let seq = self.next_memory_seq;
                self.next_memory_seq += 1;
                (seq, batch, enqueued)
            }
            ReaderStore::Disk(_, reader) => {
                let entry = reader.next().await?;
                if entry.replayed {
                    self.metrics.replayed_events.add(u64::from(entry.events));
                }
                let batch = Batch {
                    // Takes over the read buffer: no copy.
                    data: BytesMut::from(Bytes::from(entry.data)),
                    events: u64::from(entry.events),
                    mock_markers: entry.markers,
                };
                (entry.seq, batch, entry.enqueued_unix_ms)
            }
        };
        self.unacked
            .push_back((seq, batch.events, batch.data.len() as u64, enqueued));
        self.update_oldest();
        Some(Entry { seq, batch })
    }

    /// Every batch up to and including `seq` was delivered (or given up on and counted).
    pub fn ack(&mut self, seq: u64) {
        while let Some(&(front, events, bytes, _)) = self.unacked.front() {
            if front > seq {
                break;
            }
            self.unacked.pop_front();
            self.metrics.queue_depth.sub(events);
            self.metrics.buffered_bytes.sub(bytes);
        }
        if let ReaderStore::Disk(wal, _) = &self.store {
            if let Err(error) = wal.ack(seq) {
                if let Some(held_back) = WRITE_ERROR.allow() {
                    tracing::error!(sink = %self.metrics.name, %error, held_back, "cannot record delivery in the disk buffer; the batch may be sent again after a restart");
                }
            }
        }
        self.update_oldest();
    }

    fn update_oldest(&mut self) {
        let oldest = match &self.store {
            ReaderStore::Disk(wal, _) => {
                let stats = wal.stats();
                let newly_corrupt = stats.corrupt_entries - self.corrupt_counted;
                if newly_corrupt > 0 {
                    self.corrupt_counted = stats.corrupt_entries;
                    self.metrics.corrupt_buffer_entries.add(newly_corrupt);
                }
                stats.oldest_unix_ms
            }
            ReaderStore::Memory(_) => self.unacked.front().map(|&(_, _, _, at)| at),
        };
        self.metrics.oldest_unix_ms.set(oldest.unwrap_or(0));
    }
}
