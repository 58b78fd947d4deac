//! The strict parser's error: what deviated from the grammar, and where.

use std::fmt;

/// The first deviation from the RFC 5424 / RFC 3164 grammar found by
/// [`parse_strict`](crate::parse_strict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the input where the deviation starts.
    pub offset: usize,
    /// What deviated there.
    pub kind: ParseErrorKind,
}

/// What deviated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The input is empty (after removing a trailing LF, CR or NUL).
    Empty,
    /// No `<PRIVAL>`, PRIVAL above 191, or a leading zero.
    InvalidPri,
    /// A timestamp that is missing, malformed, or names a date or time that does not exist.
    InvalidTimestamp,
    /// A missing space between header fields, or more than one.
    ExpectedSpace,
    /// A header field that is missing, empty, too long or not PRINTUSASCII.
    InvalidField(Field),
    /// Malformed STRUCTURED-DATA.
    InvalidStructuredData,
    /// The input ends inside the header.
    UnexpectedEnd,
}

/// A header field named by [`ParseErrorKind::InvalidField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// HOSTNAME.
    Hostname,
    /// APP-NAME.
    AppName,
    /// PROCID.
    ProcId,
    /// MSGID.
    MsgId,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Hostname => "HOSTNAME",
            Field::AppName => "APP-NAME",
            Field::ProcId => "PROCID",
            Field::MsgId => "MSGID",
        })
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Empty => f.write_str("empty message"),
            ParseErrorKind::InvalidPri => f.write_str("missing or invalid PRI"),
            ParseErrorKind::InvalidTimestamp => f.write_str("missing or invalid timestamp"),
            ParseErrorKind::ExpectedSpace => f.write_str("expected exactly one space"),
            ParseErrorKind::InvalidField(field) => write!(f, "missing or invalid {field}"),
            ParseErrorKind::InvalidStructuredData => f.write_str("invalid STRUCTURED-DATA"),
            ParseErrorKind::UnexpectedEnd => f.write_str("message ends inside the header"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl std::error::Error for ParseError {}
