#![forbid(unsafe_code)]
//! A segmented, checksummed write-ahead log with acknowledged truncation: the relay's disk buffer.
//!
//! Entries (a batch of events plus a few marker strings) are appended to segment files named
//! after their first sequence number (`00000000000000000001.wal`, …). A single reader returns
//! them in order; the consumer acknowledges "everything up to seq N" once the far end has it, the
//! acknowledged position is recorded in the `ack` file, segments wholly behind it are deleted, and
//! the active segment is truncated once everything in it was acknowledged (so a log that was
//! drained holds no disk space, whatever `segment_bytes` is). After a crash, [`Wal::open`] replays
//! what was not acknowledged and cuts off a torn tail.
//!
//! Blocking: every method that touches a file ([`Wal::append`], [`Wal::persist`], [`Wal::ack`],
//! [`Wal::sync`], [`Unread::read`]) blocks the calling thread; an async caller runs them on a
//! thread of its own or with `spawn_blocking`. The in-memory bookkeeping ([`Wal::release`],
//! [`Wal::stats`], [`Reader::next_unread`]) never waits for the disk: file I/O is done outside
//! the lock that guards it.
//!
//! Write errors (a full disk, EIO) leave the log as it was: a failed append is cut back off the
//! file and can be retried; a failed acknowledgement record is written again by the next
//! [`Wal::persist`]. [`Wal::wait_for_room`] lets a writer wait until acknowledgements freed room
//! or disk space.
//!
//! On-disk entry: `magic u32 | payload length u32 | crc32(payload) u32 | payload`, little-endian;
//! payload: `seq u64 | enqueued Unix ms u64 | events u32 | marker count u16 | (len u16, bytes)* |
//! data`. The ack file holds `seq u64 | crc32(seq) u32`.
//!
//! Why hand-written: the crates that fit (append logs for message queues) either keep the whole
//! log in memory, have no acknowledged truncation, or bring an async runtime of their own. This
//! is one small crate, readable in a sitting, and its recovery rules are tested in `tests.rs`.
//!
//! Loss windows by [`Fsync`] setting (what a power loss or kernel crash can take; a `kill -9` of
//! the process alone loses nothing under any setting, since written data is in the page cache):
//! - `Always`: nothing that [`Wal::append`] returned `Ok` for.
//! - `Interval`: what was appended since the last [`Wal::sync`] (the caller's interval).
//! - `Never`: whatever the kernel had not written back yet (typically up to 30 s on Linux).
//!
//! Acknowledgements are not synced on every call: losing one only means entries are delivered
//! again (at least once), never that they are lost. The ack file is written once at open, so that
//! later updates overwrite a block it already has and do not need free space.
//!
//! Memory: an index of the unacknowledged entries (48 bytes each) is kept in memory; entries are
//! whole batches, so a 1 GiB log of ~1 KB events indexes ~4 000 entries in full batches of 256,
//! and at worst (a batch per event, a trickle during a long outage) ~1 M entries, ~50 MB.

mod ack;
mod format;
mod reader;
mod segment;

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use ack::{read_ack, write_ack, AckRecord};
use format::{encode_prefix, EntryMeta};
pub use reader::{Reader, Unread};
use segment::{scan_segment, segment_first_seq, Segment};

const ACK_FILE: &str = "ack";
const LOCK_FILE: &str = "lock";

/// When appended data is forced to stable storage; see the crate documentation for the loss
/// window of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every append.
    Always,
    /// Only when [`Wal::sync`] is called (the owner calls it on a timer).
    Interval,
    /// Never explicitly: the kernel writes back in its own time.
    Never,
}

/// Where the log lives and how big and how durable it is.
#[derive(Debug, Clone)]
pub struct Options {
    /// The log's directory, created if missing; it holds nothing else.
    pub dir: PathBuf,
    /// Limit on the undelivered (unacknowledged) entries' size on disk. Disk use can exceed it
    /// by the acknowledged part of the oldest and newest segments, at most two segments.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once it would grow past this.
    pub segment_bytes: u64,
    /// When appended data reaches stable storage.
    pub fsync: Fsync,
}

