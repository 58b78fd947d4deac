//! Command-line interface: one subcommand per job the relay does.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "cefrelay", version, about = "Syslog/CEF collector and forwarder for PAN-OS firewall logs")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse syslog messages (one per line, or octet-counted) and print one JSON object per message.
    Parse(ParseArgs),
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
