#![forbid(unsafe_code)]
//! What cefrelay knows about PAN-OS firewalls, with no I/O: functions on `&str` and data tables.
//!
//! * [`looks_like_csv`]: whether a syslog MSG is in PAN-OS's default CSV format rather than CEF.
//! * [`sourcetype`]: the Splunk add-on sourcetype of a PAN-OS log type, a CEF header or a CSV
//!   message.
//! * [`generate`]: realistic PAN-OS CEF records for `cefrelay send` and the benchmarks.
//! * [`log`]: a PAN-OS log by type and named columns; [`csv`] parses one from the firewall's
//!   default CSV, [`to_cef`] turns it into the CEF the firewall would send.
//! * [`cef_header`]: the log type of a PAN-OS CEF record, from its header.
//! * [`mitre`]: the alert type and MITRE ATT&CK technique of a threat log, from a mapping table.

pub mod cef_header;
pub mod csv;
pub mod generate;
pub mod log;
pub mod mitre;
pub mod sourcetype;
pub mod to_cef;

/// PAN-OS's default (non-CEF) format: CSV whose first fields are a number, a date, the serial
/// and the type (`1,2026/11/22 10:00:00,0123456789,TRAFFIC,…`), or Strata's without the number
/// (`2026-11-22T…Z,no-serial,TRAFFIC,…`), or one of the other layouts [`csv`] recognises,
/// possibly behind a relay's second syslog header.
pub fn looks_like_csv(message: &str) -> bool {
    csv::is_panos_csv(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panos_csv_is_recognised() {
        assert!(looks_like_csv(
            "1,2012/04/10 04:39:55,001606000003,SYSTEM,general,0"
        ));
        assert!(looks_like_csv(
            "2021-10-22T16:10:10.000000Z,no-serial,TRAFFIC,end"
        ));
        assert!(!looks_like_csv("CEF:0|Palo Alto Networks|PAN-OS|"));
        assert!(!looks_like_csv("a,b,c"));
        assert!(!looks_like_csv("1,2012/04/10 04:39:55"));
        assert!(!looks_like_csv(""));
    }
}
