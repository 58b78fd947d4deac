//! The configuration file as serde reads it. Defaults live here, and only here: `validate` turns a
//! `RawConfig` into a [`Config`] and is the one place that decides what a missing key means.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cefrelay_syslog::framing::{FramingMode, DEFAULT_MAX_FRAME};
use serde::Deserialize;
use toml::Spanned;

use super::limits::{self, Limit};
use super::sinks::{RawBuffer, RawSink};
use super::{
    Agent, BufferKind, Config, ConfigError, FilterMode, Forward, Listener, Log, LogFormat,
    OutputFormat, OutputFraming, Protocol, Tls, AMA_AGENT_PORT, LEGACY_AGENT_PORT,
};

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub address: Spanned<String>,
    pub framing: Option<RawFraming>,
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
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFraming {
    Auto,
    OctetCounted,
    Lf,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Loopback address for `/metrics` and `/health`; "" turns the endpoint off.
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
}

pub const DEFAULT_ADMIN: &str = "127.0.0.1:9514";
const DEFAULT_STATE_DIR: &str = "/var/lib/cefrelay";
/// The agent forward's name in metrics and under the state directory.
pub const AGENT_SINK_NAME: &str = "agent";
const DEFAULT_LISTENERS: [&str; 4] = [
    "udp://0.0.0.0:514",
    "udp://[::]:514",
    "tcp://0.0.0.0:514",
    "tcp://[::]:514",
];

pub fn parse(text: &str, file: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: e.span().map(|span| line_of(text, span)),
        key: e.span().and_then(|span| key_of_value(text, span.start)),
        message: e.message().trim().to_string(),
    })
}

/// The dotted key of the value that starts at `at` (`listener[1].max_message_bytes`,
/// `sink[0].buffer.max_events`), for serde's errors, which name only the expected type. `None`
/// when `at` is not a value after `key =`.
fn key_of_value(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut path = Vec::new();
    let mut end = at;
    // The key, then the keys of the inline tables it sits in on this line.
    loop {
        let (key, key_start) = key_before(text.get(line_start..end)?)?;
        path.push(key);
        let prefix = text.get(line_start..line_start + key_start)?;
        match prefix.rfind('{') {
            Some(brace) if !prefix[brace..].contains('}') => end = line_start + brace,
            _ => break,
        }
    }
    // Table headers, without a trailing comment.
    let headers = || {
        text.get(..line_start)
            .unwrap_or_default()
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| line.starts_with('['))
    };
    if let Some(header) = headers().next_back() {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let index = headers().filter(|line| *line == header).count();
            path.push(format!("{}[{}]", name.trim(), index.saturating_sub(1)));
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            path.push(name.trim().to_string());
        }
    }
    path.reverse();
    Some(path.join("."))
}

