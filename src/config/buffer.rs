//! `buffer = { … }`: the bounded buffer in front of every sink, validated (memory or disk, sizes,
//! fsync, what happens when it is full).

use std::time::Duration;

use super::limits;
use super::raw::{RawBuffer, WhenFull};
use super::validate::{Span, Validator};
use super::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync after every append: nothing acknowledged to the WAL is lost on power failure.
    Always,
    /// fdatasync on a timer: a power failure loses at most this interval.
    Interval(Duration),
    /// Leave write-back to the kernel (`vm.dirty_expire_centisecs`, typically 30 s).
    Never,
}

/// What a memory buffer holds at most in bytes unless told: ~16 000 PAN-OS events of ~1 KB, and a
/// bound on the relay's memory whatever the events' size. Under full TCP load the buffer fills to
/// it whenever the sink falls behind for a moment, and the relay's peak RSS is ~20 MiB plus this
/// (measured: 22 MiB with 4 MiB, 61–64 MiB with 32 MiB): 16 MiB keeps it under issue 16's 64 MiB.
/// TCP loses nothing when it is full (readers wait); UDP bursts beyond it are dropped and
/// counted, and a disk buffer is what rides out an agent that is away for longer.
pub const DEFAULT_MEMORY_MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum BufferKind {
    /// Lost when the process dies; holds at most `max_events` events and `max_bytes` bytes.
    Memory { max_events: usize, max_bytes: u64 },
    /// A write-ahead log under `<state_dir>/buffer/<sink>/`; survives `kill -9` and restarts.
    Disk {
        max_bytes: u64,
        segment_bytes: u64,
        fsync: FsyncPolicy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BufferConfig {
    pub kind: BufferKind,
    pub when_full: WhenFull,
}

impl BufferConfig {
    pub fn memory(max_events: usize) -> Self {
        BufferConfig {
            kind: BufferKind::Memory {
                max_events,
                max_bytes: DEFAULT_MEMORY_MAX_BYTES,
            },
            when_full: WhenFull::Block,
        }
    }
}

/// `key` is where the table sits, e.g. `forward.buffer` or `sink[0].buffer`.
// One piece: the memory and disk kinds side by side, each key with its default and range.
pub fn validate(
    check: &Validator<'_>,
    key: &str,
    raw: Option<&RawBuffer>,
    default_max_events: usize,
) -> Result<BufferConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(BufferConfig::memory(default_max_events));
    };
    let kind_name = raw.kind.as_ref().map_or("memory", |k| k.get_ref().as_str());
    let kind_span = raw.kind.as_ref().map(|k| k.span());
    let stray = |name: &str, span: Span, kind: &str| {
        check.error(
            format!("{key}.{name}"),
            Some(span),
            format!("does not apply to a {kind} buffer"),
        )
    };
    let kind = match kind_name {
        "memory" => {
            if let Some(v) = &raw.fsync {
                return Err(stray("fsync", v.span(), "memory"));
            }
            let max_events = check.size(
                &format!("{key}.max_events"),
                raw.max_events.as_ref(),
                &limits::MAX_EVENTS,
                default_max_events as u64,
            )?;
            let max_bytes = check.number(
                &format!("{key}.max_bytes"),
                raw.max_bytes.as_ref(),
                &limits::MEMORY_MAX_BYTES,
                DEFAULT_MEMORY_MAX_BYTES,
            )?;
            BufferKind::Memory {
                max_events,
                max_bytes,
            }
        }
        "disk" => {
            if let Some(v) = &raw.max_events {
                return Err(stray("max_events", v.span(), "disk"));
            }
            // The lower bounds say why, in the words they have always used.
            if let Some(v) = raw
                .max_bytes
                .as_ref()
                .filter(|v| *v.get_ref() < 1024 * 1024)
            {
                return Err(check.error(
                    format!("{key}.max_bytes"),
                    Some(v.span()),
                    "a disk buffer needs at least 1048576 bytes (1 MiB)".into(),
                ));
            }
            if let Some(v) = raw
                .segment_bytes
                .as_ref()
                .filter(|v| *v.get_ref() < 64 * 1024)
            {
                return Err(check.error(
                    format!("{key}.segment_bytes"),
                    Some(v.span()),
                    "segments need at least 65536 bytes".into(),
                ));
            }
            let max_bytes = check.number(
                &format!("{key}.max_bytes"),
                raw.max_bytes.as_ref(),
                &limits::DISK_MAX_BYTES,
                1024 * 1024 * 1024,
            )?;
            let segment_bytes = check.number(
                &format!("{key}.segment_bytes"),
                raw.segment_bytes.as_ref(),
                &limits::SEGMENT_BYTES,
                (max_bytes / 16).clamp(64 * 1024, 64 * 1024 * 1024),
            )?;
            if let Some(v) = raw
                .segment_bytes
                .as_ref()
                .filter(|_| segment_bytes > max_bytes)
            {
                return Err(check.error(
                    format!("{key}.segment_bytes"),
                    Some(v.span()),
                    format!("{segment_bytes} is larger than the buffer's max_bytes ({max_bytes})"),
                ));
            }
            let interval = check.millis(
                &format!("{key}.fsync_interval_ms"),
                raw.fsync_interval_ms.as_ref(),
                &limits::FSYNC_INTERVAL_MS,
                1000,
            )?;
            let fsync = match raw.fsync.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
                None | Some(("interval", _)) => FsyncPolicy::Interval(interval),
                Some(("always", _)) => FsyncPolicy::Always,
                Some(("never", _)) => FsyncPolicy::Never,
                Some((other, span)) => {
                    return Err(check.error(
                        format!("{key}.fsync"),
                        Some(span),
                        format!("`{other}` is not one of \"always\", \"interval\", \"never\""),
                    ))
                }
            };
            BufferKind::Disk {
                max_bytes,
                segment_bytes,
                fsync,
            }
        }
        other => {
            return Err(check.error(
                format!("{key}.type"),
                kind_span,
                format!("`{other}` is not a buffer type: use \"memory\" or \"disk\""),
            ))
        }
    };
    Ok(BufferConfig {
        kind,
        when_full: raw.when_full.unwrap_or(WhenFull::Block),
    })
}
