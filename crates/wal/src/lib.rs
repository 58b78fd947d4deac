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
//! is one file, small enough to read in a sitting, and its recovery rules are tested below.
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

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

const MAGIC: u32 = 0xCEF0_0A1B;
const HEADER_LEN: usize = 12;
/// Fixed part of the payload before the markers: seq, enqueued time, events, marker count.
const PAYLOAD_FIXED_LEN: usize = 8 + 8 + 4 + 2;
/// No entry is larger than this; a bigger length field is damage, not data.
const MAX_ENTRY_LEN: u64 = 256 * 1024 * 1024;
const SEGMENT_SUFFIX: &str = ".wal";
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

#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// Limit on the undelivered (unacknowledged) entries' size on disk. Disk use can exceed it
    /// by the acknowledged part of the oldest and newest segments, at most two segments.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once it would grow past this.
    pub segment_bytes: u64,
    pub fsync: Fsync,
}

/// One appended batch, as the reader returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub events: u32,
    pub enqueued_unix_ms: u64,
    pub markers: Vec<String>,
    pub data: Vec<u8>,
    /// Left over from a previous run (returned before anything appended since this open).
    pub replayed: bool,
}

/// What [`Wal::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Unacknowledged entries that will be replayed, their events and bytes on disk.
    pub entries: u64,
    pub events: u64,
    pub bytes: u64,
    /// Bytes cut off the end of the newest segment: an append interrupted by a crash.
    pub torn_tail_bytes: u64,
    /// Entries that failed their checksum elsewhere and were skipped (lost).
    pub corrupt_entries: u64,
    /// The ack file was unreadable, so everything on disk is replayed (duplicates, not loss).
    pub ack_file_damaged: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Unacknowledged entries, their events and bytes on disk.
    pub entries: u64,
    pub events: u64,
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

#[derive(Debug)]
pub enum AppendError {
    /// The unacknowledged entries already take `max_bytes`.
    Full,
    /// The entry alone is larger than `max_bytes` (or the format's limit): it can never fit.
    TooLarge,
    /// [`Wal::close`] was called.
    Closed,
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

/// The single reader: returns every unacknowledged entry once, in order.
pub struct Reader {
    shared: Arc<Shared>,
    replayed_until: u64,
}

/// The next entry the reader will return, found but not read yet: [`Unread::read`] reads it (a
/// blocking call) and [`Reader::advance`] moves the reader past it.
#[derive(Clone)]
pub struct Unread {
    meta: EntryMeta,
    file: Option<Arc<File>>,
    replayed: bool,
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

struct Segment {
    first_seq: u64,
    path: PathBuf,
    file: Arc<File>,
    /// Where the next entry goes: the end of the last whole entry.
    len: u64,
    /// The file may hold bytes past `len` (a failed write or truncation could not be undone):
    /// they are cut off before the next write.
    tail_dirty: bool,
}

#[derive(Debug, Clone, Copy)]
struct EntryMeta {
    seq: u64,
    segment_first_seq: u64,
    offset: u64,
    len: u32,
    /// Bytes of the record before its data (header, fixed fields, markers).
    data_start: u32,
    events: u32,
    enqueued_unix_ms: u64,
}

impl Wal {
    /// Opens (or creates) the log in `options.dir`, recovering what a previous run left.
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