/// One appended batch, as the reader returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number, as [`Wal::append`] returned it; acknowledge up to it with [`Wal::ack`].
    pub seq: u64,
    /// Events in `data`, as the writer counted them.
    pub events: u32,
    /// When it was appended, in Unix milliseconds.
    pub enqueued_unix_ms: u64,
    /// The short strings appended with it, in order.
    pub markers: Vec<String>,
    /// The batch itself, as appended.
    pub data: Vec<u8>,
    /// Left over from a previous run (returned before anything appended since this open).
    pub replayed: bool,
}

/// What [`Wal::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Unacknowledged entries that will be replayed.
    pub entries: u64,
    /// Events in those entries.
    pub events: u64,
    /// Bytes those entries take on disk.
    pub bytes: u64,
    /// Bytes cut off the end of the newest segment: an append interrupted by a crash.
    pub torn_tail_bytes: u64,
    /// Entries that failed their checksum elsewhere and were skipped (lost).
    pub corrupt_entries: u64,
    /// The ack file was unreadable, so everything on disk is replayed (duplicates, not loss).
    pub ack_file_damaged: bool,
}

/// The log's contents now, for gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unacknowledged entries.
    pub entries: u64,
    /// Events in those entries.
    pub events: u64,
    /// Bytes those entries take on disk.
    pub bytes: u64,
    /// When the oldest unacknowledged entry was appended.
    pub oldest_unix_ms: Option<u64>,
    /// Entries skipped for a failed checksum since open, recovery included.
    pub corrupt_entries: u64,
    /// Of the unacknowledged events, those the reader has not returned yet.
    pub unread_events: u64,
    /// When the oldest entry the reader has not returned yet was appended.
    pub oldest_unread_unix_ms: Option<u64>,
}

/// Why an entry was not appended.
#[derive(Debug)]
pub enum AppendError {
    /// The unacknowledged entries already take `max_bytes`.
    Full,
    /// The entry alone is larger than `max_bytes` (or the format's limit): it can never fit.
    TooLarge,
    /// [`Wal::close`] was called.
    Closed,
    /// Writing failed (a full disk, EIO); the log is as it was, and the append can be retried.
    Io(io::Error),
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Full => f.write_str("the disk buffer is full"),
            AppendError::TooLarge => f.write_str("the batch is larger than the disk buffer"),
            AppendError::Closed => f.write_str("the disk buffer is closed"),
            AppendError::Io(error) => write!(f, "write error: {error}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// The writer side; clones share the log.
#[derive(Clone)]
pub struct Wal {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Taken for every change to the files (append, reclaim, ack record) and held during the
    /// I/O, which the state lock never is: readers and acknowledgements never wait for the disk.
    io: Mutex<()>,
    /// Signalled (with `state`) when acknowledgements or reclaimed segments made room.
    room: Condvar,
    ack_file: File,
    options: Options,
    appended: Notify,
    space_freed: Notify,
}

struct State {
    segments: VecDeque<Segment>,
    /// Unacknowledged entries in seq order (gaps where corrupt entries were skipped).
    entries: VecDeque<EntryMeta>,
    unacked_bytes: u64,
    unacked_events: u64,
    next_seq: u64,
    acked: u64,
    /// What the ack file holds, when its last write succeeded.
    ack_written: Option<u64>,
    /// The reader's position: the first seq it has not returned.
    next_read: u64,
    unread_events: u64,
    corrupt_entries: u64,
    /// Bumped whenever room was made (acknowledgement, reclaimed disk space, close).
    room_generation: u64,
    /// Segments closed since the last sync under `Interval` (the active one is always synced).
    unsynced: Vec<Arc<File>>,
    closed: bool,
    /// Held for the log's lifetime: a second process on the same directory fails to open.
    _lock: File,
}

impl Wal {
    /// Opens (or creates) the log in `options.dir`, recovering what a previous run left.
    // One piece: the recovery steps in the order they must run (segments, ack record, torn tail).
    pub fn open(options: Options) -> io::Result<(Wal, Reader, Recovery)> {
        if options.max_bytes == 0 || options.segment_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_bytes and segment_bytes must be positive",
            ));
        }
        fs::create_dir_all(&options.dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(options.dir.join(LOCK_FILE))?;
        lock.try_lock().map_err(|error| match error {
            fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process (or sink) is using this buffer directory",
            ),
            fs::TryLockError::Error(error) => error,
        })?;

