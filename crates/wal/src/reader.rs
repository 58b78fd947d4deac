//! The single reader and the entry it is about to return.

use std::fs::File;
use std::io;
use std::pin::pin;
use std::sync::Arc;

use crate::format::{read_entry, EntryMeta};
use crate::{Entry, Shared};

/// The single reader: returns every unacknowledged entry once, in order.
pub struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) replayed_until: u64,
}

/// The next entry the reader will return, found but not read yet: [`Unread::read`] reads it (a
/// blocking call) and [`Reader::advance`] moves the reader past it.
#[derive(Clone)]
pub struct Unread {
    meta: EntryMeta,
    file: Option<Arc<File>>,
    replayed: bool,
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
    /// (counted in [`Stats::corrupt_entries`](crate::Stats::corrupt_entries); go on with the
    /// next one).
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
