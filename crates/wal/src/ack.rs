//! The ack file: the acknowledged position, `seq u64 | crc32(seq) u32`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub(crate) enum AckRecord {
    Missing,
    Valid(u64),
    Damaged,
}

pub(crate) fn write_ack(file: &File, seq: u64) -> io::Result<()> {
    let mut record = [0u8; 12];
    record[..8].copy_from_slice(&seq.to_le_bytes());
    record[8..].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    file.write_all_at(&record, 0)
}

pub(crate) fn read_ack(file: &File) -> io::Result<AckRecord> {
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
