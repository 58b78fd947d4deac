//! PAN-OS times as CEF's `$cef-formatted-…` values: `MMM dd yyyy HH:mm:ss GMT`, in UTC.
//!
//! The CSV's receive and generated times (`2024/05/08 01:10:31`) are the firewall's local time
//! without a zone; CDL writes ISO times with a zone (`2021-10-22T16:10:10.000000Z`), and PAN-OS
//! 10+ adds a high-resolution timestamp with the firewall's offset (`…T01:10:31.440-07:00`).

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// A PAN-OS time: its local date and time and, when it says so, its offset from UTC.
struct PanosTime {
    local: PrimitiveDateTime,
    offset: Option<UtcOffset>,
}

/// The offset a PAN-OS time carries (`…-07:00`, `…+0100`, `…Z`); `None` when it has none or is
/// not a time.
pub(super) fn offset_of(text: &str) -> Option<UtcOffset> {
    parse(text)?.offset
}

/// Appends `text` (a PAN-OS time) in UTC as `MMM dd yyyy HH:mm:ss GMT`, placing a time without
/// an offset of its own at `offset`. Returns `false`, appending nothing, when `text` is not a time.
pub(super) fn write_cef_time(text: &str, offset: UtcOffset, out: &mut String) -> bool {
    let Some(time) = parse(text) else {
        return false;
    };
    let utc = time
        .local
        .assume_offset(time.offset.unwrap_or(offset))
        .to_offset(UtcOffset::UTC);
    out.push_str(MONTHS[usize::from(u8::from(utc.month())) - 1]);
    out.push(' ');
    push_two_digits(out, utc.day());
    out.push(' ');
    push_year(out, utc.year());
    out.push(' ');
    push_two_digits(out, utc.hour());
    out.push(':');
    push_two_digits(out, utc.minute());
    out.push(':');
    push_two_digits(out, utc.second());
    out.push_str(" GMT");
    true
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `YYYY/MM/DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, then optional fractions and zone.
fn parse(text: &str) -> Option<PanosTime> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u16> {
        let digits = bytes.get(range)?;
        digits.iter().try_fold(0u16, |total, digit| {
            digit
                .is_ascii_digit()
                .then(|| total * 10 + u16::from(digit - b'0'))
        })
    };
    let separators_ok = matches!(bytes.get(4), Some(b'/' | b'-'))
        && bytes.get(7) == bytes.get(4)
        && matches!(bytes.get(10), Some(b' ' | b'T'))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let month = Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    let date = Date::from_calendar_date(i32::from(number(0..4)?), month, day).ok()?;
    let [hour, minute, second] = [11..13, 14..16, 17..19]
        .map(|range| number(range).and_then(|value| u8::try_from(value).ok()));
    let time = Time::from_hms(hour?, minute?, second?).ok()?;
    Some(PanosTime {
        local: PrimitiveDateTime::new(date, time),
        offset: zone(&text[19..])?,
    })
}

/// What follows the seconds: optional `.fraction`, then nothing, `Z`, `±HH:MM` or `±HHMM`.
/// The outer `None` means it is none of these.
fn zone(rest: &str) -> Option<Option<UtcOffset>> {
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if rest.is_empty() {
        return Some(None);
    }
    if rest == "Z" {
        return Some(Some(UtcOffset::UTC));
    }
    let sign: i8 = match rest.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = rest[1..].replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i8 = digits[..2].parse().ok()?;
    let minutes: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * hours, sign * minutes, 0)
        .ok()
        .map(Some)
}

fn push_two_digits(out: &mut String, value: u8) {
    out.push(char::from(b'0' + value / 10));
    out.push(char::from(b'0' + value % 10));
}

/// PAN-OS years have four digits (`Date` allows -9999 to 9999; negative years are not PAN-OS's).
fn push_year(out: &mut String, year: i32) {
    let year = u16::try_from(year).unwrap_or_default();
    push_two_digits(out, u8::try_from(year / 100).unwrap_or_default());
    push_two_digits(out, u8::try_from(year % 100).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cef_time(text: &str, offset: UtcOffset) -> Option<String> {
        let mut out = String::new();
        write_cef_time(text, offset, &mut out).then_some(out)
    }

    #[test]
    fn csv_local_time_is_placed_at_the_given_offset() {
        let pdt = UtcOffset::from_hms(-7, 0, 0).unwrap();
        assert_eq!(
            cef_time("2024/05/08 01:10:31", pdt).as_deref(),
            Some("May 08 2024 08:10:31 GMT")
        );
        assert_eq!(
            cef_time(
                "2024/12/31 23:59:59",
                UtcOffset::from_hms(-1, 0, 0).unwrap()
            )
            .as_deref(),
            Some("Jan 01 2025 00:59:59 GMT")
        );
    }

    #[test]
    fn a_time_with_its_own_zone_ignores_the_given_offset() {
        let far = UtcOffset::from_hms(9, 0, 0).unwrap();
        assert_eq!(
            cef_time("2021-10-22T16:10:10.000000Z", far).as_deref(),
            Some("Oct 22 2021 16:10:10 GMT")
        );
        assert_eq!(
            cef_time("2021-10-26T15:05:03.440-07:00", far).as_deref(),
            Some("Oct 26 2021 22:05:03 GMT")
        );
        assert_eq!(
            cef_time("2021-10-26T15:05:03+0530", far).as_deref(),
            Some("Oct 26 2021 09:35:03 GMT")
        );
    }

    #[test]
    fn offsets_come_from_high_resolution_timestamps() {
        assert_eq!(
            offset_of("1970-01-01T01:00:00.000+01:00"),
            Some(UtcOffset::from_hms(1, 0, 0).unwrap())
        );
        assert_eq!(offset_of("2024/05/08 01:10:31"), None);
        assert_eq!(offset_of(""), None);
    }

    #[test]
    fn what_is_not_a_time_is_refused() {
        for text in [
            "",
            "0",
            "2024/13/08 01:10:31",
            "2024/05/08 25:10:31",
            "2024/05-08 01:10:31",
        ] {
            assert_eq!(cef_time(text, UtcOffset::UTC), None, "{text}");
        }
        assert_eq!(cef_time("2024/05/08 01:10:31 PDT", UtcOffset::UTC), None);
    }
}
