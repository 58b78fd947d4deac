//! `[panos]`: what becomes of PAN-OS's default CSV format, and the firewalls' clock offsets that
//! its times need (they carry none).

use std::collections::HashMap;
use std::net::IpAddr;

use time::UtcOffset;

use super::limits;
use super::raw::{PanosCsv, RawPanos};
use super::validate::Validator;
use super::ConfigError;

#[derive(Debug, Clone, PartialEq)]
pub struct Panos {
    pub csv: PanosCsv,
    /// For CSV times without a zone, unless [`Self::offsets`] names the firewall.
    pub default_offset: UtcOffset,
    /// Offsets by firewall serial number or sender address.
    pub offsets: HashMap<FirewallId, UtcOffset>,
}

/// How `utc_offsets` names a firewall.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FirewallId {
    Serial(String),
    Address(IpAddr),
}

impl Default for Panos {
    fn default() -> Self {
        Panos {
            csv: PanosCsv::Convert,
            default_offset: UtcOffset::UTC,
            offsets: HashMap::new(),
        }
    }
}

impl Panos {
    /// The clock offset of the firewall with this serial that sent from `peer`.
    pub fn offset_for(&self, serial: &str, peer: IpAddr) -> UtcOffset {
        if self.offsets.is_empty() {
            return self.default_offset;
        }
        self.offsets
            .get(&FirewallId::Serial(serial.to_string()))
            .or_else(|| self.offsets.get(&FirewallId::Address(peer)))
            .copied()
            .unwrap_or(self.default_offset)
    }
}

/// `+HH:MM` or `-HH:MM` (`UTC` and `Z` for zero), as PAN-OS shows a time zone's offset.
pub fn parse_offset(text: &str) -> Result<UtcOffset, String> {
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(UtcOffset::UTC);
    }
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(text, &format)
        .map_err(|e| format!("`{text}` is not a UTC offset ({e}), e.g. +02:00"))
}

/// `[panos]`, validated.
pub fn validate(check: &Validator<'_>, raw: &RawPanos) -> Result<Panos, ConfigError> {
    let default_offset = match &raw.utc_offset {
        None => UtcOffset::UTC,
        Some(text) => parse_offset(text.get_ref())
            .map_err(|m| check.error("panos.utc_offset".into(), Some(text.span()), m))?,
    };
    let mut offsets = HashMap::new();
    if let Some(table) = &raw.utc_offsets {
        let error =
            |message: String| check.error("panos.utc_offsets".into(), Some(table.span()), message);
        let count = table.get_ref().len() as u64;
        if !limits::UTC_OFFSETS.range.contains(&count) {
            return Err(error(format!(
                "{count} firewalls is out of range: {}",
                limits::UTC_OFFSETS
            )));
        }
        for (firewall, offset) in table.get_ref() {
            let offset = parse_offset(offset).map_err(|m| error(format!("{firewall}: {m}")))?;
            let id = match firewall.parse::<IpAddr>() {
                Ok(address) => FirewallId::Address(address),
                Err(_) => FirewallId::Serial(firewall.clone()),
            };
            offsets.insert(id, offset);
        }
    }
    Ok(Panos {
        csv: raw.csv.unwrap_or(PanosCsv::Convert),
        default_offset,
        offsets,
    })
}
