//! Hand-written timestamp scanners. `time` is used only to build the value: its
//! format-description parser is far slower than the fixed layouts syslog uses.
//!
//! Each thread remembers the last timestamp of each layout it scanned, with what the scan gave
//! ([`Remembered`]): a sender stamps thousands of messages a second with the same text (to the
//! second in RFC 3164, usually to the millisecond in RFC 5424), and scanning it again and building
//! the instant cost a quarter of an RFC 5424 header's parse (1 277 → 919 instructions with the
//! memory, `benches/parse-instructions.sh`) and a sixth of an RFC 3164 one's (1 002 → 817). A
//! timestamp the thread has not just seen costs ~170–210 instructions more than it did without the
//! memory (the look-up and the store: steps `syslog-new-second`, `rfc5424-new-millisecond`), so
//! the memory pays once more than half of a thread's messages repeat the last timestamp — as a
//! firewall's do at any rate where the relay's CPU matters.

use std::cell::Cell;
use std::thread::LocalKey;

use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use crate::ParseOptions;

/// A timestamp that matched syntactically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Byte offset just past the timestamp; the byte there is a space or the input ends.
    pub end: usize,
    /// `None` when the text has the right shape but names no real instant (`Feb 30`, `25:00`).
    pub value: Option<OffsetDateTime>,
    /// Offset of the first deviation from the strict RFC form (lowercase `t`, 7+ fraction
    /// digits, zero-padded BSD day, ...). Only `parse_strict` cares.
    pub quirk: Option<usize>,
}

/// Records only the first quirk, so strict errors point at the leftmost deviation.
fn note(quirk: &mut Option<usize>, at: usize) {
    if quirk.is_none() {
        *quirk = Some(at);
    }
}

fn digit(b: &[u8], i: usize) -> Option<u32> {
    match b.get(i) {
        Some(d @ b'0'..=b'9') => Some(u32::from(d - b'0')),
        _ => None,
    }
}

/// Exactly `n` ASCII digits at `i`.
fn number(b: &[u8], i: usize, n: usize) -> Option<u32> {
    (i..i + n).try_fold(0u32, |acc, j| Some(acc * 10 + digit(b, j)?))
}

/// The number two ASCII digits spell. The wrapping subtraction takes every other byte past 9, so
/// one compare per digit refuses it — before the multiplication, which it would overflow.
fn two_digits(tens: u8, ones: u8) -> Option<u8> {
    let (tens, ones) = (tens.wrapping_sub(b'0'), ones.wrapping_sub(b'0'));
    (tens < 10 && ones < 10).then(|| tens * 10 + ones)
}

fn expect(b: &[u8], i: usize, byte: u8) -> Option<()> {
    (b.get(i) == Some(&byte)).then_some(())
}

/// `hh:mm:ss[.fraction]` at `i`: returns (h, m, s, nanos, end). A fraction longer than 6 digits
/// is a quirk (RFC 5424 allows 6); digits after the 9th are read and ignored.
/// Inlined: returned through memory from a call, its five values cost ~35 instructions more.
#[inline(always)]
fn clock(b: &[u8], mut i: usize, quirk: &mut Option<usize>) -> Option<(u8, u8, u8, u32, usize)> {
    // One bounds check for the eight bytes, and each pair's digits checked together: digit by
    // digit, the clock cost ~100 instructions of every frame.
    let &[h1, h0, colon1, m1, m0, colon2, s1, s0] = b.get(i..i + 8)? else {
        return None;
    };
    if colon1 != b':' || colon2 != b':' {
        return None;
    }
    let (h, m, s) = (
        two_digits(h1, h0)?,
        two_digits(m1, m0)?,
        two_digits(s1, s0)?,
    );
    i += 8;
    let mut nanos = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(d) = digit(b, i) {
            if i - start < 9 {
                nanos = nanos * 10 + d;
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return None;
        }
        if count > 6 {
            note(quirk, start + 6);
        }
        for _ in count.min(9)..9 {
            nanos *= 10;
        }
    }
    Some((h, m, s, nanos, i))
}

