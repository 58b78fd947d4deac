//! The syslog header in front of each record, rendered once per time stamp.

use time::OffsetDateTime;

/// The syslog header in front of each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// `<PRI>Mmm dd hh:mm:ss HOST CEF:0|...`, as PAN-OS sends "BSD" syslog.
    Rfc3164,
    /// `<PRI>1 2026-01-01T12:00:00.000Z HOST - - - - CEF:0|...`, PAN-OS "IETF" syslog.
    Rfc5424,
}

/// Everything of a syslog header but the PRI, rendered once per time stamp so that each message
/// costs a copy, not a formatting call.
#[derive(Debug, Clone)]
pub struct SyslogHeader {
    format: HeaderFormat,
    hostname: String,
    /// From the `>` after the PRI to the space before the CEF record.
    after_pri: Vec<u8>,
}

pub(super) fn month_abbreviation(at: OffsetDateTime) -> &'static str {
    cefrelay_syslog::month_abbreviation(at.month())
}

impl SyslogHeader {
    /// A header for `hostname`, stamped with `now` (UTC: the RFC 3164 time stamp carries no zone,
    /// and UTC is what a receiver assumes by default).
    pub fn new(format: HeaderFormat, hostname: &str, now: OffsetDateTime) -> Self {
        let mut header = SyslogHeader {
            format,
            hostname: hostname.to_string(),
            after_pri: Vec::with_capacity(64),
        };
        header.set_time(now);
        header
    }

    /// Stamps the following messages with `now`.
    pub fn set_time(&mut self, now: OffsetDateTime) {
        let now = now.to_offset(time::UtcOffset::UTC);
        let text = match self.format {
            HeaderFormat::Rfc3164 => format!(
                ">{} {:>2} {:02}:{:02}:{:02} {} ",
                month_abbreviation(now),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                self.hostname
            ),
            HeaderFormat::Rfc5424 => format!(
                ">1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} - - - - ",
                now.year(),
                u8::from(now.month()),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                now.millisecond(),
                self.hostname
            ),
        };
        self.after_pri.clear();
        self.after_pri.extend_from_slice(text.as_bytes());
    }

    pub(super) fn len(&self, pri: u8) -> usize {
        1 + decimal_len(u64::from(pri)) + self.after_pri.len()
    }

    pub(super) fn write(&self, pri: u8, out: &mut Vec<u8>) {
        out.push(b'<');
        write_decimal(u64::from(pri), out);
        out.extend_from_slice(&self.after_pri);
    }
}

/// Number of decimal digits of `n`.
pub(super) fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// Appends `n` in decimal, without the formatting machinery (this runs once per message).
pub fn write_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