    /// Opens a new active segment starting at `first_seq` (the io lock is held). A file left by
    /// an earlier attempt that failed is reused: no entry has that number yet.
    fn start_segment(&self, first_seq: u64) -> io::Result<Arc<File>> {
        let options = &self.shared.options;
        let path = options.dir.join(segment_name(first_seq));
        // The segment being closed must not keep bytes past its last entry.
        let previous = self.shared.lock().segments.back().and_then(|segment| {
            segment
                .tail_dirty
                .then(|| (segment.file.clone(), segment.first_seq, segment.len))
        });
        if let Some((file, first_seq, len)) = previous {
            self.clean_tail(&file, first_seq, len)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        if options.fsync != Fsync::Never {
            // The new file's directory entry must survive a power loss too.
            if let Err(error) = File::open(&options.dir).and_then(|dir| dir.sync_all()) {
                let _ = fs::remove_file(&path);
                return Err(error);
            }
        }
        let file = Arc::new(file);
        let mut state = self.shared.lock();
        if options.fsync == Fsync::Interval {
            if let Some(previous) = state.segments.back().map(|segment| segment.file.clone()) {
                state.unsynced.push(previous);
            }
        }
        state.segments.push_back(Segment {
            first_seq,
            path,
            file: file.clone(),
            len: 0,
            tail_dirty: false,
        });
        Ok(file)
    }

    /// Cuts a segment back to `len` if an earlier failure left bytes past it (io lock held).
    fn clean_tail(&self, file: &File, first_seq: u64, len: u64) -> io::Result<()> {
        let dirty = self
            .shared
            .lock()
            .segments
            .iter()
            .any(|segment| segment.first_seq == first_seq && segment.tail_dirty);
        if dirty {
            file.set_len(len)?;
            let mut state = self.shared.lock();
            if let Some(segment) = state
                .segments
                .iter_mut()
                .find(|segment| segment.first_seq == first_seq)
            {
                segment.tail_dirty = false;
            }
        }
        Ok(())
    }

    fn mark_tail_dirty(&self, first_seq: u64) {
        let mut state = self.shared.lock();
        if let Some(segment) = state
            .segments
            .iter_mut()
            .find(|segment| segment.first_seq == first_seq)
        {
            segment.tail_dirty = true;
        }
    }
}

/// No unacknowledged entry lives in `active` (the newest segment).
fn fully_acked(state: &State, active: &Segment) -> bool {
    state
        .entries
        .back()
        .is_none_or(|newest| newest.segment_first_seq != active.first_seq)
}

impl Reader {
    /// The next unacknowledged entry not yet returned; `None` once the log is closed and all was
    /// read. Cancel safe: nothing is consumed unless an entry is returned. Reads the file on the
    /// calling thread; [`Reader::next_unread`] and [`Unread::read`] split the two.
    pub async fn next(&mut self) -> Option<Entry> {
        loop {
            let unread = self.next_unread().await?;
            let read = unread.read();
            if let Some(entry) = self.advance(&unread, read) {
                return Some(entry);
            }
        }
    }

    /// Waits for the next entry the reader has not returned, without reading it or moving past
    /// it; `None` once the log is closed and all was returned. Cancel safe. Never blocks on I/O.
    pub async fn next_unread(&mut self) -> Option<Unread> {
        loop {
            let mut appended = pin!(self.shared.appended.notified());
            appended.as_mut().enable();
            {
                let state = self.shared.lock();
                let index = state
                    .entries
                    .partition_point(|entry| entry.seq < state.next_read);
                match state.entries.get(index) {
                    Some(meta) => {
                        let file = state
                            .segments
                            .iter()
                            .find(|segment| segment.first_seq == meta.segment_first_seq)
                            .map(|segment| segment.file.clone());
                        return Some(Unread {
                            meta: *meta,
                            file,
                            replayed: meta.seq <= self.replayed_until,
                        });
                    }
                    None if state.closed => return None,
                    None => {}
                }
            }
            appended.await;
        }
    }

    /// Moves past `unread`, given what reading it gave: the entry, or `None` if it was damaged
    /// (counted in [`Stats::corrupt_entries`]; go on with the next one).
    pub fn advance(&mut self, unread: &Unread, read: io::Result<Entry>) -> Option<Entry> {
        let mut state = self.shared.lock();
        if state.next_read <= unread.meta.seq {
            state.next_read = unread.meta.seq + 1;
            state.unread_events -= u64::from(unread.meta.events);
        }
        match read {
            Ok(mut entry) => {
                entry.replayed = unread.replayed;
                Some(entry)
            }
            Err(_) => {
                state.corrupt_entries += 1;
                None
            }
        }
    }
}

impl Unread {
    /// Reads the entry and checks its checksum. Blocking.
    pub fn read(&self) -> io::Result<Entry> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "segment gone"))?;
        read_entry(file, &self.meta)
    }

