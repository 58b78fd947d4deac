//! How a forwarded message is written for the agent: the framing around it and, for the
//! `traditional` format, the header rebuilt the way rsyslog's `RSYSLOG_TraditionalForwardFormat`
//! writes it: `<PRI>Mmm dd hh:mm:ss HOST TAG MSG`.

use std::fmt::Write;

use bytes::{BufMut, BytesMut};
use cefrelay_syslog::Format;

use crate::config::{Agent, OutputFormat, OutputFraming};
use crate::event::{Enriched, Event, Origin};
use crate::sink::Encode;

/// rsyslog's `%syslogtag:1:32%`: the legacy agent path keeps only the first 32 characters of TAG.
const LEGACY_TAG_CHARS: usize = 32;
/// user.notice, what rsyslog assumes for a message without PRI.
const DEFAULT_PRI: u8 = 13;

#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    pub format: OutputFormat,
    pub framing: OutputFraming,
    pub agent: Agent,
}

impl Encode for Encoder {
    fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut) {
        self.write(event.event, event.received, event.origin, out);
    }
}

impl Encoder {
    /// Appends one framed message to `out`.
    pub fn write(&self, event: &Event<'_>, raw: &[u8], origin: Origin, out: &mut BytesMut) {
        match (self.framing, self.format) {
            (OutputFraming::Lf, OutputFormat::Raw) => put_escaping_lf(out, raw),
            (OutputFraming::Lf, OutputFormat::Traditional) => {
                // Written straight into the batch; the rare message with an LF inside is then
                // rewritten in place with its LFs escaped.
                let start = out.len();
                self.traditional(event, origin, out);
                if memchr::memchr(b'\n', &out[start..]).is_some() {
                    let line = out.split_off(start);
                    put_escaping_lf(out, &line);
                }
            }
            (OutputFraming::OctetCounted, OutputFormat::Raw) => {
                let _ = write!(out, "{} ", raw.len());
                out.put_slice(raw);
            }
            (OutputFraming::OctetCounted, OutputFormat::Traditional) => {
                let mut line = BytesMut::new();
                self.traditional(event, origin, &mut line);
                let _ = write!(out, "{} ", line.len());
                out.put_slice(&line);
            }
        }
        if self.framing == OutputFraming::Lf {
            out.put_u8(b'\n');
        }
    }

    fn traditional(&self, event: &Event<'_>, origin: Origin, out: &mut BytesMut) {
        let syslog = &event.syslog;
        let pri = match (syslog.facility, syslog.severity) {
            (Some(facility), Some(severity)) => facility * 8 + severity,
            _ => DEFAULT_PRI,
        };
        let time = syslog.timestamp.unwrap_or(origin.received_at);
        let month = cefrelay_syslog::month_abbreviation(time.month());
        let _ = write!(
            out,
            "<{pri}>{month} {:>2} {:02}:{:02}:{:02} ",
            time.day(),
            time.hour(),
            time.minute(),
            time.second()
        );
        match syslog.hostname {
            Some(host) => out.put_slice(host.as_bytes()),
            None => {
                let _ = write!(out, "{}", origin.peer);
            }
        }
        out.put_u8(b' ');
        // A PAN-OS CSV line goes as the CEF converted from it, in the firewall's own CEF layout
        // (no TAG: the CSV had none).
        let msg = event.converted.unwrap_or(syslog.msg);
        if let Some(tag) = tag_of(event).filter(|_| event.converted.is_none()) {
            let tag = match self.agent {
                Agent::Legacy => cut_chars(&tag, LEGACY_TAG_CHARS),
                Agent::Ama => &tag,
            };
            out.put_slice(tag.as_bytes());
            if !msg.starts_with(' ') {
                out.put_u8(b' ');
            }
        }
        out.put_slice(msg.as_bytes());
    }
}

/// The TAG as the sender wrote it (RFC 3164), or rebuilt from APP-NAME and PROCID (RFC 5424)
/// exactly as rsyslog does it: `APP[PROCID]` with no colon, `-` for a NIL APP-NAME (checked against
/// a real rsyslogd in tests/peers.rs).
fn tag_of<'a>(event: &Event<'a>) -> Option<std::borrow::Cow<'a, str>> {
    let syslog = &event.syslog;
    if syslog.format == Format::Rfc3164 {
        let tag_len = syslog.body.len().saturating_sub(syslog.msg.len());
        let tag = syslog.body.get(..tag_len).unwrap_or_default().trim_end();
        return (!tag.is_empty()).then_some(std::borrow::Cow::Borrowed(tag));
    }
    if syslog.format != Format::Rfc5424 {
        return None;
    }
    let app = syslog.app_name.unwrap_or("-");
    Some(match syslog.procid {
        Some(pid) => format!("{app}[{pid}]").into(),
        None => app.into(),
    })
}