/// In `segment`, which ends where a value starts: the key before its `=`, and where that key
/// starts.
fn key_before(segment: &str) -> Option<(String, usize)> {
    let rest = segment.trim_end_matches([' ', '\t']).strip_suffix('=')?;
    let rest = rest.trim_end_matches([' ', '\t']);
    let start = rest
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = rest.get(start..)?.trim_matches('"');
    (!key.is_empty()).then(|| (key.to_string(), start))
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses `udp://ADDR`, `tcp://ADDR` or `tls://ADDR`.
pub fn parse_endpoint(value: &str) -> Result<(Protocol, SocketAddr), String> {
    let (scheme, address) = value
        .split_once("://")
        .ok_or_else(|| format!("`{value}` needs a scheme: udp://, tcp:// or tls://"))?;
    let protocol = match scheme {
        "udp" => Protocol::Udp,
        "tcp" => Protocol::Tcp,
        "tls" => Protocol::Tls,
        other => return Err(format!("unknown scheme `{other}`: use udp, tcp or tls")),
    };
    let address = address
        .parse()
        .map_err(|_| format!("`{address}` is not an IP:port address (IPv6 as [::1]:514)"))?;
    Ok((protocol, address))
}

pub(super) struct Validator<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Validator<'_> {
    pub(super) fn error(
        &self,
        key: String,
        span: Option<Range<usize>>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: span.map(|s| line_of(self.text, s)),
            key: Some(key),
            message,
        }
    }

    /// A path from the file, relative to the file's directory unless absolute.
    pub(super) fn beside_file(&self, path: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// `value` when it is within `limit`, `default` when the key is absent.
    pub(super) fn number(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<u64, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let n = *value.get_ref();
        if limit.range.contains(&n) {
            Ok(n)
        } else {
            Err(self.error(
                key.to_string(),
                Some(value.span()),
                format!("{n} is out of range: {limit}"),
            ))
        }
    }

    /// A size or count in memory: [`Self::number`] as a `usize`.
    pub(super) fn size(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<usize, ConfigError> {
        let n = self.number(key, value, limit, default)?;
        usize::try_from(n).map_err(|_| {
            self.error(
                key.to_string(),
                value.map(Spanned::span),
                format!("{n} does not fit in this machine's memory"),
            )
        })
    }

    pub(super) fn millis(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(
            self.number(key, value, limit, default)?,
        ))
    }

    pub(super) fn secs(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.number(key, value, limit, default)?,
        ))
    }

    fn listener(&self, index: usize, raw: &RawListener) -> Result<Listener, ConfigError> {
        let key = |name: &str| format!("listener[{index}].{name}");
        let (protocol, address) = parse_endpoint(raw.address.get_ref())
            .map_err(|m| self.error(key("address"), Some(raw.address.span()), m))?;
        // UDP: what one datagram can carry; TCP and TLS: up to the framing decoder's limit.
        let message_limit = match protocol {
            Protocol::Udp => limits::UDP_MESSAGE_BYTES,
            Protocol::Tcp | Protocol::Tls => limits::STREAM_MESSAGE_BYTES,
        };
        let max_message_bytes = self.size(
            &key("max_message_bytes"),
            raw.max_message_bytes.as_ref(),
            &message_limit,
            DEFAULT_MAX_FRAME as u64,
        )?;
        let max_connections = self.size(
            &key("max_connections"),
            raw.max_connections.as_ref(),
            &limits::MAX_CONNECTIONS,
            4096,
        )?;
        let handshake_timeout = self.secs(
            &key("tls_handshake_timeout_secs"),
            raw.tls_handshake_timeout_secs.as_ref(),
            &limits::TLS_HANDSHAKE_TIMEOUT_SECS,
            10,
        )?;
        let tls_keys = [&raw.tls_cert, &raw.tls_key, &raw.tls_client_ca];
        let tls = match (&raw.tls_cert, &raw.tls_key) {
            (Some(cert), Some(key_file)) if protocol == Protocol::Tls => Some(Tls {
                cert: self.beside_file(cert.get_ref()),
                key: self.beside_file(key_file.get_ref()),
                client_ca: raw
                    .tls_client_ca
                    .as_ref()
                    .map(|ca| self.beside_file(ca.get_ref())),
                handshake_timeout,
                accept_plain: raw.tls_accept_plain.unwrap_or(false),
            }),
            _ if protocol == Protocol::Tls => {
                return Err(self.error(
                    key("tls_cert"),
                    Some(raw.address.span()),
                    "a tls:// listener needs tls_cert and tls_key (PEM files)".into(),
                ))
            }
            _ => {
                if let Some(stray) = tls_keys.iter().find_map(|k| k.as_ref()) {
                    return Err(self.error(
                        key("tls_cert"),
                        Some(stray.span()),
                        "TLS settings need a tls:// address".into(),
                    ));
                }
                None
            }
        };
        if let Some(tls) = &tls {
            self.tls_files(
                &key,
                tls,
                [
                    ("tls_cert", raw.tls_cert.as_ref()),
                    ("tls_key", raw.tls_key.as_ref()),
                    ("tls_client_ca", raw.tls_client_ca.as_ref()),
                ],
            )?;
        }
        Ok(Listener {
            protocol,
            address,
            framing: match raw.framing.unwrap_or(RawFraming::Auto) {
                RawFraming::Auto => FramingMode::Auto,
                RawFraming::OctetCounted => FramingMode::OctetCounted,
                RawFraming::Lf => FramingMode::NonTransparent,
            },
            max_message_bytes,
            udp_sockets: self.size(
                &key("udp_sockets"),
                raw.udp_sockets.as_ref(),
                &limits::UDP_SOCKETS,
                0,
            )?,
            receive_buffer_bytes: self.size(
                &key("receive_buffer_bytes"),
                raw.receive_buffer_bytes.as_ref(),
                &limits::RECEIVE_BUFFER_BYTES,
                8 * 1024 * 1024,
            )?,
            max_connections,
            max_connections_per_sender: self.size(
                &key("max_connections_per_sender"),
                raw.max_connections_per_sender.as_ref(),
                &limits::MAX_CONNECTIONS,
                256,
            )?,
            idle_timeout: self.secs(
                &key("idle_timeout_secs"),
                raw.idle_timeout_secs.as_ref(),
                &limits::IDLE_TIMEOUT_SECS,
                600,
            )?,
            frame_timeout: self.secs(
                &key("frame_timeout_secs"),
                raw.frame_timeout_secs.as_ref(),
                &limits::IDLE_TIMEOUT_SECS,
                30,
            )?,
            tls,
        })
    }

    fn forward(&self, raw: &RawForward) -> Result<Forward, ConfigError> {
        let agent = raw.agent.unwrap_or(Agent::Legacy);
        let default_port = match agent {
            Agent::Legacy => LEGACY_AGENT_PORT,
            Agent::Ama => AMA_AGENT_PORT,
        };
        let (protocol, addresses) = match &raw.address {
            None => (
                Protocol::Tcp,
                vec![SocketAddr::from(([127, 0, 0, 1], default_port))],
            ),
            Some(list) => {
                let error = |m: String| self.error("forward.address".into(), Some(list.span()), m);
                if list.get_ref().is_empty() {
                    return Err(error("needs at least one address".into()));
                }
                let mut protocol = None;
                let mut addresses = Vec::new();
                for value in list.get_ref() {
                    let (p, address) = parse_endpoint(value).map_err(error)?;
                    if p == Protocol::Tls {
                        return Err(error("the agent forward speaks tcp:// or udp://".into()));
                    }
                    if protocol.is_some_and(|known| known != p) {
                        return Err(error("all addresses must use the same protocol".into()));
                    }
                    protocol = Some(p);
                    addresses.push(address);
                }
                if protocol == Some(Protocol::Udp) && addresses.len() > 1 {
                    return Err(error(
                        "a UDP forward takes one address (nothing tells UDP to fail over)".into(),
                    ));
                }
                (protocol.unwrap_or(Protocol::Tcp), addresses)
            }
        };
        let framing = raw.framing.unwrap_or(OutputFraming::Lf);
        if protocol == Protocol::Udp && framing != OutputFraming::Lf {
            return Err(self.error(
                "forward.framing".into(),
                raw.address.as_ref().map(|a| a.span()),
                "a UDP forward sends one message per datagram: framing must be \"lf\"".into(),
            ));
        }
        let queue_events = match &raw.queue_events {
            Some(v) if raw.buffer.is_some() => {
                return Err(self.error(
                    "forward.queue_events".into(),
                    Some(v.span()),
                    "set the queue size in forward.buffer (max_events or max_bytes), not both"
                        .into(),
                ))
            }
            value => self.size(
                "forward.queue_events",
                value.as_ref(),
                &limits::MAX_EVENTS,
                65_536,
            )?,
        };
        let buffer = self.buffer("forward.buffer", raw.buffer.as_ref(), queue_events)?;
        let reconnect_min = self.millis(
            "forward.reconnect_min_ms",
            raw.reconnect_min_ms.as_ref(),
            &limits::RECONNECT_MIN_MS,
            100,
        )?;
        let reconnect_max = self.millis(
            "forward.reconnect_max_ms",
            raw.reconnect_max_ms.as_ref(),
            &limits::RECONNECT_MAX_MS,
            5_000,
        )?;
        let resend_window_bytes = self.size(
            "forward.resend_window_bytes",
            raw.resend_window_bytes.as_ref(),
            &limits::RESEND_WINDOW_BYTES,
            4 * 1024 * 1024,
        )?;
        Ok(Forward {
            enabled: raw.enabled.unwrap_or(true),
            agent,
            protocol,
            addresses,
            // Both agents parse rsyslog's traditional forward format; it also normalises RFC 5424
            // input, whose header the agent's CEF rule does not expect.
            format: raw.format.unwrap_or(OutputFormat::Traditional),
            framing,
            buffer,
            resend_window_bytes,
            reconnect_min,
            reconnect_max: reconnect_max.max(reconnect_min),
        })
    }
}