/// The timestamp must end at a space or at the end of the input.
fn at_boundary(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), None | Some(b' '))
}

fn build(
    date: Option<Date>,
    (h, m, s, nanos): (u8, u8, u8, u32),
    offset: UtcOffset,
) -> Option<OffsetDateTime> {
    let time = Time::from_hms_nano(h, m, s, nanos).ok()?;
    Some(OffsetDateTime::new_in_offset(date?, time, offset))
}

fn date(year: i32, month: u32, day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// The longest timestamp text remembered; longer ones (RFC 3339 with a long fraction) are
/// scanned every time.
const REMEMBERED_MAX: usize = 40;

/// A timestamp scanned on this thread and what the scan gave, as offsets from its start.
///
/// A scan reads nothing before its start and nothing past the byte after its end, which must be
/// a space or the end of the input either way; so the same text followed by a boundary, scanned
/// with the same `default_offset` and (for BSD's year) in the same second of `now`, scans the same.
#[derive(Clone, Copy)]
struct Remembered {
    text: [u8; REMEMBERED_MAX],
    len: usize,
    default_offset: UtcOffset,
    /// `now` to the second, for the layouts whose year is inferred from it.
    now_second: Option<NowSecond>,
    value: Option<OffsetDateTime>,
    quirk: Option<usize>,
}

/// `now`'s date, clock to the second and offset: the same second as its Unix second would be,
/// without working that out for every RFC 3164 message.
type NowSecond = (Date, u8, u8, u8, UtcOffset);

fn now_second(now: OffsetDateTime) -> NowSecond {
    (
        now.date(),
        now.hour(),
        now.minute(),
        now.second(),
        now.offset(),
    )
}

thread_local! {
    static LAST_RFC3339: Cell<Option<Remembered>> = const { Cell::new(None) };
    static LAST_BSD: Cell<Option<Remembered>> = const { Cell::new(None) };
}

/// `scan(b, start, opts)`, or what it gave the last time this thread scanned the same text at a
/// boundary under the same options (see [`Remembered`]).
#[inline(always)]
fn remembered(
    last: &'static LocalKey<Cell<Option<Remembered>>>,
    now_second: Option<NowSecond>,
    b: &[u8],
    start: usize,
    opts: &ParseOptions,
    scan: fn(&[u8], usize, &ParseOptions) -> Option<Scanned>,
) -> Option<Scanned> {
    if let Some(seen) = last.get() {
        let end = start + seen.len;
        if seen.now_second == now_second
            && seen.default_offset == opts.default_offset
            && b.get(start..end) == Some(&seen.text[..seen.len])
            && at_boundary(b, end)
        {
            return Some(Scanned {
                end,
                value: seen.value,
                quirk: seen.quirk.map(|at| start + at),
            });
        }
    }
    let scanned = scan(b, start, opts)?;
    let len = scanned.end - start;
    if len <= REMEMBERED_MAX {
        let mut text = [0; REMEMBERED_MAX];
        text[..len].copy_from_slice(&b[start..scanned.end]);
        last.set(Some(Remembered {
            text,
            len,
            default_offset: opts.default_offset,
            now_second,
            value: scanned.value,
            quirk: scanned.quirk.map(|at| at - start),
        }));
    }
    Some(scanned)
}

/// RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm)` at `start`. Lenient extras (each a quirk):
/// lowercase `t`/`z`, `+hhmm`, no offset at all (then `opts.default_offset` applies).
pub(crate) fn rfc3339(b: &[u8], start: usize, opts: &ParseOptions) -> Option<Scanned> {
    remembered(&LAST_RFC3339, None, b, start, opts, scan_rfc3339)
}

/// [`rfc3339`] without the thread's memory. Never inlined into [`remembered`]: apart, a timestamp
/// the memory has not seen costs ~30 instructions less (`parse-instructions.sh`: RFC 3164 1 264 →
/// 1 231, RFC 5424 1 491 → 1 465), and a remembered one no more.
#[inline(never)]
fn scan_rfc3339(b: &[u8], start: usize, opts: &ParseOptions) -> Option<Scanned> {
    let mut quirk = None;
    // The date's ten bytes at once, as the clock reads its eight.
    let &[y3, y2, y1, y0, dash1, mo1, mo0, dash2, d1, d0] = b.get(start..start + 10)? else {
        return None;
    };
    if dash1 != b'-' || dash2 != b'-' {
        return None;
    }
    let year = u32::from(two_digits(y3, y2)?) * 100 + u32::from(two_digits(y1, y0)?);
    let (month, day) = (
        u32::from(two_digits(mo1, mo0)?),
        u32::from(two_digits(d1, d0)?),
    );
    match b.get(start + 10) {
        Some(b'T') => {}
        Some(b't') => note(&mut quirk, start + 10),
        _ => return None,
    }
    let (h, m, s, nanos, mut i) = clock(b, start + 11, &mut quirk)?;
    let offset = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            Some(UtcOffset::UTC)
        }
        Some(b'z') => {
            note(&mut quirk, i);
            i += 1;
            Some(UtcOffset::UTC)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = number(b, i + 1, 2)?;
            let om = if b.get(i + 3) == Some(&b':') {
                let om = number(b, i + 4, 2)?;
                i += 6;
                om
            } else {
                note(&mut quirk, i + 3);
                let om = number(b, i + 3, 2)?;
                i += 5;
                om
            };
            offset(sign == b'-', oh, om)
        }
        _ => {
            note(&mut quirk, i);
            Some(opts.default_offset)
        }
    };
    if !at_boundary(b, i) {
        return None;
    }
    // Four digits always fit an i32.
    let value =
        offset.and_then(|offset| build(date(year as i32, month, day), (h, m, s, nanos), offset));
    Some(Scanned {
        end: i,
        value,
        quirk,
    })
}

