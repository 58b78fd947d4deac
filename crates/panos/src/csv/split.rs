//! Splitting one PAN-OS CSV record into its columns, by PAN-OS's quoting rather than RFC 4180's:
//! a field that starts with `"` runs to the next `"` not doubled, and the unquoted `{…}` Link
//! Switches list of TRAFFIC logs holds commas that are not separators. Anything malformed (an
//! unterminated quote, text after a closing quote, an unclosed brace) still splits, as plainly
//! as it can: a log line is never lost to its quoting.

use std::borrow::Cow;

use memchr::memchr;

/// Most PAN-OS records have 100 to 130 columns; reserving for them up front means one
/// allocation per line instead of a few regrowths.
const TYPICAL_COLUMNS: usize = 128;

/// The columns of `record`, in order: `n` commas outside quotes and braces give `n + 1` columns
/// (a trailing comma is a trailing empty column). Quoted values lose their quotes, and are copied
/// only when doubled quotes inside them must be unescaped.
pub fn split(record: &str) -> Vec<Cow<'_, str>> {
    let mut columns = Vec::with_capacity(TYPICAL_COLUMNS);
    let bytes = record.as_bytes();
    let mut start = 0;
    loop {
        let (value, end) = match bytes.get(start) {
            Some(b'"') => quoted(record, start),
            Some(b'{') => braced(record, start),
            _ => plain(record, start),
        };
        columns.push(value);
        // `end` is the separating comma, or the end of the record.
        if end >= bytes.len() {
            return columns;
        }
        start = end + 1;
    }
}

/// The unquoted column at `start`: up to the next comma.
fn plain(record: &str, start: usize) -> (Cow<'_, str>, usize) {
    let end = memchr(b',', &record.as_bytes()[start..]).map_or(record.len(), |at| start + at);
    (Cow::Borrowed(&record[start..end]), end)
}

/// The column at `start`, which opens a quote. A closing quote not followed by a comma or the
/// end is no PAN-OS quoting: the column is then taken as plain text, quotes and all.
fn quoted(record: &str, start: usize) -> (Cow<'_, str>, usize) {
    let bytes = record.as_bytes();
    let content = start + 1;
    let mut search = content;
    let mut doubled = false;
    loop {
        let Some(at) = memchr(b'"', &bytes[search..]) else {
            // Unterminated: the rest of the record is the value.
            return (Cow::Borrowed(&record[content..]), record.len());
        };
        let close = search + at;
        match bytes.get(close + 1) {
            Some(b'"') => {
                doubled = true;
                search = close + 2;
            }
            None | Some(b',') => {
                let inner = &record[content..close];
                let value = if doubled {
                    Cow::Owned(inner.replace("\"\"", "\""))
                } else {
                    Cow::Borrowed(inner)
                };
                return (value, close + 1);
            }
            Some(_) => return plain(record, start),
        }
    }
}

/// The column at `start`, which opens a `{…}` list: through the closing brace, whose commas
/// are the list's own. Without a closing brace followed by a comma or the end it is plain text.
fn braced(record: &str, start: usize) -> (Cow<'_, str>, usize) {
    let bytes = record.as_bytes();
    match memchr(b'}', &bytes[start..]).map(|at| start + at + 1) {
        Some(end) if matches!(bytes.get(end), None | Some(b',')) => {
            (Cow::Borrowed(&record[start..end]), end)
        }
        _ => plain(record, start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(record: &str) -> Vec<String> {
        split(record).into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn plain_columns_and_a_trailing_empty_one() {
        assert_eq!(columns("a,,b,"), ["a", "", "b", ""]);
        assert_eq!(columns(""), [""]);
    }

    #[test]
    fn quoted_columns_borrow_unless_quotes_are_doubled() {
        let record = r#""a,b","say ""hi""","",x"#;
        let split = split(record);
        assert!(matches!(split[0], Cow::Borrowed("a,b")));
        assert!(matches!(&split[1], Cow::Owned(v) if v == r#"say "hi""#));
        assert!(matches!(split[2], Cow::Borrowed("")));
        assert_eq!(split[3], "x");
    }

    #[test]
    fn braces_hold_commas() {
        assert_eq!(columns("a,{x,y},b"), ["a", "{x,y}", "b"]);
        assert_eq!(columns("a,{x,y}"), ["a", "{x,y}"]);
    }

    #[test]
    fn malformed_quoting_still_splits() {
        assert_eq!(columns(r#"a,"open,b"#), ["a", "open,b"]);
        assert_eq!(columns(r#""x"y,z"#), [r#""x"y"#, "z"]);
        assert_eq!(columns("{x,y"), ["{x", "y"]);
        assert_eq!(columns("{x}y,z"), ["{x}y", "z"]);
        assert_eq!(columns(r#"a,""#), ["a", ""]);
    }
}
