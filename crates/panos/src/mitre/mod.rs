//! Threat classification of PAN-OS THREAT logs, as Sophos does it (issue 13, reference §6): the
//! alert type of a threat, and its MITRE ATT&CK technique or tactic from a [`Table`].
//!
//! * [`alert_type()`]: the `PanOSAlertType` of a threat, from `cat`, the class ID and
//!   `PanOSThreatCategory`.
//! * [`Table`]: the mapping table ([`Table::builtin`] ships `default.table`, whose header
//!   documents the line format; [`Table::parse`] reads an override file in the same format) and
//!   [`Table::classify`], which looks a [`Threat`] up step by step ([`Step`]).

mod alert_type;
mod table;

pub use alert_type::alert_type;
pub use table::{Classification, Step, Table, TableError};

/// What classification reads of a THREAT log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threat<'a> {
    /// The threat name as the firewall logs it, usually with its ID: `Name(12345)`.
    pub name: &'a str,
    /// `PanOSThreatCategory` (`thr_category` in CSV), e.g. `code-execution`, `dns-c2`.
    pub category: Option<&'a str>,
    /// The log subtype, e.g. `vulnerability`, `spyware`, `virus`.
    pub subtype: &'a str,
}

impl Threat<'_> {
    /// The threat ID: the number in the name's trailing parentheses, as PAN-OS writes
    /// `threatid`. `None` when the name has none, or an alert type's `(N)` replaced it.
    pub fn id(&self) -> Option<u64> {
        let inner = self.name.strip_suffix(')')?;
        // The digits before the `)`, read back from the end (`rsplit_once('(')` and a check of
        // each digit cost ~300 instructions a THREAT); parse alone would also accept a leading
        // `+`, which PAN-OS never writes.
        let digits_start = inner
            .bytes()
            .rposition(|byte| !byte.is_ascii_digit())
            .filter(|&open| inner.as_bytes()[open] == b'(')?
            + 1;
        inner[digits_start..].parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threat(name: &str) -> Threat<'_> {
        Threat {
            name,
            category: None,
            subtype: "vulnerability",
        }
    }

    #[test]
    fn id_is_the_trailing_number() {
        assert_eq!(
            threat("Virus.ramnit:lfjyaf.com(121569082)").id(),
            Some(121569082)
        );
        assert_eq!(threat("A (B) thing(58033)").id(), Some(58033));
        assert_eq!(threat("Fastflux:DOMAIN(N)").id(), None);
        assert_eq!(threat("No ID").id(), None);
        assert_eq!(threat("Signed(+5)").id(), None);
        assert_eq!(threat("Empty()").id(), None);
        assert_eq!(threat("(42)").id(), Some(42));
        assert_eq!(threat("Two (1) numbers(2)").id(), Some(2));
        assert_eq!(threat("Digits first 7(x1)").id(), None);
        assert_eq!(threat("Too large(18446744073709551616)").id(), None);
        assert_eq!(threat("42)").id(), None);
    }
}
