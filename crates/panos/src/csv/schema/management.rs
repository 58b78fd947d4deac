//! The management-plane logs: CONFIG, SYSTEM, CORRELATION and AUDIT.

use super::{by_layout, schema, ByLayout, DEVICE_GROUP};
use crate::log::{LogType, Schema};

const CONFIG_HEAD: &[&str] = &["host", "vsys", "cmd", "admin", "client", "result", "path"];
const CHANGE_DETAILS: &[&str] = &["before-change-detail", "after-change-detail"];
const CONFIG_SEQUENCE: &[&str] = &["seqno", "actionflags"];
const CONFIG_TAIL: &[&str] = &["dg_id", "comment", "future_use", "high_res_timestamp"];

/// CONFIG as devices send it on 10.x/11.x: the change details, when the admin enabled them,
/// after the high resolution timestamp. Lines of 8.0 and older, with no change details, are a
/// prefix of it too.
pub static CONFIG: ByLayout = by_layout!(
    LogType::Config,
    "4.0–8.0, 10.0–11.x",
    CONFIG_HEAD,
    CONFIG_SEQUENCE,
    DEVICE_GROUP,
    CONFIG_TAIL,
    CHANGE_DETAILS,
);

/// CONFIG on 8.1–9.1, as the docs list it: the change details straight after the path.
pub static CONFIG_DETAILS_AFTER_PATH: ByLayout = by_layout!(
    LogType::Config,
    "8.1–9.1",
    CONFIG_HEAD,
    CHANGE_DETAILS,
    CONFIG_SEQUENCE,
    DEVICE_GROUP,
    CONFIG_TAIL,
);

/// The first config version (2049 = 8.1) and the one past the last (2560 = 10.0) whose CONFIG
/// lines put the change details after the path.
const DETAILS_AFTER_PATH: std::ops::Range<u16> = 2049..2560;

/// The CONFIG columns for a config `version` (`None`: not a version we can read, taken as new).
pub fn config(version: Option<u16>) -> &'static ByLayout {
    match version {
        Some(version) if DETAILS_AFTER_PATH.contains(&version) => &CONFIG_DETAILS_AFTER_PATH,
        _ => &CONFIG,
    }
}

/// SYSTEM: 16–17 columns on old PAN-OS, 23–24 on 8.x/9.x, 26 on 10.x/11.x.
pub static SYSTEM: ByLayout = by_layout!(
    LogType::System,
    "4.0–11.x",
    &[
        "vsys",
        "eventid",
        "object",
        "future_use",
        "future_use",
        "module",
        "severity",
        "opaque",
        "seqno",
        "actionflags",
    ],
    DEVICE_GROUP,
    &["future_use", "future_use", "high_res_timestamp"],
);

/// CORRELATION (Panorama, M-series): 22 columns; its subtype and config version are empty.
pub static CORRELATION: ByLayout = by_layout!(
    LogType::Correlation,
    "8.0–11.x",
    &["src", "srcuser", "vsys", "category", "severity"],
    DEVICE_GROUP,
    &["vsys_id", "object_name", "object_id", "evidence"],
);

/// AUDIT (10.2+), a layout of its own with the serial first: `serial,time,audit,config_ver,
/// subtype,admin,command,result`.
pub static AUDIT: Schema = schema!(
    LogType::Audit,
    "10.2–11.x",
    &[
        "serial",
        "receive_time",
        "type",
        "config_ver",
        "subtype",
        "admin",
        "cmd",
        "result",
    ],
);
