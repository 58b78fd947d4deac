//! The configuration file as serde reads it, and nothing else: every table and key with its type,
//! unknown keys rejected. The unit enums here are the values the file (and the command line, through
//! clap's `ValueEnum`) spells out; the validated layer ([`super::Config`]) uses them as they are.
//! What a missing key means is decided by validation, not here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub listener: Vec<RawListener>,
    #[serde(default)]
    pub filter: RawFilter,
    #[serde(default)]
    pub forward: RawForward,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub log: RawLog,
    pub shutdown_grace_secs: Option<Spanned<u64>>,
    /// Where disk buffers and dead-letter files live.
    pub state_dir: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub sink: Vec<RawSink>,
    #[serde(default)]
    pub panos: RawPanos,
    /// Settings every rule shares.
    #[serde(default)]
    pub rules: RawRules,
    /// The platform rules, in the order they are tried.
    #[serde(default)]
    pub rule: Vec<RawRule>,
    #[serde(default)]
    pub enrich: RawEnrich,
    /// User-ID: where user-to-IP mappings come from and which firewalls get them.
    pub userid: Option<RawUserid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserid {
    /// Mappings held at once; the oldest is evicted (and counted) beyond it.
    pub max_entries: Option<Spanned<u64>>,
    /// User names never pushed (`*` matches any run of characters); default `["*$"]`.
    pub ignore_users: Option<Spanned<Vec<String>>>,
    /// The domain a bare user name gets (`DOMAIN\\user`).
    pub default_domain: Option<Spanned<String>>,
    /// Source names, first wins when two sources map one IP to different users.
    pub source_priority: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub source: Vec<RawUseridSource>,
    #[serde(default)]
    pub target: Vec<RawUseridTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUseridSource {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    // sql
    pub url_file: Option<Spanned<PathBuf>>,
    pub url_env: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub params: Option<Spanned<Vec<toml::Value>>>,
    pub columns: Option<Spanned<BTreeMap<String, String>>>,
    /// `time` (default) or `id`: the column whose largest value the next poll starts after.
    pub cursor: Option<Spanned<String>>,
    pub user_split: Option<Spanned<String>>,
    pub ignore_values: Option<Spanned<Vec<String>>>,
    pub interval_secs: Option<Spanned<u64>>,
    pub valid_for_secs: Option<Spanned<u64>>,
    pub query_timeout_secs: Option<Spanned<u64>>,
    // syslog
    pub senders: Option<Spanned<Vec<String>>>,
    /// Built-in profiles by name.
    pub profiles: Option<Spanned<Vec<String>>>,
    /// Custom parse profiles, as PAN-OS defines them.
    #[serde(default)]
    pub profile: Vec<RawParseProfile>,
    pub timeout_mins: Option<Spanned<u64>>,
}

/// A syslog parse profile: a regex identifier (`event_regex`, `user_regex`, `address_regex`) or
/// a field identifier (`event_string`, `user_prefix` + `user_delimiter`, `address_prefix` +
/// `address_delimiter`), for login or logout events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParseProfile {
    pub name: Spanned<String>,
    /// `login` or `logout`.
    pub event: Spanned<String>,
    pub event_regex: Option<Spanned<String>>,
    pub user_regex: Option<Spanned<String>>,
    pub address_regex: Option<Spanned<String>>,
    pub event_string: Option<Spanned<String>>,
    pub user_prefix: Option<Spanned<String>>,
    pub user_delimiter: Option<Spanned<String>>,
    pub address_prefix: Option<Spanned<String>>,
    pub address_delimiter: Option<Spanned<String>>,
    pub timeout_mins: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUseridTarget {
    pub name: Spanned<String>,
    /// `firewall` (or Panorama) or `agent` (the Windows User-ID agent's XML API).
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub url: Spanned<String>,
    pub api_key_file: Option<Spanned<PathBuf>>,
    pub api_key_env: Option<Spanned<String>>,
    /// Generate the API key (`type=keygen`) from this user and `password_file`/`password_env`.
    pub user: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub password_env: Option<Spanned<String>>,
    pub vsys: Option<Spanned<String>>,
    /// Through Panorama: the firewall's serial number.
    pub serial: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub tls_insecure: Option<bool>,
    pub batch_entries: Option<Spanned<u64>>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub retry_initial_ms: Option<Spanned<u64>>,
    pub retry_max_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    /// Suppression windows open at once, over every suppress rule.
    pub max_suppress_keys: Option<Spanned<u64>>,
}

/// One `[[rule]]`: a preset, or a match and an action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Option<Spanned<String>>,
    /// Expands to the preset's rules, here in the list.
    pub preset: Option<Spanned<String>>,
    /// Field tests, read by `config::rules::condition`; absent matches every event.
    #[serde(rename = "match")]
    pub condition: Option<Spanned<toml::Table>>,
    pub action: Option<Spanned<RuleAction>>,
    /// Count what the rule would do, change nothing.
    pub dry_run: Option<bool>,
    /// sample: keep 1 in `rate`.
    pub rate: Option<Spanned<u64>>,
    /// sample and suppress: the fields whose values make the key.
    pub key: Option<Spanned<Vec<String>>>,
    /// suppress: events let through per key and window.
    pub allow: Option<Spanned<u64>>,
    pub window_secs: Option<Spanned<u64>>,
    /// route: the sinks that get the events.
    pub sinks: Option<Spanned<Vec<String>>>,
}

