//! The RFC 5424 header: `VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]` after the PRI.

use crate::timestamp::{self, Scanned};
use crate::{Field, Format, Message, ParseErrorKind};

use super::{Parser, MAX_HOSTNAME, MAX_PROCID};

const UTF8_BOM: char = '\u{feff}';

/// APP-NAME, PROCID, MSGID and STRUCTURED-DATA, each NILVALUE.
const NIL_REST_OF_HEADER: &[u8] = b" - - - -";

impl<'a> Parser<'a, '_> {
    /// Decides whether an RFC 5424 header follows the PRI: VERSION (1-3 digits, no leading
    /// zero), space(s), then NILVALUE or an RFC 3339 timestamp. On success, moves past VERSION
    /// and returns it with the scanned timestamp (`None` for NILVALUE).
    pub(super) fn rfc5424_version(&mut self) -> Option<(u16, Option<Scanned>)> {
        let start = self.pos;
        let (version, digits) = self.digits(start, 3);
        if digits == 0 || self.at(start) == Some(b'0') || self.at(start + digits) != Some(b' ') {
            return None;
        }
        let mut i = start + digits;
        while self.at(i) == Some(b' ') {
            i += 1;
        }
        let timestamp = match self.at(i) {
            Some(b'-') if matches!(self.at(i + 1), None | Some(b' ')) => None,
            _ => Some(timestamp::rfc3339(self.b, i, self.opts)?),
        };
        self.pos = start + digits;
        Some((version, timestamp))
    }

    pub(super) fn rfc5424(
        &mut self,
        pri: u8,
        version: u16,
        timestamp: Option<Scanned>,
    ) -> Message<'a> {
        let mut m = Message {
            format: Format::Rfc5424,
            facility: Some(pri / 8),
            severity: Some(pri % 8),
            version: Some(version),
            ..Message::raw("")
        };
        self.separator();
        match timestamp {
            None => self.pos += 1,
            Some(t) => {
                if t.value.is_none() {
                    self.deviate(self.pos, ParseErrorKind::InvalidTimestamp);
                    self.partial = true;
                }
                if let Some(quirk) = t.quirk {
                    self.deviate(quirk, ParseErrorKind::InvalidTimestamp);
                }
                m.timestamp = t.value;
                self.pos = t.end;
            }
        }
        let mut values = [None; 4];
        let mut complete = self.separator();
        if complete {
            values[0] = self.header_field(Field::Hostname, MAX_HOSTNAME);
        }
        // What PAN-OS and most senders put after the hostname: APP-NAME, PROCID, MSGID and SD
        // all NILVALUE. Taken at once, as the loop below would take them, for a third of the
        // header's instructions (837 -> 554, `benches/parse-instructions.sh`).
        if complete && self.rest_of_header_is_nil() {
            self.pos += NIL_REST_OF_HEADER.len();
        } else {
            let fields = [
                (Field::AppName, 48),
                (Field::ProcId, MAX_PROCID),
                (Field::MsgId, 32),
            ];
            for (value, (field, max)) in values[1..].iter_mut().zip(fields) {
                complete = complete && self.separator();
                if !complete {
                    break;
                }
                *value = self.header_field(field, max);
            }
            if complete && self.separator() {
                self.structured_data(&mut m.structured_data);
            } else {
                // The input ends inside the header.
                self.partial = true;
            }
        }
        [m.hostname, m.app_name, m.procid, m.msgid] = values;
        // MSG: drop every leading space (PAN-OS 11.x sends two), then a BOM.
        match self.at(self.pos) {
            None => {}
            Some(b' ') => {
                while self.at(self.pos) == Some(b' ') {
                    self.pos += 1;
                }
            }
            Some(_) => {
                // Only reached when STRUCTURED-DATA was malformed and already reported.
                self.partial = true;
            }
        }
        let rest = self.rest();
        m.msg = rest.strip_prefix(UTF8_BOM).unwrap_or(rest);
        m.body = m.msg;
        m.status = self.status();
        m
    }

    /// Whether ` - - - -` (four NILVALUEs, one space before each) follows, then a space or the end.
    fn rest_of_header_is_nil(&self) -> bool {
        let end = self.pos + NIL_REST_OF_HEADER.len();
        self.b.get(self.pos..end) == Some(NIL_REST_OF_HEADER)
            && matches!(self.at(end), None | Some(b' '))
    }

    /// One RFC 5424 header field (`pos` at its first byte); NILVALUE gives `None`.
    fn header_field(&mut self, field: Field, max: usize) -> Option<&'a str> {
        let start = self.pos;
        self.pos = self.token_end(start);
        let token = self.slice(start, self.pos);
        if self.strict && (token.len() > max || !token.bytes().all(|c| c.is_ascii_graphic())) {
            self.deviate(start, ParseErrorKind::InvalidField(field));
        }
        (token != "-").then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use time::macros::datetime;

    use crate::parser::tests::{opts, p, strict_error};
    use crate::{parse_strict, Field, Format, ParseError, ParseErrorKind, SdElement, Status};

    #[test]
    fn rfc5424_full_header_with_sd_and_bom() {
        let input = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 4711 ID47 \
                     [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][origin ip=\"1.2.3.4\"] \
                     \u{feff}An application event";
        let m = parse_strict(input, &opts()).unwrap();
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!(m.status, Status::Ok);
        assert_eq!(
            (m.facility, m.severity, m.version),
            (Some(20), Some(5), Some(1))
        );
        assert_eq!(m.timestamp, Some(datetime!(2003-10-11 22:14:15.003 UTC)));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.procid, Some("4711"));
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(
            m.structured_data,
            vec![
                SdElement {
                    id: "exampleSDID@32473",
                    params: vec![
                        ("iut", Cow::Borrowed("3")),
                        ("eventSource", Cow::Borrowed("Application"))
                    ],
                },
                SdElement {
                    id: "origin",
                    params: vec![("ip", Cow::Borrowed("1.2.3.4"))]
                },
            ]
        );
        assert_eq!(m.msg, "An application event");
        assert_eq!(m.body, m.msg);
    }

    #[test]
    fn rfc5424_all_nilvalues() {
        let m = parse_strict("<14>1 - - - - - -", &opts()).unwrap();
        assert_eq!(m.status, Status::Ok);
        assert_eq!(m.timestamp, None);
        assert_eq!(
            (m.hostname, m.app_name, m.procid, m.msgid),
            (None, None, None, None)
        );
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, "");
    }

    #[test]
    fn rfc5424_panos_header_keeps_csv_payload() {
        let m = p(
            "<14>1 2020-03-27T09:57:41+01:00 PA-VM - - - - 1,2020/03/27 09:57:41,0153,TRAFFIC,end,",
        );
        assert_eq!(m.status, Status::Ok);
        assert_eq!(m.timestamp, Some(datetime!(2020-03-27 09:57:41 +1)));
        assert_eq!(m.hostname, Some("PA-VM"));
        assert_eq!(m.msg, "1,2020/03/27 09:57:41,0153,TRAFFIC,end,");
    }

    proptest::proptest! {
        /// A header whose APP-NAME, PROCID, MSGID and SD are NILVALUE is read at once; it must
        /// give what the field-by-field reading gives, which an APP-NAME of `x` (same length,
        /// not NILVALUE) still takes.
        #[test]
        fn nilvalues_after_the_hostname_read_at_once_as_field_by_field(
            host in proptest::sample::select(vec!["PA-VM", "-", "Panorama--2", "fw.example.com"]),
            procid in proptest::sample::select(vec!["-", "42"]),
            rest in proptest::sample::select(vec![
                "", " ", "  ", " 1,2020/03/27", "  1,2020/03/27", " \u{feff}msg", "x", "-", " -",
                "\t", " [id a=\"1\"]",
            ]),
        ) {
            let at_once = format!("<14>1 2020-03-27T09:57:41+01:00 {host} - {procid} - -{rest}");
            let by_field = format!("<14>1 2020-03-27T09:57:41+01:00 {host} x {procid} - -{rest}");
            let (a, b) = (p(&at_once), p(&by_field));
            proptest::prop_assert_eq!(a.app_name, None);
            proptest::prop_assert_eq!(b.app_name, Some("x"));
            proptest::prop_assert_eq!(
                (a.hostname, a.procid, a.msgid, &a.structured_data, a.msg, a.body, a.status),
                (b.hostname, b.procid, b.msgid, &b.structured_data, b.msg, b.body, b.status)
            );
            proptest::prop_assert_eq!(
                parse_strict(&at_once, &opts()).err(),
                parse_strict(&by_field, &opts()).err()
            );
        }
    }

    #[test]
    fn rfc5424_two_spaces_before_msg_are_dropped() {
        let input = "<14>1 2020-03-27T09:57:41+01:00 PA-VM - - - -  1,2020/03/27";
        let m = parse_strict(input, &opts()).unwrap();
        assert_eq!(m.msg, "1,2020/03/27");
        assert_eq!(m, p(input));
    }

    #[test]
    fn rfc5424_fraction_of_nine_digits_is_lenient_only() {
        let input = "<14>1 2021-10-27T19:21:00.123456789Z h - - - - m";
        assert_eq!(
            p(input).timestamp,
            Some(datetime!(2021-10-27 19:21:00.123456789 UTC))
        );
        assert_eq!(p(input).status, Status::Ok);
        assert_eq!(
            strict_error(input),
            ParseError {
                offset: 32,
                kind: ParseErrorKind::InvalidTimestamp
            }
        );
    }

    #[test]
    fn rfc5424_truncated_header_is_partial_with_empty_msg() {
        let m = p("<14>1 2020-03-27T09:57:41Z host app");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(
            (m.hostname, m.app_name, m.procid),
            (Some("host"), Some("app"), None)
        );
        assert_eq!(m.msg, "");
        assert_eq!(
            strict_error("<14>1 2020-03-27T09:57:41Z host app").kind,
            ParseErrorKind::UnexpectedEnd
        );
    }

    #[test]
    fn rfc5424_impossible_timestamp_keeps_header() {
        let m = p("<14>1 2020-02-30T09:57:41Z host - - - - msg");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.timestamp, None);
        assert_eq!(m.hostname, Some("host"));
        assert_eq!(m.msg, "msg");
    }

    #[test]
    fn rfc5424_strips_trailing_newline_cr_and_nul_only() {
        assert_eq!(p("<14>1 - - - - - - msg \r\n").msg, "msg ");
        assert_eq!(p("<14>1 - - - - - - msg\0").msg, "msg");
    }

    #[test]
    fn rfc5424_strata_relay_header_inside_bsd() {
        let m = p("Mar 1 20:35:56 xxx.xx.x.xx 928 <14>1 2021-03-01T20:35:56.500Z stream logforwarder - panwlogs - CEF:0|Palo");
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!(m.hostname, Some("xxx.xx.x.xx"));
        assert_eq!(m.app_name, None);
        assert!(m.msg.starts_with("928 <14>1 2021-03-01T20:35:56.500Z"));
        let inner = p(m.msg.split_once(' ').unwrap().1);
        assert_eq!(inner.format, Format::Rfc5424);
        assert_eq!(
            (inner.app_name, inner.msgid),
            (Some("logforwarder"), Some("panwlogs"))
        );
        assert_eq!(inner.msg, "CEF:0|Palo");
    }

    #[test]
    fn strict_rfc5424_double_space_between_fields() {
        assert_eq!(
            strict_error("<14>1 -  host - - - -"),
            ParseError {
                offset: 8,
                kind: ParseErrorKind::ExpectedSpace
            }
        );
    }

    #[test]
    fn strict_rfc5424_field_too_long() {
        let input = format!("<14>1 - h {} - - -", "a".repeat(49));
        assert_eq!(
            strict_error(&input),
            ParseError {
                offset: 10,
                kind: ParseErrorKind::InvalidField(Field::AppName)
            }
        );
        assert_eq!(p(&input).status, Status::Ok);
    }
}