        let mut recovery = Recovery::default();
        let ack_path = options.dir.join(ACK_FILE);
        let ack_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&ack_path)?;
        let (acked, ack_written) = match read_ack(&ack_file)? {
            AckRecord::Valid(seq) => (seq, Some(seq)),
            record => {
                recovery.ack_file_damaged = matches!(record, AckRecord::Damaged);
                // Written now, while there may be space: later writes overwrite this block. If
                // the disk is full already, the next persist writes it.
                (0, write_ack(&ack_file, 0).ok().map(|()| 0))
            }
        };

        let mut segment_paths = Vec::new();
        for dir_entry in fs::read_dir(&options.dir)? {
            let path = dir_entry?.path();
            if let Some(first_seq) = segment_first_seq(&path) {
                segment_paths.push((first_seq, path));
            }
        }
        segment_paths.sort();

        let mut segments = VecDeque::new();
        let mut entries = VecDeque::new();
        let mut last_seq = acked;
        let newest = segment_paths.len().saturating_sub(1);
        for (index, (first_seq, path)) in segment_paths.into_iter().enumerate() {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let scan = scan_segment(&file, first_seq, index == newest)?;
            recovery.corrupt_entries += scan.corrupt_entries;
            if scan.valid_len < scan.file_len {
                // Only reached for the newest segment: an append cut short by a crash.
                recovery.torn_tail_bytes += scan.file_len - scan.valid_len;
                file.set_len(scan.valid_len)?;
                file.sync_all()?;
            }
            let Some(segment_last_seq) = scan.entries.last().map(|entry| entry.seq) else {
                fs::remove_file(&path)?;
                continue;
            };
            if segment_last_seq <= acked {
                fs::remove_file(&path)?;
                last_seq = last_seq.max(segment_last_seq);
                continue;
            }
            last_seq = last_seq.max(segment_last_seq);
            for entry in scan.entries.into_iter().filter(|entry| entry.seq > acked) {
                recovery.entries += 1;
                recovery.events += u64::from(entry.events);
                recovery.bytes += u64::from(entry.len);
                entries.push_back(entry);
            }
            segments.push_back(Segment {
                first_seq,
                path,
                file: Arc::new(file),
                len: scan.valid_len,
                tail_dirty: false,
            });
        }

        let state = State {
            segments,
            entries,
            unacked_bytes: recovery.bytes,
            unacked_events: recovery.events,
            next_seq: last_seq + 1,
            acked,
            ack_written,
            next_read: acked + 1,
            unread_events: recovery.events,
            corrupt_entries: recovery.corrupt_entries,
            room_generation: 0,
            unsynced: Vec::new(),
            closed: false,
            _lock: lock,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            io: Mutex::new(()),
            room: Condvar::new(),
            ack_file,
            options,
            appended: Notify::new(),
            space_freed: Notify::new(),
        });
        let reader = Reader {
            shared: shared.clone(),
            replayed_until: last_seq,
        };
        Ok((Wal { shared }, reader, recovery))
    }

    /// Appends an entry without waiting for room; returns its sequence number. Blocking (file
    /// I/O): call it off the async threads.
    pub fn append(&self, events: u32, markers: &[String], data: &[u8]) -> Result<u64, AppendError> {
        let _io = self.shared.io();
        let options = &self.shared.options;
        let enqueued_unix_ms = unix_ms();
        let (seq, prefix, len, active) = {
            let state = self.shared.lock();
            if state.closed {
                return Err(AppendError::Closed);
            }
            let seq = state.next_seq;
            let prefix = encode_prefix(seq, enqueued_unix_ms, events, markers, data)?;
            let len = (prefix.len() + data.len()) as u64;
            if len > options.max_bytes {
                return Err(AppendError::TooLarge);
            }
            if state.unacked_bytes + len > options.max_bytes {
                return Err(AppendError::Full);
            }
            let active = state
                .segments
                .back()
                .filter(|active| active.len == 0 || active.len + len <= options.segment_bytes)
                .map(|active| (active.file.clone(), active.first_seq, active.len));
            (seq, prefix, len, active)
        };
        let (file, segment_first_seq, offset) = match active {
            Some((file, first_seq, offset)) => {
                self.clean_tail(&file, first_seq, offset)
                    .map_err(AppendError::Io)?;
                (file, first_seq, offset)
            }
            None => (self.start_segment(seq).map_err(AppendError::Io)?, seq, 0),
        };
        let written = file
            .write_all_at(&prefix, offset)
            .and_then(|()| file.write_all_at(data, offset + prefix.len() as u64))
            .and_then(|()| match options.fsync {
                Fsync::Always => file.sync_data(),
                Fsync::Interval | Fsync::Never => Ok(()),
            });
        if let Err(error) = written {
            // Do not leave half an entry behind for the next append to follow.
            if file.set_len(offset).is_err() {
                self.mark_tail_dirty(segment_first_seq);
            }
            return Err(AppendError::Io(error));
        }
        let mut state = self.shared.lock();
        if let Some(active) = state.segments.back_mut() {
            debug_assert_eq!(active.first_seq, segment_first_seq);
            active.len = offset + len;
        }
        state.entries.push_back(EntryMeta {
            seq,
            segment_first_seq,
            offset,
            len: len as u32,
            data_start: prefix.len() as u32,
            events,
            enqueued_unix_ms,
        });
        state.unacked_bytes += len;
        state.unacked_events += u64::from(events);
        state.unread_events += u64::from(events);
        state.next_seq += 1;
        drop(state);
        self.shared.appended.notify_one();
        Ok(seq)
    }

    /// Appends, waiting while the log is full until acknowledgements free room. The write itself
    /// runs on the calling thread (see [`Wal::append`]).
    pub async fn append_wait(
        &self,
        events: u32,
        markers: &[String],
        data: &[u8],
    ) -> Result<u64, AppendError> {
        loop {
            let mut space_freed = pin!(self.shared.space_freed.notified());
            space_freed.as_mut().enable();
            match self.append(events, markers, data) {
                Err(AppendError::Full) => space_freed.await,
                other => return other,
            }
        }
    }

    /// Counts how often room was made; pass it to [`Wal::wait_for_room`], read *before* the
    /// append that failed, so that room made in between is not missed.
    pub fn room_generation(&self) -> u64 {
        self.shared.lock().room_generation
    }

    /// Blocks until room was made since `seen` (an acknowledgement, reclaimed disk space or
    /// close) or `timeout` passes.
    pub fn wait_for_room(&self, seen: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.room_generation == seen && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .shared
                .room
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Everything up to and including `seq` was delivered: [`Wal::release`], then
    /// [`Wal::persist`]. Blocking.
    pub fn ack(&self, seq: u64) -> io::Result<()> {
        self.release(seq);
        self.persist()
    }

    /// Everything up to and including `seq` was delivered: it leaves the log's count at once
    /// (room for appends) and will not be returned again. Memory only; the ack record and the
    /// freed disk space follow with [`Wal::persist`]. True if there is something to persist.
    pub fn release(&self, seq: u64) -> bool {
        let mut state = self.shared.lock();
        let seq = seq.min(state.next_seq - 1);
        if seq <= state.acked {
            return false;
        }
        state.acked = seq;
        while state.entries.front().is_some_and(|entry| entry.seq <= seq) {
            let entry = state.entries.pop_front().expect("checked non-empty");
            state.unacked_bytes -= u64::from(entry.len);
            state.unacked_events -= u64::from(entry.events);
            if entry.seq >= state.next_read {
                state.unread_events -= u64::from(entry.events);
            }
        }
        state.next_read = state.next_read.max(seq + 1);
        state.room_generation += 1;
        drop(state);
        self.shared.room.notify_all();
        self.shared.space_freed.notify_waiters();
        true
    }

    /// Whether [`Wal::persist`] has work: an ack record to write or disk space to free.
    pub fn persist_needed(&self) -> bool {
        let state = self.shared.lock();
        state.ack_written != Some(state.acked)
            || (state.segments.len() > 1 && state.segments[1].first_seq <= state.acked + 1)
            || state
                .segments
                .back()
                .is_some_and(|active| active.len > 0 && fully_acked(&state, active))
    }

    /// Writes the acknowledged position to the ack file and frees the disk space of what was
    /// acknowledged: segments wholly behind it are deleted, and the active segment is truncated
    /// once everything in it was acknowledged. Blocking. A failed write is tried again by the
    /// next call; nothing is lost by it (at worst delivered entries are replayed after a restart).
    pub fn persist(&self) -> io::Result<()> {
        let _io = self.shared.io();
        let (acked, record_needed, removed, truncate) = {
            let mut state = self.shared.lock();
            let acked = state.acked;
            let mut removed = Vec::new();
            // A segment other than the newest is done once the next one starts at or before
            // acked + 1.
            while state.segments.len() > 1 && state.segments[1].first_seq <= acked + 1 {
                removed.push(state.segments.pop_front().expect("len > 1"));
            }
            state
                .unsynced
                .retain(|file| !removed.iter().any(|gone| Arc::ptr_eq(file, &gone.file)));
            let truncate = match state.segments.back() {
                Some(active) if active.len > 0 && fully_acked(&state, active) => {
                    Some((active.file.clone(), active.first_seq))
                }
                _ => None,
            };
            if truncate.is_some() {
                // Appends wait for the io lock held here, so none sees the new length before the
                // file has it; should the truncation fail, the next append cuts the file first.
                let active = state.segments.back_mut().expect("checked above");
                active.len = 0;
                active.tail_dirty = true;
            }
            (acked, state.ack_written != Some(acked), removed, truncate)
        };
        let mut result = Ok(());
        let mut record_written = !record_needed || write_ack(&self.shared.ack_file, acked).is_ok();
        let mut freed = false;
        for segment in removed {
            let path = segment.path.clone();
            drop(segment);
            match fs::remove_file(&path) {
                Ok(()) => freed = true,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => result = result.and(Err(error)),
            }
        }
        if let Some((file, first_seq)) = truncate {
            match file.set_len(0) {
                Ok(()) => {
                    freed = true;
                    let mut state = self.shared.lock();
                    if let Some(active) = state
                        .segments
                        .back_mut()
                        .filter(|active| active.first_seq == first_seq)
                    {
                        active.tail_dirty = false;
                    }
                }
                Err(error) => result = result.and(Err(error)),
            }
        }
        if !record_written {
            // A full disk may have refused it; the space just freed may take it now.
            match write_ack(&self.shared.ack_file, acked) {
                Ok(()) => record_written = true,
                Err(error) => result = result.and(Err(error)),
            }
        }
        let mut state = self.shared.lock();
        if record_written {
            state.ack_written = Some(state.ack_written.map_or(acked, |w| w.max(acked)));
        }
        if freed {
            state.room_generation += 1;
        }
        drop(state);
        if freed {
            self.shared.room.notify_all();
            self.shared.space_freed.notify_waiters();
        }
        result
    }

    /// No more appends; the reader ends after returning what is already written. Syncs unless
    /// the policy is `Never` (blocking).
    pub fn close(&self) {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            state.room_generation += 1;
        }
        self.shared.appended.notify_one();
        self.shared.room.notify_all();
        self.shared.space_freed.notify_waiters();
        if self.shared.options.fsync != Fsync::Never {
            let _ = self.sync();
        }
    }

    /// Forces appended data and the acknowledged position to stable storage. Blocking: call it
    /// off the async threads.
    pub fn sync(&self) -> io::Result<()> {
        let files = {
            let mut state = self.shared.lock();
            let mut files = std::mem::take(&mut state.unsynced);
            files.extend(state.segments.back().map(|active| active.file.clone()));
            files
        };
        for file in files {
            file.sync_data()?;
        }
        self.shared.ack_file.sync_data()
    }

    /// A copy of the current [`Stats`].
    pub fn stats(&self) -> Stats {
        self.with_stats(|stats| *stats)
    }

    /// Calls `f` with the current [`Stats`] while nothing can change them (keep it short: it
    /// holds the log's lock), e.g. to publish them as gauges without a stale one winning a race.
    pub fn with_stats<R>(&self, f: impl FnOnce(&Stats) -> R) -> R {
        let state = self.shared.lock();
        let unread = state
            .entries
            .partition_point(|entry| entry.seq < state.next_read);
        let stats = Stats {
            entries: state.entries.len() as u64,
            events: state.unacked_events,
            bytes: state.unacked_bytes,
            oldest_unix_ms: state.entries.front().map(|entry| entry.enqueued_unix_ms),
            corrupt_entries: state.corrupt_entries,
            unread_events: state.unread_events,
            oldest_unread_unix_ms: state
                .entries
                .get(unread)
                .map(|entry| entry.enqueued_unix_ms),
        };
        f(&stats)
    }
}

/// No unacknowledged entry lives in `active` (the newest segment).
fn fully_acked(state: &State, active: &Segment) -> bool {
    state
        .entries
        .back()
        .is_none_or(|newest| newest.segment_first_seq != active.first_seq)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent state (every mutation is last).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn io(&self) -> MutexGuard<'_, ()> {
        self.io
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests;
