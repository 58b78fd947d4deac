#![forbid(unsafe_code)]
//! Zero-copy parser and encoder for ArcSight CEF (Common Event Format), versions 0 and 1.
//!
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`
//!
//! Everything borrows from the input; a field is copied (`Cow::Owned`) only when it contains an
//! escape sequence that has to be undone.
//!
//! # Escaping
//!
//! * Header fields: `\|` is a pipe, `\\` a backslash.
//! * Extension values: `\=` is `=`, `\\` is `\`, `\n` and `\r` are LF and CR.
//! * Any other backslash is kept literally, with the character after it: real devices send Windows
//!   paths and `domain\user` without escaping (PAN-OS escapes nothing unless told to).
//! * A key is `[A-Za-z0-9_][A-Za-z0-9_.,\[\]]*` followed by `=`, at the start of the extension or
//!   after a space. A value runs up to the space before the next key, so values may hold spaces
//!   and unescaped `=` (`request=http://x/?a=1&b=2`); trailing whitespace is trimmed; empty values
//!   are legal. Keys stay in input order and may repeat.
//!
//! # Laziness
//!
//! [`parse_cef`] reads the header and checks that the extension starts with `key=`; the extension
//! is split into pairs the first time something asks for them ([`Extension::pairs`],
//! [`Cef::extension`]), once. A relay that decides by the header (the agent filter drops PAN-OS
//! TRAFFIC by its Name) and forwards the line as it came never pays for the extension.
//!
//! # Leniency (what real senders do)
//!
//! * `CEF: 0|…` (space after the colon, as `logger -t CEF:` produces) is accepted.
//! * A record without the `CEF:` prefix (`0|Palo Alto Networks|…`, what Sentinel pipelines and
//!   `logger -t CEF:` leave in the MSG) is recognised by [`parse_in_message`] when the text
//!   starts with `0|` or `1|`.
//! * The severity is kept as sent; [`Cef::severity_level`] interprets it. PAN-OS's Correlation
//!   template sends a word (`medium`) and its GlobalProtect template omits the field entirely:
//!   when the sixth header field is followed by extension text instead of a pipe, the record is
//!   accepted with an empty severity.
//! * A record whose last header field is not followed by `|` has no extension.

mod separators;
pub mod time;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::sync::LazyLock;

use separators::{HeaderSeparators, Separators};

/// The record marker devices put in front of a CEF record.
pub const MARKER: &str = "CEF:";

/// A parsed CEF record, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cef<'a> {
    /// The CEF version: 0 or 1 in practice, any number is accepted.
    pub version: u32,
    /// Device Vendor, e.g. `Palo Alto Networks`.
    pub device_vendor: Cow<'a, str>,
    /// Device Product, e.g. `PAN-OS`.
    pub device_product: Cow<'a, str>,
    /// Device Version: the sender's software version.
    pub device_version: Cow<'a, str>,
    /// Device Event Class ID.
    pub signature_id: Cow<'a, str>,
    /// Name: what happened, for people.
    pub name: Cow<'a, str>,
    /// As sent (see [`Cef::severity_level`]); empty when the sender omitted the field.
    pub severity: Cow<'a, str>,
    /// Key and unescaped value, in input order; keys may repeat. Split on first use.
    pub extensions: Extension<'a>,
}

impl<'a> Cef<'a> {
    /// The six header fields in header order: vendor, product, device version, class ID, name,
    /// severity.
    pub fn header(&self) -> [&str; 6] {
        [
            &self.device_vendor,
            &self.device_product,
            &self.device_version,
            &self.signature_id,
            &self.name,
            &self.severity,
        ]
    }

    /// The first value of extension `key`.
    pub fn extension(&self, key: &str) -> Option<&str> {
        self.extensions.get(key)
    }

    /// The severity when it is one of the forms the CEF specification allows.
    pub fn severity_level(&self) -> Option<Severity> {
        Severity::parse(&self.severity)
    }
}

impl fmt::Display for Cef<'_> {
    /// The record in CEF syntax, escaped so that [`parse_cef`] gives back the same fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        encode(self, &mut out);
        f.write_str(&out)
    }
}

/// A record's extension: its text as received, split into key and unescaped value the first time
/// the pairs are asked for (see the crate documentation, *Laziness*).
#[derive(Clone)]
pub struct Extension<'a> {
    /// From the first key to the end of the record; empty when the record has no extension. Only
    /// text that starts with `key=` gets here: the rest of the split cannot fail.
    text: &'a str,
    pairs: OnceCell<Vec<(&'a str, Cow<'a, str>)>>,
}

