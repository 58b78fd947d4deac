//! The range of every size, count and duration the configuration takes. A value outside its range
//! is refused (exit 64, naming the key, the file and the line), never clamped: a limit that
//! silently becomes something else — `usize::MAX + 1` wrapping to a 0-byte UDP buffer, `10^12`
//! bytes allocated up front — is how a relay that passed `check-config` loses data or crashes.
//! deploy/cefrelay.toml documents the same ranges beside each key.

use std::fmt;
use std::ops::RangeInclusive;

use cefrelay_syslog::framing::MAX_FRAME_LIMIT;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// What a key takes: the inclusive range and the unit it is counted in.
#[derive(Debug, Clone)]
pub struct Limit {
    pub range: RangeInclusive<u64>,
    pub unit: &'static str,
}

const fn limit(min: u64, max: u64, unit: &'static str) -> Limit {
    Limit {
        range: min..=max,
        unit,
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (min, max) = (*self.range.start(), *self.range.end());
        write!(f, "{min} to {max} {}", self.unit)?;
        if self.unit == "bytes" && max >= MIB && max % MIB == 0 {
            match max / MIB {
                n if n % (1024 * 1024) == 0 => write!(f, " ({} TiB)", n / (1024 * 1024))?,
                n if n % 1024 == 0 => write!(f, " ({} GiB)", n / 1024)?,
                n => write!(f, " ({n} MiB)")?,
            }
        }
        Ok(())
    }
}

/// RFC 5424 §6.1: every receiver must take messages of 480 octets.
const MIN_MESSAGE_BYTES: u64 = 480;

// Listeners.
/// UDP: up to 64 KiB, just above the largest payload a datagram can carry (65 507 bytes over
/// IPv4, 65 527 over IPv6), so at the top no datagram is refused for its size. 64 KiB rather than
/// 65 507 exactly: it was the default, and `cefrelay install` wrote it into every configuration.
pub const UDP_MESSAGE_BYTES: Limit = limit(MIN_MESSAGE_BYTES, 64 * KIB, "bytes");
/// TCP and TLS frames: up to the framing decoder's limit (64 MiB); an octet count above it is a
/// malformed frame.
pub const STREAM_MESSAGE_BYTES: Limit = limit(MIN_MESSAGE_BYTES, MAX_FRAME_LIMIT as u64, "bytes");
/// 0 = one socket per core.
pub const UDP_SOCKETS: Limit = limit(0, 256, "sockets");
/// SO_RCVBUF: the kernel doubles it and keeps it in an int.
pub const RECEIVE_BUFFER_BYTES: Limit = limit(4 * KIB, GIB, "bytes");
/// Linux's default fs.nr_open: no process can hold more descriptors.
pub const MAX_CONNECTIONS: Limit = limit(1, 1_048_576, "connections");
pub const IDLE_TIMEOUT_SECS: Limit = limit(1, 86_400, "seconds");
pub const TLS_HANDSHAKE_TIMEOUT_SECS: Limit = limit(1, 300, "seconds");
/// A balancer writes its PROXY header at once: a long wait only holds a connection open.
pub const PROXY_HEADER_TIMEOUT_SECS: Limit = limit(1, 300, "seconds");

// The agent forward.
/// A memory buffer's events (`queue_events`, `buffer.max_events`).
pub const MAX_EVENTS: Limit = limit(1, 16 * 1024 * 1024, "events");
/// A memory buffer's bytes (`buffer.max_bytes` of a memory buffer): at least one whole batch.
pub const MEMORY_MAX_BYTES: Limit = limit(64 * KIB, 16 * GIB, "bytes");
/// At least one whole batch (64 KiB).
pub const RESEND_WINDOW_BYTES: Limit = limit(64 * KIB, GIB, "bytes");
pub const RECONNECT_MIN_MS: Limit = limit(1, 60_000, "milliseconds");
pub const RECONNECT_MAX_MS: Limit = limit(1, 600_000, "milliseconds");

// Disk buffers.
pub const DISK_MAX_BYTES: Limit = limit(MIB, TIB, "bytes");
/// At most the buffer's max_bytes too.
pub const SEGMENT_BYTES: Limit = limit(64 * KIB, GIB, "bytes");
pub const FSYNC_INTERVAL_MS: Limit = limit(1, 60_000, "milliseconds");

