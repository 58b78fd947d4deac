//! RFC 6587 framing for syslog over TCP/TLS: octet counting (`LEN SP MSG`) and non-transparent
//! framing (MSG terminated by LF, CRLF or NUL), detected per frame as rsyslog and OpenBSD
//! syslogd do.
//!
//! # Resync contract
//!
//! Errors are *items*, not codec errors: [`Frame::Oversized`] and [`Frame::Malformed`] are
//! yielded and the decoder carries on with the next frame, so one bad frame never ends a
//! connection's stream. After `Oversized` the decoder discards the rest of that frame (LEN bytes
//! for an octet-counted frame — less when the count lies, see below — and up to the next LF or
//! NUL otherwise); after `Malformed` it discards up to the next LF or NUL. The caller should
//! count both and may close the connection instead (a peer that keeps sending garbage is not
//! worth the CPU).
//!
//! An octet count above [`MAX_FRAME_LIMIT`] is `Malformed`, not `Oversized`: no listener takes
//! frames that large, so the header is broken (`9999999999 <13>…`), and skipping the LEN bytes it
//! announces would swallow gigabytes of good frames behind it.
//!
//! The decoder never holds more than `max_frame` plus a frame header and a delimiter: what it
//! discards is dropped as it arrives, including the LEN bytes of an oversized octet-counted
//! frame that spans many reads.
//!
//! # Octet counts that lie
//!
//! Real senders get the count wrong (see PAN-OS quirks: counts 22-40 bytes too large after
//! scrubbing, counts that include the trailing LF). Inside the counted bytes, an LF followed by
//! something that starts a frame (`<digit`, or `LEN SP <`) ends the frame early, and the next
//! frame starts after that LF. The same holds while the LEN bytes of an oversized frame are
//! skipped: the skip ends at such an LF. A frame whose count includes its trailing LF keeps the
//! LF (the parser ignores it). At end of stream, a truncated octet-counted frame whose received
//! bytes end in LF is taken as complete up to that LF; any other truncated frame is
//! `Malformed`.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Default largest frame: 64 KiB, the UDP maximum, and well above PAN-OS's longest lines.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// The largest `max_frame` a decoder takes (64 MiB; larger values are lowered to it). An octet
/// count above it is a broken header, reported as [`Frame::Malformed`].
pub const MAX_FRAME_LIMIT: usize = 64 * 1024 * 1024;

/// More digits than this cannot be a real octet count (10 digits is already > 4 GB).
const MAX_LEN_DIGITS: usize = 10;

/// How frames are delimited on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FramingMode {
    /// Per frame: a non-zero digit, more digits and a space start an octet-counted frame;
    /// anything else is LF/NUL-terminated.
    #[default]
    Auto,
    /// Every frame is `LEN SP MSG` (RFC 5425 TLS, PAN-OS "IETF over TCP/SSL").
    OctetCounted,
    /// Every frame ends at LF, CRLF or NUL.
    NonTransparent,
}

/// One decoded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A syslog message without its framing (no count, no trailing LF / CRLF / NUL).
    Message(Bytes),
    /// A frame longer than `max_frame`, discarded. `len` is its octet count, or for an
    /// LF-terminated frame the number of bytes before the delimiter.
    Oversized {
        /// The frame's length as described above.
        len: usize,
    },
    /// Bytes that are not a frame in the configured mode, discarded up to the next LF or NUL.
    Malformed {
        /// What was wrong, for the log.
        reason: &'static str,
    },
}

/// `tokio_util` decoder for RFC 6587 framing; see the [module docs](self) for the contract.
#[derive(Debug)]
pub struct FrameDecoder {
    mode: FramingMode,
    max_frame: usize,
    state: State,
    /// Bytes at the start of the buffer already searched for the current frame's delimiter,
    /// so a frame arriving in many small reads is scanned once.
    scanned: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a frame.
    Frame,
    /// Dropping the rest of an oversized octet-counted frame (already reported), up to
    /// `remaining` bytes or an LF that starts a new frame, whichever comes first.
    SkipOctets { remaining: usize },
    /// Dropping an oversized LF-terminated frame; reported with its length at the delimiter.
    OversizedLine { seen: usize },
    /// Dropping up to the next delimiter after a malformed frame (already reported).
    SkipLine,
}

