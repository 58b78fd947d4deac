use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::disk::DISK_QUEUE_BATCHES;
use super::*;
use crate::config::{BufferKind, FsyncPolicy};

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
    let (writer, reader) = open(&BufferConfig::memory(max_events), &dir, metrics.clone()).unwrap();
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