/// `None` for offsets beyond ±23:59 (RFC 3339 `time-hour`/`time-minute`).
fn offset(negative: bool, hours: u32, minutes: u32) -> Option<UtcOffset> {
    if hours > 23 || minutes > 59 {
        return None;
    }
    // Both below 60, so the casts cannot truncate.
    let (h, m) = (hours as i8, minutes as i8);
    let (h, m) = if negative { (-h, -m) } else { (h, m) };
    UtcOffset::from_hms(h, m, 0).ok()
}

/// The month names of BSD syslog timestamps (and of CEF's, which copied them), in calendar order.
const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `month` as an RFC 3164 timestamp writes it: `Jan` … `Dec`.
pub fn month_abbreviation(month: Month) -> &'static str {
    MONTH_ABBREVIATIONS[usize::from(u8::from(month)) - 1]
}

/// The month that a three-letter English abbreviation names, in any case (`Nov`, `nov`, `NOV`:
/// devices differ); `None` for anything else, a longer name included.
pub fn month_from_abbreviation(name: &[u8]) -> Option<Month> {
    let index = MONTH_ABBREVIATIONS
        .iter()
        .position(|abbreviation| abbreviation.as_bytes().eq_ignore_ascii_case(name))?;
    Month::try_from(u8::try_from(index + 1).ok()?).ok()
}

/// BSD `Mmm dd hh:mm:ss` at `start`, as devices send it: the day space-padded (`Nov  2`, the
/// RFC form), zero-padded (`Apr 09`) or unpadded (`Aug 5`), an optional year after the day
/// (`Nov 22 2026 10:00:00`), an optional fraction, and the month in any case. All but the RFC
/// form are quirks. Without a year, the year nearest to `opts.now` is used.
pub(crate) fn bsd(b: &[u8], start: usize, opts: &ParseOptions) -> Option<Scanned> {
    remembered(
        &LAST_BSD,
        Some(now_second(opts.now)),
        b,
        start,
        opts,
        scan_bsd,
    )
}