/// What the start of the buffer says about an octet count.
enum Header {
    /// `LEN SP`: the count, and the header's length.
    Counted {
        len: usize,
        header: usize,
    },
    NotCounted(&'static str),
    /// Only digits so far.
    Incomplete,
}

fn octet_header(buf: &[u8]) -> Header {
    if !matches!(buf.first(), Some(b'1'..=b'9')) {
        return Header::NotCounted("frame does not start with an octet count");
    }
    let digits = buf
        .iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits > MAX_LEN_DIGITS {
        return Header::NotCounted("octet count longer than 10 digits");
    }
    match buf.get(digits) {
        None => Header::Incomplete,
        Some(b' ') => {
            let len = buf
                .iter()
                .take(digits)
                .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
            Header::Counted {
                len: usize::try_from(len).unwrap_or(usize::MAX),
                header: digits + 1,
            }
        }
        Some(_) => Header::NotCounted("octet count not followed by a space"),
    }
}

/// Does `bytes` start a new frame (`<` digit, or `LEN SP <`)? `None` when `bytes` ends before
/// that is decided.
fn starts_frame(bytes: &[u8]) -> Option<bool> {
    match bytes.first()? {
        b'<' => Some(bytes.get(1)?.is_ascii_digit()),
        b'1'..=b'9' => match octet_header(bytes) {
            Header::Counted { header, .. } => Some(*bytes.get(header)? == b'<'),
            Header::NotCounted(_) => Some(false),
            Header::Incomplete => None,
        },
        _ => Some(false),
    }
}

/// Where a skip through counted bytes may end early.
enum Resync {
    /// At the LF at this offset: a frame starts after it.
    At(usize),
    /// The LF at this offset may start a frame; the bytes after it have not all arrived.
    Undecided(usize),
    None,
}

/// The first LF in `window` (counted bytes) followed by the start of a frame. Decided on the
/// counted bytes only, so the result does not depend on how reads split the stream; `settled`
/// says no more counted bytes will arrive.
fn resync_point(window: &[u8], settled: bool) -> Resync {
    let mut from = 0;
    while let Some(n) = window.get(from..).and_then(|w| memchr::memchr(b'\n', w)) {
        let lf = from + n;
        match starts_frame(window.get(lf + 1..).unwrap_or_default()) {
            Some(true) => return Resync::At(lf),
            None if !settled => return Resync::Undecided(lf),
            _ => from = lf + 1,
        }
    }
    Resync::None
}

/// The first LF or NUL: the end of a non-transparent frame (a CR before it is dropped later).
fn find_delimiter(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\0', bytes)
}

/// What one step of the state machine produced.
enum Step {
    Emit(Frame),
    NeedMore,
    Continue,
}

impl FrameDecoder {
    /// A decoder for `mode` that rejects frames longer than `max_frame` bytes
    /// ([`DEFAULT_MAX_FRAME`] is a good default; at most [`MAX_FRAME_LIMIT`]).
    pub fn new(mode: FramingMode, max_frame: usize) -> Self {
        Self {
            mode,
            max_frame: max_frame.min(MAX_FRAME_LIMIT),
            state: State::Frame,
            scanned: 0,
        }
    }

