//! What crosses from the listeners to the sinks: a [`Batch`] of encoded records per sink, never
//! single messages. Its contract: `data` holds `events` records, each ending in LF (JSON escapes
//! every LF inside a value, and the agent's encoder escapes LFs inside a message), so a sink can
//! split it back into records ([`split_records`]) without parsing.

use bytes::{Bytes, BytesMut};

/// Encoded messages on their way to the sink. Batches, not single messages, cross task boundaries.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: BytesMut,
    pub events: u64,
    /// Markers of the troubleshooter's mock messages in this batch (almost always none).
    pub mock_markers: Vec<String>,
}

/// A batch is handed to the sink once it holds this many events or bytes.
pub const BATCH_MAX_EVENTS: u64 = 256;
pub const BATCH_MAX_BYTES: usize = 64 * 1024;

/// Room made for a batch at its first record: a full batch and the record that fills it, unless
/// that record is over 8 KiB.
const BATCH_CAPACITY: usize = BATCH_MAX_BYTES + 8 * 1024;

impl Batch {
    pub fn is_full(&self) -> bool {
        self.events >= BATCH_MAX_EVENTS || self.data.len() >= BATCH_MAX_BYTES
    }

    /// Where the next record is appended. Room for the whole batch is made at the first record:
    /// grown from nothing by doubling, a batch was moved ~10 times on its way to 64 KiB, which
    /// cost ~1 700 instructions of every forwarded 1 KB message (callgrind).
    pub fn data_for_next_record(&mut self) -> &mut BytesMut {
        if self.data.capacity() == 0 {
            self.data.reserve(BATCH_CAPACITY);
        }
        &mut self.data
    }

    /// The batch, leaving an empty one in its place. A batch handed over less than half full
    /// (a quiet sender's, at the end of a read) is copied to its size first, so that a buffer
    /// counting its bytes does not hold many times that in empty room.
    pub fn take(&mut self) -> Batch {
        let mut batch = std::mem::take(self);
        if batch.data.len() < batch.data.capacity() / 2 {
            batch.data = BytesMut::from(&batch.data[..]);
        }
        batch
    }
}

/// One batch per sink: they go out together as soon as any of them is full.
pub fn any_full(batches: &[Batch]) -> bool {
    batches.iter().any(Batch::is_full)
}

pub fn any_events(batches: &[Batch]) -> bool {
    batches.iter().any(|batch| batch.events > 0)
}

/// One buffer entry's records: the JSON objects between its LFs.
pub fn split_records(data: &Bytes) -> Vec<Bytes> {
    let mut records = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        if end > start {
            records.push(data.slice(start..end));
        }
        start = end + 1;
    }
    if start < data.len() {
        records.push(data.slice(start..));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_the_lines_of_an_entry() {
        let data = Bytes::from_static(b"{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
        assert_eq!(
            split_records(&data),
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"b\":\"x\\ny\"}")
            ]
        );
    }

    fn append(batch: &mut Batch, record: &[u8]) {
        batch.data_for_next_record().extend_from_slice(record);
        batch.events += 1;
    }

    #[test]
    fn a_batch_fills_to_full_in_the_room_made_at_its_first_record() {
        let record = [b'x'; 1300];
        let mut batch = Batch::default();
        append(&mut batch, &record);
        let room = batch.data.as_ptr();
        while !batch.is_full() {
            append(&mut batch, &record);
        }
        assert_eq!(
            batch.data.as_ptr(),
            room,
            "the batch was moved while it filled"
        );

        // Handed over full: as it is, not copied.
        let taken = batch.take();
        assert_eq!(taken.data.as_ptr(), room);
        assert_eq!(batch.data.capacity(), 0);
        assert_eq!(batch.events, 0);
    }

    #[test]
    fn a_batch_handed_over_nearly_empty_holds_only_its_records() {
        let mut batch = Batch::default();
        append(&mut batch, b"one record\n");
        let taken = batch.take();
        assert_eq!(&taken.data[..], b"one record\n");
        assert_eq!(taken.events, 1);
        assert!(taken.data.capacity() < 1024, "{}", taken.data.capacity());
    }
}
