//! Parsing PAN-OS CSV, the firewall's default syslog format, into a [`Log`]: [`parse`].
//!
//! **Recognising** a line: the record starts at the syslog MSG, or after the last space before
//! its first comma when a relay left a second syslog header in front
//! (`Feb 24 22:06:07 BD-Panorama 1,…`). Its first fields say the layout:
//!
//! | Layout | First fields | Type at |
//! |---|---|---|
//! | firewall / Panorama / CDL | a number (`1`, `0`, CDL's `931201168`), a date (`2026/03/24 10:00:00` or ISO), the serial | 3 |
//! | Strata / Prisma Access | an ISO date, the serial (`no-serial`): no leading FUTURE_USE (nor, in TRAFFIC and THREAT, the FUTURE_USE before the session ID and the flags) | 2 |
//! | GLOBALPROTECT on 9.1.0–9.1.2 | a number, a date, the serial, seqno, action flags | 5 |
//! | AUDIT (10.2+) | the serial, a date, `audit` | 2 |
//!
//! The type column is an upper-case token: `AUTH` is [`LogType::Authentication`], `START` and
//! `END` are [`LogType::Tunnel`], `HIP-MATCH` and `HIPMATCH` are [`LogType::HipMatch`]; an
//! unknown token still gives a [`Log`], with no type and no schema.
//!
//! **Splitting** ([`Log::values`], on first use: [`crate::log::split`]) follows PAN-OS's quoting:
//! quoted values (commas, doubled quotes, leading spaces, `""`), the unquoted `{…}` Link Switches
//! list, a trailing empty column. Values borrow from the line unless doubled quotes must be
//! unescaped.
//!
//! **Naming**: columns are named by PAN-OS's own format variables, the names an admin writes
//! after `$` in a custom log format, so that the CEF format strings' `$src`, `$natsrc`, `$rule`,
//! `$before-change-detail`, … are [`Log::get`]'s names as they stand. The schema depends on the
//! type and the layout, and for CONFIG on the PAN-OS version (the config version column, 2049 =
//! 8.1 … 2818 = 11.2, or CDL's `9.1`): 8.1–9.1 put the change details after the path, 10.x+
//! after the high resolution timestamp. Every list is the newest documented one, since PAN-OS
//! only appends: shorter lines leave the last names without a value ([`Log::get`] is `None`),
//! longer ones keep their extra columns ([`Log::extra`]). Repeated FUTURE_USE columns are all
//! `future_use`.
//!
//! The common prefix is `future_use`, `receive_time`, `serial`, `type`, `subtype`, `config_ver`,
//! `time_generated`. Some CEF variables are derived, not columns: `cef-formatted-receive_time`
//! and `cef-formatted-time_generated` (from `receive_time`, `time_generated`),
//! `number-of-severity` (from `severity`), `sender_sw_version` (not in the CSV).
//!
//! Names that are not in the CEF format strings of reference §2, and where they come from:
//! "PAN-OS" is the variable the "Syslog Field Descriptions" pages give; "ours" is the
//! snake_case of the documented field name, where we know no variable.
//!
//! | Type | Documented field | Name | From |
//! |---|---|---|---|
//! | all | Config Version (FUTURE_USE on old docs) | `config_ver` | ours |
//! | all | FUTURE_USE | `future_use` | ours |
//! | all | High Resolution Timestamp | `high_res_timestamp` | PAN-OS |
//! | all | Cluster Name | `cluster_name` | PAN-OS |
//! | TRAFFIC, THREAT, TUNNEL, GTP | Source / Destination Location | `srcloc`, `dstloc` | PAN-OS |
//! | TRAFFIC, TUNNEL, GTP | Start Time | `start` | PAN-OS |
//! | TRAFFIC, THREAT | XFF Address | `xff_ip` | PAN-OS |
//! | TRAFFIC, THREAT, DECRYPTION, AUTHENTICATION | Source / Destination Device Category … Mac Address | `src_category`, `src_profile`, `src_model`, `src_vendor`, `src_osfamily`, `src_osversion`, `src_host`, `src_mac`, `dst_…` | PAN-OS |
//! | TRAFFIC, THREAT, DECRYPTION, TUNNEL | Container ID, POD Namespace, POD Name, Source / Destination EDL, Source / Destination Dynamic Address Group | `container_id`, `pod_namespace`, `pod_name`, `src_edl`, `dst_edl`, `src_dag`, `dst_dag` | PAN-OS |
//! | TRAFFIC, THREAT, HIPMATCH, GLOBALPROTECT | Host ID, Serial Number (of the endpoint) | `hostid`, `serialnumber` | PAN-OS |
//! | TRAFFIC, THREAT, DECRYPTION, GTP, TUNNEL | A Slice Service Type / Differentiator | `nssai_sst`, `nssai_sd` | PAN-OS |
//! | TRAFFIC, THREAT, DECRYPTION, GTP, TUNNEL | Application Subcategory … Sanctioned State | `subcategory_of_app`, `category_of_app`, `technology_of_app`, `risk_of_app`, `characteristic_of_app`, `container_of_app`, `tunneled_app`, `is_saas_of_app`, `sanctioned_state_of_app` | PAN-OS |
//! | TRAFFIC, THREAT, GTP | Tunnel ID/IMSI, Monitor Tag/IMEI | `tunnelid`, `monitortag` (GTP too, though PAN-OS names them `imsi`, `imei` there) | PAN-OS |
//! | TRAFFIC | Session Owner, Offloaded, Flow Type | `session_owner`, `offloaded`, `flow_type` | PAN-OS |
//! | THREAT | Severity, URL Index, Domain EDL, Partial Hash, Reason, Justification, Cloud Report ID, Flow Type | `severity`, `url_idx`, `domain_edl`, `partial_hash`, `reason`, `justification`, `cloud_reportid`, `flow_type` | PAN-OS |
//! | CONFIG | Device Group, Audit Comment | `dg_id`, `comment` | PAN-OS |
//! | SYSTEM, TUNNEL, SCTP, GTP, CORRELATION | Severity | `severity` | PAN-OS |
//! | HIPMATCH | Device MAC Address | `mac` | PAN-OS |
//! | GLOBALPROTECT | Selection Type, Response Time, Priority, Attempted Gateways, Gateway | `selection_type`, `response_time`, `priority`, `attempted_gateways`, `gateway` | PAN-OS |
//! | HIPMATCH, USERID, AUTHENTICATION, IPTAG, GLOBALPROTECT, DECRYPTION, CORRELATION | Virtual System ID | `vsys_id` | PAN-OS |
//! | USERID, IPTAG | Tag Name | `tag_name` | PAN-OS |
//! | USERID | Origin Data Source | `origin_data_source` | ours |
//! | AUTHENTICATION | Authentication Protocol, Region, User Agent, Session ID | `authproto`, `region`, `user_agent`, `sessionid` | PAN-OS |
//! | IPTAG | Event ID, Timeout, Data Source Name, Data Source Type | `eventid`, `timeout`, `datasourcename`, `datasourcetype` (as in USERID) | PAN-OS |
//! | IPTAG | Data Source Subtype | `datasource_subtype` | ours |
//! | DECRYPTION | Time Logged | `time_received` | PAN-OS |
//! | DECRYPTION | Stage for Client to Firewall … Server Name Indication, Error | `hs_stage_c2f`, `hs_stage_f2s`, `tls_version`, `tls_keyxchg`, `tls_enc`, `tls_auth`, `policy_name`, `ec_curve`, `err_index`, `root_status`, `chain_status`, `proxy_type`, `cert_serial`, `fingerprint`, `notbefore`, `notafter`, `cert_ver`, `cert_size`, `cn_len`, `issuer_len`, `rootcn_len`, `sni_len`, `cert_flags`, `cn`, `issuer_cn`, `root_cn`, `sni`, `error` | PAN-OS |
//! | TUNNEL | PDU Session ID (inferred from the 10.1 sample) | `pdu_session_id` | ours |
//! | SCTP | SCTP Chunk Type, Verification Tag 1 / 2, SCTP Cause Code, Diameter App ID, Command Code, AVP Code, SCTP Stream ID, Association End Reason, Op Code, SCCP Calling Party SSN / Global Title, SCTP Filter | `sctp_chunk_type`, `verif_tag_1`, `verif_tag_2`, `sctp_cause_code`, `diam_app_id`, `diam_cmd_code`, `diam_avp_code`, `stream_id`, `assoc_end_reason`, `op_code`, `sccp_calling_ssn`, `sccp_calling_gt`, `sctp_filter` | ours |
//! | GTP | GTP Event Type, MSISDN, Access Point Name, Radio Access Technology, GTP Message Type, End User IP Address, Tunnel Endpoint Identifier 1 / 2, GTP Interface, GTP Cause, Serving Country MCC, Serving Network MNC, Area Code, Cell ID, GTP Event Code | `event_type`, `msisdn`, `apn`, `rat`, `msg_type`, `end_ip_adr`, `teid1`, `teid2`, `gtp_interface`, `cause_code`, `mcc`, `mnc`, `area_code`, `cell_id`, `event_code` | PAN-OS |
//! | AUDIT | the time, the command (XML) | `receive_time`, `cmd` (as in CONFIG) | ours |
//!
//! The layouts of AUDIT and of the 9.1.0–9.1.2 GLOBALPROTECT come from sample lines, not docs;
//! the latter repeats `seqno` and `actionflags` in their usual place ([`Log::get`] gives the
//! first). The 11.x CONFIG full xpath column that one source shows is not named: it stays in
//! [`Log::extra`] until a line shows where it goes.

