//! The parser's forward passes, 64 bytes at a time as bit masks: over the header, every `|` and
//! `\` ([`HeaderSeparators`]); over an extension, every `=` with the last byte before it that
//! cannot be part of a key ([`Separators`]).
//!
//! Searching the header for each field's end with `memchr2` cost ~75 instructions a field, half
//! of the header's parse, most of it the call and its set-up for fields of a few bytes.
//!
//! A `=` ends a key when the run of key characters before it follows a space (see
//! [`crate::key_before`]). Walking back from each `=` over its key, and searching for each `=` on
//! its own, cost the full split about 5 500 of its 13 900 instructions per 1 KB record; here one
//! classification of each 64-byte block gives both, and the byte before a key is the highest
//! "not a key character" bit below the `=`.

/// Bytes per block: one bit of a `u64` mask per byte.
const BLOCK: usize = 64;

/// One block's bytes as bit masks, bit `i` for byte `i`.
#[derive(Debug, PartialEq, Eq)]
struct BlockClasses {
    equals: u64,
    not_key: u64,
}

/// Every `=` of an extension's bytes, in order, with the position of the last byte before it that
/// is not a key character (`None` when every byte before it is one).
pub(crate) struct Separators<'b> {
    bytes: &'b [u8],
    block_start: usize,
    /// The current block's `=` bits not yet yielded.
    equals: u64,
    not_key: u64,
    /// The last byte that is not a key character in the blocks before the current one.
    not_key_before_block: Option<usize>,
}

impl<'b> Separators<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        let first = classify_at(bytes, 0);
        Separators {
            bytes,
            block_start: 0,
            equals: first.equals,
            not_key: first.not_key,
            not_key_before_block: None,
        }
    }
}

impl Iterator for Separators<'_> {
    /// The `=`'s position, and the last non-key byte's before it.
    type Item = (usize, Option<usize>);

    /// Inlined into the split's loop: as a call it cost about a fifth of the split.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        while self.equals == 0 {
            if !self.next_block() {
                return None;
            }
        }
        let bit = self.equals.trailing_zeros();
        self.equals &= self.equals - 1;
        let not_key_below = self.not_key & ((1u64 << bit) - 1);
        let not_key_before = if not_key_below == 0 {
            self.not_key_before_block
        } else {
            Some(self.block_start + highest_bit(not_key_below))
        };
        Some((self.block_start + bit as usize, not_key_before))
    }
}

impl Separators<'_> {
    /// Moves on to the next block; false past the end.
    fn next_block(&mut self) -> bool {
        if self.not_key != 0 {
            self.not_key_before_block = Some(self.block_start + highest_bit(self.not_key));
        }
        self.block_start += BLOCK;
        if self.block_start >= self.bytes.len() {
            return false;
        }
        let classes = classify_at(self.bytes, self.block_start);
        self.equals = classes.equals;
        self.not_key = classes.not_key;
        true
    }
}

/// Every `|` and `\` of a header's bytes, in order. Blocks are classified as the scan reaches
/// them, so a header costs one or two blocks whatever the extension's length.
pub(crate) struct HeaderSeparators<'b> {
    bytes: &'b [u8],
    block_start: usize,
    /// The current block's separator bits not yet yielded.
    pending: u64,
}

impl<'b> HeaderSeparators<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        HeaderSeparators {
            bytes,
            block_start: 0,
            pending: header_separators_at(bytes, 0),
        }
    }
}

impl Iterator for HeaderSeparators<'_> {
    /// The separator's position.
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.pending == 0 {
            self.block_start += BLOCK;
            if self.block_start >= self.bytes.len() {
                return None;
            }
            self.pending = header_separators_at(self.bytes, self.block_start);
        }
        let bit = self.pending.trailing_zeros() as usize;
        self.pending &= self.pending - 1;
        Some(self.block_start + bit)
    }
}

