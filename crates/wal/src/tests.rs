use super::*;
use std::path::Path;
use std::time::Duration;

use crate::format::HEADER_LEN;
use crate::segment::segment_name;

fn options(dir: &Path) -> Options {
    Options {
        dir: dir.to_path_buf(),
        max_bytes: 1 << 20,
        segment_bytes: 4096,
        fsync: Fsync::Never,
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| segment_first_seq(path).is_some())
        .collect();
    files.sort();
    files
}

/// `Wal::open`, waiting out a lock held for an instant by a child that another test of this
/// binary is starting (`mount`): between fork and exec a child has every descriptor.
fn reopen(options: Options) -> io::Result<(Wal, Reader, Recovery)> {
    for _ in 0..500 {
        match Wal::open(options.clone()) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other,
        }
    }
    Wal::open(options)
}

async fn read_all(reader: &mut Reader, wal: &Wal) -> Vec<Entry> {
    wal.close();
    let mut entries = Vec::new();
    while let Some(entry) = reader.next().await {
        entries.push(entry);
    }
    entries
}

fn payload(i: u64) -> Vec<u8> {
    format!("event number {i} with some padding to fill segments\n").into_bytes()
}

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/util/small_disk.rs"
));

fn is_disk_full(error: &AppendError) -> bool {
    matches!(error, AppendError::Io(error) if error.raw_os_error() == Some(28))
}

#[tokio::test]
async fn a_drained_log_gives_its_disk_space_back_and_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let big_segments = Options {
        segment_bytes: 64 << 20,
        ..options(dir.path())
    };
    {
        let (wal, mut reader, _) = reopen(big_segments.clone()).unwrap();
        for i in 1..=50 {
            wal.append(1, &[], &payload(i)).unwrap();
        }
        let segment = segment_files(dir.path()).pop().unwrap();
        assert!(fs::metadata(&segment).unwrap().len() > 2000);
        for _ in 0..50 {
            reader.next().await.unwrap();
        }
        // Acknowledged in memory only: room at once, the file work later.
        assert!(wal.release(50));
        assert_eq!(wal.stats().bytes, 0);
        assert!(wal.persist_needed());
        wal.persist().unwrap();
        assert!(!wal.persist_needed());
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            0,
            "the active segment was truncated"
        );
        // The log goes on in the same file.
        assert_eq!(wal.append(1, &[], &payload(51)).unwrap(), 51);
        let entry = reader.next().await.unwrap();
        assert_eq!((entry.seq, entry.data), (51, payload(51)));
    }
    let (wal, mut reader, recovery) = reopen(big_segments).unwrap();
    assert_eq!(
        (
            recovery.entries,
            recovery.corrupt_entries,
            recovery.torn_tail_bytes
        ),
        (1, 0, 0),
        "only the entry not acknowledged comes back"
    );
    assert_eq!(wal.append(1, &[], b"next").unwrap(), 52);
    let seqs: Vec<u64> = read_all(&mut reader, &wal)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [51, 52]);
}

#[tokio::test]
async fn unread_and_unacknowledged_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
    for i in 1..=3 {
        wal.append(2, &[], &payload(i)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = reader.next().await.unwrap();
    let stats = wal.stats();
    assert_eq!((stats.events, stats.unread_events), (6, 4));
    assert!(stats.oldest_unread_unix_ms > stats.oldest_unix_ms);
    assert_eq!(stats.oldest_unix_ms, Some(first.enqueued_unix_ms));
    reader.next().await.unwrap();
    reader.next().await.unwrap();
    wal.ack(2).unwrap();
    let stats = wal.stats();
    assert_eq!((stats.events, stats.unread_events), (2, 0));
    assert_eq!(stats.oldest_unread_unix_ms, None);
}

#[test]
fn a_blocked_writer_wakes_when_an_acknowledgement_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _reader, _) = reopen(Options {
        max_bytes: 1000,
        ..options(dir.path())
    })
    .unwrap();
    while wal.append(1, &[], &[7; 100]).is_ok() {}
    let seen = wal.room_generation();
    let waiter = std::thread::spawn({
        let wal = wal.clone();
        move || {
            // Far longer than the test can take: only the acknowledgement ends the wait.
            wal.wait_for_room(seen, Duration::from_secs(600));
            wal.append(1, &[], &[8; 100])
        }
    });
    wal.release(1);
    assert!(waiter.join().unwrap().is_ok());
}