mod schema;
#[cfg(test)]
mod tests;

use std::cell::OnceCell;

use crate::log::{Log, LogType};
use schema::Layout;

/// The most leading fields recognition looks at: the 9.1.0–9.1.2 GLOBALPROTECT layout has the
/// generated time at index 8.
const HEAD_FIELDS: usize = 9;

/// `msg` (a syslog MSG) as a PAN-OS CSV log; `None` when it is not PAN-OS CSV. Never fails on
/// the columns: a short line leaves names without values, a long one keeps the extra columns.
/// The columns are split when first asked for.
pub fn parse(msg: &str) -> Option<Log<'_>> {
    let (record, head, layout, log_type) = recognise(msg)?;
    let keys = layout.key_columns();
    let version = head[keys.version];
    Some(Log {
        log_type,
        type_text: head[keys.type_text],
        subtype: head[keys.subtype],
        version,
        serial: head[keys.serial],
        schema: log_type.map(|log_type| schema::schema_for(log_type, layout, version)),
        values: OnceCell::new(),
        record,
    })
}

/// Whether `msg` is PAN-OS CSV, by the recognition [`parse`] uses, without splitting the line.
pub fn is_panos_csv(msg: &str) -> bool {
    recognise(msg).is_some()
}

/// The CSV record in `msg`, its [`head_fields`] (handed on rather than split again by
/// [`parse`]), its layout and type.
fn recognise(msg: &str) -> Option<(&str, [&str; HEAD_FIELDS], Layout, Option<LogType>)> {
    let msg = msg.trim_end_matches(['\r', '\n', '\0']);
    let first_comma = memchr::memchr(b',', msg.as_bytes())?;
    let after_header = memchr::memrchr(b' ', &msg.as_bytes()[..first_comma]).map(|at| at + 1);
    // A Strata or slash-dated first field may hold a space itself, so the whole MSG is tried
    // first; only then the record after a second header.
    [Some(0), after_header]
        .into_iter()
        .flatten()
        .find_map(|start| {
            let record = &msg[start..];
            let head = head_fields(record);
            let (layout, log_type) = layout_of(&head)?;
            Some((record, head, layout, log_type))
        })
}