// HTTP sinks.
pub const TIMEOUT_SECS: Limit = limit(1, 3_600, "seconds");
pub const CONCURRENCY: Limit = limit(1, 256, "requests");
pub const RETRY_INITIAL_MS: Limit = limit(1, 60_000, "milliseconds");
/// Retry-After is honoured up to an hour.
pub const RETRY_MAX_MS: Limit = limit(1, 3_600_000, "milliseconds");
/// Azure takes at most 1 000 000 bytes (checked on its own).
pub const MAX_BATCH_BYTES: Limit = limit(KIB, 64 * MIB, "bytes");
pub const MAX_BATCH_EVENTS: Limit = limit(1, 1_000_000, "events");
/// 0 = send as soon as anything is there.
pub const BATCH_TIMEOUT_MS: Limit = limit(0, 600_000, "milliseconds");
/// 0 = rejected batches are only counted.
pub const DEAD_LETTER_MAX_BYTES: Limit = limit(0, TIB, "bytes");
/// Rotated dead-letter files kept: 0 keeps only the one file (full: rejects are only counted).
pub const DEAD_LETTER_FILES: Limit = limit(0, 100, "files");
pub const ACK_TIMEOUT_SECS: Limit = limit(1, 3_600, "seconds");
pub const ACK_POLL_INTERVAL_MS: Limit = limit(10, 60_000, "milliseconds");

// Rules.
/// Suppression windows open at once over every suppress rule; the oldest closes early when full.
pub const SUPPRESS_KEYS: Limit = limit(1, 10_000_000, "keys");
pub const RULES: Limit = limit(0, 10_000, "rules");
pub const SAMPLE_RATE: Limit = limit(1, 1_000_000_000, "events");
pub const SUPPRESS_ALLOW: Limit = limit(0, 1_000_000_000, "events");
pub const SUPPRESS_WINDOW_SECS: Limit = limit(1, 86_400, "seconds");
/// Sinks, so that a set of them fits one machine word on the per-message path.
pub const SINKS: Limit = limit(0, 64, "sinks");

// User-ID.
/// Mappings held at once, over every source.
pub const USERID_ENTRIES: Limit = limit(1, 10_000_000, "mappings");
pub const USERID_INTERVAL_SECS: Limit = limit(1, 86_400, "seconds");
/// A mapping's validity: up to 30 days.
pub const USERID_VALID_FOR_SECS: Limit = limit(60, 30 * 86_400, "seconds");
/// PAN-OS's User Identification Timeout range (a login's `timeout`, in minutes).
pub const USERID_TIMEOUT_MINS: Limit = limit(1, 3_600, "minutes");
/// Entries per uid-message: PAN-OS's guidance is at most 1000.
pub const USERID_BATCH_ENTRIES: Limit = limit(1, 1_000, "entries");

// PAN-OS.
/// `panos.utc_offsets`: one per firewall, read into memory at start.
pub const UTC_OFFSETS: Limit = limit(0, 100_000, "firewalls");

// The process.
/// `log.summary_secs`: 0 (off) or up to a day.
pub const SUMMARY_SECS: Limit = limit(0, 86_400, "seconds");
/// 0 = stop without waiting for the buffers.
pub const SHUTDOWN_GRACE_SECS: Limit = limit(0, 3_600, "seconds");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_says_its_range_and_unit_in_words_a_reader_checks_quickly() {
        assert_eq!(
            STREAM_MESSAGE_BYTES.to_string(),
            "480 to 67108864 bytes (64 MiB)"
        );
        assert_eq!(
            DISK_MAX_BYTES.to_string(),
            "1048576 to 1099511627776 bytes (1 TiB)"
        );
        assert_eq!(
            RESEND_WINDOW_BYTES.to_string(),
            "65536 to 1073741824 bytes (1 GiB)"
        );
        assert_eq!(UDP_MESSAGE_BYTES.to_string(), "480 to 65536 bytes");
        assert_eq!(IDLE_TIMEOUT_SECS.to_string(), "1 to 86400 seconds");
    }
}

#[cfg(test)]
mod validation {
    use super::*;
    use crate::config::Config;

