//! What to send and how much: the messages (generated or from `--file`), their framing, and the
//! message numbers the connections share out.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use cefrelay_panos::generate::{write_decimal, HeaderFormat, Mix, Pool, SyslogHeader};

use super::destination::is_header_token;
use crate::cli::{SendArgs, SyslogFormatArg};

/// Messages sent when neither --count nor --duration says otherwise.
const DEFAULT_COUNT: u64 = 1000;
/// HOSTNAME of generated messages when the machine's own name cannot be used.
const FALLBACK_HOSTNAME: &str = "cefrelay-send";

/// Where the messages come from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Generated {
        pool: Arc<Pool>,
        marker: Arc<str>,
        header: SyslogHeader,
    },
    /// Lines of --file, sent as they are; message `n` is line `n % len` (never empty).
    File { lines: Arc<[Box<[u8]>]> },
}

impl Source {
    pub(super) fn load(args: &SendArgs) -> anyhow::Result<Source> {
        if let Some(path) = &args.file {
            return Ok(Source::File {
                lines: read_lines(path)?.into(),
            });
        }
        let now = time::OffsetDateTime::now_utc();
        let format = match args.format {
            SyslogFormatArg::Rfc3164 => HeaderFormat::Rfc3164,
            SyslogFormatArg::Rfc5424 => HeaderFormat::Rfc5424,
        };
        let hostname = args.hostname.clone().unwrap_or_else(machine_hostname);
        Ok(Source::Generated {
            pool: Arc::new(Pool::new(
                args.mix.as_ref().unwrap_or(&Mix::default()),
                args.seed,
                now,
            )),
            marker: args.marker.as_str().into(),
            header: SyslogHeader::new(format, &hostname, now),
        })
    }
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Box<[u8]>>> {
    let text = std::fs::read(path).with_context(|| format!("reading --file {}", path.display()))?;
    let lines: Vec<Box<[u8]>> = text
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(Box::from)
        .collect();
    if lines.is_empty() {
        bail!("--file {} holds no messages", path.display());
    }
    Ok(lines)
}

/// This machine's name if it can stand in a syslog header, else a fixed one.
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| is_header_token(name))
        .unwrap_or_else(|| FALLBACK_HOSTNAME.to_string())
}

/// How many messages to send; `None` means until --duration ends (or Ctrl-C).
pub(super) fn message_total(args: &SendArgs, source: &Source) -> Option<u64> {
    match (source, args.count) {
        // One pass over the file unless --loop, never more than --count.
        (Source::File { lines }, count) if !args.repeat => {
            let lines = lines.len() as u64;
            Some(count.map_or(lines, |count| count.min(lines)))
        }
        (_, Some(count)) => Some(count),
        (_, None) if args.duration.is_some() => None,
        (_, None) => Some(DEFAULT_COUNT),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// Each message followed by LF (RFC 6587 non-transparent framing).
    Lf,
    /// `LEN SP MSG` (RFC 6587 octet counting).
    Octet,
    /// One UDP datagram per message, nothing added.
    Datagram,
}

/// Turns message numbers into framed bytes; each connection has its own (for its clock).
#[derive(Debug, Clone)]
pub(super) struct Encoder {
    source: Source,
    framing: Framing,
}

impl Encoder {
    pub(super) fn new(source: Source, framing: Framing) -> Self {
        Encoder { source, framing }
    }

    /// Stamps the messages of the next batch with the current time.
    pub(super) fn refresh_clock(&mut self) {
        if let Source::Generated { header, .. } = &mut self.source {
            header.set_time(time::OffsetDateTime::now_utc());
        }
    }

    /// Appends message `n`, framed.
    pub(super) fn encode(&self, n: u64, out: &mut Vec<u8>) {
        match &self.source {
            Source::Generated {
                pool,
                marker,
                header,
            } => {
                let record = pool.record(n);
                if self.framing == Framing::Octet {
                    write_decimal(record.line_len(header, marker, n) as u64, out);
                    out.push(b' ');
                }
                record.write_line(header, marker, n, out);
            }
            Source::File { lines } => {
                let line = &lines[(n % lines.len() as u64) as usize];
                if self.framing == Framing::Octet {
                    write_decimal(line.len() as u64, out);
                    out.push(b' ');
                }
                out.extend_from_slice(line);
            }
        }
        if self.framing == Framing::Lf {
            out.push(b'\n');
        }
    }
}

/// Hands out message numbers to the connections, so that every number is sent once, whichever
/// connection is faster.
pub(super) struct Counter {
    pub(super) next: AtomicU64,
    pub(super) total: u64,
}

impl Counter {
    pub(super) fn claim(&self, want: u64) -> Range<u64> {
        let start = self.next.fetch_add(want, Ordering::Relaxed);
        start.min(self.total)..start.saturating_add(want).min(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_split_the_count_without_overlap_or_overrun() {
        let counter = Counter {
            next: AtomicU64::new(0),
            total: 100,
        };
        assert_eq!(counter.claim(64), 0..64);
        assert_eq!(counter.claim(64), 64..100);
        assert!(counter.claim(64).is_empty());
        let unlimited = Counter {
            next: AtomicU64::new(u64::MAX - 1),
            total: u64::MAX,
        };
        assert_eq!(unlimited.claim(64), u64::MAX - 1..u64::MAX);
    }

    #[test]
    fn octet_framing_counts_the_message_bytes() {
        let lines: Arc<[Box<[u8]>]> = vec![Box::from(&b"<14>hello"[..])].into();
        let encoder = Encoder::new(Source::File { lines }, Framing::Octet);
        let mut out = Vec::new();
        encoder.encode(5, &mut out);
        assert_eq!(out, b"9 <14>hello");
    }
}