impl<'a> Extension<'a> {
    /// The extension starting at `text`'s first key, to be split when asked.
    fn unsplit(text: &'a str) -> Self {
        Extension {
            text,
            pairs: OnceCell::new(),
        }
    }

    /// An extension made of these pairs (for a record built to be encoded).
    pub fn from_pairs(pairs: Vec<(&'a str, Cow<'a, str>)>) -> Self {
        Extension {
            text: "",
            pairs: OnceCell::from(pairs),
        }
    }

    /// Key and unescaped value, in input order; keys may repeat. The first call splits the text.
    pub fn pairs(&self) -> &[(&'a str, Cow<'a, str>)] {
        self.pairs.get_or_init(|| split_extension(self.text))
    }

    /// The first value of `key`. Before the text is split, this looks for the key alone (every
    /// `key=` at the start or after a space begins a pair, so its first occurrence is the first
    /// pair) and splits only when that value has an escape to undo: a few hundred instructions
    /// instead of the ~20 000 a 1 KB PAN-OS record's split costs.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The first pair whose key is `key`, with the key as the record spells it (borrowed from
    /// the record, so it lives as long as the input). As cheap as [`Self::get`].
    pub fn entry(&self, key: &str) -> Option<(&'a str, &str)> {
        if self.pairs.get().is_none() {
            // Only a valid key can be found; [`Key::new`] says which are.
            return self.entry_of(&Key::new(key)?);
        }
        self.split_entry(key)
    }

    /// [`Self::entry`] with a [`Key`] built beforehand: the same answer, without building a
    /// searcher for this one lookup.
    pub fn entry_of(&self, key: &Key) -> Option<(&'a str, &str)> {
        if self.pairs.get().is_none() {
            match find_unsplit(self.text, key) {
                Unsplit::Absent => return None,
                Unsplit::Plain(key, value) => return Some((key, value)),
                Unsplit::Escaped => {}
            }
        }
        self.split_entry(&key.name)
    }

    /// The pair a `…Label` pair names `label` (`cs1Label=Rule cs1=…` for `Rule`): the first pair
    /// whose key ends in `Label` and whose value is `label`, then the first pair of its key
    /// without `Label`. Before the text is split, found without splitting it (a rule field that
    /// names no key is looked up as a label in every message it reads).
    pub fn labelled(&self, label: &str) -> Option<(&'a str, &str)> {
        if self.pairs.get().is_some() {
            return self.split_labelled(label);
        }
        static LABEL: LazyLock<memchr::memmem::Finder<'static>> =
            LazyLock::new(|| memchr::memmem::Finder::new(b"Label="));
        let text = self.text;
        let bytes = text.as_bytes();
        for at in LABEL.find_iter(bytes) {
            let eq = at + "Label".len();
            // Most labels are not the one asked for, and their first bytes say so without
            // finding where their value ends (~200 instructions each). Where they differ at a
            // backslash, an escape may still spell the label: that one goes the long way.
            let raw = &bytes[eq + 1..];
            let same = raw
                .iter()
                .zip(label.as_bytes())
                .take_while(|(sent, asked)| sent == asked)
                .count();
            if same < label.len() && raw.get(same).is_some_and(|&byte| byte != b'\\') {
                continue;
            }
            let Some(start) = pair_start(bytes, eq) else {
                continue;
            };
            match value_at(text, start, eq - start) {
                Unsplit::Plain(_, value) if value == label => {
                    return self.entry(&text[start..at]);
                }
                Unsplit::Plain(..) | Unsplit::Absent => {}
                Unsplit::Escaped => return self.split_labelled(label),
            }
        }
        None
    }

    fn split_labelled(&self, label: &str) -> Option<(&'a str, &str)> {
        let (label_key, _) = self
            .pairs()
            .iter()
            .find(|(key, value)| key.ends_with("Label") && value == label)?;
        self.entry(label_key.strip_suffix("Label")?)
    }

