//! The `name( … )` calls that rsyslog's RainerScript and syslog-ng's configuration are both made
//! of, found without a full grammar of either: enough to read drivers, inputs and actions.

use std::ops::Range;

/// The text after `key` + `opener` where `key` is a whole word (`port`, not `localport`).
pub(super) fn value_after<'a>(args: &'a str, key: &str, opener: char) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = args[from..].find(key) {
        let start = from + found;
        let end = start + key.len();
        from = end;
        let whole_word = args[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let rest = args[end..].trim_start();
        if whole_word {
            if let Some(value) = rest.strip_prefix(opener) {
                return Some(value.trim_start());
            }
        }
    }
    None
}

/// A `name( … )` at the outermost parenthesis level, with the `{ … }` block it sits in.
pub(super) struct Call {
    pub(super) name: String,
    pub(super) args: String,
    /// The keyword that opened the enclosing block (`source`, `destination`, `if`, …).
    pub(super) block: Option<String>,
    pub(super) span: Range<usize>,
}

/// The calls of an rsyslog or syslog-ng file, skipping `#` comments and quoted strings.
pub(super) fn calls(text: &str) -> Vec<Call> {
    let bytes = text.as_bytes();
    let mut calls = Vec::new();
    let mut blocks: Vec<Option<String>> = Vec::new();
    let mut statement: Option<String> = None;
    let mut last_word: Option<Range<usize>> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                last_word = None;
                continue;
            }
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i);
                last_word = None;
                continue;
            }
            b'(' => {
                let close = matching_paren(bytes, i);
                if let Some(word) = last_word.take() {
                    calls.push(Call {
                        name: text[word.clone()].to_string(),
                        args: text[i + 1..close.min(bytes.len())].to_string(),
                        block: blocks.last().cloned().flatten(),
                        span: word.start..(close + 1).min(bytes.len()),
                    });
                }
                i = close + 1;
                continue;
            }
            b'{' => {
                blocks.push(statement.take());
                last_word = None;
            }
            b'}' => {
                blocks.pop();
                statement = None;
                last_word = None;
            }
            b';' => {
                if blocks.is_empty() {
                    statement = None;
                }
                last_word = None;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'-' || c == b'.' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_$-.".contains(&bytes[i]))
                {
                    i += 1;
                }
                if statement.is_none() {
                    statement = Some(text[start..i].to_ascii_lowercase());
                }
                last_word = Some(start..i);
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => last_word = None,
        }
        i += 1;
    }
    calls
}

fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the `)` closing the `(` at `open` (or the end of the text when it never closes).
fn matching_paren(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i);
                continue;
            }
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}