/// An LF inside a message would split it in two for the agent; rsyslog writes control characters
/// as `#ooo`, and so do we.
fn put_escaping_lf(out: &mut BytesMut, text: &[u8]) {
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\n', rest) {
        out.put_slice(&rest[..at]);
        out.put_slice(b"#012");
        rest = &rest[at + 1..];
    }
    out.put_slice(rest);
}

fn cut_chars(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cefrelay_syslog::ParseOptions;

    fn encode(encoder: Encoder, text: &str) -> String {
        let received_at = time::macros::datetime!(2026-11-22 10:00:00 UTC);
        let options = ParseOptions::new(received_at);
        let event = Event::parse(text, false, &options);
        let origin = Origin {
            peer: "192.0.2.7".parse().expect("ip"),
            received_at,
        };
        let mut out = BytesMut::new();
        encoder.write(&event, text.as_bytes(), origin, &mut out);
        String::from_utf8(out.to_vec()).expect("utf-8")
    }

    const TRADITIONAL_LEGACY: Encoder = Encoder {
        format: OutputFormat::Traditional,
        framing: OutputFraming::Lf,
        agent: Agent::Legacy,
    };

    #[test]
    fn rfc3164_cef_keeps_its_header_and_gets_rsyslogs_space_after_the_tag() {
        let out = encode(
            TRADITIONAL_LEGACY,
            "<14>Nov  2 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1|url|THREAT|1|src=1.1.1.1",
        );
        assert_eq!(
            out,
            "<14>Nov  2 10:00:00 fw CEF: 0|Palo Alto Networks|PAN-OS|10.1|url|THREAT|1|src=1.1.1.1\n"
        );
    }

    #[test]
    fn rfc5424_is_rewritten_with_a_bsd_header_and_an_app_tag() {
        let out = encode(
            TRADITIONAL_LEGACY,
            "<14>1 2026-11-22T09:57:41.5+01:00 PA-VM logforwarder 7 panwlogs - CEF:0|V|P|1|2|N|3|a=b",
        );
        assert_eq!(
            out,
            "<14>Nov 22 09:57:41 PA-VM logforwarder[7] CEF:0|V|P|1|2|N|3|a=b\n"
        );
    }

    #[test]
    fn missing_pri_host_and_time_come_from_defaults_and_the_peer() {
        let out = encode(TRADITIONAL_LEGACY, "CEF:0|V|P|1|2|N|3|a=b");
        assert_eq!(out, "<13>Nov 22 10:00:00 192.0.2.7 CEF:0|V|P|1|2|N|3|a=b\n");
    }

    #[test]
    fn legacy_agent_cuts_the_tag_to_32_characters_and_ama_does_not() {
        let tag = "a".repeat(40);
        let text = format!("<14>Nov 22 10:00:00 h {tag}: CEF:0|V|P|1|2|N|3|a=b");
        let legacy = encode(TRADITIONAL_LEGACY, &text);
        assert!(
            legacy.contains(&format!(" {} CEF:0", "a".repeat(32))),
            "{legacy}"
        );
        let ama = encode(
            Encoder {
                agent: Agent::Ama,
                ..TRADITIONAL_LEGACY
            },
            &text,
        );
        assert!(ama.contains(&format!(" {tag}: CEF:0")), "{ama}");
    }

    #[test]
    fn raw_format_is_byte_identical_and_octet_counting_counts_bytes() {
        let text = "<14>Nov 22 10:00:00 fw CEF:0|V|P|1|2|Né|3|a=b";
        let raw = Encoder {
            format: OutputFormat::Raw,
            ..TRADITIONAL_LEGACY
        };
        assert_eq!(encode(raw, text), format!("{text}\n"));
        let octet = Encoder {
            framing: OutputFraming::OctetCounted,
            ..raw
        };
        assert_eq!(encode(octet, text), format!("{} {text}", text.len()));
    }

    #[test]
    fn embedded_line_feeds_cannot_split_an_lf_framed_message() {
        let raw = Encoder {
            format: OutputFormat::Raw,
            ..TRADITIONAL_LEGACY
        };
        assert_eq!(encode(raw, "a\nb"), "a#012b\n");
    }
}
