//! Command-line interface: one subcommand per job the relay does.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Agent, FilterMode, Framing, Overrides};

/// `cefrelay --version`: the version, the commit and the commit's date.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CEFRELAY_COMMIT"),
    ", ",
    env!("CEFRELAY_COMMIT_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "cefrelay",
    version = VERSION,
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
    /// Send generated PAN-OS CEF (or the lines of a file) to a syslog receiver and report the rate.
    Send(Box<SendArgs>),
    /// Check the relay, the agent, the host and the senders, read-only; exit 1 if anything FAILs.
    CefTroubleshoot(TroubleshootArgs),
    /// Install the relay as a hardened systemd service, its configuration, and (when asked)
    /// disable rsyslog/syslog-ng inputs that compete for port 514; idempotent.
    Install(Box<InstallArgs>),
    /// Reverse `install`: stop and remove the service, restore the disabled syslog lines.
    Uninstall(UninstallArgs),
    /// Stream what becomes of each message in the running relay (from its admin endpoint): the
    /// sender, whether it was dropped or forwarded and why, and its text; Ctrl-C stops.
    Tap(TapArgs),
    /// A live view of the running relay, refreshed each second: rates per listener, sender,
    /// filter decision and sink, buffers and errors (from its admin endpoint); q quits.
    Top(TopArgs),
    /// List and print the rule presets, and try a configuration's rules on sample lines.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to standard output: `cefrelay man > /usr/share/man/man1/cefrelay.1`;
    /// with --dir, write it and one page per subcommand (cefrelay-install.1, …) there.
    Man {
        /// Write every page (cefrelay.1 and cefrelay-SUBCOMMAND.1) into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// User-ID: push the NAC's mappings once (the cron script's replacement), or show the
    /// running relay's mapping table.
    #[command(subcommand)]
    Userid(UseridCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum UseridCommand {
    /// Poll every SQL source once, push what changed to every target, print a summary; exit 0
    /// only if every target took it.
    Sync {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the uid-messages instead of sending them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the running relay's mapping table (from its admin endpoint).
    Show {
        /// The relay's configuration, for its admin address (default 127.0.0.1:9514).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The JSON the admin endpoint answers, as it is.
        #[arg(long)]
        json: bool,
    },
}

/// Where `tap` and `top` find the running relay.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The relay's admin endpoint, e.g. 127.0.0.1:9514.
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub admin: Option<std::net::SocketAddr>,
    /// The relay's configuration, for its `[admin] listen` address [default:
    /// /etc/cefrelay/cefrelay.toml if it exists, else 127.0.0.1:9514].
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TapArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// received (every message, whatever became of it), dropped or forwarded.
    #[arg(
        long,
        default_value = "received",
        value_parser = clap::builder::PossibleValuesParser::new(crate::telemetry::tap::Stage::NAMES)
    )]
    pub stage: String,
    /// Only messages where FIELD=VALUE, FIELD!=VALUE, FIELD~REGEX or FIELD!~REGEX holds (any
    /// field a rule's `match` reads: type, subtype, peer, host, message, src, ext.cs1, …), or a
    /// rule's match table `{ … }`; repeatable, every one must hold.
    #[arg(long = "match", value_name = "EXPR")]
    pub matches: Vec<String>,
    /// Stop after this many messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Print each message as the admin endpoint's JSON line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Print the view once, as plain text, after one refresh interval, and exit (the default
    /// when standard output is not a terminal).
    #[arg(long, visible_alias = "headless")]
    pub once: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// List the presets `[[rule]] preset = "…"` takes.
    Presets,
    /// Print a preset's rules as TOML, to copy into a configuration and edit.
    Show {
        /// sophos or reduce-traffic
        preset: String,
    },
    /// Run a configuration's filter and rules over sample lines (files, or stdin) and print, per
    /// line, the rules that matched and the sinks it would reach, then a table per rule.
    Test(RulesTestArgs),
}

#[derive(Debug, clap::Args)]
pub struct RulesTestArgs {
    /// The configuration whose rules to try.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Files of sample lines, one message per line; stdin without any.
    pub files: Vec<PathBuf>,
    /// Exit 1 when a rule matched no line.
    #[arg(long)]
    pub expect_all_used: bool,
    /// The sender's address the lines are tested as coming from (rules on `peer`).
    #[arg(long, default_value = "127.0.0.1")]
    pub peer: std::net::IpAddr,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (deploy/cefrelay.toml documents every key); defaults without one.
    #[arg(long, short)]
    pub config: Option<PathBuf>,

    // The help text is an attribute, not a doc comment: rustdoc reads `[::]` as a link.
    #[arg(
        long = "listen",
        value_name = "URL",
        help = "Listen address, e.g. udp://0.0.0.0:514 or tcp://[::]:514; repeatable; replaces the file's listeners"
    )]
    pub listen: Vec<String>,

    /// Agent address, e.g. tcp://127.0.0.1:28330; replaces the file's forward addresses.
    #[arg(long, value_name = "URL")]
    pub forward: Option<String>,

    /// Which agent listens: legacy (OMS, port 25226) or ama (Azure Monitor Agent, port 28330).
    #[arg(long, value_enum)]
    pub agent: Option<Agent>,

    /// Agent filter: cef (valid CEF but not TRAFFIC), cef-all, legacy (text has CEF: or ASA-), all.
    #[arg(long, value_enum)]
    pub filter: Option<FilterMode>,

    /// Loopback address of /metrics and /health ("" turns it off).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    pub file: PathBuf,
}

