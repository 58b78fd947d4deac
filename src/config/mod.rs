//! Configuration in two layers: [`raw`] is what serde reads from TOML (unknown keys rejected), and
//! [`Config`] is the validated form that `run` uses. `check-config` runs exactly the same
//! validation. Every error names the key, the file and the line.

mod files;
pub mod limits;
mod raw;
mod sinks;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cefrelay_syslog::framing::FramingMode;

pub use raw::{listener_at, parse_endpoint, RawConfig, AGENT_SINK_NAME};
pub use sinks::{
    AzureAuth, BodyFormat, BufferConfig, BufferKind, FsyncPolicy, HttpAuth, HttpSink, HttpSinkKind,
    WhenFull,
};

/// Legacy OMS/MMA agent: TCP 127.0.0.1:25226. Azure Monitor Agent (≥ 1.28.11): TCP 127.0.0.1:28330.
pub const LEGACY_AGENT_PORT: u16 = 25226;
pub const AMA_AGENT_PORT: u16 = 28330;

#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub filter: FilterMode,
    pub forward: Forward,
    /// HTTP sinks, each with its own buffer; every kept message goes to each of them.
    pub sinks: Vec<HttpSink>,
    pub state_dir: PathBuf,
    pub admin: Option<SocketAddr>,
    pub log: Log,
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub protocol: Protocol,
    pub address: SocketAddr,
    pub framing: FramingMode,
    pub max_message_bytes: usize,
    /// UDP: sockets sharing the port through SO_REUSEPORT.
    pub udp_sockets: usize,
    pub receive_buffer_bytes: usize,
    pub max_connections: usize,
    /// Connections one sender (IPv4 address, IPv6 /64) may hold open at once; more are refused.
    pub max_connections_per_sender: usize,
    pub idle_timeout: Duration,
    /// How long a frame may take from its first byte to its last (slow trickles are closed).
    pub frame_timeout: Duration,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub handshake_timeout: Duration,
    /// Accept plain TCP syslog on the same port, told apart by the first byte (downgrade risk).
    pub accept_plain: bool,
}

/// Which messages go to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    Legacy,
    Ama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// The received message bytes, unchanged.
    Raw,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG MSG`, rsyslog's traditional forward format.
    Traditional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFraming {
    Lf,
    OctetCounted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub enabled: bool,
    pub agent: Agent,
    pub protocol: Protocol,
    pub addresses: Vec<SocketAddr>,
    pub format: OutputFormat,
    pub framing: OutputFraming,
    /// Events that may wait for the agent; when full, TCP reads stop and UDP drops are counted.
    pub buffer: BufferConfig,
    /// Bytes written to the agent that are re-sent after a broken connection, because TCP accepts
    /// writes to a peer that is already gone.
    pub resend_window_bytes: usize,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that cannot be used: names the file, line and key, and says what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_toml(&text, path)
    }

    /// Validates TOML text; `file` is only used to name the source in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        raw::parse(text, file)?.validate(text, file)
    }
}

impl Default for Config {
    /// The defaults `cefrelay run` uses without a file: UDP and TCP on port 514 (IPv4 and IPv6),
    /// the agent filter, and the legacy agent port.
    fn default() -> Self {
        RawConfig::default()
            .validate("", Path::new("<defaults>"))
            .expect("the built-in defaults are valid")
    }
}

/// The first listener that would bind what an earlier one binds — the same address over UDP, or
/// over TCP (tcp:// and tls:// alike) — as `(earlier, later)`. Two UDP sockets on one address
/// would both bind (SO_REUSEPORT) and split the traffic; TCP would fail at the bind.
pub fn duplicate_listener(listeners: &[Listener]) -> Option<(usize, usize)> {
    let udp = |l: &Listener| l.protocol == Protocol::Udp;
    listeners.iter().enumerate().find_map(|(later, listener)| {
        listeners[..later]
            .iter()
            .position(|e| e.address == listener.address && udp(e) == udp(listener))
            .map(|earlier| (earlier, later))
    })
}

impl Listener {
    /// `udp://0.0.0.0:514`: how logs and metrics name the listener.
    pub fn name(&self) -> String {
        format!("{}://{}", self.protocol, self.address)
    }
}