/// The first [`HEAD_FIELDS`] fields split at every comma (these are never quoted); missing ones
/// are empty.
fn head_fields(record: &str) -> [&str; HEAD_FIELDS] {
    // A byte loop rather than `splitn`: these fields are short (a search per field cost twice
    // as much), and only the first ~80 bytes are looked at.
    let mut head = [""; HEAD_FIELDS];
    let mut field = 0;
    let mut start = 0;
    for (at, &byte) in record.as_bytes().iter().enumerate() {
        if byte == b',' {
            head[field] = &record[start..at];
            field += 1;
            if field == HEAD_FIELDS {
                return head;
            }
            start = at + 1;
        }
    }
    head[field] = &record[start..];
    head
}

/// The layout and type the leading fields say, `None` when they are not PAN-OS CSV.
fn layout_of(head: &[&str; HEAD_FIELDS]) -> Option<(Layout, Option<LogType>)> {
    if is_date(head[1]) && head[2] == "audit" && !is_date(head[0]) && !head[0].is_empty() {
        return Some((Layout::Audit, Some(LogType::Audit)));
    }
    if is_date(head[0]) && is_type_token(head[2]) {
        return Some((Layout::Headless, LogType::from_name(head[2])));
    }
    if !is_number(head[0]) || !is_date(head[1]) {
        return None;
    }
    if head[5] == "GLOBALPROTECT" && is_number(head[3]) {
        return Some((Layout::GlobalProtect912, Some(LogType::GlobalProtect)));
    }
    is_type_token(head[3]).then(|| (Layout::Firewall, LogType::from_name(head[3])))
}

/// An upper-case word such as PAN-OS writes in the type column (`TRAFFIC`, `HIP-MATCH`, a type
/// newer than us).
fn is_type_token(field: &str) -> bool {
    field.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && field
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_number(field: &str) -> bool {
    !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY/MM/DD…` (the firewall's) or `YYYY-MM-DD…` (CDL's and Strata's ISO 8601).
fn is_date(field: &str) -> bool {
    let Some(date) = field.as_bytes().get(..10) else {
        return false;
    };
    let digits = |range: std::ops::Range<usize>| date[range].iter().all(u8::is_ascii_digit);
    let separator = date[4];
    matches!(separator, b'/' | b'-')
        && date[7] == separator
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
}