impl RunArgs {
    /// The flags that lay over the configuration file, validated with it.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            forward: self.forward.clone(),
            agent: self.agent,
            filter: self.filter,
            admin: self.admin.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Files to read; standard input when none is given (or for `-`).
    pub files: Vec<PathBuf>,

    /// How messages are delimited in the input.
    #[arg(long, value_enum, default_value_t = Framing::Lf)]
    pub framing: Framing,

    /// Largest message accepted, in bytes (at most 64 MiB); longer frames are reported and skipped.
    #[arg(long, default_value_t = cefrelay_syslog::framing::DEFAULT_MAX_FRAME, value_parser = parse_max_frame)]
    pub max_frame: usize,

    /// Reference time (RFC 3339) for the year of RFC 3164 timestamps, which carry none; default: now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub now: Option<time::OffsetDateTime>,

    /// UTC offset assumed for timestamps that carry none, e.g. `+02:00`; default UTC.
    #[arg(long, value_parser = parse_offset, default_value = "+00:00")]
    pub timezone: time::UtcOffset,

    /// Instead of JSON, print each message as a line again, PAN-OS CSV converted to the CEF the
    /// firewall would send (CSV times read in --timezone); other messages as they came.
    #[arg(long)]
    pub to_cef: bool,
}

/// 1 to 64 MiB: the framing decoder's limit, as for a listener.
fn parse_max_frame(text: &str) -> Result<usize, String> {
    let limit = cefrelay_syslog::framing::MAX_FRAME_LIMIT;
    match text.parse::<usize>() {
        Ok(n) if (1..=limit).contains(&n) => Ok(n),
        _ => Err(format!("a number of bytes from 1 to {limit} (64 MiB)")),
    }
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 timestamp ({e}), e.g. 2026-11-22T10:00:00Z"))
}

