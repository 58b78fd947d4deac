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
    // The commas are found 64 bytes at a time into a bit mask, and each column runs from `start`
    // to the lowest comma left in it. PAN-OS columns average some 12 bytes, too short for a
    // `memchr` call per column to pay for its setup (over 100 instructions a column, where the
    // mask costs a few per byte and per comma). A block starts at `base`, wherever that is.
    let mut base = 0;
    while base < bytes.len() {
        let mut mask = block_commas(bytes, base);
        while mask != 0 {
            let comma = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if comma < start {
                // Inside the quoted or braced column just taken.
                continue;
            }
            // The first byte is tested here, not only in `special`, which is not inlined: the
            // call for every plain column cost a third of the loop. A plain column ends at this
            // comma, never at the end of the record.
            if !matches!(bytes.get(start), Some(b'"' | b'{')) {
                columns.push(Cow::Borrowed(&record[start..comma]));
                start = comma + 1;
                continue;
            }
            let (value, end) = special(record, start)
                .unwrap_or_else(|| (Cow::Borrowed(&record[start..comma]), comma));
            columns.push(value);
            // `end` is the separating comma, or the end of the record.
            if end >= bytes.len() {
                return columns;
            }
            start = end + 1;
        }
        // A quoted or braced column may have run past this block: the next starts after it.
        base = (base + 64).max(start);
    }
    // The last column, after the last comma.
    let value = special(record, start).map_or_else(|| Cow::Borrowed(&record[start..]), |(v, _)| v);
    columns.push(value);
    columns
}

/// The column at `start` when it opens a quote or a `{…}` list that holds as such, with the
/// separating comma after it (or the end of the record); `None` for a plain column.
fn special(record: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    match record.as_bytes().get(start) {
        Some(b'"') => quoted(record, start),
        Some(b'{') => braced(record, start),
        _ => None,
    }
}

/// The commas among the 64 bytes at `base` (fewer at the end of `bytes`) as a mask, bit `i`
/// for byte `base + i`.
fn block_commas(bytes: &[u8], base: usize) -> u64 {
    // Initialised only for the last block: zeroing it for every block cost ~10% of the scan.
    let padded;
    let block: &[u8; 64] = match bytes.get(base..base + 64) {
        Some(block) => block.try_into().expect("64 bytes"),
        None => {
            // The last, short block, padded with NULs, which are not commas.
            let tail = &bytes[base.min(bytes.len())..];
            let mut last = [0u8; 64];
            last[..tail.len()].copy_from_slice(tail);
            padded = last;
            &padded
        }
    };
    let mut mask = 0;
    for (index, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        mask |= word_commas(word) << (8 * index);
    }
    mask
}

/// The commas in the 8 bytes of `word` (little-endian) as the low 8 bits, bit `i` for byte `i`.
fn word_commas(word: u64) -> u64 {
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let zero_at_commas = word ^ u64::from_ne_bytes([b','; 8]);
    // The exact zero-byte test (no false positive after a borrow, unlike `(x - 1) & !x`): the
    // top bit of a byte is set when the byte is zero.
    let low_bits_set = (zero_at_commas & LOW_SEVEN).wrapping_add(LOW_SEVEN);
    let zero = !(low_bits_set | zero_at_commas | LOW_SEVEN);
    // One bit per byte at 8i + 7, gathered to bit 56 + i by a multiply (by the bits 49 - 7j)
    // whose partial products all land on distinct bits (8i - 7j is unique), so nothing carries
    // into the top byte wrongly.
    zero.wrapping_mul(0x0002_0408_1020_4081) >> 56
}

/// The column at `start`, which opens a quote; `None` when it is to be taken as plain text: a
/// closing quote not followed by a comma or the end is no PAN-OS quoting.
fn quoted(record: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = record.as_bytes();
    let content = start + 1;
    let mut search = content;
    let mut doubled = false;
    loop {
        let Some(at) = memchr(b'"', &bytes[search..]) else {
            // Unterminated: the rest of the record is the value.
            return Some((Cow::Borrowed(&record[content..]), record.len()));
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
                return Some((value, close + 1));
            }
            Some(_) => return None,
        }
    }
}

/// The column at `start`, which opens a `{…}` list: through the closing brace, whose commas
/// are the list's own. `None` (plain text) without a closing brace followed by a comma or the
/// end.
fn braced(record: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = record.as_bytes();
    match memchr(b'}', &bytes[start..]).map(|at| start + at + 1) {
        Some(end) if matches!(bytes.get(end), None | Some(b',')) => {
            Some((Cow::Borrowed(&record[start..end]), end))
        }
        _ => None,
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

    /// The mask scan against `str::split`, with commas at every offset around the 8-byte words
    /// and 64-byte blocks, next to bytes one off a comma (`+`, `-`), and in multi-byte text
    /// (`Ĭ` is `c4 ac`, its second byte a comma's with the top bit set).
    #[test]
    fn commas_are_found_at_every_offset() {
        for len in 0..200 {
            for comma in 0..len {
                for filler in ['a', '+', '-', 'Ĭ'] {
                    let mut chars = vec![filler; len];
                    for at in (comma..len).step_by(1 + comma % 9) {
                        chars[at] = ',';
                    }
                    let record: String = chars.into_iter().collect();
                    let expected: Vec<&str> = record.split(',').collect();
                    assert_eq!(columns(&record), expected, "{record}");
                }
            }
        }
    }

    /// Every set of comma bytes in a word, with every other byte value around them (the
    /// zero-byte test must not see a borrow, nor the multiply a carry).
    #[test]
    fn word_commas_is_exact() {
        for other in 0..=255u8 {
            if other == b',' {
                continue;
            }
            for pattern in 0..=255u64 {
                let bytes: [u8; 8] =
                    std::array::from_fn(|i| if pattern >> i & 1 == 1 { b',' } else { other });
                assert_eq!(word_commas(u64::from_le_bytes(bytes)), pattern, "{other}");
            }
        }
    }

    /// Quoted and braced columns that hold commas across and up to block boundaries.
    #[test]
    fn quotes_and_braces_across_blocks() {
        for pad in 0..140 {
            let filler = "x".repeat(pad);
            let long = "y,".repeat(40);
            let record = format!("{filler},\"{long}\",{{{long}}},\"a\"\"b\",z,\"{long}\"");
            let expected = [
                filler.clone(),
                long.clone(),
                format!("{{{long}}}"),
                "a\"b".to_owned(),
                "z".to_owned(),
                long.clone(),
            ];
            assert_eq!(columns(&record), expected, "{pad}");
            let record = format!("{filler},{{{long}}}");
            assert_eq!(columns(&record), [filler.clone(), format!("{{{long}}}")]);
        }
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