    /// Events in the entry, as appended.
    pub fn events(&self) -> u32 {
        self.meta.events
    }
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

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

fn segment_first_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The record up to its data: header, fixed fields and markers, with the checksum of the whole
/// payload (data included) in the header. The data is written after it as it is, not copied.
fn encode_prefix(
    seq: u64,
    enqueued_unix_ms: u64,
    events: u32,
    markers: &[String],
    data: &[u8],
) -> Result<Vec<u8>, AppendError> {
    let too_large = markers.len() > usize::from(u16::MAX)
        || markers
            .iter()
            .any(|marker| marker.len() > usize::from(u16::MAX));
    let prefix_len = HEADER_LEN
        + PAYLOAD_FIXED_LEN
        + markers.iter().map(|marker| 2 + marker.len()).sum::<usize>();
    if too_large || (prefix_len + data.len()) as u64 > MAX_ENTRY_LEN {
        return Err(AppendError::TooLarge);
    }
    let payload_len = prefix_len - HEADER_LEN + data.len();
    let mut prefix = Vec::with_capacity(prefix_len);
    prefix.extend_from_slice(&MAGIC.to_le_bytes());
    prefix.extend_from_slice(&(payload_len as u32).to_le_bytes());
    prefix.extend_from_slice(&[0; 4]);
    prefix.extend_from_slice(&seq.to_le_bytes());
    prefix.extend_from_slice(&enqueued_unix_ms.to_le_bytes());
    prefix.extend_from_slice(&events.to_le_bytes());
    prefix.extend_from_slice(&(markers.len() as u16).to_le_bytes());
    for marker in markers {
        prefix.extend_from_slice(&(marker.len() as u16).to_le_bytes());
        prefix.extend_from_slice(marker.as_bytes());
    }
    let crc = payload_crc(&prefix[HEADER_LEN..], data);
    prefix[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(prefix)
}

fn payload_crc(fields: &[u8], data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(fields);
    hasher.update(data);
    hasher.finalize()
}

/// An entry's fields before its data, and where its data starts in the record.
struct Head {
    seq: u64,
    enqueued_unix_ms: u64,
    events: u32,
    markers: Vec<String>,
    data_start: usize,
}

/// Parses the header, fixed fields and markers at the start of `record` (which may hold more).
fn parse_head(record: &[u8]) -> Option<Head> {
    if u32_at(record, 0)? != MAGIC {
        return None;
    }
    let payload = record.get(HEADER_LEN..)?;
    let seq = u64_at(payload, 0)?;
    let enqueued_unix_ms = u64_at(payload, 8)?;
    let events = u32_at(payload, 16)?;
    let marker_count = u16::from_le_bytes(payload.get(20..22)?.try_into().ok()?);
    let mut at = PAYLOAD_FIXED_LEN;
    let mut markers = Vec::with_capacity(usize::from(marker_count));
    for _ in 0..marker_count {
        let len = usize::from(u16::from_le_bytes(
            payload.get(at..at + 2)?.try_into().ok()?,
        ));
        let text = payload.get(at + 2..at + 2 + len)?;
        markers.push(String::from_utf8(text.to_vec()).ok()?);
        at += 2 + len;
    }
    Some(Head {
        seq,
        enqueued_unix_ms,
        events,
        markers,
        data_start: HEADER_LEN + at,
    })
}

/// Checks a whole record read at open: its length field and its checksum.
fn verify(record: &[u8]) -> Option<Head> {
    let payload_len = u32_at(record, 4)? as usize;
    let crc = u32_at(record, 8)?;
    let payload = record.get(HEADER_LEN..)?;
    if payload.len() != payload_len || crc != crc32fast::hash(payload) {
        return None;
    }
    parse_head(record).filter(|head| head.data_start <= record.len())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads an entry found at open or appended since: the prefix and the data apart, so that the
/// data lands in its own buffer without another copy.
fn read_entry(file: &File, meta: &EntryMeta) -> io::Result<Entry> {
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, "checksum mismatch");
    let mut prefix = vec![0; meta.data_start as usize];
    file.read_exact_at(&mut prefix, meta.offset)?;
    let mut data = vec![0; (meta.len - meta.data_start) as usize];
    file.read_exact_at(&mut data, meta.offset + u64::from(meta.data_start))?;
    let crc = u32_at(&prefix, 8).ok_or_else(damaged)?;
    if crc != payload_crc(&prefix[HEADER_LEN..], &data) {
        return Err(damaged());
    }
    let head = parse_head(&prefix)
        .filter(|head| head.seq == meta.seq && head.data_start == prefix.len())
        .ok_or_else(damaged)?;
    Ok(Entry {
        seq: head.seq,
        events: head.events,
        enqueued_unix_ms: head.enqueued_unix_ms,
        markers: head.markers,
        data,
        replayed: false,
    })
}

enum AckRecord {
    Missing,
    Valid(u64),
    Damaged,
}

fn write_ack(file: &File, seq: u64) -> io::Result<()> {
    let mut record = [0u8; 12];
    record[..8].copy_from_slice(&seq.to_le_bytes());
    record[8..].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    file.write_all_at(&record, 0)
}

fn read_ack(file: &File) -> io::Result<AckRecord> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(AckRecord::Missing);
    }
    let mut record = [0u8; 12];
    if len < 12 {
        return Ok(AckRecord::Damaged);
    }
    file.read_exact_at(&mut record, 0)?;
    let seq = u64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(record[8..].try_into().expect("4 bytes"));
    Ok(if crc == crc32fast::hash(&record[..8]) {
        AckRecord::Valid(seq)
    } else {
        AckRecord::Damaged
    })
}

