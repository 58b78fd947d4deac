//! The one parser behind [`parse`](crate::parse) and [`parse_strict`](crate::parse_strict).
//!
//! It always produces a message (falling back where the input deviates) and records the first
//! deviation from the RFC grammar on the side. Strict mode only adds the checks lenient parsing
//! does not need (field lengths, PRINTUSASCII), so both modes agree on every message that
//! `parse_strict` accepts.

mod rfc3164;
mod rfc5424;
mod structured_data;

use crate::{Message, ParseError, ParseErrorKind, ParseOptions, Status};

/// RFC 5424 PROCID length, also used for the RFC 3164 `[pid]`.
const MAX_PROCID: usize = 128;
/// RFC 5424 HOSTNAME length, also used for RFC 3164.
const MAX_HOSTNAME: usize = 255;

/// Parses `input`; returns the message and the first deviation from the grammar. Inlined into
/// [`crate::parse`]: as a call, its ~150-byte message was copied out twice (memcpy, ~60
/// instructions of every frame).
#[inline(always)]
pub(crate) fn run<'a>(
    input: &'a str,
    opts: &ParseOptions,
    strict: bool,
) -> (Message<'a>, Option<ParseError>) {
    // Delimiters some senders append; never part of MSG (see the crate docs).
    // Byte by byte: `trim_end_matches` with a set of chars decoded each one (~30 instructions
    // of every frame). Only ASCII bytes go, so the end stays a character boundary.
    let mut end = input.len();
    while end > 0 && matches!(input.as_bytes()[end - 1], b'\n' | b'\r' | b'\0') {
        end -= 1;
    }
    let s = &input[..end];
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

    /// The number the up to `max` (at most 4) ASCII digits at `from` spell, and how many there are.
    fn digits(&self, from: usize, max: usize) -> (u16, usize) {
        let (mut value, mut count) = (0u16, 0);
        while count < max {
            match self.at(from + count) {
                Some(digit @ b'0'..=b'9') => value = value * 10 + u16::from(digit - b'0'),
                _ => break,
            }
            count += 1;
        }
        (value, count)
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
        let (value, digits) = self.digits(1, 3);
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
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use crate::{
        parse, parse_strict, Format, Message, ParseError, ParseErrorKind, ParseOptions, Status,
    };

    pub(super) fn opts() -> ParseOptions {
        ParseOptions::new(datetime!(2026-11-23 00:00 UTC))
    }

    pub(super) fn p(input: &str) -> Message<'_> {
        parse(input, &opts())
    }

    pub(super) fn strict_error(input: &str) -> ParseError {
        parse_strict(input, &opts()).expect_err(input)
    }

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
    fn strict_error_display_names_offset() {
        let e = strict_error("<14>1 - - - - - x");
        assert_eq!(e.to_string(), "invalid STRUCTURED-DATA at byte 16");
    }
}