#[tokio::test]
async fn a_full_disk_refuses_appends_without_damage_and_delivery_frees_it() {
    // One segment larger than the disk (it never rotates: only truncation frees it), and
    // small segments synced on every append (rotation and fsync meet the full disk).
    for (segment_bytes, fsync) in [(64 << 20, Fsync::Never), (64 << 10, Fsync::Always)] {
        let Some(disk) = SmallDisk::mount("1m") else {
            return;
        };
        let options = Options {
            dir: disk.path().join("buffer"),
            max_bytes: 64 << 20,
            segment_bytes,
            fsync,
        };
        let (wal, mut reader, _) = reopen(options.clone()).unwrap();
        let mut appended = 0u64;
        let error = loop {
            match wal.append(1, &[], &[b'x'; 1000]) {
                Ok(_) => appended += 1,
                Err(error) => break error,
            }
        };
        assert!(is_disk_full(&error), "{error}");
        assert!(appended > 500, "{appended} appended on 1 MiB");
        // Refused again, and the failed appends left nothing behind.
        assert!(is_disk_full(
            &wal.append(1, &[], &[b'y'; 1000]).unwrap_err()
        ));
        assert_eq!(wal.stats().entries, appended);
        for _ in 0..appended / 2 {
            reader.next().await.unwrap();
        }
        wal.ack(appended / 2).unwrap();
        if segment_bytes > 1 << 20 {
            // Half delivered: the one segment still holds undelivered entries.
            assert!(wal.append(1, &[], &[b'y'; 1000]).is_err());
        }
        // Everything delivered: the disk is free again and appends go on.
        for _ in appended / 2..appended {
            reader.next().await.unwrap();
        }
        let seen = wal.room_generation();
        wal.ack(appended).unwrap();
        assert_ne!(
            wal.room_generation(),
            seen,
            "writers waiting for room are woken"
        );
        let again = appended * 9 / 10;
        for _ in 0..again {
            wal.append(1, &[], &[b'z'; 1000]).unwrap();
        }
        drop((wal, reader));
        let (_wal, mut reader, recovery) = reopen(options).unwrap();
        assert_eq!(
            (recovery.entries, recovery.corrupt_entries),
            (again, 0),
            "the delivered entries are not replayed ({fsync:?})"
        );
        let entry = reader.next().await.unwrap();
        assert_eq!((entry.seq, entry.data[0]), (appended + 1, b'z'));
    }
}

#[tokio::test]
async fn an_ack_record_refused_by_a_full_disk_is_written_once_space_returns() {
    let Some(disk) = SmallDisk::mount("1m") else {
        return;
    };
    let options = Options {
        dir: disk.path().join("buffer"),
        max_bytes: 64 << 20,
        segment_bytes: 64 << 20,
        fsync: Fsync::Never,
    };
    fs::create_dir_all(&options.dir).unwrap();
    // Full before the log exists: opening it still works, appends are refused.
    let filler = disk.fill("filler");
    let (wal, mut reader, _) = reopen(options.clone()).unwrap();
    assert!(is_disk_full(&wal.append(1, &[], &payload(1)).unwrap_err()));
    fs::remove_file(filler).unwrap();
    for i in 1..=3 {
        wal.append(1, &[], &payload(i)).unwrap();
    }
    for _ in 1..=3 {
        reader.next().await.unwrap();
    }
    // Full again: the ack record (never written, so it has no block) cannot be written
    // until the delivered segment is truncated, which persist does in between.
    let _filler = disk.fill("filler-again");
    assert!(is_disk_full(
        &wal.append(1, &[], &[b'x'; 8192]).unwrap_err()
    ));
    let ack_file = options.dir.join(ACK_FILE);
    assert_eq!(fs::metadata(&ack_file).unwrap().len(), 0, "never written");
    wal.ack(3).unwrap();
    assert_eq!(fs::metadata(&ack_file).unwrap().len(), 12);
    assert!(!wal.persist_needed());
    drop((wal, reader));
    let (wal, _reader, recovery) = reopen(options).unwrap();
    assert!(!recovery.ack_file_damaged);
    assert_eq!(recovery.entries, 0, "delivered entries are not replayed");
    drop(wal);
}

