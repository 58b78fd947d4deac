//! The column names of every log type, per layout and PAN-OS version, built at compile time:
//! each type's columns after the common prefix are one list, and [`schema!`] joins a prefix to
//! it and sorts the names for [`Schema::position`].

mod identity;
mod management;
mod session;

use crate::log::{LogType, Schema};

/// Where the type column is, and what comes before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `FUTURE_USE,receive_time,serial,type,subtype,config_ver,time_generated,…`: the firewall's
    /// and Panorama's own CSV, and Cortex Data Lake's that keeps the first column.
    Firewall,
    /// Strata / Prisma Access CSV without the leading FUTURE_USE column: the type at index 2.
    Headless,
    /// GLOBALPROTECT on PAN-OS 9.1.0–9.1.2, with the sequence number and action flags inserted
    /// before the type (index 5).
    GlobalProtect912,
    /// `serial,time,audit,config_ver,subtype,admin,command,result` (10.2+).
    Audit,
}

impl Layout {
    /// The indices of the type, subtype, config version and serial columns.
    pub fn key_columns(self) -> KeyColumns {
        let (type_text, subtype, version, serial) = match self {
            Layout::Firewall => (3, 4, 5, 2),
            Layout::Headless => (2, 3, 4, 1),
            Layout::GlobalProtect912 => (5, 6, 7, 2),
            Layout::Audit => (2, 4, 3, 0),
        };
        KeyColumns {
            type_text,
            subtype,
            version,
            serial,
        }
    }
}

/// Column indices of the fields every [`crate::log::Log`] carries apart.
pub struct KeyColumns {
    /// The type column.
    pub type_text: usize,
    /// The subtype column.
    pub subtype: usize,
    /// The config version column.
    pub version: usize,
    /// The serial number column.
    pub serial: usize,
}

/// The columns before the type-specific ones, in the firewall's layout.
const FIREWALL_PREFIX: &[&str] = &[
    "future_use",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "config_ver",
    "time_generated",
];
/// Strata's: the same without the leading FUTURE_USE column.
const HEADLESS_PREFIX: &[&str] = &[
    "receive_time",
    "serial",
    "type",
    "subtype",
    "config_ver",
    "time_generated",
];

/// Panorama's device-group hierarchy, then the vsys and device names: a run most types share.
const DEVICE_GROUP: &[&str] = &[
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
];

/// IoT Device-ID of both ends (10.0+), in TRAFFIC, THREAT, DECRYPTION.
const DEVICE_ID: &[&str] = &[
    "src_category",
    "src_profile",
    "src_model",
    "src_vendor",
    "src_osfamily",
    "src_osversion",
    "src_host",
    "src_mac",
    "dst_category",
    "dst_profile",
    "dst_model",
    "dst_vendor",
    "dst_osfamily",
    "dst_osversion",
    "dst_host",
    "dst_mac",
];

/// The application's attributes (10.1+), at the end of the session logs.
const APP_ATTRIBUTES: &[&str] = &[
    "subcategory_of_app",
    "category_of_app",
    "technology_of_app",
    "risk_of_app",
    "characteristic_of_app",
    "container_of_app",
    "tunneled_app",
    "is_saas_of_app",
    "sanctioned_state_of_app",
];

/// The number of names in `parts` together.
const fn total_len(parts: &[&[&str]]) -> usize {
    let mut len = 0;
    let mut part = 0;
    while part < parts.len() {
        len += parts[part].len();
        part += 1;
    }
    len
}

/// `parts` joined into one array of `N` names (`N` = [`total_len`]).
const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut next = 0;
    let mut part = 0;
    while part < parts.len() {
        let mut index = 0;
        while index < parts[part].len() {
            names[next] = parts[part][index];
            next += 1;
            index += 1;
        }
        part += 1;
    }
    assert!(next == N, "N must be the total length of the parts");
    names
}

/// Byte-wise `a < b`, the order of `str`'s `Ord`, usable in a `const fn`.
const fn less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut index = 0;
    while index < a.len() && index < b.len() {
        if a[index] != b[index] {
            return a[index] < b[index];
        }
        index += 1;
    }
    a.len() < b.len()
}

/// The indices of `names` sorted by name, equal names in index order (insertion sort: stable,
/// and the lists are short and sorted once, by the compiler).
const fn sorted_by_name<const N: usize>(names: &[&str; N]) -> [u16; N] {
    assert!(N <= u16::MAX as usize, "too many columns for u16 indices");
    let mut order = [0u16; N];
    let mut index = 0;
    while index < N {
        order[index] = index as u16;
        index += 1;
    }
    let mut sorted = 1;
    while sorted < N {
        let mut at = sorted;
        while at > 0 && less(names[order[at] as usize], names[order[at - 1] as usize]) {
            let swap = order[at];
            order[at] = order[at - 1];
            order[at - 1] = swap;
            at -= 1;
        }
        sorted += 1;
    }
    order
}

