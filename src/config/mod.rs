//! Configuration in layers: [`raw`] is what serde reads from TOML (unknown keys rejected); the
//! validated types ([`Config`] and a module per table: [`listener`], [`forward`], [`buffer`],
//! [`sinks`]) are what `run` uses; [`validate`](mod@validate) is the leaf every check goes through, naming the
//! key, the file and the line; [`overrides`] lays command-line flags over the file *before*
//! validation, so flags and file are checked by the same code. `check-config` runs exactly this.

mod buffer;
mod enrich;
mod files;
mod forward;
pub mod limits;
mod listener;
mod overrides;
mod panos;
pub(crate) mod raw;
pub mod rules;
mod sinks;
pub mod userid;
pub(crate) mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

pub use buffer::{BufferConfig, BufferKind, FsyncPolicy};
pub use enrich::Enrich;
pub use forward::{Forward, AGENT_SINK_NAME, AMA_AGENT_PORT, LEGACY_AGENT_PORT};
pub use listener::{
    duplicate_listener, listener_at, parse_endpoint, Listener, Protocol, ProxyProtocol, Tls,
    DEFAULT_LISTENERS,
};
pub use overrides::Overrides;
pub use panos::{parse_offset, Panos};
pub use raw::{
    Agent, BodyFormat, FilterMode, Framing, LogFormat, OutputFormat, OutputFraming, PanosCsv,
    ProxyProtocolVersion, RawConfig, WhenFull,
};
pub use rules::Rules;
pub use sinks::HttpSink;

use raw::RawListener;
use validate::Validator;

/// The admin endpoint unless told otherwise.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9514";
const DEFAULT_STATE_DIR: &str = "/var/lib/cefrelay";

#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub filter: FilterMode,
    pub forward: Forward,
    /// HTTP sinks, each with its own buffer; every kept message goes to each of them.
    pub sinks: Vec<HttpSink>,
    pub state_dir: PathBuf,
    pub admin: Option<SocketAddr>,
    /// `[admin] token_file`: the bearer token every admin route but `/health` requires, and
    /// that the relay's own commands (`cef-troubleshoot`, `userid show`) send.
    pub admin_token: Option<validate::Secret>,
    pub log: Log,
    pub shutdown_grace: Duration,
    /// What becomes of PAN-OS CSV, and the firewalls' clock offsets.
    pub panos: Panos,
    /// The platform rules, tried in order after the agent filter.
    pub rules: Rules,
    /// What the enrich stage adds.
    pub enrich: Enrich,
    /// User-ID sources and targets; `None` without a `[userid]` table.
    pub userid: Option<userid::Userid>,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
    /// Between summary lines; `None`: no summary.
    pub summary_every: Option<Duration>,
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
        Self::load_with(Some(path), &Overrides::default())
    }

    /// The configuration `run` uses: the file (or the built-in defaults without one) with the
    /// command-line flags laid over it, validated as one.
    pub fn load_with(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (text, file) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    file: path.to_path_buf(),
                    line: None,
                    key: None,
                    message: format!("cannot read the file: {e}"),
                })?;
                (text, path)
            }
            None => (String::new(), Path::new("<defaults>")),
        };
        let mut raw: RawConfig = validate::parse(&text, file)?;
        let flags = overrides.apply(&mut raw);
        validate(&raw, &Validator::new(&text, file, &flags))
    }

    /// Validates TOML text; `file` is only used to name the source in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = validate::parse(text, file)?;
        validate(&raw, &Validator::new(text, file, &[]))
    }
}

impl Default for Config {
    /// The defaults `cefrelay run` uses without a file: UDP and TCP on port 514 (IPv4 and IPv6),
    /// the agent filter, and the legacy agent port.
    fn default() -> Self {
        Config::from_toml("", Path::new("<defaults>")).expect("the built-in defaults are valid")
    }
}

