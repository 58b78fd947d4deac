//! CEF timestamps, as `rt`, `start`, `end` and the other date fields carry them; [`parse`]
//! reads every form. Pure: the receive time that fills in a missing year is an argument.

use ::time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use cefrelay_syslog::month_from_abbreviation;

/// A CEF timestamp (specs §1.5): epoch milliseconds, or `MMM dd [yyyy] HH:mm:ss[.SSS] [zone]`.
/// The result is in UTC, with a four-digit year so that it formats as ISO 8601.
///
/// A year-less time takes the receiver's year, or the one before when that would put it more
/// than a day ahead (specs §2.6). A time without a zone is taken as UTC: nothing here knows the
/// device's zone, and PAN-OS writes its CEF times with `GMT` anyway (panos-formats.md §2.4).
/// Zone names other than UTC/GMT/Z (`PST`, `CET`, ...) are ambiguous and not converted.
pub fn parse(text: &str, received_at: OffsetDateTime) -> Option<OffsetDateTime> {
    let text = text.trim();
    let time = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text.parse().ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?
    } else {
        calendar_time(text, received_at)?
    };
    let utc = time.checked_to_offset(UtcOffset::UTC)?;
    (1..=9999).contains(&utc.year()).then_some(utc)
}

fn calendar_time(text: &str, received_at: OffsetDateTime) -> Option<OffsetDateTime> {
    let mut tokens = text.split_ascii_whitespace();
    let month = month_from_abbreviation(tokens.next()?.as_bytes())?;
    let day = digits(tokens.next()?, 1, 2)?;
    let mut token = tokens.next()?;
    let year = match digits(token, 4, 4) {
        Some(year) => {
            token = tokens.next()?;
            Some(i32::try_from(year).ok()?)
        }
        None => None,
    };
    let clock = clock(token)?;
    let offset = match tokens.next() {
        Some(zone) => zone_offset(zone)?,
        None => UtcOffset::UTC,
    };
    if tokens.next().is_some() {
        return None;
    }
    let day = u8::try_from(day).ok()?;
    let at = |year: i32| {
        let date = Date::from_calendar_date(year, month, day).ok()?;
        Some(PrimitiveDateTime::new(date, clock).assume_offset(offset))
    };
    match year {
        Some(year) => at(year),
        None => {
            let this_year = at(received_at.year())?;
            let limit = received_at.checked_add(Duration::DAY)?;
            if this_year > limit {
                at(received_at.year() - 1)
            } else {
                Some(this_year)
            }
        }
    }
}

/// A number written with `min..=max` ASCII digits.
fn digits(token: &str, min: usize, max: usize) -> Option<u32> {
    let ok = (min..=max).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| token.parse().ok()).flatten()
}

/// `HH:mm:ss` with an optional fraction of 1–9 digits.
fn clock(token: &str) -> Option<Time> {
    let (hms, fraction) = match token.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (token, None),
    };
    let mut parts = hms.split(':');
    let mut next = || u8::try_from(digits(parts.next()?, 2, 2)?).ok();
    let (hour, minute, second) = (next()?, next()?, next()?);
    if parts.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        Some(fraction) => {
            let value = digits(fraction, 1, 9)?;
            let scale = 10u32.checked_pow(u32::try_from(9 - fraction.len()).ok()?)?;
            value.checked_mul(scale)?
        }
        None => 0,
    };
    Time::from_hms_nano(hour, minute, second, nanos).ok()
}

/// `UTC`, `GMT`, `Z`, or a numeric offset, bare or after `GMT`/`UTC`: `+01:00`, `+0100`, `-7`.
fn zone_offset(zone: &str) -> Option<UtcOffset> {
    if matches!(zone, "UTC" | "GMT" | "Z") {
        return Some(UtcOffset::UTC);
    }
    let numeric = zone
        .strip_prefix("GMT")
        .or_else(|| zone.strip_prefix("UTC"))
        .unwrap_or(zone);
    let (sign, rest) = if let Some(rest) = numeric.strip_prefix('+') {
        (1, rest)
    } else {
        (-1, numeric.strip_prefix('-')?)
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((hours, minutes)) => (digits(hours, 1, 2)?, digits(minutes, 2, 2)?),
        None if rest.len() == 4 => (digits(rest.get(..2)?, 2, 2)?, digits(rest.get(2..)?, 2, 2)?),
        None => (digits(rest, 1, 2)?, 0),
    };
    // Real zones lie between -12:00 and +14:00; `UtcOffset` would take up to 25 hours.
    if hours > 14 {
        return None;
    }
    let hours = sign * i8::try_from(hours).ok()?;
    let minutes = sign * i8::try_from(minutes).ok()?;
    UtcOffset::from_hms(hours, minutes, 0).ok()
}

#[cfg(test)]
mod tests {
    use ::time::macros::datetime;

    use super::*;

    const RECEIVED_AT: OffsetDateTime = datetime!(2021-02-08 09:05:49.123 UTC);

    #[test]
    fn epoch_millis_and_calendar_forms_become_utc() {
        for (text, expected) in [
            ("Feb 08 2021 09:05:48", datetime!(2021-02-08 09:05:48 UTC)),
            (
                "Feb 8 2021 09:05:48 UTC",
                datetime!(2021-02-08 09:05:48 UTC),
            ),
            (
                "feb 08 09:05:48.123 Z",
                datetime!(2021-02-08 09:05:48.123 UTC),
            ),
            (
                "Feb 08 2021 09:05:48 -0700",
                datetime!(2021-02-08 16:05:48 UTC),
            ),
            (
                "Feb 08 2021 09:05:48 GMT-7",
                datetime!(2021-02-08 16:05:48 UTC),
            ),
            // Year-less and more than a day ahead of the receiver: last year's.
            ("Dec 31 23:00:00", datetime!(2020-12-31 23:00:00 UTC)),
            ("Feb 09 09:00:00", datetime!(2021-02-09 09:00:00 UTC)),
            ("0", datetime!(1970-01-01 00:00:00 UTC)),
        ] {
            assert_eq!(parse(text, RECEIVED_AT), Some(expected), "{text:?}");
        }
        for bad in [
            "",
            "99999999999999999999",
            "253402300800000",
            "Feb 08 2021",
            "Feb 08 2021 9:05:48",
            "Feb 08 2021 09:05:48 CET",
            "Feb 08 2021 09:05:48 GMT extra",
            "Foo 08 2021 09:05:48",
            "Feb 08 2021 24:00:00",
            "Feb 08 2021 09:05:48.1234567890",
            "Feb 08 2021 09:05:48 +25:00",
        ] {
            assert_eq!(parse(bad, RECEIVED_AT), None, "{bad:?}");
        }
    }
}
