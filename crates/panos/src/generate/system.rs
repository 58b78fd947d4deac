//! SYSTEM and CONFIG logs: what the firewall itself and its administrators did.

use time::OffsetDateTime;

use super::fields::{cef_time, earlier, internal_ip, write_device, Device, USERS};
use super::record::{syslog_severity, CefWriter, Record, INFORMATIONAL};
use super::rng::Rng;

/// SYSTEM events: subtype, event id, module, PAN severity, object, description.
/// `{user}` and `{ip}` are filled in.
const SYSTEM_EVENTS: [(&str, &str, &str, u64, &str, &str); 7] = [
    (
        "general",
        "general",
        "general",
        1,
        "",
        "Connection to Update server closed: updates.paloaltonetworks.com, source: {ip}",
    ),
    (
        "auth",
        "auth-success",
        "general",
        1,
        "",
        "authenticated for user '{user}'.  auth profile 'Corp-LDAP', vsys 'shared', server profile 'corp-ldap', server address '10.0.0.10', From: {ip}.",
    ),
    (
        "auth",
        "auth-fail",
        "general",
        3,
        "",
        "failed authentication for user '{user}'.  Reason: Invalid username/password. auth profile 'Corp-LDAP', vsys 'shared', From: {ip}.",
    ),
    (
        "globalprotect",
        "globalprotectgateway-regist-succ",
        "general",
        1,
        "GP-Gateway",
        "GlobalProtect gateway user login succeeded. Login from: {ip}, Source region: US, User name: {user}, Client OS version: Microsoft Windows 10 Enterprise , 64-bit.",
    ),
    (
        "routing",
        "routed-bgp-peer-state",
        "routing",
        3,
        "",
        "BGP peer session 169.254.21.1 changed state from Established to Idle",
    ),
    (
        "vpn",
        "ike-nego-p2-succ",
        "ike",
        1,
        "to-branch-07",
        "IKE phase-2 negotiation is succeeded as initiator, quick mode. Established SA: 203.0.113.7[500]-{ip}[500] message id:0x2A9C1B44.",
    ),
    (
        "ha",
        "state-change",
        "ha",
        4,
        "",
        "HA Group 1: Moved from state Passive to state Active",
    ),
];

pub(super) fn system(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let (subtype, event_id, module, severity, object, description) = rng.pick(&SYSTEM_EVENTS);
    let user = match rng.pick(&USERS[..5]) {
        "" => "admin",
        user => user,
    };
    let description = description
        .replace("{user}", user)
        .replace("{ip}", &internal_ip(rng));
    let mut cef = CefWriter::new(
        device.version,
        subtype,
        "SYSTEM",
        Some(severity.to_string().as_str()),
    );
    cef.kv("rt", cef_time(earlier(now, rng, 2)))
        .kv("deviceExternalId", device.serial)
        .kv("cs3Label", "Virtual System")
        .kv("cs3", "")
        .kv("fname", object)
        .kv("flexString2Label", "Module")
        .kv("flexString2", module)
        .kv("msg", description)
        .external_id()
        .kv("cat", event_id);
    write_device(&mut cef, device);
    cef.kv("PanOSActionFlags", "0x0");
    cef.finish(syslog_severity(severity))
}

/// CONFIG changes: command, path (PAN-OS starts it with a space), before and after detail.
const CONFIG_CHANGES: [(&str, &str, &str, &str); 5] = [
    (
        "set",
        " config shared log-settings syslog Sentinel-Syslog server cefrelay",
        "",
        "cefrelay { transport TCP; port 514; format BSD; server 10.0.0.5; facility LOG_LOCAL4; } ",
    ),
    (
        "edit",
        " vsys vsys1 rulebase security rules  Allow Outbound Web",
        "Allow Outbound Web { from trust; to untrust; application any; action allow; } ",
        "Allow Outbound Web { from trust; to untrust; application [ ssl web-browsing ]; action allow; } ",
    ),
    ("commit", "", "", ""),
    (
        "delete",
        " config shared address host-10.2.3.4",
        "host-10.2.3.4 { ip-netmask 10.2.3.4; } ",
        "",
    ),
    (
        "set",
        " config shared log-settings iptag match-list  ip-tag",
        "",
        "iptag { match-list { ip-tag  { send-syslog [ SYSLOG-1 ]; filter \"All Logs\"; } } } ",
    ),
];

pub(super) fn config(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let (command, path, before, after) = rng.pick(&CONFIG_CHANGES);
    let result = match command {
        "commit" => "Submitted",
        _ if rng.percent(10) => "Failed",
        _ => "Succeeded",
    };
    let mut cef = CefWriter::new(device.version, result, "CONFIG", Some("1"));
    cef.kv("rt", cef_time(earlier(now, rng, 2)))
        .kv("deviceExternalId", device.serial)
        .kv("shost", internal_ip(rng))
        .kv("cs3Label", "Virtual System")
        .kv(
            "cs3",
            if path.starts_with(" vsys") {
                "vsys1"
            } else {
                ""
            },
        )
        .kv("act", command)
        .kv(
            "duser",
            rng.pick(&["admin", "corp\\jdoe", "Panorama-admin"]),
        )
        .kv(
            "destinationServiceName",
            rng.pick(&["Web", "CLI", "XML API"]),
        )
        .kv("msg", path)
        .external_id();
    write_device(&mut cef, device);
    cef.kv("PanOSActionFlags", "0x0")
        .kv("cs1Label", "Before Change Detail")
        .kv("cs1", before)
        .kv("cs2Label", "After Change Detail")
        .kv("cs2", after);
    cef.finish(INFORMATIONAL)
}