    fn split_entry(&self, key: &str) -> Option<(&'a str, &str)> {
        self.pairs()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(k, v)| (*k, v.as_ref()))
    }

    /// Whether there is no pair at all; does not split the text (text that is there holds at
    /// least its first `key=`).
    pub fn is_empty(&self) -> bool {
        match self.pairs.get() {
            Some(pairs) => pairs.is_empty(),
            None => self.text.is_empty(),
        }
    }

    /// Whether the text has been split yet: what a test of the laziness looks at.
    pub fn is_split(&self) -> bool {
        self.pairs.get().is_some()
    }
}

impl<'e, 'a> IntoIterator for &'e Extension<'a> {
    type Item = &'e (&'a str, Cow<'a, str>);
    type IntoIter = std::slice::Iter<'e, (&'a str, Cow<'a, str>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs().iter()
    }
}

/// Two extensions are equal when their pairs are, split or not yet.
impl PartialEq for Extension<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.pairs() == other.pairs()
    }
}

impl Eq for Extension<'_> {}

impl fmt::Debug for Extension<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.pairs()).finish()
    }
}

/// A CEF severity: an integer 0–10 or one of the named levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// An integer severity, 0 (lowest) to 10.
    Level(u8),
    /// `Unknown`.
    Unknown,
    /// `Low` (the band of 0–3).
    Low,
    /// `Medium` (4–6).
    Medium,
    /// `High` (7–8).
    High,
    /// `Very-High` (9–10).
    VeryHigh,
}

impl Severity {
    /// `0`–`10`, or `Unknown`, `Low`, `Medium`, `High`, `Very-High` (any letter case).
    pub fn parse(text: &str) -> Option<Severity> {
        if let Ok(level) = text.parse::<u8>() {
            return (level <= 10 && !text.starts_with('+')).then_some(Severity::Level(level));
        }
        const NAMES: [(&str, Severity); 5] = [
            ("Unknown", Severity::Unknown),
            ("Low", Severity::Low),
            ("Medium", Severity::Medium),
            ("High", Severity::High),
            ("Very-High", Severity::VeryHigh),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, severity)| *severity)
    }

    /// The named level an integer severity falls in (0–3 Low, 4–6 Medium, 7–8 High, 9–10
    /// Very-High), as the CEF specification groups them.
    pub fn band(self) -> Severity {
        match self {
            Severity::Level(0..=3) => Severity::Low,
            Severity::Level(4..=6) => Severity::Medium,
            Severity::Level(7..=8) => Severity::High,
            Severity::Level(_) => Severity::VeryHigh,
            named => named,
        }
    }
}

/// Why a text is not a valid CEF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefError {
    /// Byte offset into the text given to the parser.
    pub offset: usize,
    /// What is wrong there.
    pub kind: CefErrorKind,
}

/// What makes a text not a CEF record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CefErrorKind {
    /// No version number followed by `|` (after the `CEF:` marker, when there is one).
    InvalidVersion,
    /// Fewer than the six header fields after the version; `found` says how many ended in `|`.
    MissingHeaderFields {
        /// Header fields that ended in `|`.
        found: usize,
    },
    /// The extension does not start with `key=`.
    InvalidExtension,
}

impl fmt::Display for CefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CefErrorKind::InvalidVersion => write!(f, "CEF version is not a number followed by |"),
            CefErrorKind::MissingHeaderFields { found } => {
                write!(f, "CEF header has {found} of 6 fields after the version")
            }
            CefErrorKind::InvalidExtension => write!(f, "CEF extension does not start with key="),
        }?;
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for CefError {}

/// Whether `key` is a valid extension key: `[A-Za-z0-9_][A-Za-z0-9_.,\[\]]*`.
pub fn is_valid_key(key: &str) -> bool {
    match key.as_bytes().split_first() {
        Some((first, rest)) => is_key_start(*first) && rest.iter().all(|b| is_key_byte(*b)),
        None => false,
    }
}

fn is_key_start(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_key_byte(byte: u8) -> bool {
    is_key_start(byte) || matches!(byte, b'.' | b',' | b'[' | b']')
}

/// `CEF:`'s searcher, built once: `str::find` sets up a two-way searcher for every message, and
/// scans a message without CEF (PAN-OS CSV) at about an instruction a byte.
static MARKER_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(MARKER));

/// Byte offset of the first `CEF:` marker in `text` that is followed by optional spaces, a
/// version number and `|`.
pub fn find_cef(text: &str) -> Option<usize> {
    // Where nearly every message has it (the MSG of RFC 5424, the `CEF:` tag of RFC 3164), seen
    // without the searcher's set-up: ~200 instructions of every frame.
    if text.starts_with(MARKER) && version(text).is_some() {
        return Some(0);
    }
    MARKER_FINDER
        .find_iter(text.as_bytes())
        .find(|&at| version(&text[at..]).is_some())
}