    fn next_frame(&mut self, buf: &mut BytesMut, eof: bool) -> Option<Frame> {
        loop {
            let step = match self.state {
                State::Frame => self.frame(buf, eof),
                State::SkipOctets { remaining } => {
                    let window = buf.get(..remaining.min(buf.len())).unwrap_or_default();
                    let settled = eof || buf.len() >= remaining;
                    let n = match resync_point(window, settled) {
                        Resync::At(lf) => {
                            // The count lied: the next frame starts after this LF.
                            buf.advance(lf + 1);
                            self.state = State::Frame;
                            continue;
                        }
                        // Keep the LF and what follows until we know whether a frame starts.
                        Resync::Undecided(lf) => lf,
                        Resync::None => window.len(),
                    };
                    buf.advance(n);
                    if n == remaining {
                        self.state = State::Frame;
                        Step::Continue
                    } else if eof {
                        // Truncated while skipping; the frame was reported already.
                        self.state = State::Frame;
                        Step::NeedMore
                    } else {
                        self.state = State::SkipOctets {
                            remaining: remaining - n,
                        };
                        Step::NeedMore
                    }
                }
                State::OversizedLine { seen } => match find_delimiter(buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Frame;
                        Step::Emit(Frame::Oversized {
                            len: seen.saturating_add(i),
                        })
                    }
                    None => {
                        let seen = seen.saturating_add(buf.len());
                        buf.clear();
                        if eof {
                            self.state = State::Frame;
                            Step::Emit(Frame::Oversized { len: seen })
                        } else {
                            self.state = State::OversizedLine { seen };
                            Step::NeedMore
                        }
                    }
                },
                State::SkipLine => match find_delimiter(buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Frame;
                        Step::Continue
                    }
                    None => {
                        buf.clear();
                        if eof {
                            self.state = State::Frame;
                        }
                        Step::NeedMore
                    }
                },
            };
            match step {
                Step::Emit(frame) => return Some(frame),
                Step::NeedMore => return None,
                Step::Continue => {}
            }
        }
    }

    /// At the start of a frame: skip empty lines, then pick the framing for this frame.
    fn frame(&mut self, buf: &mut BytesMut, eof: bool) -> Step {
        let blank = buf
            .iter()
            .take_while(|&&c| matches!(c, b'\n' | b'\r' | b'\0'))
            .count();
        if blank > 0 {
            buf.advance(blank);
            self.scanned = 0;
        }
        if buf.is_empty() {
            return Step::NeedMore;
        }
        let header = octet_header(buf);
        match (self.mode, header) {
            (FramingMode::NonTransparent, _) | (FramingMode::Auto, Header::NotCounted(_)) => {
                self.line(buf, eof)
            }
            (FramingMode::Auto, Header::Incomplete) if eof => self.line(buf, eof),
            (_, Header::Incomplete) if eof => {
                buf.clear();
                Step::Emit(Frame::Malformed {
                    reason: "truncated octet count",
                })
            }
            (_, Header::Incomplete) => Step::NeedMore,
            (_, Header::NotCounted(reason)) => {
                self.state = State::SkipLine;
                Step::Emit(Frame::Malformed { reason })
            }
            (_, Header::Counted { len, header }) => self.counted(buf, eof, len, header),
        }
    }

    /// An LF/NUL-terminated frame at the start of `buf`.
    fn line(&mut self, buf: &mut BytesMut, eof: bool) -> Step {
        // Content may be max_frame bytes plus a CR; the delimiter must come by the byte after.
        let limit = self.max_frame.saturating_add(2).min(buf.len());
        let from = self.scanned.min(limit);
        let found = buf.get(from..limit).and_then(find_delimiter);
        let Some(n) = found else {
            if buf.len() >= self.max_frame.saturating_add(2) {
                self.scanned = 0;
                self.state = State::OversizedLine { seen: 0 };
                return Step::Continue;
            }
            if eof {
                self.scanned = 0;
                let mut frame = buf.split();
                if frame.last() == Some(&b'\r') {
                    frame.truncate(frame.len() - 1);
                }
                return self.emit_line(frame);
            }
            self.scanned = limit;
            return Step::NeedMore;
        };
        let i = from + n;
        self.scanned = 0;
        let mut frame = buf.split_to(i + 1);
        frame.truncate(i);
        if frame.last() == Some(&b'\r') {
            frame.truncate(i - 1);
        }
        self.emit_line(frame)
    }

    fn emit_line(&self, frame: BytesMut) -> Step {
        if frame.is_empty() {
            Step::Continue
        } else if frame.len() > self.max_frame {
            // Only reachable when the delimiter directly follows max_frame + 1 bytes.
            Step::Emit(Frame::Oversized { len: frame.len() })
        } else {
            Step::Emit(Frame::Message(frame.freeze()))
        }
    }

    /// An octet-counted frame whose `header` bytes announce `len` bytes.
    fn counted(&mut self, buf: &mut BytesMut, eof: bool, len: usize, header: usize) -> Step {
        if len > MAX_FRAME_LIMIT {
            // Not a frame too long for this listener but a count no frame can have: resync at
            // the next LF rather than skip gigabytes of what follows.
            self.scanned = 0;
            self.state = State::SkipLine;
            return Step::Emit(Frame::Malformed {
                reason: "octet count larger than any frame (64 MiB)",
            });
        }
        if len > self.max_frame {
            buf.advance(header);
            self.scanned = 0;
            self.state = State::SkipOctets { remaining: len };
            return Step::Emit(Frame::Oversized { len });
        }
        let end = header + len;
        let window = buf.get(header..end.min(buf.len())).unwrap_or_default();
        // Look for an LF that starts a new frame inside the counted bytes (counts that lie).
        let mut j = self.scanned.saturating_sub(header);
        while let Some(n) = window
            .get(j..)
            .and_then(|w| w.iter().position(|&c| c == b'\n'))
        {
            j += n;
            // Decided on the counted bytes only, so the result does not depend on how reads
            // split the stream.
            let lookahead = window.get(j + 1..).unwrap_or_default();
            let complete = buf.len() >= end;
            match starts_frame(lookahead) {
                Some(true) => {
                    self.scanned = 0;
                    buf.advance(header);
                    let frame = buf.split_to(j).freeze();
                    buf.advance(1);
                    return Step::Emit(Frame::Message(frame));
                }
                None if !complete && !eof => {
                    self.scanned = header + j;
                    return Step::NeedMore;
                }
                _ => j += 1,
            }
        }
        if buf.len() >= end {
            self.scanned = 0;
            buf.advance(header);
            return Step::Emit(Frame::Message(buf.split_to(len).freeze()));
        }
        if eof {
            self.scanned = 0;
            if buf.last() == Some(&b'\n') {
                buf.advance(header);
                let mut frame = buf.split();
                frame.truncate(frame.len() - 1);
                if frame.last() == Some(&b'\r') {
                    frame.truncate(frame.len() - 1);
                }
                return self.emit_line(frame);
            }
            buf.clear();
            return Step::Emit(Frame::Malformed {
                reason: "truncated octet-counted frame",
            });
        }
        self.scanned = header + window.len();
        buf.reserve(end - buf.len());
        Step::NeedMore
    }
}

