//! How a forwarded message is written for the agent: the framing around it and, for the
//! `traditional` format, the header rebuilt the way rsyslog's `RSYSLOG_TraditionalForwardFormat`
//! writes it: `<PRI>Mmm dd hh:mm:ss HOST TAG MSG`, with the fields the enrich stage added
//! appended to the CEF extension.
//!
//! `format = "raw"` forwards the received bytes unchanged, so it cannot carry added fields: an
//! agent sink that should deliver them needs `format = "traditional"`.

use std::borrow::Cow;
use std::fmt::Write;

use bytes::{BufMut, BytesMut};
use cefrelay_syslog::Format;
use time::OffsetDateTime;

use crate::config::{Agent, OutputFormat, OutputFraming};
use crate::event::{Enriched, Event};
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
    /// Appends one framed message to `out`.
    fn encode(&self, message: &Enriched<'_, '_>, out: &mut BytesMut) {
        let raw = message.received;
        match (self.framing, self.format) {
            (OutputFraming::Lf, OutputFormat::Raw) => put_escaping_lf(out, raw),
            (OutputFraming::Lf, OutputFormat::Traditional) => {
                // Written straight into the batch; the rare message with an LF inside is then
                // rewritten in place with its LFs escaped.
                let start = out.len();
                self.traditional(message, out);
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
                self.traditional(message, &mut line);
                let _ = write!(out, "{} ", line.len());
                out.put_slice(&line);
            }
        }
        if self.framing == OutputFraming::Lf {
            out.put_u8(b'\n');
        }
    }
}

impl Encoder {
    fn traditional(&self, message: &Enriched<'_, '_>, out: &mut BytesMut) {
        let (event, origin) = (message.event, message.origin);
        let syslog = &event.syslog;
        let pri = match (syslog.facility, syslog.severity) {
            (Some(facility), Some(severity)) => facility * 8 + severity,
            _ => DEFAULT_PRI,
        };
        put_pri_and_time(out, pri, syslog.timestamp.unwrap_or(origin.received_at));
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
        // The CEF record runs to the end of MSG, so added fields go on the end of its extension.
        let Some(cef) = event.valid_cef().filter(|_| !message.added.is_empty()) else {
            out.put_slice(msg.as_bytes());
            return;
        };
        // The parser drops whitespace at the end of a value anyway; cut here, it would end up
        // inside the last value once a pair follows it.
        let msg = msg.trim_end_matches([' ', '\t', '\r', '\n']);
        out.put_slice(msg.as_bytes());
        if !cef.extensions.is_empty() {
            out.put_u8(b' ');
        } else if !ends_with_unescaped_pipe(msg) {
            // `CEF:0|V|P|1|2|N|3`: the record ended with its last header field.
            out.put_u8(b'|');
        }
        put_extension(out, message.added);
    }
}

/// `<PRI>Mmm dd hh:mm:ss ` (the day space-padded, as `%timegenerated%` writes it), put together
/// by hand: this runs for every forwarded message, and `write!` through `core::fmt` cost about
/// 1 700 instructions of it (callgrind, `benches/instructions.sh`); this costs a few dozen.
fn put_pri_and_time(out: &mut BytesMut, pri: u8, time: OffsetDateTime) {
    out.put_u8(b'<');
    if pri >= 100 {
        out.put_u8(b'0' + pri / 100);
    }
    if pri >= 10 {
        out.put_u8(b'0' + pri / 10 % 10);
    }
    out.put_u8(b'0' + pri % 10);
    out.put_u8(b'>');

    let digits = |n: u8| [b'0' + n / 10 % 10, b'0' + n % 10];
    let month = cefrelay_syslog::month_abbreviation(time.month()).as_bytes();
    let [day_tens, day_ones] = digits(time.day());
    let [hour_tens, hour_ones] = digits(time.hour());
    let [minute_tens, minute_ones] = digits(time.minute());
    let [second_tens, second_ones] = digits(time.second());
    out.put_slice(&[
        month[0],
        month[1],
        month[2],
        b' ',
        if day_tens == b'0' { b' ' } else { day_tens },
        day_ones,
        b' ',
        hour_tens,
        hour_ones,
        b':',
        minute_tens,
        minute_ones,
        b':',
        second_tens,
        second_ones,
        b' ',
    ]);
}

