//! Records the far end refused for good (HTTP 400, 403, a single record over the size limit, …)
//! go to `<state_dir>/dead-letter/<sink>.ndjson`, one JSON line each with why, so that nothing
//! is lost silently and an operator can fix and resend them. The file is bounded: past
//! `max_bytes` the records are only counted. The file is written on tokio's blocking pool, never
//! on the async worker threads.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::StatusCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub struct DeadLetter {
    file: Arc<DeadLetterFile>,
}

struct DeadLetterFile {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<File>>,
}

impl DeadLetter {
    pub fn new(path: PathBuf, max_bytes: u64) -> Self {
        DeadLetter {
            file: Arc::new(DeadLetterFile {
                path,
                max_bytes,
                file: Mutex::new(None),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Appends the records; false if they could not be kept (file full or not writable).
    pub async fn write(
        &self,
        sink: &str,
        records: &[Bytes],
        status: StatusCode,
        reason: &str,
    ) -> bool {
        let file = self.file.clone();
        let (sink, records, reason) = (sink.to_string(), records.to_vec(), reason.to_string());
        tokio::task::spawn_blocking(move || file.write(&sink, &records, status, &reason))
            .await
            .unwrap_or(false)
    }
}

impl DeadLetterFile {
    /// Blocking.
    fn write(&self, sink: &str, records: &[Bytes], status: StatusCode, reason: &str) -> bool {
        let time = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut lines = Vec::new();
        for record in records {
            let head = serde_json::json!({
                "time": time,
                "sink": sink,
                "status": status.as_u16(),
                "reason": reason,
            })
            .to_string();
            // The record is already JSON: spliced in as is, not re-encoded as a string.
            lines.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            lines.extend_from_slice(b",\"record\":");
            lines.extend_from_slice(record);
            lines.extend_from_slice(b"}\n");
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = self.open().map_err(|error| {
                tracing::error!(path = %self.path.display(), %error, "cannot open the dead-letter file");
            }).ok();
        }
        let Some(handle) = file.as_mut() else {
            return false;
        };
        let size = handle.metadata().map_or(0, |m| m.len());
        if size + lines.len() as u64 > self.max_bytes {
            return false;
        }
        if handle.write_all(&lines).is_ok() {
            return true;
        }
        // A full disk may have taken part of it: no half line for the operator to trip over.
        let _ = handle.set_len(size);
        false
    }

    fn open(&self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_kept_with_the_reason_until_the_file_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letter/s.ndjson");
        let dead = DeadLetter::new(path.clone(), 400);
        let records = [
            Bytes::from_static(b"{\"a\":1}"),
            Bytes::from_static(b"{\"b\":[2]}"),
        ];
        assert!(
            dead.write("s", &records, StatusCode::BAD_REQUEST, "bad \"field\"")
                .await
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["reason"], "bad \"field\"");
        assert_eq!(lines[1]["record"]["b"][0], 2);
        // 400 bytes hold two of these lines, not four.
        assert!(
            !dead
                .write("s", &records, StatusCode::BAD_REQUEST, "again")
                .await
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