impl Default for FrameDecoder {
    /// Auto-detected framing with [`DEFAULT_MAX_FRAME`].
    fn default() -> Self {
        Self::new(FramingMode::Auto, DEFAULT_MAX_FRAME)
    }
}

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        Ok(self.next_frame(buf, false))
    }

    /// At end of stream: a trailing unterminated LF-mode frame is a message; a truncated
    /// octet-counted frame is `Malformed` (unless its bytes end in LF, see the module docs);
    /// leftovers of a frame being discarded are dropped.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        Ok(self.next_frame(buf, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(mode: FramingMode, max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut decoder = FrameDecoder::new(mode, max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                out.push(frame);
            }
        }
        while let Some(frame) = decoder.decode_eof(&mut buf).unwrap() {
            out.push(frame);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn auto_mixes_octet_counted_and_lf_frames() {
        let frames = decode_all(
            FramingMode::Auto,
            100,
            &[b"5 <13>a<13>b\n6 <13>cd\n<13>e\r\n"],
        );
        assert_eq!(
            frames,
            vec![msg("<13>a"), msg("<13>b"), msg("<13>cd"), msg("<13>e")]
        );
    }

    #[test]
    fn lf_crlf_and_nul_delimiters() {
        let frames = decode_all(FramingMode::NonTransparent, 100, &[b"a\nb\r\nc\0d"]);
        assert_eq!(frames, vec![msg("a"), msg("b"), msg("c"), msg("d")]);
    }

    #[test]
    fn empty_lines_are_skipped() {
        let frames = decode_all(FramingMode::Auto, 100, &[b"\n\r\n\0a\n\n\nb\n"]);
        assert_eq!(frames, vec![msg("a"), msg("b")]);
    }

    #[test]
    fn digits_without_space_are_lf_framed_in_auto_mode() {
        let frames = decode_all(
            FramingMode::Auto,
            100,
            &[b"1,2019/11/23 00:44:44,TRAFFIC\n0 x\n"],
        );
        assert_eq!(
            frames,
            vec![msg("1,2019/11/23 00:44:44,TRAFFIC"), msg("0 x")]
        );
    }

    #[test]
    fn octet_frame_split_across_reads() {
        let frames = decode_all(
            FramingMode::OctetCounted,
            100,
            &[b"1", b"1 <13>he", b"llo w", b"3 abc"],
        );
        assert_eq!(frames, vec![msg("<13>hello w"), msg("abc")]);
    }

    #[test]
    fn oversized_octet_frame_is_skipped_across_reads() {
        let frames = decode_all(
            FramingMode::OctetCounted,
            4,
            &[b"10 01234", b"567", b"89", b"3 abc"],
        );
        assert_eq!(frames, vec![Frame::Oversized { len: 10 }, msg("abc")]);
    }

    #[test]
    fn oversized_octet_frame_does_not_buffer_its_bytes() {
        let mut decoder = FrameDecoder::new(FramingMode::Auto, 8);
        let mut buf = BytesMut::from(&b"1000000 "[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Frame::Oversized { len: 1_000_000 })
        );
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'x'; 1000]);
            assert_eq!(decoder.decode(&mut buf).unwrap(), None);
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"2 ok");
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(msg("ok")));
    }

    #[test]
    fn oversized_lf_frame_is_reported_with_its_length_and_discarded() {
        let frames = decode_all(FramingMode::NonTransparent, 4, &[b"abcdefg", b"hij\nok\n"]);
        assert_eq!(frames, vec![Frame::Oversized { len: 10 }, msg("ok")]);
        let one_shot = decode_all(FramingMode::NonTransparent, 4, &[b"abcdefghij\nok\n"]);
        assert_eq!(one_shot, frames);
    }

    #[test]
    fn lf_frame_of_exactly_max_frame_with_crlf_fits() {
        let frames = decode_all(FramingMode::NonTransparent, 4, &[b"abcd\r\nabcde\nabcd"]);
        assert_eq!(
            frames,
            vec![msg("abcd"), Frame::Oversized { len: 5 }, msg("abcd")]
        );
    }

    #[test]
    fn lf_buffer_stays_bounded() {
        let mut decoder = FrameDecoder::new(FramingMode::NonTransparent, 16);
        let mut buf = BytesMut::new();
        for _ in 0..100 {
            buf.extend_from_slice(b"0123456789");
            assert_eq!(decoder.decode(&mut buf).unwrap(), None);
            assert!(buf.len() <= 18 + 10);
        }
        buf.extend_from_slice(b"\n");
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Frame::Oversized { len: 1000 })
        );
    }

    #[test]
    fn malformed_octet_frame_resyncs_at_next_lf() {
        let frames = decode_all(
            FramingMode::OctetCounted,
            100,
            &[b"<13>no count\n3 abc12345678901 x\n2 ok"],
        );
        assert_eq!(
            frames,
            vec![
                Frame::Malformed {
                    reason: "frame does not start with an octet count"
                },
                msg("abc"),
                Frame::Malformed {
                    reason: "octet count longer than 10 digits"
                },
                msg("ok"),
            ]
        );
        let frames = decode_all(FramingMode::OctetCounted, 100, &[b"12x\n2 ok"]);
        assert_eq!(
            frames,
            vec![
                Frame::Malformed {
                    reason: "octet count not followed by a space"
                },
                msg("ok")
            ]
        );
    }

    #[test]
    fn eof_emits_unterminated_lf_frame() {
        assert_eq!(
            decode_all(FramingMode::Auto, 100, &[b"a\n<13>tail\r"]),
            vec![msg("a"), msg("<13>tail")]
        );
        assert_eq!(
            decode_all(FramingMode::Auto, 100, &[b"123"]),
            vec![msg("123")]
        );
    }

    #[test]
    fn eof_truncated_octet_frame_is_malformed() {
        let reason = "truncated octet-counted frame";
        assert_eq!(
            decode_all(FramingMode::Auto, 100, &[b"10 abc"]),
            vec![Frame::Malformed { reason }]
        );
        assert_eq!(
            decode_all(FramingMode::OctetCounted, 100, &[b"123"]),
            vec![Frame::Malformed {
                reason: "truncated octet count"
            }]
        );
    }

    #[test]
    fn eof_truncated_octet_frame_ending_in_lf_is_a_message() {
        assert_eq!(
            decode_all(FramingMode::Auto, 100, &[b"20 <13>abc\r\n"]),
            vec![msg("<13>abc")]
        );
    }

    #[test]
    fn octet_count_including_trailing_lf_keeps_it() {
        let frames = decode_all(FramingMode::Auto, 100, &[b"8 <13>abc\n5 <13>d"]);
        assert_eq!(frames, vec![msg("<13>abc\n"), msg("<13>d")]);
    }

    #[test]
    fn octet_count_too_large_resyncs_at_lf_before_next_frame() {
        // Counts 10 bytes too large, as in the scrubbed beats fixture.
        let input = b"17 <13>abc\n19 <14>1 - - - - - - d7 <13>xyz\n";
        let frames = decode_all(FramingMode::Auto, 100, &[input]);
        assert_eq!(
            frames,
            vec![msg("<13>abc"), msg("<14>1 - - - - - - d"), msg("<13>xyz")]
        );
        let chunked: Vec<&[u8]> = input.chunks(3).collect();
        assert_eq!(decode_all(FramingMode::Auto, 100, &chunked), frames);
    }

    #[test]
    fn octet_count_beyond_any_frame_is_malformed_and_the_frames_after_it_arrive() {
        let input = b"9999999999 <13>bogus count\n<13>one\n<13>two\n5 <13>3";
        let expected = vec![
            Frame::Malformed {
                reason: "octet count larger than any frame (64 MiB)",
            },
            msg("<13>one"),
            msg("<13>two"),
            msg("<13>3"),
        ];
        assert_eq!(decode_all(FramingMode::Auto, 100, &[input]), expected);
        let chunked: Vec<&[u8]> = input.chunks(4).collect();
        assert_eq!(decode_all(FramingMode::Auto, 100, &chunked), expected);
        // Octet counting throughout, as over TLS: the next counted frame after the LF.
        let counted = b"9999999999 <13>bogus count\n7 <13>one7 <13>two5 <13>3";
        assert_eq!(
            decode_all(FramingMode::OctetCounted, 100, &[counted]),
            expected
        );
        // 64 MiB itself is a count a listener may take: oversized here, not malformed.
        let at_limit = format!("{MAX_FRAME_LIMIT} <13>x");
        assert_eq!(
            decode_all(FramingMode::Auto, 100, &[at_limit.as_bytes()]),
            vec![Frame::Oversized {
                len: MAX_FRAME_LIMIT
            }]
        );
    }

    #[test]
    fn skipping_an_oversized_frame_ends_at_an_lf_that_starts_a_frame() {
        // The count says 100 bytes; a new frame starts after the first LF.
        let input = b"100 <13>too long for 8\n<13>next\n7 <13>abc";
        let expected = vec![
            Frame::Oversized { len: 100 },
            msg("<13>next"),
            msg("<13>abc"),
        ];
        assert_eq!(decode_all(FramingMode::Auto, 8, &[input]), expected);
        for size in 1..input.len() {
            let chunked: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(
                decode_all(FramingMode::Auto, 8, &chunked),
                expected,
                "{size}"
            );
        }
    }

    #[test]
    fn skipping_an_oversized_frame_keeps_going_past_an_lf_that_starts_no_frame() {
        // 20 counted bytes: "<13>abcdefgh\nij 3 <1" — the LF is followed by text, not a frame.
        let input = b"20 <13>abcdefgh\nij 3 <13>ok\n";
        assert_eq!(
            decode_all(FramingMode::Auto, 8, &[input]),
            vec![Frame::Oversized { len: 20 }, msg("3>ok")]
        );
    }

    #[test]
    fn max_frame_above_the_limit_is_lowered_to_it() {
        let decoder = FrameDecoder::new(FramingMode::Auto, usize::MAX);
        assert_eq!(decoder.max_frame, MAX_FRAME_LIMIT);
    }

    #[test]
    fn multi_line_octet_frame_is_kept_whole() {
        let frames = decode_all(FramingMode::Auto, 100, &[b"20 <13>trace\n  at foo\nx\n"]);
        assert_eq!(frames, vec![msg("<13>trace\n  at foo\nx")]);
    }
}