/// What a rule does with the events it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Keep,
    Drop,
    Sample,
    Suppress,
    Route,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnrich {
    /// Alert type and MITRE ATT&CK technique of PAN-OS threat logs.
    pub threat: Option<bool>,
    /// A MITRE table in place of the built-in one.
    pub mitre_table: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPanos {
    pub csv: Option<PanosCsv>,
    /// The firewalls' UTC offset, for CSV times that carry none.
    pub utc_offset: Option<Spanned<String>>,
    /// Offsets per firewall serial number or sender address.
    pub utc_offsets: Option<Spanned<BTreeMap<String, String>>>,
}

/// What becomes of a message in PAN-OS's default CSV format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanosCsv {
    /// Converted to the CEF record the firewall would send with the CEF format strings; the
    /// filters and the outputs then see CEF.
    Convert,
    /// Left as it is: a message that is not CEF (only `filter = "all"` outputs take it).
    Keep,
    /// Dropped for every output, and counted.
    Drop,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub address: Spanned<String>,
    pub framing: Option<Framing>,
    pub max_message_bytes: Option<Spanned<u64>>,
    pub udp_sockets: Option<Spanned<u64>>,
    pub receive_buffer_bytes: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u64>>,
    pub max_connections_per_sender: Option<Spanned<u64>>,
    pub idle_timeout_secs: Option<Spanned<u64>>,
    pub frame_timeout_secs: Option<Spanned<u64>>,
    pub tls_cert: Option<Spanned<PathBuf>>,
    pub tls_key: Option<Spanned<PathBuf>>,
    pub tls_client_ca: Option<Spanned<PathBuf>>,
    pub tls_handshake_timeout_secs: Option<Spanned<u64>>,
    pub tls_accept_plain: Option<bool>,
    /// Each connection opens with a PROXY protocol header from a load balancer; absent = off.
    pub proxy_protocol: Option<Spanned<ProxyProtocolVersion>>,
    /// Addresses or CIDR networks of the balancers whose headers are believed.
    pub trusted_proxies: Option<Spanned<Vec<String>>>,
    /// True: connections without a header are served too, with their socket's address.
    pub proxy_protocol_optional: Option<Spanned<bool>>,
    pub proxy_header_timeout_secs: Option<Spanned<u64>>,
}

/// Which PROXY protocol headers a listener takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocolVersion {
    /// The text header (`PROXY TCP4 …\r\n`, HAProxy `send-proxy`).
    V1,
    /// The binary header (HAProxy `send-proxy-v2`).
    V2,
    /// Either, told apart by the first byte.
    Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    pub mode: Option<FilterMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    pub agent: Option<Agent>,
    /// `tcp://host:port` or `udp://host:port`, one or several (tried in order on failure).
    pub address: Option<Spanned<Vec<String>>>,
    pub format: Option<OutputFormat>,
    pub framing: Option<OutputFraming>,
    /// False turns the agent forward off (HTTP sinks only).
    pub enabled: Option<bool>,
    /// Shorthand for `buffer = { type = "memory", max_events = N }`.
    pub queue_events: Option<Spanned<u64>>,
    pub buffer: Option<RawBuffer>,
    pub resend_window_bytes: Option<Spanned<u64>>,
    pub reconnect_min_ms: Option<Spanned<u64>>,
    pub reconnect_max_ms: Option<Spanned<u64>>,
    /// The agent forward's own filter, in place of `[filter] mode`.
    pub filter: Option<FilterMode>,
    /// Rules that apply to the agent forward only, after the global ones.
    pub rules: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Loopback address for `/metrics` and `/health`; "" turns the endpoint off.
    pub listen: Option<Spanned<String>>,
    /// Lets `listen` be a non-loopback address (a pod's IP for the kubelet's probes, a
    /// management network for Prometheus).
    pub allow_remote: Option<bool>,
    /// A file holding a bearer token every route but `/health` then requires.
    pub token_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<LogFormat>,
    pub level: Option<Spanned<String>>,
    /// A summary line (received, forwarded, dropped by reason, per sink) every this many
    /// seconds; 0 turns it off.
    pub summary_secs: Option<Spanned<u64>>,
}