/// Looks for a CEF record where devices put it in a syslog message body (which may start at the
/// `CEF:` tag). `None` when the text carries no CEF at all; `Some(Err)` when it has a `CEF:` marker
/// (or starts like a prefix-less record, `0|`) but the record is malformed. Error offsets are
/// relative to `text`.
pub fn parse_in_message(text: &str) -> Option<Result<Cef<'_>, CefError>> {
    let at = match find_cef(text) {
        Some(at) => at,
        None => {
            let start = text.len() - text.trim_start().len();
            let rest = &text[start..];
            if rest.starts_with("0|") || rest.starts_with("1|") {
                start
            } else {
                // A marker without a version after it: CEF was meant, but it is broken.
                let at = MARKER_FINDER.find(text.as_bytes())?;
                return Some(Err(CefError {
                    offset: at,
                    kind: CefErrorKind::InvalidVersion,
                }));
            }
        }
    };
    Some(parse_cef(&text[at..]).map_err(|error| CefError {
        offset: error.offset + at,
        ..error
    }))
}

/// Parses one record: `[CEF:][spaces]Version|Vendor|Product|DevVersion|SignatureID|Name|Severity|Extension`.
/// Trailing text after the extension is part of the last value (a syslog MSG has no trailer).
///
/// Inlined into [`parse_in_message`], which the relay calls for every frame: returned from a
/// call, the ~150-byte record was copied out once more (~45 instructions).
#[inline]
pub fn parse_cef(input: &str) -> Result<Cef<'_>, CefError> {
    let error_at = |rest: &str, kind| CefError {
        offset: input.len() - rest.len(),
        kind,
    };
    let (rest, version) =
        version(input).ok_or_else(|| error_at(input, CefErrorKind::InvalidVersion))?;

    let header_start = input.len() - rest.len();
    let mut fields: [Cow<'_, str>; 6] = Default::default();
    let mut found = 0;
    let mut field_start = 0;
    // Whether the current field holds a backslash: most have none and are borrowed as they are.
    let mut escaped = false;
    let mut separators = HeaderSeparators::new(rest.as_bytes());
    while found < fields.len() {
        let Some(at) = separators.next() else { break };
        if rest.as_bytes()[at] == b'\\' {
            escaped = true;
            // The backslash escapes the character after it; when that is a separator too, it
            // ends nothing. (A multi-byte character holds no ASCII byte, so no separator.)
            match rest.as_bytes().get(at + 1) {
                Some(b'|' | b'\\') => _ = separators.next(),
                Some(_) => {}
                // A backslash at the very end escapes nothing.
                None => return Err(error_at(&rest[field_start..], missing_fields(found))),
            }
            continue;
        }
        fields[found] = RawField {
            text: &rest[field_start..at],
            escaped,
        }
        .unescaped();
        found += 1;
        field_start = at + 1;
        escaped = false;
    }
    // Where the record ended without a pipe after the last header field, that field's start.
    let mut unterminated_last_field = None;
    if found < fields.len() {
        // The last header field may end the record (no extension follows).
        if found < fields.len() - 1 {
            return Err(error_at(&rest[field_start..], missing_fields(found)));
        }
        unterminated_last_field = Some(header_start + field_start);
        fields[found] = RawField {
            text: &rest[field_start..],
            escaped,
        }
        .unescaped();
        field_start = rest.len();
    }
    if let Some(extension_start) =
        unterminated_last_field.filter(|&at| key_at_start(&input.as_bytes()[at..]))
    {
        // PAN-OS GlobalProtect template: five header fields, no severity, then the extension.
        let extensions = extension_at(input, extension_start)?;
        let [vendor, product, device_version, signature_id, name, _] = fields;
        return Ok(Cef {
            version,
            device_vendor: vendor,
            device_product: product,
            device_version,
            signature_id,
            name,
            severity: Cow::Borrowed(""),
            extensions,
        });
    }
    let extensions = extension_at(input, header_start + field_start)?;
    let [vendor, product, device_version, signature_id, name, severity] = fields;
    Ok(Cef {
        version,
        device_vendor: vendor,
        device_product: product,
        device_version,
        signature_id,
        name,
        severity,
        extensions,
    })
}