/// [`bsd`] without the thread's memory; never inlined, as [`scan_rfc3339`].
#[inline(never)]
fn scan_bsd(b: &[u8], start: usize, opts: &ParseOptions) -> Option<Scanned> {
    let mut quirk = None;
    let name = b.get(start..start + 3)?;
    let month = u32::from(u8::from(month_from_abbreviation(name)?));
    if !(name[0].is_ascii_uppercase()
        && name[1].is_ascii_lowercase()
        && name[2].is_ascii_lowercase())
    {
        note(&mut quirk, start);
    }
    let mut i = start + 3;
    expect(b, i, b' ')?;
    i += 1;
    let padded = b.get(i) == Some(&b' ');
    if padded {
        i += 1;
    }
    let day_at = i;
    let mut day = digit(b, i)?;
    i += 1;
    if let Some(d) = digit(b, i) {
        day = day * 10 + d;
        i += 1;
    }
    let two_digits = i - day_at == 2;
    let rfc_day = if padded {
        !two_digits
    } else {
        two_digits && b.get(day_at) != Some(&b'0')
    };
    if !rfc_day {
        note(&mut quirk, day_at);
    }
    expect(b, i, b' ')?;
    i += 1;
    let year = match number(b, i, 4) {
        Some(year) if b.get(i + 4) == Some(&b' ') => {
            note(&mut quirk, i);
            i += 5;
            Some(year as i32)
        }
        _ => None,
    };
    // Any fraction is a quirk in BSD; its start is the leftmost deviation, so the clock's own
    // notes (7+ digits) do not matter here.
    let (h, m, s, nanos, end) = clock(b, i, &mut None)?;
    if end != i + 8 {
        note(&mut quirk, i + 8);
    }
    if !at_boundary(b, end) {
        return None;
    }
    let offset = opts.default_offset;
    let clock = (h, m, s, nanos);
    let value = match year {
        Some(year) => build(date(year, month, day), clock, offset),
        None => nearest_year(month, day, clock, opts),
    };
    Some(Scanned { end, value, quirk })
}

/// The instant on `month`/`day` at `clock` nearest to `opts.now`, trying last, this and next
/// year (this year measured in `opts.default_offset`). A Dec 31 message read on Jan 1 gets last
/// year; Feb 29 picks the nearest leap year among the three, or nothing.
fn nearest_year(
    month: u32,
    day: u32,
    clock: (u8, u8, u8, u32),
    opts: &ParseOptions,
) -> Option<OffsetDateTime> {
    // Nearly every message is stamped within days of its arrival: a date within 180 days of
    // today's (both in the offset, so the clock moves the instant by under a day either way) is
    // this year's without two instants built and measured for it (~100 instructions of every
    // RFC 3164 message).
    let now = opts.now;
    // The date alone, and the conversion only when the offsets differ: copying the whole
    // OffsetDateTime out of `checked_to_offset` stalled on its just-written parts (store
    // forwarding), a tenth of the header's time in perf.
    let today = if now.offset() == opts.default_offset {
        now.date()
    } else {
        now.checked_to_offset(opts.default_offset)
            .map_or(now.date(), |today| today.date())
    };
    if let Some(date) = date(today.year(), month, day) {
        if date.ordinal().abs_diff(today.ordinal()) <= 180 {
            return build(Some(date), clock, opts.default_offset);
        }
    }
    nearest_of_three_years(month, day, clock, opts)
}