/// How a listener (or `cefrelay parse`) finds where one message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Decide per frame: a frame that starts with `LEN SP` is octet-counted, others end at LF.
    Auto,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    #[value(name = "octet", alias = "octet-counted")]
    OctetCounted,
    /// One message per line (LF, CRLF or NUL terminated).
    Lf,
}

/// Which messages go to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FilterMode {
    /// Valid CEF whose Name is not TRAFFIC (PAN-OS traffic logs dropped).
    Cef,
    /// Every valid CEF record.
    CefAll,
    /// Raw text contains `CEF:` or `ASA-`: the old rsyslog rule.
    Legacy,
    /// Everything.
    All,
}

impl FilterMode {
    pub const ALL: [FilterMode; 4] = [
        FilterMode::Cef,
        FilterMode::CefAll,
        FilterMode::Legacy,
        FilterMode::All,
    ];

    /// As the configuration file spells it.
    pub fn name(self) -> &'static str {
        match self {
            FilterMode::Cef => "cef",
            FilterMode::CefAll => "cef-all",
            FilterMode::Legacy => "legacy",
            FilterMode::All => "all",
        }
    }

    /// What it forwards and what it drops, in words, for the start-up log.
    pub fn in_words(self) -> &'static str {
        match self {
            FilterMode::Cef => "forwards valid CEF except PAN-OS TRAFFIC; drops TRAFFIC, lines without CEF (Cisco ASA, unconverted PAN-OS CSV) and invalid CEF",
            FilterMode::CefAll => "forwards every valid CEF record (PAN-OS TRAFFIC too); drops lines without CEF and invalid CEF",
            FilterMode::Legacy => "forwards lines containing CEF: or ASA- (the old rsyslog rule); drops the rest",
            FilterMode::All => "forwards everything",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    Legacy,
    Ama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// The received message bytes, unchanged.
    Raw,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG MSG`, rsyslog's traditional forward format.
    Traditional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFraming {
    Lf,
    OctetCounted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// What a sink's buffer does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// TCP readers wait (their senders' windows close); UDP datagrams are dropped and counted.
    Block,
    /// The new batch is dropped and counted; readers carry on.
    DropNewest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// One JSON object per line.
    Ndjson,
    /// One JSON array per request.
    JsonArray,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub max_events: Option<Spanned<u64>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub segment_bytes: Option<Spanned<u64>>,
    pub when_full: Option<WhenFull>,
    pub fsync: Option<Spanned<String>>,
    pub fsync_interval_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub buffer: Option<RawBuffer>,
    /// This sink's own filter, in place of `[filter] mode`.
    pub filter: Option<FilterMode>,
    /// Rules that apply to this sink only, after the global ones.
    pub rules: Option<Spanned<Vec<String>>>,
    // Azure Logs Ingestion
    pub endpoint: Option<Spanned<String>>,
    pub dcr_immutable_id: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub auth: Option<RawAuth>,
    // Splunk HEC
    pub token_file: Option<Spanned<PathBuf>>,
    pub token_env: Option<Spanned<String>>,
    pub index: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub sourcetype: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub indexer_ack: Option<Spanned<bool>>,
    pub ack_timeout_secs: Option<Spanned<u64>>,
    pub ack_poll_interval_ms: Option<Spanned<u64>>,
    // Generic HTTP
    pub url: Option<Spanned<String>>,
    pub format: Option<Spanned<BodyFormat>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    // Every HTTP sink
    pub ca_file: Option<Spanned<PathBuf>>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub concurrency: Option<Spanned<u64>>,
    pub retry_initial_ms: Option<Spanned<u64>>,
    pub retry_max_ms: Option<Spanned<u64>>,
    pub max_batch_bytes: Option<Spanned<u64>>,
    pub max_batch_events: Option<Spanned<u64>>,
    pub batch_timeout_ms: Option<Spanned<u64>>,
    pub gzip: Option<Spanned<bool>>,
    pub dead_letter_max_bytes: Option<Spanned<u64>>,
    /// Full dead-letter files kept beside the one being written (`<name>.ndjson.1` …).
    pub dead_letter_files: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub authority: Option<String>,
    pub scope: Option<String>,
    pub endpoint: Option<String>,
    pub resource: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
}

impl RawListener {
    /// A listener with nothing but its address set, as the built-in defaults and `--listen` give.
    pub fn at(endpoint: &str) -> RawListener {
        RawListener {
            address: Spanned::new(0..0, endpoint.to_string()),
            framing: None,
            max_message_bytes: None,
            udp_sockets: None,
            receive_buffer_bytes: None,
            max_connections: None,
            max_connections_per_sender: None,
            idle_timeout_secs: None,
            frame_timeout_secs: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_handshake_timeout_secs: None,
            tls_accept_plain: None,
            proxy_protocol: None,
            trusted_proxies: None,
            proxy_protocol_optional: None,
            proxy_header_timeout_secs: None,
        }
    }
}