fn missing_fields(found: usize) -> CefErrorKind {
    CefErrorKind::MissingHeaderFields { found }
}

/// `CEF:` (optional), spaces or tabs, the version number and its `|`: the version and the text
/// after the pipe. Written out rather than combined from nom's parsers, which cost more than the
/// whole rest of the header scan (~200 instructions of every record).
fn version(input: &str) -> Option<(&str, u32)> {
    // What every sender writes, `CEF:0|` (or `CEF:1|`), without the general case's trimming and
    // number parsing: ~80 of the header's ~1 100 instructions.
    if let [b'C', b'E', b'F', b':', digit @ b'0'..=b'9', b'|', ..] = input.as_bytes() {
        return Some((&input[6..], u32::from(digit - b'0')));
    }
    any_version(input)
}

/// [`version`] for any spelling the grammar allows.
fn any_version(input: &str) -> Option<(&str, u32)> {
    let rest = input.strip_prefix(MARKER).unwrap_or(input);
    let rest = rest.trim_start_matches([' ', '\t']);
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = rest[..digits].parse().ok()?;
    Some((rest[digits..].strip_prefix('|')?, number))
}

/// A header field as the record spells it.
struct RawField<'a> {
    text: &'a str,
    /// Whether `text` holds a backslash: most fields have none and are borrowed without a
    /// second look.
    escaped: bool,
}

impl<'a> RawField<'a> {
    // Inlined: a call per header field cost more than the borrow it makes (~25 instructions).
    #[inline]
    fn unescaped(&self) -> Cow<'a, str> {
        if self.escaped {
            unescape_header(self.text)
        } else {
            Cow::Borrowed(self.text)
        }
    }
}

/// `\|` → `|`, `\\` → `\`; any other backslash stays.
fn unescape_header(raw: &str) -> Cow<'_, str> {
    unescape(raw, |escaped| match escaped {
        '|' => Some('|'),
        '\\' => Some('\\'),
        _ => None,
    })
}

/// `\=` → `=`, `\\` → `\`, `\n` → LF, `\r` → CR; any other backslash stays.
fn unescape_value(raw: &str) -> Cow<'_, str> {
    unescape(raw, |escaped| match escaped {
        '=' => Some('='),
        '\\' => Some('\\'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        _ => None,
    })
}

fn unescape(raw: &str, meaning: impl Fn(char) -> Option<char>) -> Cow<'_, str> {
    if memchr::memchr(b'\\', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next) => match meaning(next) {
                Some(unescaped) => out.push(unescaped),
                None => {
                    out.push('\\');
                    out.push(next);
                }
            },
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Whether `bytes` starts with `key=`.
fn key_at_start(bytes: &[u8]) -> bool {
    let key_len = bytes.iter().take_while(|b| is_key_byte(**b)).count();
    key_len > 0 && is_key_start(bytes[0]) && bytes.get(key_len) == Some(&b'=')
}

/// Extension key characters: `KEY_START` may begin a key, `KEY_MORE` only continue one.
const KEY_START: u8 = 2;
const KEY_MORE: u8 = 1;
const KEY_CHARS: [u8; 256] = {
    let mut table = [0; 256];
    let mut index = 0;
    while index < 256 {
        let byte = index as u8;
        table[index] = if byte.is_ascii_alphanumeric() || byte == b'_' {
            KEY_START
        } else if matches!(byte, b'.' | b',' | b'[' | b']') {
            KEY_MORE
        } else {
            0
        };
        index += 1;
    }
    table
};

/// The extension of the record `input` from byte `start`, where a header read on its own ended
/// (the byte after its last `|`): what [`parse_cef`] gives as [`Cef::extensions`] for the whole
/// record. For a record written header first, so that the header, parsed on its own for a
/// decision, need not be parsed again when the rest is written. An error for an extension that
/// does not start with `key=`, or a `start` that is not a character boundary of `input`.
pub fn parse_extension(input: &str, start: usize) -> Result<Extension<'_>, CefError> {
    if !input.is_char_boundary(start) {
        return Err(CefError {
            offset: start.min(input.len()),
            kind: CefErrorKind::InvalidExtension,
        });
    }
    extension_at(input, start)
}

