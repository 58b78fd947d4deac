//! Command-line interface: one subcommand per job the relay does.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{
    listener_at, parse_endpoint, Agent, Config, ConfigError, FilterMode, Protocol, AMA_AGENT_PORT,
    LEGACY_AGENT_PORT,
};

#[derive(Debug, Parser)]
#[command(
    name = "cefrelay",
    version,
    about = "Syslog/CEF collector and forwarder for PAN-OS firewall logs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse syslog messages (one per line, or octet-counted) and print one JSON object per message.
    Parse(ParseArgs),
    /// Receive syslog and relay what the agent filter keeps to the local Azure Monitor agent.
    Run(RunArgs),
    /// Validate a configuration file exactly as `run` would; exit 64 naming the key and line.
    CheckConfig(CheckConfigArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (deploy/cefrelay.toml documents every key); defaults without one.
    #[arg(long, short)]
    pub config: Option<PathBuf>,

    /// Listen address, e.g. udp://0.0.0.0:514 or tcp://[::]:514; repeatable; replaces the file's listeners.
    #[arg(long = "listen", value_name = "URL")]
    pub listen: Vec<String>,

    /// Agent address, e.g. tcp://127.0.0.1:28330; replaces the file's forward addresses.
    #[arg(long, value_name = "URL")]
    pub forward: Option<String>,

    /// Which agent listens: legacy (OMS, port 25226) or ama (Azure Monitor Agent, port 28330).
    #[arg(long, value_enum)]
    pub agent: Option<AgentArg>,

    /// Agent filter: cef (valid CEF but not TRAFFIC), cef-all, legacy (text has CEF: or ASA-), all.
    #[arg(long, value_enum)]
    pub filter: Option<FilterArg>,

    /// Loopback address of /metrics and /health ("" turns it off).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentArg {
    Legacy,
    Ama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FilterArg {
    Cef,
    CefAll,
    Legacy,
    All,
}

impl RunArgs {
    /// Lays the command-line flags over a configuration, with the same validation as the file.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        let flag_error = |flag: &str, message: String| ConfigError {
            file: PathBuf::from("<command line>"),
            line: None,
            key: Some(flag.to_string()),
            message,
        };
        if !self.listen.is_empty() {
            config.listeners = self
                .listen
                .iter()
                .map(|url| listener_at(url).map_err(|m| flag_error("--listen", m)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(agent) = self.agent {
            let (agent, port, other_port) = match agent {
                AgentArg::Legacy => (Agent::Legacy, LEGACY_AGENT_PORT, AMA_AGENT_PORT),
                AgentArg::Ama => (Agent::Ama, AMA_AGENT_PORT, LEGACY_AGENT_PORT),
            };
            config.forward.agent = agent;
            // Follow the agent's port unless an address was chosen on purpose.
            for address in &mut config.forward.addresses {
                if address.ip().is_loopback() && address.port() == other_port {
                    address.set_port(port);
                }
            }
        }
        if let Some(url) = &self.forward {
            let (protocol, address) =
                parse_endpoint(url).map_err(|m| flag_error("--forward", m))?;
            if protocol != Protocol::Tcp {
                return Err(flag_error(
                    "--forward",
                    "the agent forward speaks tcp://".into(),
                ));
            }
            config.forward.protocol = protocol;
            config.forward.addresses = vec![address];
        }
        if let Some(filter) = self.filter {
            config.filter = match filter {
                FilterArg::Cef => FilterMode::Cef,
                FilterArg::CefAll => FilterMode::CefAll,
                FilterArg::Legacy => FilterMode::Legacy,
                FilterArg::All => FilterMode::All,
            };
        }
        if let Some(admin) = &self.admin {
            config.admin = match admin.as_str() {
                "" => None,
                text => {
                    let address: std::net::SocketAddr = text.parse().map_err(|_| {
                        flag_error("--admin", format!("`{text}` is not an IP:port address"))
                    })?;
                    if !address.ip().is_loopback() {
                        return Err(flag_error(
                            "--admin",
                            "bind the admin endpoint to a loopback address".into(),
                        ));
                    }
                    Some(address)
                }
            };
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Files to read; standard input when none is given (or for `-`).
    pub files: Vec<PathBuf>,

    /// How messages are delimited in the input.
    #[arg(long, value_enum, default_value_t = FramingArg::Lf)]
    pub framing: FramingArg,

    /// Largest message accepted, in bytes; longer frames are reported and skipped.
    #[arg(long, default_value_t = cefrelay_syslog::framing::DEFAULT_MAX_FRAME)]
    pub max_frame: usize,

    /// Reference time (RFC 3339) for the year of RFC 3164 timestamps, which carry none; default: now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub now: Option<time::OffsetDateTime>,

    /// UTC offset assumed for timestamps that carry none, e.g. `+02:00`; default UTC.
    #[arg(long, value_parser = parse_offset, default_value = "+00:00")]
    pub timezone: time::UtcOffset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FramingArg {
    /// One message per line (LF, CRLF or NUL terminated).
    Lf,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    Octet,
    /// Decide per frame: a frame that starts with `LEN SP` is octet-counted, others end at LF.
    Auto,
}

impl From<FramingArg> for cefrelay_syslog::framing::FramingMode {
    fn from(arg: FramingArg) -> Self {
        match arg {
            FramingArg::Lf => Self::NonTransparent,
            FramingArg::Octet => Self::OctetCounted,
            FramingArg::Auto => Self::Auto,
        }
    }
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 timestamp ({e}), e.g. 2026-11-22T10:00:00Z"))
}

fn parse_offset(s: &str) -> Result<time::UtcOffset, String> {
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Ok(time::UtcOffset::UTC);
    }
    time::UtcOffset::parse(s, &format).map_err(|e| format!("not a UTC offset ({e}), e.g. +02:00"))
}