#[tokio::test]
async fn entries_come_back_in_order_with_their_markers() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, recovery) = reopen(options(dir.path())).unwrap();
    assert_eq!(recovery, Recovery::default());
    let markers = vec!["mock-1".to_string(), String::new()];
    assert_eq!(wal.append(3, &markers, b"abc").unwrap(), 1);
    assert_eq!(wal.append(1, &[], b"").unwrap(), 2);
    let first = reader.next().await.unwrap();
    assert_eq!(
        (first.seq, first.events, first.data.as_slice()),
        (1, 3, &b"abc"[..])
    );
    assert_eq!(first.markers, markers);
    assert!(!first.replayed);
    let second = reader.next().await.unwrap();
    assert_eq!((second.seq, second.data.len()), (2, 0));
    let stats = wal.stats();
    assert_eq!((stats.entries, stats.events), (2, 4));
    assert!(stats.oldest_unix_ms.is_some());
    wal.ack(2).unwrap();
    assert_eq!(wal.stats().entries, 0);
    assert_eq!(wal.stats().bytes, 0);
}

#[tokio::test]
async fn unacknowledged_entries_are_replayed_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
        for i in 1..=200 {
            wal.append(1, &[], &payload(i)).unwrap();
        }
        for _ in 0..120 {
            reader.next().await.unwrap();
        }
        wal.ack(120).unwrap();
        assert!(segment_files(dir.path()).len() > 1, "segments rolled over");
    }
    let (wal, mut reader, recovery) = reopen(options(dir.path())).unwrap();
    assert_eq!((recovery.entries, recovery.events), (80, 80));
    assert_eq!(recovery.torn_tail_bytes, 0);
    assert_eq!(wal.append(1, &[], b"new").unwrap(), 201);
    let entries = read_all(&mut reader, &wal).await;
    let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (121..=201).collect::<Vec<_>>());
    assert_eq!(entries[0].data, payload(121));
    assert!(entries[..80].iter().all(|entry| entry.replayed));
    assert!(!entries[80].replayed);
}

#[tokio::test]
async fn acknowledging_deletes_finished_segments_and_keeps_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
    for i in 1..=300 {
        wal.append(1, &[], &payload(i)).unwrap();
    }
    let before = segment_files(dir.path()).len();
    assert!(before >= 4, "{before} segments");
    for _ in 0..300 {
        reader.next().await.unwrap();
    }
    wal.ack(300).unwrap();
    let left = segment_files(dir.path());
    assert_eq!(left.len(), 1, "only the active segment stays");
    assert_eq!(
        fs::metadata(&left[0]).unwrap().len(),
        0,
        "and it holds nothing once everything in it was delivered"
    );
    drop((wal, reader));
    let (wal, _reader, recovery) = reopen(options(dir.path())).unwrap();
    assert_eq!(recovery.entries, 0);
    assert!(segment_files(dir.path()).is_empty());
    assert_eq!(
        wal.append(1, &[], b"x").unwrap(),
        301,
        "numbering continues"
    );
}