/// The extension that starts at byte `start` of `input` (after any spaces), checked to begin with
/// `key=` and left unsplit.
fn extension_at(input: &str, start: usize) -> Result<Extension<'_>, CefError> {
    let bytes = input.as_bytes();
    let leading_spaces = bytes[start..].iter().take_while(|b| **b == b' ').count();
    let start = start + leading_spaces;
    if input[start..].trim_end().is_empty() {
        return Ok(Extension::unsplit(""));
    }
    if !key_at_start(&bytes[start..]) {
        return Err(CefError {
            offset: start,
            kind: CefErrorKind::InvalidExtension,
        });
    }
    Ok(Extension::unsplit(&input[start..]))
}

/// Where the key ending at the `=` at `eq` starts, when that `=` ends a key: the run of key
/// characters before it is not empty, begins with a key start character and follows a space
/// that lies in the value starting at `value_start`.
fn key_before(bytes: &[u8], value_start: usize, eq: usize) -> Option<usize> {
    let run = bytes[value_start..eq]
        .iter()
        .rev()
        .take_while(|byte| KEY_CHARS[usize::from(**byte)] != 0)
        .count();
    let key_start = eq - run;
    (key_start > value_start && begins_key(bytes, key_start, eq)).then_some(key_start)
}

/// Whether the run of key characters from `key_start` (after some byte) to the `=` at `eq` is a
/// key: not empty, after a space, and begun by a key start character.
#[inline(always)]
fn begins_key(bytes: &[u8], key_start: usize, eq: usize) -> bool {
    key_start < eq
        && bytes[key_start - 1] == b' '
        && KEY_CHARS[usize::from(bytes[key_start])] == KEY_START
}

/// Where the key of the pair whose `=` is at `eq` starts, when that `=` ends a key: as
/// [`key_before`], or the text's first key, which no space precedes (an extension's text starts
/// with `key=`, so its first `=` ends the first key).
fn pair_start(bytes: &[u8], eq: usize) -> Option<usize> {
    key_before(bytes, 0, eq).or_else(|| (memchr::memchr(b'=', bytes) == Some(eq)).then_some(0))
}

/// What [`find_unsplit`] found of a key in an extension's text.
enum Unsplit<'a> {
    Absent,
    /// The key as the text spells it, and its value, which has nothing to unescape.
    Plain(&'a str, &'a str),
    /// The value has a backslash: the split unescapes it.
    Escaped,
}

/// An extension key to look up in many records ([`Extension::entry_of`]), with its searcher
/// built once: building one costs about as much as searching a 1 KB extension with it.
#[derive(Debug, Clone)]
pub struct Key {
    name: Box<str>,
    /// Finds ` name=`: a key that follows a space and is followed by `=` always begins a pair
    /// (see [`key_before`]), so the searcher stops only at real pairs.
    after_space: memchr::memmem::Finder<'static>,
}

impl Key {
    /// `None` when `name` is not a valid CEF key (no record can hold it).
    pub fn new(name: &str) -> Option<Key> {
        if !is_valid_key(name) {
            return None;
        }
        let needle = format!(" {name}=");
        Some(Key {
            name: name.into(),
            after_space: memchr::memmem::Finder::new(needle.as_bytes()).into_owned(),
        })
    }

    /// The key as given to [`Key::new`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.name == other.name
    }
}

impl Eq for Key {}

/// The first value of `key` in an extension `text` that starts with `key=` (or is empty), found
/// without splitting the rest.
fn find_unsplit<'a>(text: &'a str, key: &Key) -> Unsplit<'a> {
    let bytes = text.as_bytes();
    let name = key.name.as_bytes();
    let at = if starts_with_key(bytes, name) {
        0
    } else {
        match key.after_space.find(bytes) {
            Some(space) => space + 1,
            None => return Unsplit::Absent,
        }
    };
    value_at(text, at, name.len())
}

/// Whether the extension `bytes` begins with the pair of key `name`.
fn starts_with_key(bytes: &[u8], name: &[u8]) -> bool {
    bytes.starts_with(name) && bytes.get(name.len()) == Some(&b'=')
}

