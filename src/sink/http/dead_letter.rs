//! Records the far end refused for good (HTTP 400, 403, a single record over the size limit, …)
//! go to `<state_dir>/dead-letter/<sink>.ndjson`, one JSON line each with why, so that nothing
//! is lost silently and an operator can fix and resend them. Each file is bounded by
//! `max_bytes`; a full one rotates (`<sink>.ndjson.1` the newest full file, up to `keep` of them,
//! the oldest removed), or with `keep = 0` takes nothing more and the records are only counted.
//! The file is written on tokio's blocking pool, never on the async worker threads.

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
    /// Full files kept after rotation.
    keep: u32,
    file: Mutex<Option<File>>,
}

impl DeadLetter {
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        DeadLetter {
            file: Arc::new(DeadLetterFile {
                path,
                max_bytes,
                keep,
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
        let mut size = handle.metadata().map_or(0, |m| m.len());
        if size + lines.len() as u64 > self.max_bytes {
            // Rotating cannot help a batch larger than a whole file, nor with none kept.
            if self.keep == 0 || lines.len() as u64 > self.max_bytes || size == 0 {
                return false;
            }
            match self.rotate() {
                Ok(fresh) => {
                    *handle = fresh;
                    size = 0;
                }
                Err(error) => {
                    tracing::error!(path = %self.path.display(), %error, "cannot rotate the dead-letter file");
                    return false;
                }
            }
        }
        if handle.write_all(&lines).is_ok() {
            return true;
        }
        // A full disk may have taken part of it: no half line for the operator to trip over.
        let _ = handle.set_len(size);
        false
    }

    /// `<path>.{keep-1}` → `.{keep}` (the oldest goes) … `<path>` → `.1`, then a new empty file.
    fn rotate(&self) -> std::io::Result<File> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.open()
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
        let dead = DeadLetter::new(path.clone(), 400, 0);
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

    #[tokio::test]
    async fn a_full_file_rotates_and_the_oldest_beyond_keep_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead-letter/s.ndjson");
        let dead = DeadLetter::new(path.clone(), 250, 2);
        let record = [Bytes::from_static(b"{\"n\":1}")];
        // About 100 bytes a line: two fit a file; eight lines make four files, of which the
        // current one and two rotated stay.
        for n in 0..8 {
            assert!(
                dead.write("s", &record, StatusCode::BAD_REQUEST, &format!("r{n}"))
                    .await
            );
        }
        let read = |suffix: &str| {
            std::fs::read_to_string(format!("{}{suffix}", path.display())).unwrap_or_default()
        };
        assert!(read("").contains("\"r7\"") && read("").contains("\"r6\""));
        assert!(read(".1").contains("\"r5\"") && read(".1").contains("\"r4\""));
        assert!(read(".2").contains("\"r3\"") && read(".2").contains("\"r2\""));
        assert!(!std::path::Path::new(&format!("{}.3", path.display())).exists());
        // A record larger than a whole file is refused (counted by the caller), not rotated for.
        let huge = [Bytes::from(format!("{{\"x\":\"{}\"}}", "a".repeat(300)))];
        assert!(!dead.write("s", &huge, StatusCode::BAD_REQUEST, "big").await);
    }
}