/// The validated configuration: every default decided, every value checked.
// One piece: the tables in file order, then the checks that need several of them.
fn validate(raw: &RawConfig, check: &Validator<'_>) -> Result<Config, ConfigError> {
    let listeners = if raw.listener.is_empty() {
        DEFAULT_LISTENERS
            .iter()
            .enumerate()
            .map(|(index, endpoint)| listener::validate(check, index, &RawListener::at(endpoint)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        raw.listener
            .iter()
            .enumerate()
            .map(|(index, raw)| listener::validate(check, index, raw))
            .collect::<Result<Vec<_>, _>>()?
    };
    if let Some((earlier, later)) = duplicate_listener(&listeners) {
        return Err(check.error(
            format!("listener[{later}].address"),
            raw.listener.get(later).map(|raw| raw.address.span()),
            format!(
                "{} binds what listener[{earlier}] ({}) binds: each address once per transport \
                 (tcp:// and tls:// are both TCP)",
                listeners[later].name(),
                listeners[earlier].name()
            ),
        ));
    }
    let admin = match &raw.admin.listen {
        None => Some(
            DEFAULT_ADMIN
                .parse()
                .expect("default admin address is valid"),
        ),
        Some(value) if value.get_ref().is_empty() => None,
        Some(value) => {
            let address: SocketAddr = value.get_ref().parse().map_err(|_| {
                check.error(
                    "admin.listen".into(),
                    Some(value.span()),
                    format!("`{}` is not an IP:port address", value.get_ref()),
                )
            })?;
            if !address.ip().is_loopback() && raw.admin.allow_remote != Some(true) {
                return Err(check.error(
                    "admin.listen".into(),
                    Some(value.span()),
                    "the admin endpoint is for this host: bind it to a loopback address, \
                     or set admin.allow_remote = true where only trusted hosts reach it (a pod \
                     network, a management VLAN), with admin.token_file to require a bearer token"
                        .into(),
                ));
            }
            Some(address)
        }
    };
    let sinks = raw
        .sink
        .iter()
        .enumerate()
        .map(|(index, raw)| sinks::validate(check, index, raw))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, sink) in sinks.iter().enumerate() {
        if sinks[..index].iter().any(|other| other.name == sink.name)
            || sink.name == AGENT_SINK_NAME
        {
            return Err(check.error(
                format!("sink[{index}].name"),
                Some(raw.sink[index].name.span()),
                format!("the name `{}` is taken: every sink needs its own (`{AGENT_SINK_NAME}` is the agent forward)", sink.name),
            ));
        }
    }
    let forward = forward::validate(check, &raw.forward)?;
    if !forward.enabled && sinks.is_empty() {
        return Err(check.error(
            "forward.enabled".into(),
            None,
            "with the agent forward off, at least one [[sink]] is needed".into(),
        ));
    }
    let sink_count = sinks.len() as u64 + u64::from(forward.enabled);
    if !limits::SINKS.range.contains(&sink_count) {
        return Err(check.error(
            "sink".into(),
            raw.sink.last().map(|sink| sink.name.span()),
            format!("{sink_count} sinks is out of range: {}", limits::SINKS),
        ));
    }
    // The names a route or a sink's own rules can use, in sink order.
    let mut sink_names = Vec::new();
    if forward.enabled {
        sink_names.push((AGENT_SINK_NAME.to_string(), raw.forward.rules.as_ref()));
    }
    for (sink, raw_sink) in sinks.iter().zip(&raw.sink) {
        sink_names.push((sink.name.clone(), raw_sink.rules.as_ref()));
    }
    let rules = rules::validate(check, raw, &sink_names)?;
    let state_dir = match &raw.state_dir {
        Some(dir) => check.beside_file(dir.get_ref()),
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
    if raw.userid.is_some() {
        needed.push(state_dir.join("userid"));
    }
    for dir in needed {
        files::writable_dir(&dir).map_err(|message| {
            let from = match raw.state_dir {
                Some(_) => String::new(),
                None => {
                    format!(" (state_dir defaults to $STATE_DIRECTORY, else {DEFAULT_STATE_DIR})")
                }
            };
            check.error(
                "state_dir".into(),
                raw.state_dir.as_ref().map(Spanned::span),
                format!("{message}{from}"),
            )
        })?;
    }
    let admin_token = raw
        .admin
        .token_file
        .as_ref()
        .map(|file| files::admin_token(check, file))
        .transpose()?;
    Ok(Config {
        listeners,
        filter: raw.filter.mode.unwrap_or(FilterMode::Cef),
        forward,
        sinks,
        state_dir,
        admin,
        admin_token,
        log: Log {
            format: raw.log.format.unwrap_or(LogFormat::Text),
            level: log_level(check, raw.log.level.as_ref())?,
            summary_every: Some(check.secs(
                "log.summary_secs",
                raw.log.summary_secs.as_ref(),
                &limits::SUMMARY_SECS,
                300,
            )?)
            .filter(|every| !every.is_zero()),
        },
        shutdown_grace: check.secs(
            "shutdown_grace_secs",
            raw.shutdown_grace_secs.as_ref(),
            &limits::SHUTDOWN_GRACE_SECS,
            10,
        )?,
        panos: panos::validate(check, &raw.panos)?,
        rules,
        enrich: enrich::validate(check, &raw.enrich)?,
        userid: raw
            .userid
            .as_ref()
            .map(|userid| userid::validate(check, userid))
            .transpose()?,
    })
}

/// `log.level`: a level (`error` … `trace`, `off`), or `RUST_LOG`-style directives such as
/// `info,cefrelay=debug`. A bare word that is not a level would be taken as a module name and log
/// nothing at all, so it is refused here rather than silencing the relay.
fn log_level(
    check: &Validator<'_>,
    level: Option<&Spanned<String>>,
) -> Result<String, ConfigError> {
    let Some(level) = level else {
        return Ok("info".into());
    };
    let text = level.get_ref();
    let is_level = |word: &str| {
        word.parse::<tracing_subscriber::filter::LevelFilter>()
            .is_ok()
    };
    let each_directive_ok = text.split(',').all(|directive| {
        let directive = directive.trim();
        is_level(directive) || (directive.contains('=') || directive.contains('['))
    });
    let parses = tracing_subscriber::EnvFilter::builder().parse(text).is_ok();
    if text.trim().is_empty() || !each_directive_ok || !parses {
        return Err(check.error(
            "log.level".into(),
            Some(level.span()),
            format!(
                "`{text}` is not a log level: use error, warn, info, debug, trace or off, or \
                 directives such as \"info,cefrelay=debug\""
            ),
        ));
    }
    Ok(text.clone())
}