/// The pair whose key of `name_len` bytes starts at `at` in the extension `text`.
fn value_at(text: &str, at: usize, name_len: usize) -> Unsplit<'_> {
    let bytes = text.as_bytes();
    let value_start = at + name_len + 1;
    // The value runs up to the space before the next key (the split's rule, for one value).
    let mut value_end = bytes.len();
    let mut from = value_start;
    while let Some(offset) = memchr::memchr(b'=', &bytes[from..]) {
        let eq = from + offset;
        if let Some(key_start) = key_before(bytes, value_start, eq) {
            value_end = key_start - 1;
            break;
        }
        from = eq + 1;
    }
    let value = &text[value_start..trimmed_end(bytes, value_start, value_end)];
    if memchr::memchr(b'\\', value.as_bytes()).is_some() {
        Unsplit::Escaped
    } else {
        Unsplit::Plain(&text[at..at + name_len], value)
    }
}

/// The pairs of an extension `text` that starts with `key=` (or is empty).
///
/// Every `=` is a candidate separator; it ends a key when the run of key characters before it is
/// non-empty, starts with a key start character and follows a space (as [`key_before`] has it).
/// The previous value then ends at that space. (A left-to-right combinator cannot know where a
/// value ends until it has seen the next key.) [`Separators`] finds every `=` and the byte before
/// its run in one pass.
fn split_extension(text: &str) -> Vec<(&str, Cow<'_, str>)> {
    let bytes = text.as_bytes();
    let mut separators = Separators::new(bytes);
    let Some((first_eq, _)) = separators.next() else {
        return Vec::new();
    };
    // The first backslash at or after the value being taken (keys and the spaces between pairs
    // hold none): a value is looked at for escapes only when it holds that backslash, and the
    // search goes on from its end. Most records have no backslash at all, and one `domain\user`
    // no longer sends every value of the record through a search of its own.
    let mut next_backslash = memchr::memchr(b'\\', bytes).unwrap_or(bytes.len());

    let mut extensions = Vec::with_capacity(64);
    let mut key = &text[..first_eq];
    let mut value_start = first_eq + 1;
    for (eq, not_key_before) in separators {
        // The byte before the run of key characters ending at this `=`, in the current value.
        let Some(space) = not_key_before.filter(|space| *space >= value_start) else {
            continue;
        };
        let key_start = space + 1;
        if begins_key(bytes, key_start, eq) {
            let value = split_value(text, value_start, space, &mut next_backslash);
            extensions.push((key, value));
            key = &text[key_start..eq];
            value_start = eq + 1;
        }
    }
    let value = split_value(text, value_start, bytes.len(), &mut next_backslash);
    extensions.push((key, value));
    extensions
}

/// Where the value between `from` and `to` ends without the spaces and line ends before the next
/// key.
#[inline(always)]
fn trimmed_end(bytes: &[u8], from: usize, to: usize) -> usize {
    let mut end = to;
    while end > from && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// The value between `from` and `to` in the split of `text`, trailing whitespace trimmed and
/// escapes undone when it holds `next_backslash`, which then moves on to the next backslash
/// after it. Inlined into the split's loop: as a call it cost a fifth of the split.
#[inline(always)]
fn split_value<'t>(
    text: &'t str,
    from: usize,
    to: usize,
    next_backslash: &mut usize,
) -> Cow<'t, str> {
    let bytes = text.as_bytes();
    let end = trimmed_end(bytes, from, to);
    let raw = &text[from..end];
    if *next_backslash >= end {
        return Cow::Borrowed(raw);
    }
    *next_backslash = memchr::memchr(b'\\', &bytes[end..]).map_or(bytes.len(), |at| end + at);
    unescape_value(raw)
}

/// Appends `cef` in CEF syntax to `out`, escaping `\` and `|` in the header and `\`, `=`, LF and CR
/// in extension values. Keys are written as they are (see [`is_valid_key`]).
pub fn encode(cef: &Cef<'_>, out: &mut String) {
    use fmt::Write;
    let _ = write!(out, "{MARKER}{}|", cef.version);
    for field in cef.header() {
        escape_into(out, field, |c| matches!(c, '\\' | '|').then_some(c));
        out.push('|');
    }
    for (index, (key, value)) in cef.extensions.pairs().iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        escape_into(out, value, |c| match c {
            '\\' | '=' => Some(c),
            '\n' => Some('n'),
            '\r' => Some('r'),
            _ => None,
        });
    }
}

/// Writes `text`, replacing each character `escape` maps with a backslash and its mapping.
fn escape_into(out: &mut String, text: &str, escape: impl Fn(char) -> Option<char>) {
    for c in text.chars() {
        match escape(c) {
            Some(escaped) => {
                out.push('\\');
                out.push(escaped);
            }
            None => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests;