fn parse_offset(s: &str) -> Result<time::UtcOffset, String> {
    crate::config::parse_offset(s)
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[arg(
        long,
        value_name = "URL",
        help = "Receiver: udp://, tcp:// or tls:// HOST:PORT (IPv6 as tcp://[::1]:514); loopback only unless --allow-remote"
    )]
    pub to: String,

    /// Allow a receiver that is not on a loopback address (127.0.0.0/8, ::1).
    #[arg(long)]
    pub allow_remote: bool,

    /// Send the lines of FILE (LF or CRLF, empty lines skipped) instead of generated messages.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Start again at the top of --file until --count or --duration is reached.
    #[arg(long = "loop", requires = "file")]
    pub repeat: bool,

    /// Messages to send: default 1000, unlimited with --duration, one pass over --file without --loop.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<std::time::Duration>,

    /// Messages per second over all connections; default: as fast as the receiver takes them.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Parallel connections (tcp/tls) or sockets (udp); the messages are split between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub connections: u16,

    /// Framing on tcp/tls: lf (a line per message) or octet (RFC 6587 octet counting).
    #[arg(long, value_enum, default_value_t = SendFramingArg::Lf)]
    pub framing: SendFramingArg,

    /// PEM CA certificate(s) that the tls:// receiver's certificate must chain to.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_insecure")]
    pub tls_ca: Option<PathBuf>,

    /// Accept any tls:// server certificate without checking it (tests only: no authentication).
    #[arg(long)]
    pub tls_insecure: bool,

    /// PEM client certificate for mutual TLS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Generated message n carries `externalId=PREFIX-n`, so a receiver can count exactly.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "cefrelay-send",
        conflicts_with = "file"
    )]
    pub marker: String,

    /// Log types to generate, as relative weights: traffic, threat (or its subtypes url,
    /// vulnerability, spyware, virus, wildfire), system, config, globalprotect, userid, hipmatch.
    /// Default: traffic=70,threat=20,system=5,config=2,globalprotect=1,userid=1,hipmatch=1.
    #[arg(long, value_name = "KIND=WEIGHT,...", conflicts_with = "file")]
    pub mix: Option<cefrelay_panos::generate::Mix>,

    /// Seed of the generator: the same seed sends the same messages.
    #[arg(long, default_value_t = cefrelay_panos::generate::DEFAULT_SEED, conflicts_with = "file")]
    pub seed: u64,

    /// Syslog header of generated messages.
    #[arg(long, value_enum, default_value_t = SyslogFormatArg::Rfc3164, conflicts_with = "file")]
    pub format: SyslogFormatArg,

    /// HOSTNAME in the header of generated messages; default: this machine's name.
    #[arg(long, conflicts_with = "file")]
    pub hostname: Option<String>,

    /// Print the summary as one JSON object: {"sent","bytes","seconds","rate","errors"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SendFramingArg {
    Lf,
    Octet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyslogFormatArg {
    Rfc3164,
    Rfc5424,
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("`{s}` is not a positive number of seconds"))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .ok_or_else(|| format!("`{s}` is not a positive number of messages per second"))
}

/// `cefrelay cef-troubleshoot`.
#[derive(Debug, Clone, clap::Args)]
pub struct TroubleshootArgs {
    /// The relay's configuration [default: /etc/cefrelay/cefrelay.toml if it exists, else the built-in defaults].
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the mock messages to reach the agent.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Seconds of live traffic to watch per sending host (0 skips the check).
    #[arg(long, default_value_t = 10)]
    pub live: u64,
    /// Mock messages to send over each of UDP and TCP.
    #[arg(long, default_value_t = 5)]
    pub mocks: usize,
    /// When nothing listens on the agent port, listen there during the end-to-end check and show
    /// what the relay would deliver.
    #[arg(long)]
    pub capture: bool,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Which agent the relay feeds: legacy (OMS, 127.0.0.1:25226) or ama (127.0.0.1:28330)
    /// [default: the one listening on this host; ama when both do; legacy when neither does].
    #[arg(long, value_enum)]
    pub agent: Option<Agent>,
    /// Listener URL (repeatable), e.g. udp://0.0.0.0:514 [default: UDP and TCP 514 on IPv4 and IPv6].
    #[arg(long = "listen", value_name = "URL")]
    pub listen: Vec<String>,
    /// Where to send, tcp:// or udp:// [default: the agent's port on 127.0.0.1 over TCP].
    #[arg(long, value_name = "URL")]
    pub forward: Option<String>,
    /// Agent filter mode [default: cef].
    #[arg(long, value_enum)]
    pub filter: Option<FilterMode>,
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        help = "PEM certificate chain for TLS listeners (given to the service with LoadCredential=). Adds tls://0.0.0.0:6514 and tls://[::]:6514 unless a tls:// --listen is given"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (may stay readable by root only).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that client certificates must chain to (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Comment out rsyslog/syslog-ng inputs on 514 and old agent forwarding rules, in place.
    #[arg(long)]
    pub disable_conflicting_inputs: bool,
    /// Replace an existing /etc/cefrelay/cefrelay.toml (the old one is kept as .cefrelay.bak).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Also remove /etc/cefrelay/cefrelay.toml.
    #[arg(long)]
    pub purge: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// Install under this directory instead of / (nothing is started; the commands are printed).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print every change and command without making any.
    #[arg(long)]
    pub dry_run: bool,
}
