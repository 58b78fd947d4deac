//! The one parser behind [`parse`](crate::parse) and [`parse_strict`](crate::parse_strict).
//!
//! It always produces a message (falling back where the input deviates) and records the first
//! deviation from the RFC grammar on the side. Strict mode only adds the checks lenient parsing
//! does not need (field lengths, PRINTUSASCII), so both modes agree on every message that
//! `parse_strict` accepts.

use std::borrow::Cow;

use crate::timestamp::{self, Scanned};
use crate::{Field, Format, Message, ParseError, ParseErrorKind, ParseOptions, SdElement, Status};

/// Longest RFC 3164 TAG we recognise. RFC 3164 says 32; RFC 5424 APP-NAME allows 48 and AMA
/// does not truncate, so take the larger.
const MAX_TAG: usize = 48;
/// RFC 5424 PROCID length, also used for the RFC 3164 `[pid]`.
const MAX_PROCID: usize = 128;
/// RFC 5424 SD-NAME length.
const MAX_SD_NAME: usize = 32;
/// RFC 5424 HOSTNAME length, also used for RFC 3164.
const MAX_HOSTNAME: usize = 255;
const UTF8_BOM: char = '\u{feff}';

/// Parses `input`; returns the message and the first deviation from the grammar.
pub(crate) fn run<'a>(
    input: &'a str,
    opts: &ParseOptions,
    strict: bool,
) -> (Message<'a>, Option<ParseError>) {
    // Delimiters some senders append; never part of MSG (see the crate docs).
    let s = input.trim_end_matches(['\n', '\r', '\0']);
    let mut parser = Parser {
        s,
        b: s.as_bytes(),
        pos: 0,
        opts,
        strict,
        partial: false,
        error: None,
    };
    let message = parser.message();
    (message, parser.error)
}

struct Parser<'a, 'o> {
    s: &'a str,
    b: &'a [u8],
    /// Current byte offset. It only ever moves past ASCII bytes or to the end, so it is always
    /// a char boundary.
    pos: usize,
    opts: &'o ParseOptions,
    /// Run the checks only `parse_strict` needs.
    strict: bool,
    /// Part of the header could not be parsed and was left in MSG: `Status::Partial`.
    partial: bool,
    /// The first deviation from the grammar.
    error: Option<ParseError>,
}

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

