//! A generated record and the writer that builds it in PAN-OS key order.

use std::fmt::{self, Write as _};

use super::header::{decimal_len, write_decimal, SyslogHeader};

/// Syslog facility local4, which PAN-OS syslog profiles commonly use (and `logger -p local4.*`).
pub(super) const FACILITY_LOCAL4: u8 = 20;

/// One generated CEF record, kept in two halves around its `externalId` value.
#[derive(Debug, Clone)]
pub struct Record {
    /// Syslog PRI (facility local4 and a severity that follows the log's own severity).
    pub pri: u8,
    /// From `CEF:0|` up to and including `externalId=`.
    before_id: String,
    /// The rest of the extension after the id (may be empty).
    after_id: String,
}

impl Record {
    /// Bytes of the syslog line [`Record::write_line`] appends, without any framing.
    pub fn line_len(&self, header: &SyslogHeader, marker: &str, n: u64) -> usize {
        header.len(self.pri)
            + self.before_id.len()
            + marker.len()
            + 1
            + decimal_len(n)
            + self.after_id.len()
    }

    /// Appends the whole syslog line (no trailing LF) whose `externalId` is `MARKER-n`.
    pub fn write_line(&self, header: &SyslogHeader, marker: &str, n: u64, out: &mut Vec<u8>) {
        header.write(self.pri, out);
        out.extend_from_slice(self.before_id.as_bytes());
        out.extend_from_slice(marker.as_bytes());
        out.push(b'-');
        write_decimal(n, out);
        out.extend_from_slice(self.after_id.as_bytes());
    }
}

/// Writes a CEF record in PAN-OS order and remembers where the `externalId` value goes.
pub(super) struct CefWriter {
    text: String,
    id_at: Option<usize>,
    first_key: bool,
}

impl CefWriter {
    /// The header; `severity` is `None` for the GlobalProtect template, which has no such field.
    pub(super) fn new(version: &str, class_id: &str, name: &str, severity: Option<&str>) -> Self {
        let mut text = String::with_capacity(1600);
        text.push_str("CEF:0|Palo Alto Networks|PAN-OS|");
        for field in [version, class_id, name].into_iter().chain(severity) {
            text.push_str(field);
            text.push('|');
        }
        CefWriter {
            text,
            id_at: None,
            first_key: true,
        }
    }

    /// ` key=value`, written as PAN-OS does: nothing escaped.
    pub(super) fn kv(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        if !self.first_key {
            self.text.push(' ');
        }
        self.first_key = false;
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{key}={value}");
        self
    }

    /// `externalId=` ($seqno in the templates), where the sender puts the message's marker.
    pub(super) fn external_id(&mut self) -> &mut Self {
        self.kv("externalId", "");
        self.id_at = Some(self.text.len());
        self
    }

    pub(super) fn finish(mut self, syslog_severity: u8) -> Record {
        // A template without externalId (GlobalProtect) gets it at the end: every generated
        // message must carry its marker so that receivers can count them exactly.
        let at = match self.id_at {
            Some(at) => at,
            None => {
                self.external_id();
                self.text.len()
            }
        };
        let after_id = self.text.split_off(at);
        Record {
            pri: FACILITY_LOCAL4 * 8 + syslog_severity,
            before_id: self.text,
            after_id,
        }
    }
}

/// PAN-OS `$number-of-severity` (1 informational … 5 critical) as a syslog severity.
pub(super) fn syslog_severity(pan_severity: u64) -> u8 {
    match pan_severity {
        5 => 2, // critical
        4 => 3, // error
        3 => 4, // warning
        2 => 5, // notice
        _ => 6, // informational
    }
}

/// Syslog severity "informational", for logs whose template has a fixed severity of 1.
pub(super) const INFORMATIONAL: u8 = 6;