impl RawConfig {
    pub fn validate(&self, text: &str, file: &Path) -> Result<Config, ConfigError> {
        let v = Validator { text, file };
        let listeners = if self.listener.is_empty() {
            DEFAULT_LISTENERS
                .iter()
                .enumerate()
                .map(|(index, endpoint)| v.listener(index, &RawListener::at(endpoint)))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            self.listener
                .iter()
                .enumerate()
                .map(|(index, raw)| v.listener(index, raw))
                .collect::<Result<Vec<_>, _>>()?
        };
        if let Some((earlier, later)) = super::duplicate_listener(&listeners) {
            return Err(v.error(
                format!("listener[{later}].address"),
                self.listener.get(later).map(|raw| raw.address.span()),
                format!(
                    "{} binds what listener[{earlier}] ({}) binds: each address once per transport \
                     (tcp:// and tls:// are both TCP)",
                    listeners[later].name(),
                    listeners[earlier].name()
                ),
            ));
        }
        let admin = match &self.admin.listen {
            None => Some(
                DEFAULT_ADMIN
                    .parse()
                    .expect("default admin address is valid"),
            ),
            Some(value) if value.get_ref().is_empty() => None,
            Some(value) => {
                let address: SocketAddr = value.get_ref().parse().map_err(|_| {
                    v.error(
                        "admin.listen".into(),
                        Some(value.span()),
                        format!("`{}` is not an IP:port address", value.get_ref()),
                    )
                })?;
                if !address.ip().is_loopback() {
                    return Err(v.error(
                        "admin.listen".into(),
                        Some(value.span()),
                        "the admin endpoint has no authentication: bind it to a loopback address"
                            .into(),
                    ));
                }
                Some(address)
            }
        };
        let sinks = self
            .sink
            .iter()
            .enumerate()
            .map(|(index, raw)| v.sink(index, raw))
            .collect::<Result<Vec<_>, _>>()?;
        for (index, sink) in sinks.iter().enumerate() {
            if sinks[..index].iter().any(|other| other.name == sink.name)
                || sink.name == AGENT_SINK_NAME
            {
                return Err(v.error(
                    format!("sink[{index}].name"),
                    Some(self.sink[index].name.span()),
                    format!("the name `{}` is taken: every sink needs its own (`{AGENT_SINK_NAME}` is the agent forward)", sink.name),
                ));
            }
        }
        let forward = v.forward(&self.forward)?;
        if !forward.enabled && sinks.is_empty() {
            return Err(v.error(
                "forward.enabled".into(),
                None,
                "with the agent forward off, at least one [[sink]] is needed".into(),
            ));
        }
        let state_dir = match &self.state_dir {
            Some(dir) => v.beside_file(dir.get_ref()),
            // systemd's StateDirectory= sets STATE_DIRECTORY.
            None => std::env::var_os("STATE_DIRECTORY")
                .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from),
        };
        // Disk buffers and dead-letter files: refused now rather than failing at the first
        // write. Each directory is checked itself when it exists (one made by another user).
        let mut needed = Vec::new();
        if forward.enabled && matches!(forward.buffer.kind, BufferKind::Disk { .. }) {
            needed.push(state_dir.join("buffer").join(AGENT_SINK_NAME));
        }
        for sink in &sinks {
            if matches!(sink.buffer.kind, BufferKind::Disk { .. }) {
                needed.push(state_dir.join("buffer").join(&sink.name));
            }
            needed.push(state_dir.join("dead-letter"));
        }
        for dir in needed {
            super::files::writable_dir(&dir).map_err(|message| {
                let from = match self.state_dir {
                    Some(_) => String::new(),
                    None => format!(
                        " (state_dir defaults to $STATE_DIRECTORY, else {DEFAULT_STATE_DIR})"
                    ),
                };
                v.error(
                    "state_dir".into(),
                    self.state_dir.as_ref().map(Spanned::span),
                    format!("{message}{from}"),
                )
            })?;
        }
        Ok(Config {
            listeners,
            filter: self.filter.mode.unwrap_or(FilterMode::Cef),
            forward,
            sinks,
            state_dir,
            admin,
            log: Log {
                format: self.log.format.unwrap_or(LogFormat::Text),
                level: self.log.level.clone().unwrap_or_else(|| "info".into()),
            },
            shutdown_grace: v.secs(
                "shutdown_grace_secs",
                self.shutdown_grace_secs.as_ref(),
                &limits::SHUTDOWN_GRACE_SECS,
                10,
            )?,
        })
    }
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
        }
    }
}

/// A listener on `url` with every other setting at its default, as `--listen` gives.
pub fn listener_at(url: &str) -> Result<Listener, String> {
    let validator = Validator {
        text: "",
        file: Path::new("<command line>"),
    };
    validator
        .listener(0, &RawListener::at(url))
        .map_err(|error| error.message)
}