/// Resolves the RFC 5424 PARAM-VALUE escapes `\"`, `\\` and `\]`; any other backslash is kept
/// literally, as RFC 5424 §6.3.3 requires.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped @ ('"' | '\\' | ']')) = chars.clone().next() {
                out.push(escaped);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl<'a> Parser<'a, '_> {
    fn deviate(&mut self, offset: usize, kind: ParseErrorKind) {
        if self.error.is_none() {
            self.error = Some(ParseError { offset, kind });
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// `s[from..to]`; callers pass offsets of ASCII bytes or the end, which are char boundaries.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.s.get(from..to).unwrap_or_default()
    }

    fn rest(&self) -> &'a str {
        self.slice(self.pos, self.s.len())
    }

    /// Offset of the first space at or after `from`, or the end.
    fn token_end(&self, from: usize) -> usize {
        self.b
            .get(from..)
            .and_then(|tail| tail.iter().position(|&c| c == b' '))
            .map_or(self.b.len(), |n| from + n)
    }

    /// Skips the spaces between two header fields (the grammar wants exactly one). Returns
    /// `false` when no field follows.
    fn separator(&mut self) -> bool {
        let start = self.pos;
        while self.at(self.pos) == Some(b' ') {
            self.pos += 1;
        }
        if self.pos >= self.b.len() {
            self.deviate(self.pos, ParseErrorKind::UnexpectedEnd);
            return false;
        }
        match self.pos - start {
            0 => {
                self.deviate(self.pos, ParseErrorKind::ExpectedSpace);
                false
            }
            1 => true,
            _ => {
                self.deviate(start + 1, ParseErrorKind::ExpectedSpace);
                true
            }
        }
    }

    fn status(&self) -> Status {
        if self.partial {
            Status::Partial
        } else {
            Status::Ok
        }
    }

    fn message(&mut self) -> Message<'a> {
        if self.s.is_empty() {
            self.deviate(0, ParseErrorKind::Empty);
            return Message::raw(self.s);
        }
        let pri = self.pri();
        if let Some(pri) = pri {
            if let Some((version, timestamp)) = self.rfc5424_version() {
                return self.rfc5424(pri, version, timestamp);
            }
        }
        self.rfc3164(pri)
    }

    /// `<PRIVAL>` with PRIVAL 0..=191. Anything else is not a PRI (and stays in MSG).
    fn pri(&mut self) -> Option<u8> {
        if self.at(0) != Some(b'<') {
            self.deviate(0, ParseErrorKind::InvalidPri);
            return None;
        }
        let digits = self
            .b
            .iter()
            .skip(1)
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
        let value = self
            .b
            .iter()
            .skip(1)
            .take(digits)
            .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'));
        if digits == 0 || self.at(1 + digits) != Some(b'>') || value > 191 {
            self.deviate(0, ParseErrorKind::InvalidPri);
            return None;
        }
        if digits > 1 && self.at(1) == Some(b'0') {
            self.deviate(1, ParseErrorKind::InvalidPri);
        }
        self.pos = digits + 2;
        u8::try_from(value).ok()
    }

    /// Decides whether an RFC 5424 header follows the PRI: VERSION (1-3 digits, no leading
    /// zero), space(s), then NILVALUE or an RFC 3339 timestamp. On success, moves past VERSION
    /// and returns it with the scanned timestamp (`None` for NILVALUE).
    fn rfc5424_version(&mut self) -> Option<(u16, Option<Scanned>)> {
        let start = self.pos;
        let digits = self
            .b
            .iter()
            .skip(start)
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
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
        let version = self
            .b
            .iter()
            .skip(start)
            .take(digits)
            .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'));
        self.pos = start + digits;
        Some((version, timestamp))
    }

    fn rfc5424(&mut self, pri: u8, version: u16, timestamp: Option<Scanned>) -> Message<'a> {
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
        let fields = [
            (Field::Hostname, MAX_HOSTNAME),
            (Field::AppName, 48),
            (Field::ProcId, MAX_PROCID),
            (Field::MsgId, 32),
        ];
        let mut values = [None; 4];
        let mut complete = true;
        for (value, (field, max)) in values.iter_mut().zip(fields) {
            complete = self.separator();
            if !complete {
                break;
            }
            *value = self.header_field(field, max);
        }
        [m.hostname, m.app_name, m.procid, m.msgid] = values;
        if complete && self.separator() {
            self.structured_data(&mut m.structured_data);
        } else {
            // The input ends inside the header.
            self.partial = true;
        }
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

    /// STRUCTURED-DATA at `pos`. On malformed SD, `pos` is left at the start of the element
    /// that failed (so MSG keeps it) and the message becomes partial.
    fn structured_data(&mut self, elements: &mut Vec<SdElement<'a>>) {
        let start = self.pos;
        match self.at(start) {
            Some(b'-') if matches!(self.at(start + 1), None | Some(b' ')) => self.pos += 1,
            Some(b'[') => {
                while self.at(self.pos) == Some(b'[') {
                    match self.sd_element() {
                        Ok(element) => elements.push(element),
                        Err(offset) => {
                            self.deviate(offset, ParseErrorKind::InvalidStructuredData);
                            self.partial = true;
                            return;
                        }
                    }
                }
                if !matches!(self.at(self.pos), None | Some(b' ')) {
                    self.deviate(self.pos, ParseErrorKind::InvalidStructuredData);
                    self.partial = true;
                }
            }
            _ => {
                self.deviate(start, ParseErrorKind::InvalidStructuredData);
                self.partial = true;
            }
        }
    }

    /// `[SD-ID *(SP SD-PARAM)]` at `pos`; on success moves past `]`, on failure returns the
    /// offset of the problem and leaves `pos` alone.
    fn sd_element(&mut self) -> Result<SdElement<'a>, usize> {
        let mut i = self.pos + 1;
        let id = self.sd_name(&mut i).ok_or(i)?;
        let mut params = Vec::new();
        loop {
            match self.at(i) {
                Some(b']') => {
                    self.pos = i + 1;
                    return Ok(SdElement { id, params });
                }
                Some(b' ') => {
                    i += 1;
                    if self.at(i) == Some(b' ') {
                        self.deviate(i, ParseErrorKind::InvalidStructuredData);
                        while self.at(i) == Some(b' ') {
                            i += 1;
                        }
                    }
                    let name = self.sd_name(&mut i).ok_or(i)?;
                    if self.at(i) != Some(b'=') {
                        return Err(i);
                    }
                    if self.at(i + 1) != Some(b'"') {
                        return Err(i + 1);
                    }
                    i += 2;
                    let value = self.param_value(&mut i).ok_or(i)?;
                    params.push((name, value));
                }
                _ => return Err(i),
            }
        }
    }

    /// SD-ID or PARAM-NAME at `*i`: up to SP, `=`, `]` or `"`. `None` if empty.
    fn sd_name(&mut self, i: &mut usize) -> Option<&'a str> {
        let start = *i;
        while let Some(c) = self.at(*i) {
            if matches!(c, b' ' | b'=' | b']' | b'"') {
                break;
            }
            *i += 1;
        }
        if *i == start {
            return None;
        }
        let name = self.slice(start, *i);
        if self.strict && (name.len() > MAX_SD_NAME || !name.bytes().all(|c| c.is_ascii_graphic()))
        {
            self.deviate(start, ParseErrorKind::InvalidStructuredData);
        }
        Some(name)
    }

    /// PARAM-VALUE after its opening quote at `*i`; moves `*i` past the closing quote. Borrowed
    /// unless it holds escapes. `None` if the closing quote is missing.
    fn param_value(&mut self, i: &mut usize) -> Option<Cow<'a, str>> {
        let start = *i;
        let mut escaped = false;
        loop {
            match self.at(*i)? {
                b'"' => break,
                b'\\' if matches!(self.at(*i + 1), Some(b'"' | b'\\' | b']')) => {
                    escaped = true;
                    *i += 2;
                }
                b']' => {
                    // RFC 5424 wants `\]`; inside quotes the meaning is still clear.
                    self.deviate(*i, ParseErrorKind::InvalidStructuredData);
                    *i += 1;
                }
                _ => *i += 1,
            }
        }
        let raw = self.slice(start, *i);
        *i += 1;
        Some(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }

    fn rfc3164(&mut self, pri: Option<u8>) -> Message<'a> {
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

    /// Body from `pos`, split into TAG[pid] and MSG when a tag is there.
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
    use std::borrow::Cow;

    use time::macros::{datetime, offset};

    use crate::{
        parse, parse_strict, Field, Format, Message, ParseError, ParseErrorKind, ParseOptions,
        SdElement, Status,
    };

    fn opts() -> ParseOptions {
        ParseOptions::new(datetime!(2026-11-23 00:00 UTC))
    }

    fn p(input: &str) -> Message<'_> {
        parse(input, &opts())
    }

    fn strict_error(input: &str) -> ParseError {
        parse_strict(input, &opts()).expect_err(input)
    }

    // ---- RFC 5424 ----

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

    #[test]
    fn rfc5424_two_spaces_before_msg_are_dropped() {
        let input = "<14>1 2020-03-27T09:57:41+01:00 PA-VM - - - -  1,2020/03/27";
        let m = parse_strict(input, &opts()).unwrap();
        assert_eq!(m.msg, "1,2020/03/27");
        assert_eq!(m, p(input));
    }

    #[test]
    fn rfc5424_sd_escapes_make_owned_values_only_when_needed() {
        let m = p(r#"<14>1 - h a - - [x@1 a="q\"b\\s\]e" b="plain" c="bad\n"] msg"#);
        let params = &m.structured_data[0].params;
        assert_eq!(params[0], ("a", Cow::Owned::<str>(r#"q"b\s]e"#.into())));
        assert!(matches!(params[1].1, Cow::Borrowed("plain")));
        assert_eq!(params[2].1, r"bad\n");
        assert!(matches!(params[2].1, Cow::Borrowed(_)));
        assert_eq!(m.msg, "msg");
        assert_eq!(m.status, Status::Ok);
    }

    #[test]
    fn rfc5424_sd_element_without_params() {
        let m = p("<14>1 - - - - - [a][b x=\"1\"]");
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(
            m.structured_data[0],
            SdElement {
                id: "a",
                params: vec![]
            }
        );
        assert_eq!(m.msg, "");
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
    fn rfc5424_malformed_sd_is_partial_and_kept_in_msg() {
        let m = p("<14>1 - host app - - [ok a=\"1\"][broken a=\"x] rest");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.hostname, Some("host"));
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.msg, "[broken a=\"x] rest");
    }

    #[test]
    fn rfc5424_missing_sd_is_partial() {
        let m = p("<14>1 2020-03-27T09:57:41Z PA-VM - - 1,2020/03/27 09:57:41,x");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.msgid, Some("1,2020/03/27"));
        assert_eq!(m.msg, "09:57:41,x");
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

    // ---- RFC 3164 ----

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

    // ---- No header ----

    #[test]
    fn no_pri_no_timestamp_is_raw() {
        let input = "1,2019/11/23 00:44:44,007051000184334,AUTHENTICATION,login";
        let m = p(input);
        assert_eq!((m.format, m.status), (Format::None, Status::Raw));
        assert_eq!((m.msg, m.body), (input, input));
        assert_eq!(m.facility, None);
    }

    #[test]
    fn empty_input_is_raw() {
        let m = p("");
        assert_eq!((m.format, m.status, m.msg), (Format::None, Status::Raw, ""));
        assert_eq!(p("\r\n").msg, "");
        assert_eq!(
            strict_error(""),
            ParseError {
                offset: 0,
                kind: ParseErrorKind::Empty
            }
        );
    }

    #[test]
    fn invalid_pri_is_not_a_pri() {
        for input in ["<192>Nov 22 10:00:00 h m", "<1234>x", "<>x", "<12", "<1a>x"] {
            let m = p(input);
            assert_eq!(m.facility, None, "{input}");
            assert_eq!(m.status, Status::Raw, "{input}");
            assert_eq!(m.msg, input);
        }
    }

    #[test]
    fn pri_with_leading_zero_is_lenient_only() {
        assert_eq!(p("<013>Nov 22 10:00:00 h m").severity, Some(5));
        assert_eq!(
            strict_error("<013>Nov 22 10:00:00 h m"),
            ParseError {
                offset: 1,
                kind: ParseErrorKind::InvalidPri
            }
        );
    }

    #[test]
    fn non_ascii_input_is_sliced_safely() {
        for input in [
            "<13>Nov 22 10:00:00 hé m",
            "<13>Nov 22 10:00:00 h tä[é]: ü",
            "<14>1 - ü ä - - [é a=\"ö\"] ü",
            "<1é",
        ] {
            let m = p(input);
            assert!(input.ends_with(m.msg), "{input}");
        }
    }

    // ---- Strict error offsets ----

    #[test]
    fn strict_missing_pri() {
        assert_eq!(
            strict_error("Nov 22 10:00:00 h m"),
            ParseError {
                offset: 0,
                kind: ParseErrorKind::InvalidPri
            }
        );
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

    #[test]
    fn strict_rfc5424_unescaped_bracket_in_value() {
        assert_eq!(
            strict_error("<14>1 - - - - - [a b=\"x]\"]"),
            ParseError {
                offset: 23,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
    }

    #[test]
    fn strict_rfc5424_bad_sd() {
        assert_eq!(
            strict_error("<14>1 - - - - - [a b]"),
            ParseError {
                offset: 20,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
        assert_eq!(
            strict_error("<14>1 - - - - - x"),
            ParseError {
                offset: 16,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
    }

    #[test]
    fn strict_error_display_names_offset() {
        let e = strict_error("<14>1 - - - - - x");
        assert_eq!(e.to_string(), "invalid STRUCTURED-DATA at byte 16");
    }
}
