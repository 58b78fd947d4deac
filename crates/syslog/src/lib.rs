#![forbid(unsafe_code)]
//! Lenient, zero-copy syslog parsing (RFC 5424 and RFC 3164 as real devices send it) and an
//! RFC 6587 framing decoder.
//!
//! The parser is pure: `&str` in, a [`Message`] borrowing from the input out. The only allocation
//! is the `Vec` of structured-data elements (none when there is no SD) and a `Cow::Owned` for an
//! SD PARAM-VALUE that contains escapes. "Now" and the default time zone are arguments
//! ([`ParseOptions`]), so results are deterministic.
//!
//! [`parse`] never fails: anything becomes a [`Message`] with a [`Status`] saying how much of a
//! header was recognised. [`parse_strict`] runs the very same parser and reports the first
//! deviation from the RFC grammar instead; when it returns `Ok`, the message is identical to
//! what [`parse`] returns.
//!
//! # Leniency decisions (all deliberate, see the tests named after them)
//!
//! * A trailing LF, CR or NUL is not part of the MSG (senders append them; framing strips one).
//! * RFC 5424: every space between STRUCTURED-DATA and MSG is dropped, not only the one the
//!   grammar requires. PAN-OS 11.x sends `- - - -  1,...` (two spaces), and a leading space has
//!   no meaning in any payload we handle. A UTF-8 BOM after those spaces is removed too.
//! * RFC 5424: runs of spaces between header fields are accepted, a TIME-SECFRAC may have up to
//!   9 digits and a timestamp without an offset takes [`ParseOptions::default_offset`].
//! * RFC 3164: PRI is optional (lines from files and relays), a space after PRI is skipped,
//!   the day may be space-padded, zero-padded or unpadded, a year may follow the day, and an
//!   RFC 3339 timestamp may stand in for the BSD one.
//! * RFC 3164 HOSTNAME is optional. The token after the timestamp is a hostname only if it is
//!   made of hostname characters (alphanumerics, `.`, `-`, `_`, `:`, `%`), does not start with
//!   `%`, does not end in a single `:` and is followed by a space. So PAN-OS CSV (`1,2012/04/10`)
//!   and `CEF:0|...` are never taken for a hostname.
//! * RFC 3164 TAG is recognised only when followed by `:` or `[pid]`; a bare word followed by a
//!   space stays in the MSG (relays prepend whole second headers). A lone `-` right after the
//!   hostname (`FW-DNS-11 - 1,2025/...`) is a NIL tag and is skipped.

mod error;
pub mod framing;
mod parser;
mod timestamp;

use std::borrow::Cow;

pub use error::{Field, ParseError, ParseErrorKind};
pub use time::{OffsetDateTime, UtcOffset};
pub use timestamp::{month_abbreviation, month_from_abbreviation};

/// Inputs that are not in the message itself.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Reference time for RFC 3164 year inference: the year that puts the timestamp nearest to
    /// `now` (a Dec 31 message read on Jan 1 gets last year).
    pub now: OffsetDateTime,
    /// Offset applied to timestamps that carry none (RFC 3164). UTC by default.
    pub default_offset: UtcOffset,
}

impl ParseOptions {
    /// Options with `now` as reference time and UTC for timestamps without an offset.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            now,
            default_offset: UtcOffset::UTC,
        }
    }

    /// Same options, with `offset` for timestamps that carry none (the sender's time zone).
    #[must_use]
    pub fn with_default_offset(mut self, offset: UtcOffset) -> Self {
        self.default_offset = offset;
        self
    }
}

/// Which header grammar the message was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`.
    Rfc5424,
    /// BSD: `[<PRI>][TIMESTAMP] [HOSTNAME] [TAG[pid]:] MSG`.
    Rfc3164,
    /// Neither a PRI nor a timestamp: the input is all MSG.
    None,
}

/// How much of the header was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The header was fully parsed (for RFC 3164: PRI and a valid timestamp; HOSTNAME and TAG
    /// are optional there).
    Ok,
    /// Some header was parsed; what could not be parsed is kept in `msg`.
    Partial,
    /// Nothing was recognised; `msg` is the whole input.
    Raw,
}

/// A parsed syslog message, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// The header grammar that matched.
    pub format: Format,
    /// How much of that header was recognised.
    pub status: Status,
    /// `PRI / 8` (0..=23), when a PRI was present.
    pub facility: Option<u8>,
    /// `PRI % 8` (0..=7), when a PRI was present.
    pub severity: Option<u8>,
    /// RFC 5424 VERSION.
    pub version: Option<u16>,
    /// TIMESTAMP; a time without an offset took [`ParseOptions::default_offset`], one without a
    /// year the year nearest to [`ParseOptions::now`].
    pub timestamp: Option<OffsetDateTime>,
    /// `None` for NILVALUE `-` or when absent.
    pub hostname: Option<&'a str>,
    /// RFC 5424 APP-NAME, or the RFC 3164 TAG.
    pub app_name: Option<&'a str>,
    /// RFC 5424 PROCID, or the RFC 3164 `[pid]`.
    pub procid: Option<&'a str>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// RFC 5424 STRUCTURED-DATA elements, in input order; empty for NILVALUE and RFC 3164.
    pub structured_data: Vec<SdElement<'a>>,
    /// Everything after the header, starting at the RFC 3164 TAG (equal to `msg` for RFC 5424
    /// and when no tag was found). Callers search this for "CEF:" because `logger -t CEF:` makes
    /// "CEF:" the tag.
    pub body: &'a str,
    /// The MSG: after `TAG[pid]: ` for 3164, after STRUCTURED-DATA and its spaces (and a UTF-8
    /// BOM, removed) for 5424. Never ends in LF, CR or NUL.
    pub msg: &'a str,
}

impl<'a> Message<'a> {
    /// A message in which nothing was recognised.
    fn raw(input: &'a str) -> Self {
        Message {
            format: Format::None,
            status: Status::Raw,
            facility: None,
            severity: None,
            version: None,
            timestamp: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: Vec::new(),
            body: input,
            msg: input,
        }
    }
}

/// One RFC 5424 SD-ELEMENT: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SdElement<'a> {
    /// SD-ID, e.g. `timeQuality` or `origin@32473`.
    pub id: &'a str,
    /// PARAM-NAME and unescaped PARAM-VALUE, in input order (borrowed unless the value had
    /// `\"`, `\\` or `\]` escapes).
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

/// Parses `input` leniently: any input yields a [`Message`] (an empty input gives
/// [`Status::Raw`] with an empty `msg`). Never panics.
pub fn parse<'a>(input: &'a str, opts: &ParseOptions) -> Message<'a> {
    parser::run(input, opts, false).0
}

/// Parses `input` and fails on the first deviation from the RFC 5424 / RFC 3164 grammar,
/// reporting its byte offset. `Ok(m)` is always equal to `parse(input, opts)`.
///
/// RFC 3164 strictness means: PRI present, `Mmm dd hh:mm:ss` with a space-padded day, one space,
/// a HOSTNAME and one space. TAG and CONTENT are free-form (RFC 3164 only describes them).
pub fn parse_strict<'a>(input: &'a str, opts: &ParseOptions) -> Result<Message<'a>, ParseError> {
    match parser::run(input, opts, true) {
        (message, None) => Ok(message),
        (_, Some(error)) => Err(error),
    }
}
