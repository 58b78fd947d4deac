//! The devices, tables and field values the log templates draw from.

use std::fmt::Write as _;

use time::OffsetDateTime;

use super::header::month_abbreviation;
use super::record::CefWriter;
use super::rng::Rng;

/// One firewall: records in a pool come from a handful of devices, as at a real collector.
#[derive(Clone, Copy)]
pub(super) struct Device {
    pub(super) serial: &'static str,
    pub(super) name: &'static str,
    pub(super) version: &'static str,
    pub(super) vsys_name: &'static str,
    /// Panorama device-group levels; zeros for a firewall not managed by Panorama.
    pub(super) device_groups: [u32; 4],
}

pub(super) const DEVICES: [Device; 4] = [
    Device {
        serial: "007051000184334",
        name: "PA-VM",
        version: "10.1.8",
        vsys_name: "",
        device_groups: [0, 0, 0, 0],
    },
    Device {
        serial: "013101001305",
        name: "PA-3220-DC1",
        version: "10.2.4-h4",
        vsys_name: "Main",
        device_groups: [11, 12, 0, 0],
    },
    Device {
        serial: "012801096514",
        name: "PA-220",
        version: "10.1.11",
        vsys_name: "",
        device_groups: [0, 0, 0, 0],
    },
    Device {
        serial: "016401002871",
        name: "fw-branch-07",
        version: "10.2.9",
        vsys_name: "Branch Offices",
        device_groups: [14, 0, 0, 0],
    },
];

pub(super) const RULES: [&str; 9] = [
    "Allow Outbound Web",
    "LAN to WAN",
    "Internal to Internal",
    "LEO to UNTRUST - WEB",
    "allow-o365",
    "DNS Sinkhole",
    "Block Known Bad",
    "intrazone-default",
    "interzone-default",
];

/// Users as PAN-OS reports them: `domain\user` with a raw backslash (never followed by `n`, `r`,
/// `=` or `\`, which a CEF parser would unescape), UPNs, the XFF form, and often nobody.
pub(super) const USERS: [&str; 10] = [
    "corp\\jdoe",
    "corp\\f0316",
    "CORP\\svc_backup",
    "emea\\mkowalski",
    "jane.smith@corp.example.com",
    "x-fwd-for: 10.10.10.50",
    "",
    "",
    "",
    "",
];

/// Zone pairs and the interfaces they sit on.
pub(super) const ZONES: [(&str, &str, &str, &str); 5] = [
    ("trust", "untrust", "ethernet1/2", "ethernet1/1"),
    ("LAN", "WAN", "ethernet1/3", "ethernet1/1"),
    ("Inside", "Outside", "ae1.100", "ae2"),
    ("Guest WiFi", "untrust", "ethernet1/5.20", "ethernet1/1"),
    ("trust", "DMZ", "ethernet1/2", "tunnel.1"),
];

pub(super) const LOG_PROFILES: [&str; 4] = [
    "Sentinel Log Forwarding",
    "default",
    "LFPpan",
    "", // no log-forwarding profile on the rule
];

pub(super) const URL_CATEGORIES: [&str; 8] = [
    "any",
    "computer-and-internet-info",
    "business-and-economy",
    "search-engines",
    "private-ip-addresses",
    "web-advertisements",
    "social-networking",
    "unknown",
];

/// Well-known destination port, App-ID, protocol.
pub(super) const SERVICES: [(u64, &str, &str); 12] = [
    (443, "ssl", "tcp"),
    (443, "ms-office365-base", "tcp"),
    (80, "web-browsing", "tcp"),
    (53, "dns", "udp"),
    (53, "dns-base", "udp"),
    (123, "ntp", "udp"),
    (22, "ssh", "tcp"),
    (3389, "ms-rdp", "tcp"),
    (445, "ms-ds-smbv3", "tcp"),
    (389, "ldap", "tcp"),
    (25, "smtp", "tcp"),
    (0, "ping", "icmp"),
];

pub(super) const USER_AGENTS: [&str; 4] = [
    "\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\"",
    "\"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)\"",
    "\"curl/8.4.0\"",
    "\"\"",
];

pub(super) fn internal_ip(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!(
            "10.{}.{}.{}",
            rng.below(32),
            rng.below(256),
            rng.between(2, 254)
        ),
        1 => format!("192.168.{}.{}", rng.below(16), rng.between(2, 254)),
        _ => format!(
            "172.{}.{}.{}",
            rng.between(16, 31),
            rng.below(256),
            rng.between(2, 254)
        ),
    }
}

pub(super) fn external_ip(rng: &mut Rng) -> String {
    // Prefixes of large cloud and CDN networks: where most firewall traffic goes.
    const PREFIXES: [&str; 8] = [
        "52.", "13.107.", "20.", "104.16.", "142.250.", "151.101.", "185.199.", "40.126.",
    ];
    let prefix = rng.pick(&PREFIXES);
    let mut ip = prefix.to_string();
    for _ in prefix.matches('.').count()..4 {
        let _ = write!(ip, "{}.", rng.between(1, 254));
    }
    ip.pop();
    ip
}

/// Mostly IPv4, sometimes IPv6 (PAN-OS writes both into `src`/`dst`).
pub(super) fn session_ips(rng: &mut Rng) -> (String, String) {
    if rng.percent(3) {
        (
            format!("2001:db8:10::{:x}", rng.between(1, 0xfff)),
            format!("2606:4700::{:x}", rng.between(1, 0xffff)),
        )
    } else {
        (internal_ip(rng), external_ip(rng))
    }
}

pub(super) fn uuid(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub(super) fn hex_digest(rng: &mut Rng) -> String {
    (0..4).fold(String::with_capacity(64), |mut out, _| {
        let _ = write!(out, "{:016x}", rng.next_u64());
        out
    })
}

/// `MMM dd yyyy HH:mm:ss GMT`, PAN-OS's `$cef-formatted-*` times (always UTC).
pub(super) fn cef_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02} {} {:02}:{:02}:{:02} GMT",
        month_abbreviation(at),
        at.day(),
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `YYYY/MM/DD HH:MM:SS`, the plain `$receive_time` of the GlobalProtect template.
pub(super) fn plain_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}/{:02}/{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Seconds before `now`: logs reach the collector a little after they were generated.
pub(super) fn earlier(now: OffsetDateTime, rng: &mut Rng, max_seconds: u64) -> OffsetDateTime {
    now - time::Duration::seconds(rng.below(max_seconds + 1) as i64)
}

/// `PanOSDGl1..4`, `PanOSVsysName`, `dvchost`: the device keys every template carries.
pub(super) fn write_device(cef: &mut CefWriter, device: &Device) {
    let [l1, l2, l3, l4] = device.device_groups;
    cef.kv("PanOSDGl1", l1)
        .kv("PanOSDGl2", l2)
        .kv("PanOSDGl3", l3)
        .kv("PanOSDGl4", l4)
        .kv("PanOSVsysName", device.vsys_name)
        .kv("dvchost", device.name);
}