#[inline]
fn header_separators_at(bytes: &[u8], start: usize) -> u64 {
    in_block_at(bytes, start, header_separators)
}

/// A bit for each `|` or `\` of the block.
#[cfg(target_feature = "sse2")]
#[inline]
fn header_separators(block: &[u8; BLOCK]) -> u64 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let pipe = set_splat_i8_m128i(b'|' as i8);
    let backslash = set_splat_i8_m128i(b'\\' as i8);
    let mut separators = 0;
    for (index, chunk) in block.chunks_exact(16).enumerate() {
        let lanes = load_unaligned_m128i(chunk.try_into().expect("16 bytes"));
        let either = bitor_m128i(
            cmp_eq_mask_i8_m128i(lanes, pipe),
            cmp_eq_mask_i8_m128i(lanes, backslash),
        );
        separators |= u64::from(move_mask_i8_m128i(either) as u16) << (index * 16);
    }
    separators
}

#[cfg(not(target_feature = "sse2"))]
use bytewise_header_separators as header_separators;

/// [`header_separators`] byte by byte: other targets' scan, and the SSE2 one's test reference.
#[cfg(any(test, not(target_feature = "sse2")))]
fn bytewise_header_separators(block: &[u8; BLOCK]) -> u64 {
    block.iter().enumerate().fold(0, |bits, (index, byte)| {
        bits | (u64::from(matches!(byte, b'|' | b'\\')) << index)
    })
}

fn highest_bit(mask: u64) -> usize {
    63 - mask.leading_zeros() as usize
}

#[inline]
fn classify_at(bytes: &[u8], start: usize) -> BlockClasses {
    in_block_at(bytes, start, classify)
}

/// `masks` of the block at `start`; a last, short block is padded with NUL bytes (no separator,
/// no `=` nor key character, and past the end, where nothing is looked for).
#[inline]
fn in_block_at<T>(bytes: &[u8], start: usize, masks: impl Fn(&[u8; BLOCK]) -> T) -> T {
    match bytes.get(start..start + BLOCK) {
        Some(block) => masks(block.try_into().expect("a block's length")),
        None => {
            let mut padded = [0; BLOCK];
            let rest = &bytes[start.min(bytes.len())..];
            padded[..rest.len()].copy_from_slice(rest);
            masks(&padded)
        }
    }
}