struct SegmentScan {
    entries: Vec<EntryMeta>,
    file_len: u64,
    /// Where the readable entries end; short of `file_len` only for a torn newest segment.
    valid_len: u64,
    corrupt_entries: u64,
}

/// Reads every entry of a segment at open. In the newest segment, a record that is cut short
/// or fails its checksum at the very end is a torn append: everything from it on is cut. Before
/// that, and in older segments, a bad checksum with a sane length skips that one entry; a
/// damaged header loses the rest of the segment (there is no way to find the next record).
fn scan_segment(file: &File, first_seq: u64, newest: bool) -> io::Result<SegmentScan> {
    let file_len = file.metadata()?.len();
    let mut scan = SegmentScan {
        entries: Vec::new(),
        file_len,
        valid_len: file_len,
        corrupt_entries: 0,
    };
    let mut offset = 0u64;
    let mut expected_seq = first_seq;
    let mut header = [0u8; HEADER_LEN];
    while offset < file_len {
        let remaining = file_len - offset;
        let header_ok = remaining >= HEADER_LEN as u64
            && file.read_exact_at(&mut header, offset).is_ok()
            && u32_at(&header, 0) == Some(MAGIC);
        let record_len = HEADER_LEN as u64 + u64::from(u32_at(&header, 4).unwrap_or(0));
        if !header_ok || record_len > MAX_ENTRY_LEN || record_len > remaining {
            if newest {
                scan.valid_len = offset;
            } else {
                scan.corrupt_entries += 1;
            }
            break;
        }
        let mut record = vec![0; record_len as usize];
        file.read_exact_at(&mut record, offset)?;
        match verify(&record).filter(|head| head.seq >= expected_seq) {
            Some(head) => {
                expected_seq = head.seq + 1;
                scan.entries.push(EntryMeta {
                    seq: head.seq,
                    segment_first_seq: first_seq,
                    offset,
                    len: record_len as u32,
                    data_start: head.data_start as u32,
                    events: head.events,
                    enqueued_unix_ms: head.enqueued_unix_ms,
                });
            }
            None if newest && offset + record_len == file_len => {
                scan.valid_len = offset;
                break;
            }
            None => scan.corrupt_entries += 1,
        }
        offset += record_len;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
