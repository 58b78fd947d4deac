//! A PAN-OS log as the relay understands it: its type and its columns, named by PAN-OS's own
//! format variables (the names an admin writes after `$` in a custom log format: `src`, `natsrc`,
//! `rule`, `sessionid`, …). Parsed from the firewall's default CSV by [`crate::csv`].

mod split;

pub use split::split;

use std::borrow::Cow;
use std::cell::OnceCell;

/// The PAN-OS log types, from the CSV `type` column or the CEF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogType {
    /// `TRAFFIC`
    Traffic,
    /// `THREAT`, including URL Filtering, Data Filtering and WildFire submissions (by subtype).
    Threat,
    /// `CONFIG`
    Config,
    /// `SYSTEM`
    System,
    /// `HIPMATCH` (the docs write `HIP-MATCH`).
    HipMatch,
    /// `GLOBALPROTECT` (PAN-OS 9.1.3+).
    GlobalProtect,
    /// `USERID`
    UserId,
    /// `AUTHENTICATION` (Strata/CDL writes `AUTH`).
    Authentication,
    /// `DECRYPTION` (10.0+).
    Decryption,
    /// Tunnel inspection: the type column itself holds `START` or `END`.
    Tunnel,
    /// `IPTAG`
    IpTag,
    /// `CORRELATION`
    Correlation,
    /// `SCTP`
    Sctp,
    /// `GTP`
    Gtp,
    /// `audit` (10.2+), a layout of its own.
    Audit,
}

impl LogType {
    /// Every type, in declaration order.
    pub const ALL: [LogType; 15] = [
        LogType::Traffic,
        LogType::Threat,
        LogType::Config,
        LogType::System,
        LogType::HipMatch,
        LogType::GlobalProtect,
        LogType::UserId,
        LogType::Authentication,
        LogType::Decryption,
        LogType::Tunnel,
        LogType::IpTag,
        LogType::Correlation,
        LogType::Sctp,
        LogType::Gtp,
        LogType::Audit,
    ];

    /// The type a CSV type column or a CEF header names (`AUTH` → Authentication, `START` and
    /// `END` → Tunnel, `HIP-MATCH` → HipMatch); `None` for one we do not know.
    pub fn from_name(type_text: &str) -> Option<LogType> {
        Some(match type_text {
            "TRAFFIC" => LogType::Traffic,
            "THREAT" => LogType::Threat,
            "CONFIG" => LogType::Config,
            "SYSTEM" => LogType::System,
            "HIPMATCH" | "HIP-MATCH" => LogType::HipMatch,
            "GLOBALPROTECT" => LogType::GlobalProtect,
            "USERID" => LogType::UserId,
            "AUTHENTICATION" | "AUTH" => LogType::Authentication,
            "DECRYPTION" => LogType::Decryption,
            "START" | "END" => LogType::Tunnel,
            "IPTAG" => LogType::IpTag,
            "CORRELATION" => LogType::Correlation,
            "SCTP" => LogType::Sctp,
            "GTP" => LogType::Gtp,
            _ => return None,
        })
    }

    /// The name PAN-OS writes in CEF's Name field and the CSV type column (`TRAFFIC`, …);
    /// tunnel inspection's is `TUNNEL` here, though its lines say `START` or `END`.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Traffic => "TRAFFIC",
            LogType::Threat => "THREAT",
            LogType::Config => "CONFIG",
            LogType::System => "SYSTEM",
            LogType::HipMatch => "HIPMATCH",
            LogType::GlobalProtect => "GLOBALPROTECT",
            LogType::UserId => "USERID",
            LogType::Authentication => "AUTHENTICATION",
            LogType::Decryption => "DECRYPTION",
            LogType::Tunnel => "TUNNEL",
            LogType::IpTag => "IPTAG",
            LogType::Correlation => "CORRELATION",
            LogType::Sctp => "SCTP",
            LogType::Gtp => "GTP",
            LogType::Audit => "AUDIT",
        }
    }
}