#[tokio::test]
async fn a_full_log_refuses_then_waits_for_an_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_bytes: 1000,
        ..options(dir.path())
    };
    let (wal, mut reader, _) = reopen(options).unwrap();
    assert!(matches!(
        wal.append(1, &[], &[0; 2000]),
        Err(AppendError::TooLarge)
    ));
    let mut appended = 0;
    while wal.append(1, &[], &[7; 100]).is_ok() {
        appended += 1;
    }
    assert!(matches!(
        wal.append(1, &[], &[7; 100]),
        Err(AppendError::Full)
    ));
    let waiting = tokio::spawn({
        let wal = wal.clone();
        async move { wal.append_wait(1, &[], &[8; 100]).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "append_wait must wait while full");
    let first = reader.next().await.unwrap();
    wal.ack(first.seq).unwrap();
    let seq = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("an acknowledgement frees room")
        .unwrap()
        .unwrap();
    assert_eq!(seq, appended + 1);
}

#[tokio::test]
async fn close_ends_the_reader_and_wakes_waiting_writers() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_bytes: 200,
        ..options(dir.path())
    };
    let (wal, mut reader, _) = reopen(options).unwrap();
    wal.append(1, &[], &[1; 100]).unwrap();
    let waiting = tokio::spawn({
        let wal = wal.clone();
        async move { wal.append_wait(1, &[], &[2; 100]).await }
    });
    let pending_read = tokio::spawn(async move {
        let first = reader.next().await;
        (first, reader.next().await)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    wal.close();
    assert!(matches!(waiting.await.unwrap(), Err(AppendError::Closed)));
    let (first, second) = pending_read.await.unwrap();
    assert_eq!(first.unwrap().seq, 1);
    assert!(second.is_none());
    assert!(matches!(
        wal.append(1, &[], b"late"),
        Err(AppendError::Closed)
    ));
}

#[tokio::test]
async fn next_is_cancel_safe() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(20), reader.next()).await;
    assert!(timed_out.is_err());
    wal.append(1, &[], b"after the timeout").unwrap();
    let entry = tokio::time::timeout(Duration::from_secs(5), reader.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.seq, 1);
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = reopen(options(dir.path())).unwrap();
        for i in 1..=3 {
            wal.append(1, &[], &payload(i)).unwrap();
        }
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let full_len = fs::metadata(&segment).unwrap().len();
    // A crash halfway through the third append.
    let cut = full_len - 10;
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let (wal, mut reader, recovery) = reopen(options(dir.path())).unwrap();
    assert_eq!(recovery.entries, 2);
    assert_eq!(recovery.torn_tail_bytes, cut - 2 * (full_len / 3));
    assert_eq!(recovery.corrupt_entries, 0);
    assert_eq!(wal.append(1, &[], b"next").unwrap(), 3);
    let seqs: Vec<u64> = read_all(&mut reader, &wal)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn a_flipped_byte_costs_exactly_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = reopen(options(dir.path())).unwrap();
        for i in 1..=3 {
            wal.append(1, &[], &payload(i)).unwrap();
        }
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let record_len = bytes.len() / 3;
    bytes[record_len + HEADER_LEN + 30] ^= 0x40;
    fs::write(&segment, bytes).unwrap();
    let (wal, mut reader, recovery) = reopen(options(dir.path())).unwrap();
    assert_eq!(recovery.corrupt_entries, 1);
    assert_eq!(recovery.entries, 2);
    assert_eq!(wal.stats().corrupt_entries, 1);
    let seqs: Vec<u64> = read_all(&mut reader, &wal)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 3]);
}

#[tokio::test]
async fn a_damaged_ack_file_replays_everything_rather_than_losing_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
        for i in 1..=5 {
            wal.append(1, &[], &payload(i)).unwrap();
        }
        for _ in 0..3 {
            reader.next().await.unwrap();
        }
        wal.ack(3).unwrap();
    }
    fs::write(dir.path().join(ACK_FILE), b"garbage!garbage!").unwrap();
    let (_wal, _reader, recovery) = reopen(options(dir.path())).unwrap();
    assert!(recovery.ack_file_damaged);
    assert_eq!(recovery.entries, 5);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Wal::open(options(dir.path())).unwrap();
    let error = Wal::open(options(dir.path())).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
}

#[tokio::test]
async fn every_fsync_policy_survives_reopen() {
    for fsync in [Fsync::Always, Fsync::Interval, Fsync::Never] {
        let dir = tempfile::tempdir().unwrap();
        {
            let (wal, _, _) = reopen(Options {
                fsync,
                ..options(dir.path())
            })
            .unwrap();
            for i in 1..=100 {
                wal.append(2, &[], &payload(i)).unwrap();
            }
            wal.sync().unwrap();
        }
        let (_, _, recovery) = reopen(options(dir.path())).unwrap();
        assert_eq!((recovery.entries, recovery.events), (100, 200), "{fsync:?}");
    }
}

#[tokio::test]
async fn garbage_segments_never_panic() {
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..200u64 {
        let dir = tempfile::tempdir().unwrap();
        {
            let (wal, _, _) = reopen(options(dir.path())).unwrap();
            for i in 0..(round % 7) {
                wal.append(1, &["m".into()], &payload(i)).unwrap();
            }
        }
        let path = dir.path().join(segment_name(1));
        let mut bytes = fs::read(&path).unwrap_or_default();
        let garbage_len = (round * 37 % 300) as usize;
        for _ in 0..garbage_len {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            let at = (rng_state as usize) % (bytes.len() + 1);
            if at < bytes.len() && round % 2 == 0 {
                bytes[at] = rng_state as u8;
            } else {
                bytes.push((rng_state >> 8) as u8);
            }
        }
        fs::write(&path, &bytes).unwrap();
        let (wal, mut reader, _) = reopen(options(dir.path())).unwrap();
        let entries = read_all(&mut reader, &wal).await;
        assert!(entries.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    }
}
