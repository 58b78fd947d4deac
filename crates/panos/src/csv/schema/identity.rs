//! The user and endpoint logs: HIPMATCH, GLOBALPROTECT, USERID, AUTHENTICATION, IPTAG.

use super::{by_layout, schema, ByLayout, DEVICE_GROUP};
use crate::log::{LogType, Schema};

/// HIPMATCH (the docs' HIP-MATCH): 28–32 columns.
pub static HIPMATCH: ByLayout = by_layout!(
    LogType::HipMatch,
    "4.0–11.x",
    &[
        "srcuser",
        "vsys",
        "machinename",
        "os",
        "src",
        "matchname",
        "repeatcnt",
        "matchtype",
        "future_use",
        "future_use",
        "seqno",
        "actionflags",
    ],
    DEVICE_GROUP,
    &[
        "vsys_id",
        "srcipv6",
        "hostid",
        "serialnumber",
        "mac",
        "high_res_timestamp",
        "cluster_name",
    ],
);

/// GLOBALPROTECT's columns from the virtual system to the action flags, as 9.1 sends them.
const GLOBALPROTECT_COLUMNS: &[&str] = &[
    "vsys",
    "eventid",
    "stage",
    "auth_method",
    "tunnel_type",
    "srcuser",
    "srcregion",
    "machinename",
    "public_ip",
    "public_ipv6",
    "private_ip",
    "private_ipv6",
    "hostid",
    "serialnumber",
    "client_ver",
    "client_os",
    "client_os_ver",
    "repeatcnt",
    "reason",
    "error",
    "opaque",
    "status",
    "location",
    "login_duration",
    "connect_method",
    "error_code",
    "portal",
    "seqno",
    "actionflags",
];

/// What 10.x appended to GLOBALPROTECT.
const GLOBALPROTECT_APPENDED: &[&str] = &[
    "high_res_timestamp",
    "selection_type",
    "response_time",
    "priority",
    "attempted_gateways",
    "gateway",
];

/// GLOBALPROTECT (9.1.3+): 36 columns on 9.1, 42 and 49 on 10.x/11.x.
pub static GLOBALPROTECT: ByLayout = by_layout!(
    LogType::GlobalProtect,
    "9.1.3–11.x",
    GLOBALPROTECT_COLUMNS,
    GLOBALPROTECT_APPENDED,
    DEVICE_GROUP,
    &["vsys_id", "cluster_name"],
);

/// GLOBALPROTECT on 9.1.0–9.1.2, which put the sequence number and action flags before the
/// type as well as in their usual place.
pub static GLOBALPROTECT_912: Schema = schema!(
    LogType::GlobalProtect,
    "9.1.0–9.1.2",
    &[
        "future_use",
        "receive_time",
        "serial",
        "seqno",
        "actionflags",
        "type",
        "subtype",
        "config_ver",
        "time_generated",
    ],
    GLOBALPROTECT_COLUMNS,
);

/// USERID: 20 columns on old PAN-OS, 32 and 34 later.
pub static USERID: ByLayout = by_layout!(
    LogType::UserId,
    "4.0–11.x",
    &[
        "vsys",
        "ip",
        "user",
        "datasourcename",
        "eventid",
        "repeatcnt",
        "timeout",
        "beginport",
        "endport",
        "datasource",
        "datasourcetype",
        "seqno",
        "actionflags",
    ],
    DEVICE_GROUP,
    &[
        "vsys_id",
        "factortype",
        "factorcompletiontime",
        "factorno",
        "ugflags",
        "userbysource",
        "tag_name",
        "high_res_timestamp",
        "origin_data_source",
        "future_use",
        "cluster_name",
    ],
);

/// AUTHENTICATION (Strata's `AUTH`).
pub static AUTHENTICATION: ByLayout = by_layout!(
    LogType::Authentication,
    "8.0–11.x",
    &[
        "vsys",
        "ip",
        "user",
        "normalize_user",
        "object",
        "authpolicy",
        "repeatcnt",
        "authid",
        "vendor",
        "logset",
        "serverprofile",
        "desc",
        "clienttype",
        "event",
        "factorno",
        "seqno",
        "actionflags",
    ],
    DEVICE_GROUP,
    &[
        "vsys_id",
        "authproto",
        "rule_uuid",
        "high_res_timestamp",
        "src_category",
        "src_profile",
        "src_model",
        "src_vendor",
        "src_osfamily",
        "src_osversion",
        "src_host",
        "src_mac",
        "region",
        "future_use",
        "user_agent",
        "sessionid",
        "cluster_name",
    ],
);

/// IPTAG.
pub static IPTAG: ByLayout = by_layout!(
    LogType::IpTag,
    "9.0–11.x",
    &[
        "vsys",
        "ip",
        "tag_name",
        "eventid",
        "repeatcnt",
        "timeout",
        "datasourcename",
        "datasourcetype",
        "datasource_subtype",
        "seqno",
        "actionflags",
    ],
    DEVICE_GROUP,
    &["vsys_id", "high_res_timestamp", "cluster_name"],
);