/// [`nearest_year`] worked out in full: the instant on `month`/`day` at `clock` in last, this and
/// next year, nearest to `opts.now`.
fn nearest_of_three_years(
    month: u32,
    day: u32,
    clock: (u8, u8, u8, u32),
    opts: &ParseOptions,
) -> Option<OffsetDateTime> {
    /// Within half a year of `now`, no other year can be nearer.
    const HALF_YEAR_SECS: i64 = 182 * 86_400;
    let offset = opts.default_offset;
    let now = opts.now;
    let this_year = now.checked_to_offset(offset).unwrap_or(now).year();
    let at = |year: i32| build(date(year, month, day), clock, offset);
    let distance = |t: &OffsetDateTime| (t.unix_timestamp() - now.unix_timestamp()).abs();
    if let Some(t) = at(this_year) {
        if distance(&t) <= HALF_YEAR_SECS {
            return Some(t);
        }
    }
    [this_year - 1, this_year, this_year + 1]
        .into_iter()
        .filter_map(at)
        .min_by_key(distance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    fn opts() -> ParseOptions {
        ParseOptions::new(datetime!(2024-06-15 12:00 UTC))
    }

    #[test]
    fn rfc3339_with_nanosecond_fraction_and_offset() {
        let s = b"2021-10-27T19:21:00.123456789-07:00 x";
        let t = rfc3339(s, 0, &opts()).unwrap();
        assert_eq!(t.end, 35);
        assert_eq!(
            t.value,
            Some(datetime!(2021-10-27 19:21:00.123456789 -07:00))
        );
        assert_eq!(t.quirk, Some(26));
    }

    #[test]
    fn rfc3339_short_fraction_is_scaled() {
        let t = rfc3339(b"2021-10-27T19:21:00.5Z", 0, &opts()).unwrap();
        assert_eq!(t.value, Some(datetime!(2021-10-27 19:21:00.5 UTC)));
        assert_eq!(t.quirk, None);
    }

    #[test]
    fn rfc3339_without_offset_uses_default_offset() {
        let o = opts().with_default_offset(offset!(+2));
        let t = rfc3339(b"2021-10-27T19:21:00", 0, &o).unwrap();
        assert_eq!(t.value, Some(datetime!(2021-10-27 19:21:00 +2)));
        assert_eq!(t.quirk, Some(19));
    }

    #[test]
    fn rfc3339_impossible_date_matches_without_value() {
        let t = rfc3339(b"2021-02-30T19:21:00Z", 0, &opts()).unwrap();
        assert_eq!(t.value, None);
        assert_eq!(t.end, 20);
    }

    #[test]
    fn rfc3339_must_end_at_space() {
        assert_eq!(rfc3339(b"2021-02-03T19:21:00Zx", 0, &opts()), None);
        assert_eq!(rfc3339(b"2021-02-03T19:21:00.Z", 0, &opts()), None);
    }

    #[test]
    fn bsd_day_forms() {
        for (s, quirk) in [
            (&b"Nov  2 10:00:00"[..], None),
            (b"Nov 12 10:00:00", None),
            (b"Nov 02 10:00:00", Some(4)),
            (b"Nov 2 10:00:00", Some(4)),
        ] {
            let t = bsd(s, 0, &opts()).unwrap();
            assert_eq!(t.quirk, quirk, "{}", String::from_utf8_lossy(s));
            assert_eq!(t.end, s.len());
        }
    }

    #[test]
    fn bsd_with_year_and_millis() {
        let t = bsd(b"Nov 22 2026 10:00:00.345 x", 0, &opts()).unwrap();
        assert_eq!(t.value, Some(datetime!(2026-11-22 10:00:00.345 UTC)));
        assert_eq!(t.quirk, Some(7));
        assert_eq!(t.end, 24);
    }

    #[test]
    fn bsd_year_inference_dec_31_read_on_jan_1_is_last_year() {
        let o = ParseOptions::new(datetime!(2025-01-01 00:00:30 UTC));
        let t = bsd(b"Dec 31 23:59:59", 0, &o).unwrap();
        assert_eq!(t.value, Some(datetime!(2024-12-31 23:59:59 UTC)));
    }

    #[test]
    fn bsd_year_inference_jan_1_read_on_dec_31_is_next_year() {
        let o = ParseOptions::new(datetime!(2024-12-31 23:59:00 UTC));
        let t = bsd(b"Jan  1 00:00:10", 0, &o).unwrap();
        assert_eq!(t.value, Some(datetime!(2025-01-01 00:00:10 UTC)));
    }

    #[test]
    fn bsd_year_inference_uses_default_offset_for_the_year() {
        // 2024-12-31 23:30 UTC is already 2025 in +02:00.
        let o = ParseOptions::new(datetime!(2024-12-31 23:30 UTC)).with_default_offset(offset!(+2));
        let t = bsd(b"Jan  1 01:00:00", 0, &o).unwrap();
        assert_eq!(t.value, Some(datetime!(2025-01-01 01:00:00 +2)));
    }

    #[test]
    fn bsd_feb_29_picks_nearest_leap_year_or_none() {
        let o = ParseOptions::new(datetime!(2025-01-10 00:00 UTC));
        assert_eq!(
            bsd(b"Feb 29 10:00:00", 0, &o).unwrap().value,
            Some(datetime!(2024-02-29 10:00:00 UTC))
        );
        let o = ParseOptions::new(datetime!(2022-06-10 00:00 UTC));
        let t = bsd(b"Feb 29 10:00:00", 0, &o).unwrap();
        assert_eq!(t.value, None);
        assert_eq!(t.end, 15);
    }

    #[test]
    fn month_abbreviations_round_trip_in_any_case_and_nothing_else_matches() {
        for number in 1..=12u8 {
            let month = Month::try_from(number).unwrap();
            let name = month_abbreviation(month);
            assert_eq!(month_from_abbreviation(name.as_bytes()), Some(month));
            let upper = name.to_ascii_uppercase();
            assert_eq!(month_from_abbreviation(upper.as_bytes()), Some(month));
        }
        for other in [&b"Foo"[..], b"June", b"Ju", b"", b"N\xc3\xb6v"] {
            assert_eq!(month_from_abbreviation(other), None, "{other:?}");
        }
    }

    proptest::proptest! {
        /// The shortcut for dates near today never picks another year than the full reckoning.
        #[test]
        fn the_shortcut_agrees_with_trying_three_years(
            now in -2_000_000_000i64..4_000_000_000,
            offset_minutes in -23 * 60i16..=23 * 60,
            month in 1u32..=12,
            day in 1u32..=31,
            clock in (0u8..24, 0u8..60, 0u8..60, 0u32..1_000_000_000),
        ) {
            let offset = UtcOffset::from_whole_seconds(i32::from(offset_minutes) * 60).unwrap();
            let now = OffsetDateTime::from_unix_timestamp(now).unwrap();
            let opts = ParseOptions::new(now).with_default_offset(offset);
            proptest::prop_assert_eq!(
                nearest_year(month, day, clock, &opts),
                nearest_of_three_years(month, day, clock, &opts)
            );
        }
    }

    /// Texts that share prefixes, ends and quirks, so that a remembered scan is often asked
    /// about a text that differs from it in one place only.
    fn timestamp_text() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let rfc3339 = (
            prop_oneof![Just("2021-10-27"), Just("2021-02-30"), Just("2024-02-29")],
            prop_oneof![Just("T"), Just("t")],
            prop_oneof![Just("19:21:00"), Just("19:21:01"), Just("25:00:00")],
            prop_oneof![
                Just(""),
                Just(".5"),
                Just(".123"),
                Just(".1234567"),
                Just(".")
            ],
            prop_oneof![
                Just("Z"),
                Just("z"),
                Just("+01:00"),
                Just("-0700"),
                Just("")
            ],
        )
            .prop_map(|(d, t, c, f, o)| format!("{d}{t}{c}{f}{o}"));
        let bsd = (
            prop_oneof![
                Just("Nov"),
                Just("nov"),
                Just("Feb"),
                Just("Dec"),
                Just("Jan")
            ],
            prop_oneof![
                Just(" 29"),
                Just("  2"),
                Just(" 02"),
                Just(" 31"),
                Just(" 1")
            ],
            prop_oneof![Just(""), Just(" 2026")],
            prop_oneof![Just(" 10:00:00"), Just(" 23:59:59"), Just(" 10:00:00.345")],
        )
            .prop_map(|(m, d, y, c)| format!("{m}{d}{y}{c}"));
        (
            prop_oneof![rfc3339, bsd],
            prop_oneof![Just(""), Just(" x"), Just("x"), Just("0"), Just(":")],
        )
            .prop_map(|(text, after)| format!("{text}{after}").into_bytes())
    }

    proptest::proptest! {
        /// What the thread remembers never changes a scan: a run of texts, each scanned at an
        /// offset, under options that change now and then, gives what scanning each afresh gives.
        #[test]
        fn a_remembered_timestamp_scans_as_a_fresh_scan(
            runs in proptest::collection::vec(
                (timestamp_text(), 0usize..3, 0usize..4, -1i32..=1),
                1..40,
            ),
        ) {
            let nows = [
                datetime!(2024-06-15 12:00 UTC),
                datetime!(2024-06-15 12:00:00.9 UTC),
                datetime!(2024-06-15 12:00:01 UTC),
                datetime!(2025-01-01 00:00 UTC),
            ];
            for (text, start, now, offset_hours) in runs {
                let mut input = vec![b' '; start];
                input.extend_from_slice(&text);
                let offset = UtcOffset::from_hms(offset_hours as i8, 0, 0).unwrap();
                let opts = ParseOptions::new(nows[now]).with_default_offset(offset);
                proptest::prop_assert_eq!(
                    rfc3339(&input, start, &opts),
                    scan_rfc3339(&input, start, &opts),
                    "{:?}", String::from_utf8_lossy(&input)
                );
                proptest::prop_assert_eq!(
                    bsd(&input, start, &opts),
                    scan_bsd(&input, start, &opts),
                    "{:?}", String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn a_remembered_timestamp_needs_a_boundary_after_it_and_the_same_year_reference() {
        let opts = opts();
        assert!(bsd(b"Nov 22 10:00:00 host", 0, &opts).is_some());
        assert_eq!(bsd(b"Nov 22 10:00:00x", 0, &opts), None);
        assert!(rfc3339(b"2021-10-27T19:21:00 x", 0, &opts).is_some());
        assert_eq!(
            rfc3339(b"2021-10-27T19:21:00.5Z", 0, &opts).unwrap().end,
            22
        );
        // A Dec 31 stamp read on Jan 1 is last year's; read a year later, the year moves too.
        let new_year = ParseOptions::new(datetime!(2025-01-01 00:00 UTC));
        let year_after = ParseOptions::new(datetime!(2026-01-01 00:00 UTC));
        let dec_31 = b"Dec 31 23:59:59";
        assert_eq!(
            bsd(dec_31, 0, &new_year).unwrap().value,
            Some(datetime!(2024-12-31 23:59:59 UTC))
        );
        assert_eq!(
            bsd(dec_31, 0, &year_after).unwrap().value,
            Some(datetime!(2025-12-31 23:59:59 UTC))
        );
    }

    #[test]
    fn rfc3339_date_rejects_any_non_digit_or_separator() {
        for at in 0..10 {
            for bad in [b'/', b'x', 0xff] {
                let mut stamp = *b"2021-10-27T19:21:00Z";
                stamp[at] = bad;
                assert_eq!(rfc3339(&stamp, 0, &opts()), None, "{bad:#04x} at {at}");
            }
        }
        assert_eq!(rfc3339(b"2021-10-2", 0, &opts()), None);
    }

    #[test]
    fn clock_rejects_any_non_digit_without_overflowing() {
        // The digits are checked with a wrapping subtraction; a byte that is no digit must be
        // refused before it is multiplied (found by fuzzing: `Jul 81 \x1a:...`).
        for bad in [0u8, b'/', b':', b'x', 0x1a, 0xff] {
            for at in [0, 1, 3, 4, 6, 7] {
                let mut clock = *b"10:00:00";
                clock[at] = bad;
                assert_eq!(
                    super::clock(&clock, 0, &mut None),
                    None,
                    "{bad:#04x} at {at}"
                );
            }
        }
        assert_eq!(
            super::clock(b"23:59:60", 0, &mut None),
            Some((23, 59, 60, 0, 8))
        );
    }

    #[test]
    fn bsd_rejects_non_month_and_trailing_garbage() {
        assert_eq!(bsd(b"Foo 22 10:00:00", 0, &opts()), None);
        assert_eq!(bsd(b"Nov 22 10:00:00x", 0, &opts()), None);
        assert_eq!(bsd(b"Nov 22 10:00", 0, &opts()), None);
        assert_eq!(bsd(b"No", 0, &opts()), None);
    }
}