    /// `{v}` in each template is the value under test; `{dir}` a writable directory.
    const KEYS: &[(&str, &str, usize, &Limit)] = &[
        ("shutdown_grace_secs = {v}\n", "shutdown_grace_secs", 1, &SHUTDOWN_GRACE_SECS),
        ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\nmax_message_bytes = {v}\n", "listener[0].max_message_bytes", 3, &UDP_MESSAGE_BYTES),
        ("[[listener]]\naddress = \"udp://[::1]:5514\"\nmax_message_bytes = {v}\n", "listener[0].max_message_bytes", 3, &UDP_MESSAGE_BYTES),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\n\nmax_message_bytes = {v}\n", "listener[0].max_message_bytes", 4, &STREAM_MESSAGE_BYTES),
        ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\n[[listener]]\naddress = \"udp://127.0.0.1:5515\"\nudp_sockets = {v}\n", "listener[1].udp_sockets", 5, &UDP_SOCKETS),
        ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\nreceive_buffer_bytes = {v}\n", "listener[0].receive_buffer_bytes", 3, &RECEIVE_BUFFER_BYTES),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nmax_connections = {v}\n", "listener[0].max_connections", 3, &MAX_CONNECTIONS),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nidle_timeout_secs = {v}\n", "listener[0].idle_timeout_secs", 3, &IDLE_TIMEOUT_SECS),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nmax_connections_per_sender = {v}\n", "listener[0].max_connections_per_sender", 3, &MAX_CONNECTIONS),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nframe_timeout_secs = {v}\n", "listener[0].frame_timeout_secs", 3, &IDLE_TIMEOUT_SECS),
        ("[[listener]]\naddress = \"tls://127.0.0.1:5514\"\ntls_cert = \"{dir}/server.pem\"\ntls_key = \"{dir}/server.key\"\ntls_handshake_timeout_secs = {v}\n", "listener[0].tls_handshake_timeout_secs", 5, &TLS_HANDSHAKE_TIMEOUT_SECS),
        ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nproxy_protocol = \"v2\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nproxy_header_timeout_secs = {v}\n", "listener[0].proxy_header_timeout_secs", 5, &PROXY_HEADER_TIMEOUT_SECS),
        ("[forward]\nqueue_events = {v}\n", "forward.queue_events", 2, &MAX_EVENTS),
        ("[forward]\nresend_window_bytes = {v}\n", "forward.resend_window_bytes", 2, &RESEND_WINDOW_BYTES),
        ("[forward]\nreconnect_min_ms = {v}\n", "forward.reconnect_min_ms", 2, &RECONNECT_MIN_MS),
        ("[forward]\nreconnect_max_ms = {v}\n", "forward.reconnect_max_ms", 2, &RECONNECT_MAX_MS),
        ("[forward]\nbuffer = { max_events = {v} }\n", "forward.buffer.max_events", 2, &MAX_EVENTS),
        ("state_dir = \"{dir}\"\n[forward]\nbuffer = { type = \"disk\", max_bytes = {v} }\n", "forward.buffer.max_bytes", 3, &DISK_MAX_BYTES),
        ("[forward]\nbuffer = { max_bytes = {v} }\n", "forward.buffer.max_bytes", 2, &MEMORY_MAX_BYTES),
        ("state_dir = \"{dir}\"\n[forward]\nbuffer = { type = \"disk\", max_bytes = 1099511627776, segment_bytes = {v} }\n", "forward.buffer.segment_bytes", 3, &SEGMENT_BYTES),
        ("state_dir = \"{dir}\"\n[forward]\nbuffer = { type = \"disk\", fsync_interval_ms = {v} }\n", "forward.buffer.fsync_interval_ms", 3, &FSYNC_INTERVAL_MS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\ntimeout_secs = {v}\n", "sink[0].timeout_secs", 6, &TIMEOUT_SECS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nconcurrency = {v}\n", "sink[0].concurrency", 6, &CONCURRENCY),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nretry_initial_ms = {v}\n", "sink[0].retry_initial_ms", 6, &RETRY_INITIAL_MS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nretry_max_ms = {v}\n", "sink[0].retry_max_ms", 6, &RETRY_MAX_MS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nmax_batch_bytes = {v}\n", "sink[0].max_batch_bytes", 6, &MAX_BATCH_BYTES),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nmax_batch_events = {v}\n", "sink[0].max_batch_events", 6, &MAX_BATCH_EVENTS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nbatch_timeout_ms = {v}\n", "sink[0].batch_timeout_ms", 6, &BATCH_TIMEOUT_MS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\ndead_letter_max_bytes = {v}\n", "sink[0].dead_letter_max_bytes", 6, &DEAD_LETTER_MAX_BYTES),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nbuffer = { max_events = {v} }\n", "sink[0].buffer.max_events", 6, &MAX_EVENTS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"splunk_hec\"\nendpoint = \"http://x\"\ntoken_file = \"{dir}/token\"\nack_timeout_secs = {v}\n", "sink[0].ack_timeout_secs", 7, &ACK_TIMEOUT_SECS),
        ("state_dir = \"{dir}\"\n[[sink]]\nname = \"a\"\ntype = \"splunk_hec\"\nendpoint = \"http://x\"\ntoken_file = \"{dir}/token\"\nack_poll_interval_ms = {v}\n", "sink[0].ack_poll_interval_ms", 7, &ACK_POLL_INTERVAL_MS),
    ];

    fn validate(
        template: &str,
        dir: &std::path::Path,
        value: u64,
    ) -> Result<Config, super::super::ConfigError> {
        let text = template
            .replace("{dir}", dir.to_str().expect("utf-8 temp dir"))
            .replace("{v}", &value.to_string());
        Config::from_toml(&text, &dir.join("cefrelay.toml"))
    }

    #[test]
    fn every_size_count_and_duration_is_refused_outside_its_range_naming_key_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("token"), "secret").expect("token");
        let tls = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        std::fs::write(dir.path().join("server.pem"), tls.cert.pem()).expect("certificate");
        std::fs::write(
            dir.path().join("server.key"),
            tls.signing_key.serialize_pem(),
        )
        .expect("key");
        for &(template, key, line, limit) in KEYS {
            let (min, max) = (*limit.range.start(), *limit.range.end());
            for inside in [min, max] {
                if let Err(error) = validate(template, dir.path(), inside) {
                    panic!("{key} = {inside} is in range: {error}");
                }
            }
            let outside = [min.checked_sub(1), max.checked_add(1), Some(u64::MAX)];
            for value in outside.into_iter().flatten() {
                let error = validate(template, dir.path(), value)
                    .err()
                    .unwrap_or_else(|| panic!("{key} = {value} is out of range"));
                assert_eq!(error.key.as_deref(), Some(key), "{error}");
                assert_eq!(error.line, Some(line), "{error}");
            }
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (text, key, line) in [
            ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\nmax_message_bytes = 1e12\n", "listener[0].max_message_bytes", 3),
            ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\n[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nmax_connections = -1\n", "listener[1].max_connections", 5),
            ("[forward]\nbuffer = { type = \"memory\", max_events = \"many\" }\n", "forward.buffer.max_events", 2),
            ("shutdown_grace_secs = 1.5\n", "shutdown_grace_secs", 1),
            ("[[listener]]  # the first\naddress = \"udp://127.0.0.1:5514\"\n[[listener]] # the second\naddress = \"udp://127.0.0.1:5515\"\nudp_sockets = \"four\"\n", "listener[1].udp_sockets", 5),
            ("[forward]\nagent = \"ama\"\n\n[[sink]]\nname = \"a\"\nbuffer = { type = \"disk\", max_bytes = -5 }\n", "sink[0].buffer.max_bytes", 6),
        ] {
            let error = Config::from_toml(text, &dir.path().join("c.toml"))
                .err()
                .unwrap_or_else(|| panic!("{text} is refused"));
            assert_eq!(error.key.as_deref(), Some(key), "{error}");
            assert_eq!(error.line, Some(line), "{error}");
        }
    }

    #[test]
    fn the_built_in_defaults_are_within_every_range() {
        let config = Config::default();
        for listener in &config.listeners {
            let limit = match listener.protocol {
                crate::config::Protocol::Udp => UDP_MESSAGE_BYTES,
                _ => STREAM_MESSAGE_BYTES,
            };
            assert!(limit.range.contains(&(listener.max_message_bytes as u64)));
        }
    }

    #[test]
    fn a_listener_twice_on_one_address_and_transport_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        for (second, refused) in [
            ("udp://127.0.0.1:5514", true),
            ("tls://127.0.0.1:5514", false), // TLS needs its files: refused for that, checked below
            ("tcp://127.0.0.1:5514", false),
            ("udp://127.0.0.1:5515", false),
        ] {
            let text = format!("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\n\n[[listener]]\naddress = \"{second}\"\n");
            let result = Config::from_toml(&text, &file);
            let duplicate = result
                .as_ref()
                .err()
                .is_some_and(|e| e.key.as_deref() == Some("listener[1].address"));
            assert_eq!(duplicate, refused, "{second}: {:?}", result.err());
            if refused {
                assert_eq!(result.err().and_then(|e| e.line), Some(5));
            }
        }
        let text = "[[listener]]\naddress = \"tcp://[::]:514\"\n[[listener]]\naddress = \"tcp://[::]:514\"\n";
        let error = Config::from_toml(text, &file).expect_err("refused");
        assert_eq!(error.key.as_deref(), Some("listener[1].address"));
    }
}
