//! The BSD header: `[<PRI>][TIMESTAMP] [HOSTNAME] [TAG[pid]:] MSG`, each part optional.

use crate::timestamp;
use crate::{Field, Format, Message, ParseErrorKind};

use super::{Parser, MAX_HOSTNAME, MAX_PROCID};

/// Longest RFC 3164 TAG we recognise. RFC 3164 says 32; RFC 5424 APP-NAME allows 48 and AMA
/// does not truncate, so take the larger.
const MAX_TAG: usize = 48;

fn is_hostname(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_HOSTNAME
        && !token.starts_with('%')
        && (!token.ends_with(':') || token.ends_with("::"))
        && token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'%'))
}

/// TAG characters: printable ASCII except what ends a tag or marks CSV / CEF / key=value text.
fn is_tag_char(c: u8) -> bool {
    c.is_ascii_graphic() && !matches!(c, b':' | b'[' | b']' | b',' | b'|' | b'=' | b'"' | b'\\')
}

impl<'a> Parser<'a, '_> {
    pub(super) fn rfc3164(&mut self, pri: Option<u8>) -> Message<'a> {
        let mut m = Message {
            format: Format::Rfc3164,
            facility: pri.map(|p| p / 8),
            severity: pri.map(|p| p % 8),
            ..Message::raw("")
        };
        if pri.is_none() {
            self.partial = true;
        }
        let after_pri = self.pos;
        while self.at(self.pos) == Some(b' ') {
            self.pos += 1;
        }
        if self.pos != after_pri {
            // `<12> Jul 14 ...`
            self.deviate(after_pri, ParseErrorKind::InvalidTimestamp);
        }
        let iso = matches!(self.at(self.pos), Some(b'0'..=b'9'));
        let scanned = if iso {
            timestamp::rfc3339(self.b, self.pos, self.opts)
        } else {
            timestamp::bsd(self.b, self.pos, self.opts)
        };
        let Some(t) = scanned else {
            if pri.is_none() {
                return Message::raw(self.s);
            }
            // `<13>hello`, `<166>%ASA-6-302013: ...`: MSG right after PRI.
            self.deviate(self.pos, ParseErrorKind::InvalidTimestamp);
            self.partial = true;
            return self.rfc3164_msg(m);
        };
        if iso || t.value.is_none() {
            self.deviate(self.pos, ParseErrorKind::InvalidTimestamp);
        }
        if let Some(quirk) = t.quirk {
            self.deviate(quirk, ParseErrorKind::InvalidTimestamp);
        }
        if t.value.is_none() {
            self.partial = true;
        }
        m.timestamp = t.value;
        self.pos = t.end;
        if !self.separator() {
            return self.rfc3164_msg(m);
        }
        let start = self.pos;
        let end = self.token_end(start);
        let token = self.slice(start, end);
        if self.at(end) == Some(b' ') && is_hostname(token) {
            m.hostname = (token != "-").then_some(token);
            self.pos = end;
            if self.separator()
                && self.at(self.pos) == Some(b'-')
                && self.at(self.pos + 1) == Some(b' ')
            {
                // NIL tag after the hostname: `FW-DNS-11 - 1,2025/...`.
                self.pos += 2;
            }
        } else {
            self.deviate(start, ParseErrorKind::InvalidField(Field::Hostname));
        }
        self.rfc3164_msg(m)
    }

    /// Body from `pos`, split into `TAG[pid]` and MSG when a tag is there. Inlined, like
    /// [`super::run`], so that the message it fills is not copied on the way out.
    #[inline(always)]
    fn rfc3164_msg(&mut self, mut m: Message<'a>) -> Message<'a> {
        m.body = self.rest();
        m.msg = m.body;
        if let Some((tag, procid, msg_start)) = self.tag() {
            m.app_name = Some(tag);
            m.procid = procid;
            m.msg = self.slice(msg_start, self.s.len());
        }
        m.status = self.status();
        m
    }

    /// `TAG:`, `TAG[pid]` or `TAG[pid]:` at `pos`, and the offset where MSG starts (after one
    /// space). A bare word is not a tag. Neither is `x:y` with digits on both sides of the colon
    /// (a time, a port, `2021-10-27T19:20:59` in CSV) nor `x::` (IPv6).
    fn tag(&self) -> Option<(&'a str, Option<&'a str>, usize)> {
        let start = self.pos;
        let mut i = start;
        while self.at(i).is_some_and(is_tag_char) {
            i += 1;
            if i - start > MAX_TAG {
                return None;
            }
        }
        if i == start {
            return None;
        }
        let tag = self.slice(start, i);
        let skip_space = |k: usize| if self.at(k) == Some(b' ') { k + 1 } else { k };
        match self.at(i)? {
            b':' => {
                let next = self.at(i + 1);
                let last = self.at(i - 1);
                if next == Some(b':')
                    || (next.is_some_and(|c| c.is_ascii_digit())
                        && last.is_some_and(|c| c.is_ascii_digit()))
                {
                    return None;
                }
                Some((tag, None, skip_space(i + 1)))
            }
            b'[' => {
                let pid_start = i + 1;
                let mut j = pid_start;
                loop {
                    match self.at(j)? {
                        b']' => break,
                        b' ' => return None,
                        _ if j - pid_start >= MAX_PROCID => return None,
                        _ => j += 1,
                    }
                }
                if j == pid_start {
                    return None;
                }
                let procid = self.slice(pid_start, j);
                let mut k = j + 1;
                if self.at(k) == Some(b':') {
                    k += 1;
                }
                Some((tag, Some(procid), skip_space(k)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{datetime, offset};

    use crate::parser::tests::{opts, p, strict_error};
    use crate::{
        parse, parse_strict, Field, Format, ParseError, ParseErrorKind, ParseOptions, Status,
    };

    #[test]
    fn rfc3164_cef_tag_with_space() {
        let m = p("<164>Nov 22 10:00:00 myhost CEF: 0|Vendor|Product|1|100|name|5|src=1.1.1.1");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.status, Status::Ok);
        assert_eq!((m.facility, m.severity), (Some(20), Some(4)));
        assert_eq!(m.timestamp, Some(datetime!(2026-11-22 10:00:00 UTC)));
        assert_eq!(m.hostname, Some("myhost"));
        assert_eq!(m.app_name, Some("CEF"));
        assert_eq!(m.msg, "0|Vendor|Product|1|100|name|5|src=1.1.1.1");
        assert_eq!(m.body, "CEF: 0|Vendor|Product|1|100|name|5|src=1.1.1.1");
    }

    #[test]
    fn rfc3164_cef_tag_without_space() {
        let m = p("<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|");
        assert_eq!(m.hostname, Some("fw"));
        assert_eq!(m.app_name, Some("CEF"));
        assert_eq!(m.body, "CEF:0|Palo Alto Networks|PAN-OS|");
        assert_eq!(m.msg, "0|Palo Alto Networks|PAN-OS|");
    }

    #[test]
    fn rfc3164_cef_without_hostname() {
        let m = p("<14>Nov 22 10:00:00 CEF:0|Palo Alto Networks|PAN-OS|");
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name, Some("CEF"));
        assert_eq!(m.body, "CEF:0|Palo Alto Networks|PAN-OS|");
    }

    #[test]
    fn rfc3164_tag_with_pid() {
        let m = parse_strict("<38>Nov  2 10:00:00 host sshd[1234]: Accepted key", &opts()).unwrap();
        assert_eq!(m.timestamp, Some(datetime!(2026-11-02 10:00:00 UTC)));
        assert_eq!((m.app_name, m.procid), (Some("sshd"), Some("1234")));
        assert_eq!(m.msg, "Accepted key");
        assert_eq!(m.body, "sshd[1234]: Accepted key");
    }

    #[test]
    fn rfc3164_tag_without_hostname() {
        let m = p("<38>Nov 22 10:00:00 sshd: hi");
        assert_eq!((m.hostname, m.app_name, m.msg), (None, Some("sshd"), "hi"));
    }

    #[test]
    fn rfc3164_panos_csv_without_hostname() {
        let m =
            p("Mar 25 23:58:57 1,2013/03/25 23:58:57,1606001116,CONFIG,0,0,2012/02/25 00:51:50,");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.status, Status::Partial); // no PRI
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name, None);
        assert_eq!(
            m.msg,
            "1,2013/03/25 23:58:57,1606001116,CONFIG,0,0,2012/02/25 00:51:50,"
        );
        assert_eq!(m.body, m.msg);
    }

    #[test]
    fn rfc3164_panos_cdl_csv_is_not_a_tag() {
        let m = p("<14>Oct 30 09:46:42 fw 1,2021-05-26T16:27:07.000000Z,no-serial,TRAFFIC");
        assert_eq!(m.app_name, None);
        assert_eq!(m.msg, "1,2021-05-26T16:27:07.000000Z,no-serial,TRAFFIC");
        let m = p("<14>Oct 30 09:46:42 fw 2021-05-26T16:27:07.000000Z,no-serial,TRAFFIC");
        assert_eq!(m.app_name, None);
        assert_eq!(m.msg, "2021-05-26T16:27:07.000000Z,no-serial,TRAFFIC");
    }

    #[test]
    fn rfc3164_relay_second_header_stays_in_msg() {
        let m = p(
            "Feb 24 22:09:26 10.5.172.40 Feb 24 22:06:07 BD-Panorama 1,2016/02/24 22:06:06,0072",
        );
        assert_eq!(m.hostname, Some("10.5.172.40"));
        assert_eq!(m.app_name, None);
        assert_eq!(
            m.msg,
            "Feb 24 22:06:07 BD-Panorama 1,2016/02/24 22:06:06,0072"
        );
    }

    #[test]
    fn rfc3164_nil_tag_after_hostname_is_skipped() {
        let m = p("Nov 26 12:53:54 FW-DNS-11 - 1,2025/11/26 12:53:53,0230");
        assert_eq!(m.hostname, Some("FW-DNS-11"));
        assert_eq!(m.msg, "1,2025/11/26 12:53:53,0230");
    }

    #[test]
    fn rfc3164_space_after_pri() {
        let m = p("<12> Jul 14 11:22:29 MY-HOST.example.com 1,2019/07/14 10:26:22,0039");
        assert_eq!(m.status, Status::Ok);
        assert_eq!(m.severity, Some(4));
        assert_eq!(m.hostname, Some("MY-HOST.example.com"));
        assert_eq!(m.msg, "1,2019/07/14 10:26:22,0039");
        assert_eq!(
            strict_error("<12> Jul 14 11:22:29 h m"),
            ParseError {
                offset: 4,
                kind: ParseErrorKind::InvalidTimestamp
            }
        );
    }

    #[test]
    fn rfc3164_day_padding_forms() {
        for (input, day) in [
            ("<13>Nov  2 10:00:00 h m", 2),
            ("<13>Nov 2 10:00:00 h m", 2),
            ("<13>Apr 09 10:00:00 h m", 9),
        ] {
            let m = p(input);
            assert_eq!(m.status, Status::Ok, "{input}");
            assert_eq!(m.timestamp.unwrap().day(), day, "{input}");
            assert_eq!((m.hostname, m.msg), (Some("h"), "m"));
        }
    }

    #[test]
    fn rfc3164_with_year() {
        let m = p("<13>Nov 22 2020 10:00:00 host msg");
        assert_eq!(m.timestamp, Some(datetime!(2020-11-22 10:00:00 UTC)));
        assert_eq!(m.hostname, Some("host"));
    }

    #[test]
    fn rfc3164_with_rfc3339_timestamp() {
        let m = p("<13>2023-10-03T12:00:00.123+02:00 host tag: msg");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.status, Status::Ok);
        assert_eq!(m.timestamp, Some(datetime!(2023-10-03 12:00:00.123 +2)));
        assert_eq!(
            (m.hostname, m.app_name, m.msg),
            (Some("host"), Some("tag"), "msg")
        );
        let m = p("<13>2023-10-03T12:00:00Z host m");
        assert_eq!(m.timestamp, Some(datetime!(2023-10-03 12:00:00 UTC)));
    }

    #[test]
    fn rfc3164_default_offset_applies() {
        let o = opts().with_default_offset(offset!(-5));
        let m = parse("<13>Nov 22 10:00:00 host m", &o);
        assert_eq!(m.timestamp, Some(datetime!(2026-11-22 10:00:00 -5)));
    }

    #[test]
    fn rfc3164_year_inference_across_new_year() {
        let jan1 = ParseOptions::new(datetime!(2027-01-01 00:00:05 UTC));
        let m = parse("<13>Dec 31 23:59:58 h m", &jan1);
        assert_eq!(m.timestamp, Some(datetime!(2026-12-31 23:59:58 UTC)));
        let dec31 = ParseOptions::new(datetime!(2026-12-31 23:59:50 UTC));
        let m = parse("<13>Jan  1 00:00:01 h m", &dec31);
        assert_eq!(m.timestamp, Some(datetime!(2027-01-01 00:00:01 UTC)));
    }

    #[test]
    fn rfc3164_ipv6_hostnames() {
        for host in ["fe80::", "2001:db8::1", "::1", "fe80::1%eth0"] {
            let input = format!("<13>Nov 22 10:00:00 {host} 1,2,3");
            let m = p(&input);
            assert_eq!(m.hostname, Some(host));
            assert_eq!(m.msg, "1,2,3");
        }
    }

    #[test]
    fn rfc3164_token_ending_in_colon_is_a_tag_not_a_hostname() {
        let m = p("<13>Nov 22 10:00:00 host: msg");
        assert_eq!((m.hostname, m.app_name, m.msg), (None, Some("host"), "msg"));
    }

    #[test]
    fn rfc3164_bare_word_is_not_a_tag() {
        let m = p("<13>Nov 22 10:00:00 host word more: text");
        assert_eq!(
            (m.hostname, m.app_name, m.msg),
            (Some("host"), None, "word more: text")
        );
    }

    #[test]
    fn rfc3164_hostname_at_end_is_msg() {
        let m = p("<13>Nov 22 10:00:00 hello");
        assert_eq!((m.hostname, m.msg), (None, "hello"));
        assert_eq!(m.status, Status::Ok);
    }

    #[test]
    fn rfc3164_cisco_asa_without_timestamp() {
        let m = p("<166>%ASA-6-302013: Built outbound TCP connection");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.app_name, Some("%ASA-6-302013"));
        assert_eq!(m.msg, "Built outbound TCP connection");
    }

    #[test]
    fn rfc3164_pri_without_timestamp_is_partial() {
        let m = p("<13>hello");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.status, Status::Partial);
        assert_eq!((m.facility, m.severity), (Some(1), Some(5)));
        assert_eq!((m.msg, m.body), ("hello", "hello"));
        let m = p("<164>CEF: 0|Vendor|");
        assert_eq!(
            (m.app_name, m.msg, m.body),
            (Some("CEF"), "0|Vendor|", "CEF: 0|Vendor|")
        );
    }

    #[test]
    fn rfc3164_version_like_digit_is_msg_when_no_timestamp_follows() {
        let m = p("<13>1 hello");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.msg, "1 hello");
    }

    #[test]
    fn rfc3164_impossible_date_is_partial_but_keeps_header() {
        let m = p("<13>Feb 30 10:00:00 host m");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.timestamp, None);
        assert_eq!((m.hostname, m.msg), (Some("host"), "m"));
    }

    #[test]
    fn strict_bsd_zero_padded_day() {
        assert_eq!(
            strict_error("<13>Apr 09 10:00:00 h m"),
            ParseError {
                offset: 8,
                kind: ParseErrorKind::InvalidTimestamp
            }
        );
    }

    #[test]
    fn strict_bsd_missing_hostname() {
        assert_eq!(
            strict_error("<13>Nov 22 10:00:00 1,2,3"),
            ParseError {
                offset: 20,
                kind: ParseErrorKind::InvalidField(Field::Hostname)
            }
        );
    }
}