/// Key characters told apart with range and masked compares, 16 bytes at a time (SSE2 is part of
/// every x86-64 CPU, and `safe_arch` wraps its intrinsics without `unsafe`): digits
/// `0x30..=0x39`; letters, lowercased with `| 0x20`, `0x61..=0x7a`; `& 0xf9 == 0x59` is exactly
/// `Y [ ] _`, `& 0xfd == 0x2c` exactly `, .`. Bytes from 0x80 are negative in the signed compares
/// and match none of them.
#[cfg(target_feature = "sse2")]
#[inline]
fn classify(block: &[u8; BLOCK]) -> BlockClasses {
    use safe_arch::{
        bitand_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i,
        cmp_lt_mask_i8_m128i, load_unaligned_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let byte = |value: u8| set_splat_i8_m128i(value as i8);
    let within = |lanes: m128i, low: u8, high: u8| {
        bitand_m128i(
            cmp_gt_mask_i8_m128i(lanes, byte(low - 1)),
            cmp_lt_mask_i8_m128i(lanes, byte(high + 1)),
        )
    };
    let masked_is = |lanes: m128i, mask: u8, value: u8| {
        cmp_eq_mask_i8_m128i(bitand_m128i(lanes, byte(mask)), byte(value))
    };
    let bits = |lanes: m128i| u64::from(move_mask_i8_m128i(lanes) as u16);

    let mut equals = 0;
    let mut key = 0;
    for (index, chunk) in block.chunks_exact(16).enumerate() {
        let lanes = load_unaligned_m128i(chunk.try_into().expect("16 bytes"));
        let digit = within(lanes, b'0', b'9');
        let letter = within(bitor_m128i(lanes, byte(0x20)), b'a', b'z');
        let brackets_underscore = masked_is(lanes, 0xf9, 0x59);
        let comma_dot = masked_is(lanes, 0xfd, 0x2c);
        let is_key = bitor_m128i(
            bitor_m128i(digit, letter),
            bitor_m128i(brackets_underscore, comma_dot),
        );
        equals |= bits(cmp_eq_mask_i8_m128i(lanes, byte(b'='))) << (index * 16);
        key |= bits(is_key) << (index * 16);
    }
    BlockClasses {
        equals,
        not_key: !key,
    }
}

#[cfg(not(target_feature = "sse2"))]
use bytewise_classify as classify;

/// The classes byte by byte from the key table: other targets' classification, and the reference
/// the SSE2 one is tested against.
#[cfg(any(test, not(target_feature = "sse2")))]
fn bytewise_classify(block: &[u8; BLOCK]) -> BlockClasses {
    let mut classes = BlockClasses {
        equals: 0,
        not_key: 0,
    };
    for (index, &byte) in block.iter().enumerate() {
        classes.equals |= u64::from(byte == b'=') << index;
        classes.not_key |= u64::from(crate::KEY_CHARS[usize::from(byte)] == 0) << index;
    }
    classes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `masks` gives what `bytewise` gives for every byte value at every position of a block.
    fn agrees_on_every_byte_at_every_position<T: PartialEq + std::fmt::Debug>(
        masks: fn(&[u8; BLOCK]) -> T,
        bytewise: fn(&[u8; BLOCK]) -> T,
    ) {
        for value in 0..=255u8 {
            for position in 0..BLOCK {
                let mut block = [b'a'; BLOCK];
                block[position] = value;
                assert_eq!(
                    masks(&block),
                    bytewise(&block),
                    "{value:#04x} at {position}"
                );
            }
        }
    }

    #[test]
    fn every_byte_value_is_classed_as_the_key_table_says_at_every_position() {
        agrees_on_every_byte_at_every_position(classify, bytewise_classify);
    }

    #[test]
    fn every_byte_value_is_a_header_separator_as_the_bytewise_scan_says_at_every_position() {
        agrees_on_every_byte_at_every_position(header_separators, bytewise_header_separators);
    }

    /// The walk back from each `=` that the masks replace.
    fn walked_back(bytes: &[u8]) -> Vec<(usize, Option<usize>)> {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'=')
            .map(|(eq, _)| {
                let not_key = bytes[..eq]
                    .iter()
                    .rposition(|byte| crate::KEY_CHARS[usize::from(*byte)] == 0);
                (eq, not_key)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn blocks_are_classed_as_the_key_table_says(block in prop::array::uniform32(any::<u8>()), other in prop::array::uniform32(any::<u8>())) {
            let mut whole = [0; BLOCK];
            whole[..32].copy_from_slice(&block);
            whole[32..].copy_from_slice(&other);
            prop_assert_eq!(classify(&whole), bytewise_classify(&whole));
        }

        #[test]
        fn each_equals_sign_comes_with_the_last_non_key_byte_before_it(
            bytes in prop::collection::vec(prop::sample::select(b"ab_.[]= \\\xc3\xa9".to_vec()), 0..300),
        ) {
            prop_assert_eq!(Separators::new(&bytes).collect::<Vec<_>>(), walked_back(&bytes));
        }

        #[test]
        fn every_pipe_and_backslash_is_found_in_order(
            bytes in prop::collection::vec(prop::sample::select(b"a|\\ \xc3\xa9".to_vec()), 0..300),
        ) {
            let expected: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, byte)| matches!(byte, b'|' | b'\\'))
                .map(|(at, _)| at)
                .collect();
            prop_assert_eq!(HeaderSeparators::new(&bytes).collect::<Vec<_>>(), expected);
        }
    }
}
