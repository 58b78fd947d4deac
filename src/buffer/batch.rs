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

impl Batch {
    pub fn is_full(&self) -> bool {
        self.events >= BATCH_MAX_EVENTS || self.data.len() >= BATCH_MAX_BYTES
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
}