/// A [`Schema`] of `$log_type` for `$versions` whose names are the `$part` lists joined.
macro_rules! schema {
    ($log_type:expr, $versions:literal, $($part:expr),+ $(,)?) => {{
        const PARTS: &[&[&str]] = &[$($part),+];
        const LEN: usize = $crate::csv::schema::total_len(PARTS);
        const NAMES: [&str; LEN] = $crate::csv::schema::concat(PARTS);
        const BY_NAME: [u16; LEN] = $crate::csv::schema::sorted_by_name(&NAMES);
        $crate::log::Schema::new($log_type, $versions, &NAMES, &BY_NAME)
    }};
}
use schema;

/// One type's schema in the firewall's layout and in Strata's headless one.
pub struct ByLayout {
    /// With the leading FUTURE_USE column.
    pub firewall: Schema,
    /// Without it.
    pub headless: Schema,
}

/// The [`ByLayout`] of `$log_type` whose columns after the common prefix are the `$part` lists.
macro_rules! by_layout {
    ($log_type:expr, $versions:literal, $($part:expr),+ $(,)?) => {
        $crate::csv::schema::ByLayout {
            firewall: schema!(
                $log_type,
                $versions,
                $crate::csv::schema::FIREWALL_PREFIX,
                $($part),+
            ),
            headless: schema!(
                $log_type,
                $versions,
                $crate::csv::schema::HEADLESS_PREFIX,
                $($part),+
            ),
        }
    };
}
use by_layout;

/// The config version as a number, `(major << 8) | minor` (2561 = 10.1), from the column as
/// sent: a number, or CDL's `major.minor`. `None` when it is neither.
pub fn config_version(text: &str) -> Option<u16> {
    match text.split_once('.') {
        Some((major, minor)) => {
            let (major, minor) = (major.parse::<u8>().ok()?, minor.parse::<u8>().ok()?);
            Some(u16::from(major) << 8 | u16::from(minor))
        }
        None => text.parse().ok(),
    }
}

/// The columns of a `log_type` line in `layout` from PAN-OS `version` (the config version
/// column as sent).
pub fn schema_for(log_type: LogType, layout: Layout, version: &str) -> &'static Schema {
    let by_layout = match log_type {
        LogType::Traffic => &session::TRAFFIC,
        LogType::Threat => &session::THREAT,
        LogType::Decryption => &session::DECRYPTION,
        LogType::Tunnel => &session::TUNNEL,
        LogType::Sctp => &session::SCTP,
        LogType::Gtp => &session::GTP,
        LogType::Config => management::config(config_version(version)),
        LogType::System => &management::SYSTEM,
        LogType::Correlation => &management::CORRELATION,
        LogType::Audit => return &management::AUDIT,
        LogType::HipMatch => &identity::HIPMATCH,
        LogType::GlobalProtect if layout == Layout::GlobalProtect912 => {
            return &identity::GLOBALPROTECT_912
        }
        LogType::GlobalProtect => &identity::GLOBALPROTECT,
        LogType::UserId => &identity::USERID,
        LogType::Authentication => &identity::AUTHENTICATION,
        LogType::IpTag => &identity::IPTAG,
    };
    match layout {
        Layout::Headless => &by_layout.headless,
        _ => &by_layout.firewall,
    }
}

/// Every schema, for the tests that check them all.
#[cfg(test)]
pub fn all() -> Vec<&'static Schema> {
    let by_layout = [
        &session::TRAFFIC,
        &session::THREAT,
        &session::DECRYPTION,
        &session::TUNNEL,
        &session::SCTP,
        &session::GTP,
        &management::CONFIG,
        &management::CONFIG_DETAILS_AFTER_PATH,
        &management::SYSTEM,
        &management::CORRELATION,
        &identity::HIPMATCH,
        &identity::GLOBALPROTECT,
        &identity::USERID,
        &identity::AUTHENTICATION,
        &identity::IPTAG,
    ];
    let mut schemas: Vec<_> = by_layout
        .into_iter()
        .flat_map(|by| [&by.firewall, &by.headless])
        .collect();
    schemas.extend([&management::AUDIT, &identity::GLOBALPROTECT_912]);
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_finds_every_name_and_the_first_of_equal_ones() {
        for schema in all() {
            for (index, name) in schema.names.iter().enumerate() {
                let first = schema.names.iter().position(|n| n == name).unwrap();
                assert_eq!(schema.position(name), Some(first), "{name}");
                assert!(first <= index);
            }
            assert_eq!(schema.position("no_such_column"), None);
            assert_eq!(schema.position(""), None);
        }
    }

    #[test]
    fn names_repeat_only_for_future_use_and_the_9_1_0_globalprotect_keys() {
        for schema in all() {
            for (index, name) in schema.names.iter().enumerate() {
                let repeated = schema.names[..index].contains(name);
                let allowed = *name == "future_use"
                    || (std::ptr::eq(schema, &identity::GLOBALPROTECT_912)
                        && ["seqno", "actionflags"].contains(name));
                assert!(!repeated || allowed, "{:?} repeats {name}", schema.log_type);
            }
        }
    }

    #[test]
    fn config_versions() {
        assert_eq!(config_version("2561"), Some(2561));
        assert_eq!(config_version("9.1"), Some(2305));
        assert_eq!(config_version("10.0"), Some(2560));
        assert_eq!(config_version(""), None);
        assert_eq!(config_version("x.1"), None);
    }
}
