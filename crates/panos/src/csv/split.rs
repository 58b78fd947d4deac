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
    let mut commas = Commas::new(bytes);
    let mut start = 0;
    loop {
        let special = match bytes.get(start) {
            Some(b'"') => quoted(record, start),
            Some(b'{') => braced(record, start),
            _ => None,
        };
        // A plain column runs up to the next comma.
        let (value, end) = special.unwrap_or_else(|| {
            let end = commas.find(start).unwrap_or(bytes.len());
            (Cow::Borrowed(&record[start..end]), end)
        });
        columns.push(value);
        // `end` is the separating comma, or the end of the record.
        if end >= bytes.len() {
            return columns;
        }
        start = end + 1;
    }
}

/// The commas of a record, found 64 bytes at a time into a bit mask. PAN-OS columns average
/// some 12 bytes, too short for a `memchr` call per column to pay for its setup: that was
/// over 100 instructions a column, where a mask costs a few per byte block and per comma.
struct Commas<'a> {
    bytes: &'a [u8],
    /// The offset of the block in `mask`.
    base: usize,
    /// Bit `i` set: a comma at `base + i` that [`Self::find`] may still return.
    mask: u64,
}

impl<'a> Commas<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Commas {
            bytes,
            base: 0,
            mask: block_commas(bytes, 0),
        }
    }

    /// The first comma at or after `from`, which must not be before the current block (the
    /// columns are found in order, so it never is).
    fn find(&mut self, from: usize) -> Option<usize> {
        while from - self.base >= 64 {
            self.next_block()?;
        }
        self.mask &= u64::MAX << (from - self.base);
        while self.mask == 0 {
            self.next_block()?;
        }
        Some(self.base + self.mask.trailing_zeros() as usize)
    }

    /// Moves to the next block; `None` past the end of the record.
    fn next_block(&mut self) -> Option<()> {
        self.base += 64;
        if self.base >= self.bytes.len() {
            self.mask = 0;
            return None;
        }
        self.mask = block_commas(self.bytes, self.base);
        Some(())
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
    // One bit per byte at 8i, gathered to bit 56 + i by a multiply whose partial products all
    // land on distinct bits (8i - 7j is unique), so nothing carries into the top byte wrongly.
    (zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
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

    /// The mask scan against a plain byte search, with commas at every offset around the
    /// 8-byte words and 64-byte blocks, next to bytes one off a comma (`+`, `-`) and non-ASCII.
    #[test]
    fn commas_are_found_at_every_offset() {
        for len in 0..200 {
            for comma in 0..len {
                for filler in [b'a', b'+', b'-', 0xac, 0x2c ^ 0x80] {
                    let mut bytes = vec![filler; len];
                    for at in (comma..len).step_by(7 + comma % 5) {
                        bytes[at] = b',';
                    }
                    let mut commas = Commas::new(&bytes);
                    let mut from = 0;
                    while from <= len {
                        let expected = bytes[from..].iter().position(|&b| b == b',');
                        let found = commas.find(from);
                        assert_eq!(found, expected.map(|at| from + at), "{len} {comma} {from}");
                        from = found.map_or(len + 1, |at| at + 1 + (at % 3));
                    }
                }
            }
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