/// The column names of one log type in one range of PAN-OS versions, in CSV order.
#[derive(Debug, PartialEq, Eq)]
pub struct Schema {
    /// The log type these columns are for.
    pub log_type: LogType,
    /// The PAN-OS versions this column list is for, as written in the docs ("10.0+", …).
    pub versions: &'static str,
    /// Every column, by PAN-OS format variable (or, where PAN-OS has none, the snake_case of the
    /// documented field name: see the crate docs' table).
    pub names: &'static [&'static str],
    /// Indices into `names` sorted by name, equal names in CSV order: [`Self::position`] is a
    /// binary search, because the CEF conversion looks up some 60 names per line in lists of up
    /// to 130.
    by_name: &'static [u16],
}

impl Schema {
    /// A schema whose `by_name` is `names`' indices sorted by name (see
    /// [`crate::csv`]'s `schema!`, which computes it at compile time).
    pub(crate) const fn new(
        log_type: LogType,
        versions: &'static str,
        names: &'static [&'static str],
        by_name: &'static [u16],
    ) -> Self {
        Schema {
            log_type,
            versions,
            names,
            by_name,
        }
    }

    /// The column that holds `name`; the first one where several share it (`future_use`).
    pub fn position(&self, name: &str) -> Option<usize> {
        let first = self
            .by_name
            .partition_point(|&index| self.names[usize::from(index)] < name);
        let index = usize::from(*self.by_name.get(first)?);
        (self.names[index] == name).then_some(index)
    }
}

/// One parsed PAN-OS log line. Values borrow from the line; only a quoted value with doubled
/// quotes (`""`) is copied, to unescape it.
#[derive(Debug, Clone, PartialEq)]
pub struct Log<'a> {
    /// `None` when the type column holds a type we do not know: the columns are then unnamed.
    pub log_type: Option<LogType>,
    /// The type column as sent (`AUTH`, `START`, `HIP-MATCH`, …).
    pub type_text: &'a str,
    /// The subtype column as sent (`end`, `url`, `login`, `0`, …).
    pub subtype: &'a str,
    /// The config version column as sent (2049 = 8.1 … 2818 = 11.2; CDL writes `9.1`); empty
    /// when the layout has none.
    pub version: &'a str,
    /// The serial number column as sent (empty on some Panorama logs, `no-serial` from Strata).
    pub serial: &'a str,
    /// The column names that apply, `None` for an unknown type.
    pub schema: Option<&'static Schema>,
    /// [`Self::values`], split from `record` when first asked for: the fields above come from
    /// the first columns, read apart, and a log that the agent's filter drops by its type (the
    /// CEF header of a TRAFFIC log needs no other column) is never split (~5 000 instructions).
    pub(crate) values: OnceCell<Vec<Cow<'a, str>>>,
    /// The CSV record the values are split from: most of them are slices of it.
    pub record: &'a str,
}

impl<'a> Log<'a> {
    /// Every column in CSV order; those past the schema's names are [`Self::extra`].
    pub fn values(&self) -> &[Cow<'a, str>] {
        self.values.get_or_init(|| split(self.record))
    }

    /// This log with `values` for its columns instead of its record's (the same log with its
    /// values copied, to compare).
    pub fn with_values(mut self, values: Vec<Cow<'a, str>>) -> Self {
        self.values = OnceCell::from(values);
        self
    }

    /// The value of the column PAN-OS names `name` (`src`, `rule`, …); `None` when this type has
    /// no such column or the line was too short to carry it.
    pub fn get(&self, name: &str) -> Option<&str> {
        let index = self.schema?.position(name)?;
        self.values().get(index).map(|value| value.as_ref())
    }

    /// Named columns, in CSV order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        let names = self.schema.map_or(&[][..], |schema| schema.names);
        names
            .iter()
            .zip(self.values())
            .map(|(n, v)| (*n, v.as_ref()))
    }

    /// Columns the schema does not name: a newer PAN-OS's additions, or every column of an
    /// unknown type.
    pub fn extra(&self) -> &[Cow<'a, str>] {
        let named = self.schema.map_or(0, |schema| schema.names.len());
        self.values().get(named..).unwrap_or_default()
    }
}
