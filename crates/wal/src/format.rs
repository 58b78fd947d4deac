//! The on-disk entry: `magic u32 | payload length u32 | crc32(payload) u32 | payload`,
//! little-endian (the payload's fields are in the crate documentation), and where an entry is.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::{AppendError, Entry};

pub(crate) const MAGIC: u32 = 0xCEF0_0A1B;
pub(crate) const HEADER_LEN: usize = 12;
/// Fixed part of the payload before the markers: seq, enqueued time, events, marker count.
const PAYLOAD_FIXED_LEN: usize = 8 + 8 + 4 + 2;
/// No entry is larger than this; a bigger length field is damage, not data.
pub(crate) const MAX_ENTRY_LEN: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryMeta {
    pub(crate) seq: u64,
    pub(crate) segment_first_seq: u64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// Bytes of the record before its data (header, fixed fields, markers).
    pub(crate) data_start: u32,
    pub(crate) events: u32,
    pub(crate) enqueued_unix_ms: u64,
}

/// The record up to its data: header, fixed fields and markers, with the checksum of the whole
/// payload (data included) in the header. The data is written after it as it is, not copied.
pub(crate) fn encode_prefix(
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
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) enqueued_unix_ms: u64,
    pub(crate) events: u32,
    pub(crate) markers: Vec<String>,
    pub(crate) data_start: usize,
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
pub(crate) fn verify(record: &[u8]) -> Option<Head> {
    let payload_len = u32_at(record, 4)? as usize;
    let crc = u32_at(record, 8)?;
    let payload = record.get(HEADER_LEN..)?;
    if payload.len() != payload_len || crc != crc32fast::hash(payload) {
        return None;
    }
    parse_head(record).filter(|head| head.data_start <= record.len())
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads an entry found at open or appended since: the prefix and the data apart, so that the
/// data lands in its own buffer without another copy.
pub(crate) fn read_entry(file: &File, meta: &EntryMeta) -> io::Result<Entry> {
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
