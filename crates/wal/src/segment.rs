//! Segment files: their names, the scan at open, and starting or cleaning the active one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::format::{u32_at, verify, EntryMeta, HEADER_LEN, MAGIC, MAX_ENTRY_LEN};
use crate::{Fsync, Wal};

const SEGMENT_SUFFIX: &str = ".wal";

pub(crate) struct Segment {
    pub(crate) first_seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<File>,
    /// Where the next entry goes: the end of the last whole entry.
    pub(crate) len: u64,
    /// The file may hold bytes past `len` (a failed write or truncation could not be undone):
    /// they are cut off before the next write.
    pub(crate) tail_dirty: bool,
}

impl Wal {
    /// Opens a new active segment starting at `first_seq` (the io lock is held). A file left by
    /// an earlier attempt that failed is reused: no entry has that number yet.
    pub(crate) fn start_segment(&self, first_seq: u64) -> io::Result<Arc<File>> {
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
    pub(crate) fn clean_tail(&self, file: &File, first_seq: u64, len: u64) -> io::Result<()> {
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

    pub(crate) fn mark_tail_dirty(&self, first_seq: u64) {
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

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn segment_first_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) struct SegmentScan {
    pub(crate) entries: Vec<EntryMeta>,
    pub(crate) file_len: u64,
    /// Where the readable entries end; short of `file_len` only for a torn newest segment.
    pub(crate) valid_len: u64,
    pub(crate) corrupt_entries: u64,
}

/// Reads every entry of a segment at open. In the newest segment, a record that is cut short
/// or fails its checksum at the very end is a torn append: everything from it on is cut. Before
/// that, and in older segments, a bad checksum with a sane length skips that one entry; a
/// damaged header loses the rest of the segment (there is no way to find the next record).
pub(crate) fn scan_segment(file: &File, first_seq: u64, newest: bool) -> io::Result<SegmentScan> {
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