/// `key=value` pairs, space-separated, with the value escaped as a CEF extension value (`\`,
/// `=`, LF as `\n`, CR as `\r`) so that a value cannot end its pair or the message early. The
/// keys are the enrich stage's own, valid CEF keys.
fn put_extension(out: &mut BytesMut, pairs: &[(&str, Cow<'_, str>)]) {
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.put_u8(b' ');
        }
        out.put_slice(key.as_bytes());
        out.put_u8(b'=');
        let mut rest = value.as_bytes();
        while let Some(at) = rest
            .iter()
            .position(|b| matches!(b, b'\\' | b'=' | b'\n' | b'\r'))
        {
            out.put_slice(&rest[..at]);
            out.put_slice(match rest[at] {
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'=' => b"\\=",
                _ => b"\\\\",
            });
            rest = &rest[at + 1..];
        }
        out.put_slice(rest);
    }
}

/// Whether `text` ends with a `|` that ends a header field, not an escaped `\|` inside one.
fn ends_with_unescaped_pipe(text: &str) -> bool {
    let Some(before) = text.strip_suffix('|') else {
        return false;
    };
    let backslashes = before.bytes().rev().take_while(|b| *b == b'\\').count();
    backslashes % 2 == 0
}

/// The TAG as the sender wrote it (RFC 3164), or rebuilt from APP-NAME and PROCID (RFC 5424)
/// exactly as rsyslog does it: `APP[PROCID]` with no colon, `-` for a NIL APP-NAME (checked against
/// a real rsyslogd in tests/peers.rs).
fn tag_of<'a>(event: &Event<'a>) -> Option<Cow<'a, str>> {
    let syslog = &event.syslog;
    if syslog.format == Format::Rfc3164 {
        let tag_len = syslog.body.len().saturating_sub(syslog.msg.len());
        let tag = syslog.body.get(..tag_len).unwrap_or_default().trim_end();
        return (!tag.is_empty()).then_some(Cow::Borrowed(tag));
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
    use crate::event::Origin;
    use crate::sink::test_support::{self, mitre_fields, THREAT_CEF};
    use cefrelay_syslog::ParseOptions;

    fn encode(encoder: Encoder, text: &str) -> String {
        encode_with(encoder, text, &[])
    }

    fn encode_with(encoder: Encoder, text: &str, added: &[(&'static str, Cow<'_, str>)]) -> String {
        let received_at = time::macros::datetime!(2026-11-22 10:00:00 UTC);
        let options = ParseOptions::new(received_at);
        let event = Event::parse(text, false, &options);
        let message = Enriched {
            event: &event,
            received: text.as_bytes(),
            text,
            origin: Origin {
                peer: "192.0.2.7".parse().expect("ip"),
                received_at,
            },
            added,
        };
        let mut out = BytesMut::new();
        encoder.encode(&message, &mut out);
        String::from_utf8(out.to_vec()).expect("utf-8")
    }

    const TRADITIONAL_LEGACY: Encoder = Encoder {
        format: OutputFormat::Traditional,
        framing: OutputFraming::Lf,
        agent: Agent::Legacy,
    };

    /// The hand-built `<PRI>Mmm dd hh:mm:ss ` against the `format!` it replaced, for every PRI
    /// and times spread over a leap year (every month, day, hour, minute and second value).
    #[test]
    fn pri_and_time_are_written_as_format_would() {
        let start = time::macros::datetime!(2024-01-01 00:00:00 UTC);
        for step in 0..40_000i64 {
            // 7 919 s: a prime, so the samples walk through every second, minute and hour.
            let time = start + time::Duration::seconds(step * 7_919 % (366 * 86_400));
            let pri = u8::try_from(step % 192).unwrap();
            let mut out = BytesMut::new();
            put_pri_and_time(&mut out, pri, time);
            let month = cefrelay_syslog::month_abbreviation(time.month());
            let expected = format!(
                "<{pri}>{month} {:>2} {:02}:{:02}:{:02} ",
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            );
            assert_eq!(std::str::from_utf8(&out).unwrap(), expected, "at {time}");
        }
    }

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

    #[test]
    fn added_fields_end_the_cef_extension_of_a_threat() {
        let out = encode_with(TRADITIONAL_LEGACY, THREAT_CEF, &mitre_fields());
        // rsyslog's space after the TAG `CEF:`, then the record as received, then the pairs.
        let (_, record) = THREAT_CEF.split_once("CEF:").expect("marker");
        assert_eq!(
            out,
            format!(
                "<14>Feb  8 09:05:49 pa-fw1 CEF: {record} PanOSAlertType=Exploit \
                 threatAttackID=T1190 threatAttackName=Exploit Public-Facing Application \
                 mitreSource=cefrelay\n"
            )
        );
        let forwarded = test_support::parse(&out);
        let cef = forwarded.valid_cef().expect("still valid CEF");
        assert_eq!(cef.extension("threatAttackID"), Some("T1190"));
        assert_eq!(
            cef.extension("PanOSContentVer"),
            Some("AppThreat-8371-6531")
        );
    }

    #[test]
    fn added_values_are_escaped_so_they_cannot_start_a_pair_or_a_line() {
        let added = [("cs1", Cow::Borrowed("a=b\\c\nd\re"))];
        for framing in [OutputFraming::Lf, OutputFraming::OctetCounted] {
            let encoder = Encoder {
                framing,
                ..TRADITIONAL_LEGACY
            };
            let out = encode_with(encoder, "CEF:0|V|P|1|2|N|3|a=b ", &added);
            assert!(out.contains("|3|a=b cs1=a\\=b\\\\c\\nd\\re"), "{out}");
        }
        let out = encode_with(TRADITIONAL_LEGACY, "CEF:0|V|P|1|2|N|3|a=b", &added);
        let forwarded = test_support::parse(&out);
        let cef = forwarded.valid_cef().expect("valid CEF");
        assert_eq!(cef.extension("cs1"), Some("a=b\\c\nd\re"));
    }

    #[test]
    fn a_record_without_extension_gets_one() {
        let added = [("cs1", Cow::Borrowed("x"))];
        let cases = [
            ("CEF:0|V|P|1|2|N|3|", "CEF:0|V|P|1|2|N|3|cs1=x\n"),
            ("CEF:0|V|P|1|2|N|3| ", "CEF:0|V|P|1|2|N|3|cs1=x\n"),
            ("CEF:0|V|P|1|2|N|3", "CEF:0|V|P|1|2|N|3|cs1=x\n"),
            ("CEF:0|V|P|1|2|N|3\\|", "CEF:0|V|P|1|2|N|3\\||cs1=x\n"),
        ];
        for (text, expected) in cases {
            let out = encode_with(TRADITIONAL_LEGACY, text, &added);
            assert_eq!(
                out,
                format!("<13>Nov 22 10:00:00 192.0.2.7 {expected}"),
                "{text}"
            );
        }
    }

    #[test]
    fn added_fields_need_a_rebuilt_cef_message() {
        let added = mitre_fields();
        let not_cef = "<14>Nov 22 10:00:00 fw app: hello";
        assert_eq!(
            encode_with(TRADITIONAL_LEGACY, not_cef, &added),
            "<14>Nov 22 10:00:00 fw app: hello\n"
        );
        let raw = Encoder {
            format: OutputFormat::Raw,
            ..TRADITIONAL_LEGACY
        };
        assert_eq!(
            encode_with(raw, THREAT_CEF, &added),
            format!("{THREAT_CEF}\n")
        );
    }
}
