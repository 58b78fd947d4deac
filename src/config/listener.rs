//! `[[listener]]`: where the relay receives syslog, validated (address, framing, sizes, TLS files).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cefrelay_syslog::framing::{FramingMode, DEFAULT_MAX_FRAME};

use super::files;
use super::limits;
use super::raw::{Framing, RawListener};
use super::validate::{Validator, COMMAND_LINE};
use super::ConfigError;

/// What `cefrelay run` listens on without a file or `--listen`.
pub const DEFAULT_LISTENERS: [&str; 4] = [
    "udp://0.0.0.0:514",
    "udp://[::]:514",
    "tcp://0.0.0.0:514",
    "tcp://[::]:514",
];

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

impl From<Framing> for FramingMode {
    fn from(framing: Framing) -> Self {
        match framing {
            Framing::Auto => FramingMode::Auto,
            Framing::OctetCounted => FramingMode::OctetCounted,
            Framing::Lf => FramingMode::NonTransparent,
        }
    }
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

/// `listener[index]`, validated.
// One piece: one key after another, each with its default and range beside it.
pub fn validate(
    check: &Validator<'_>,
    index: usize,
    raw: &RawListener,
) -> Result<Listener, ConfigError> {
    let key = |name: &str| format!("listener[{index}].{name}");
    let (protocol, address) = parse_endpoint(raw.address.get_ref())
        .map_err(|m| check.error(key("address"), Some(raw.address.span()), m))?;
    // UDP: what one datagram can carry; TCP and TLS: up to the framing decoder's limit.
    let message_limit = match protocol {
        Protocol::Udp => limits::UDP_MESSAGE_BYTES,
        Protocol::Tcp | Protocol::Tls => limits::STREAM_MESSAGE_BYTES,
    };
    let max_message_bytes = check.size(
        &key("max_message_bytes"),
        raw.max_message_bytes.as_ref(),
        &message_limit,
        DEFAULT_MAX_FRAME as u64,
    )?;
    let max_connections = check.size(
        &key("max_connections"),
        raw.max_connections.as_ref(),
        &limits::MAX_CONNECTIONS,
        4096,
    )?;
    let handshake_timeout = check.secs(
        &key("tls_handshake_timeout_secs"),
        raw.tls_handshake_timeout_secs.as_ref(),
        &limits::TLS_HANDSHAKE_TIMEOUT_SECS,
        10,
    )?;
    let tls_keys = [&raw.tls_cert, &raw.tls_key, &raw.tls_client_ca];
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (Some(cert), Some(key_file)) if protocol == Protocol::Tls => Some(Tls {
            cert: check.beside_file(cert.get_ref()),
            key: check.beside_file(key_file.get_ref()),
            client_ca: raw
                .tls_client_ca
                .as_ref()
                .map(|ca| check.beside_file(ca.get_ref())),
            handshake_timeout,
            accept_plain: raw.tls_accept_plain.unwrap_or(false),
        }),
        _ if protocol == Protocol::Tls => {
            return Err(check.error(
                key("tls_cert"),
                Some(raw.address.span()),
                "a tls:// listener needs tls_cert and tls_key (PEM files)".into(),
            ))
        }
        _ => {
            if let Some(stray) = tls_keys.iter().find_map(|k| k.as_ref()) {
                return Err(check.error(
                    key("tls_cert"),
                    Some(stray.span()),
                    "TLS settings need a tls:// address".into(),
                ));
            }
            None
        }
    };
    if let Some(tls) = &tls {
        files::tls_files(
            check,
            &key,
            (&tls.cert, &tls.key, tls.client_ca.as_deref()),
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
        framing: raw.framing.unwrap_or(Framing::Auto).into(),
        max_message_bytes,
        udp_sockets: check.size(
            &key("udp_sockets"),
            raw.udp_sockets.as_ref(),
            &limits::UDP_SOCKETS,
            0,
        )?,
        receive_buffer_bytes: check.size(
            &key("receive_buffer_bytes"),
            raw.receive_buffer_bytes.as_ref(),
            &limits::RECEIVE_BUFFER_BYTES,
            8 * 1024 * 1024,
        )?,
        max_connections,
        max_connections_per_sender: check.size(
            &key("max_connections_per_sender"),
            raw.max_connections_per_sender.as_ref(),
            &limits::MAX_CONNECTIONS,
            256,
        )?,
        idle_timeout: check.secs(
            &key("idle_timeout_secs"),
            raw.idle_timeout_secs.as_ref(),
            &limits::IDLE_TIMEOUT_SECS,
            600,
        )?,
        frame_timeout: check.secs(
            &key("frame_timeout_secs"),
            raw.frame_timeout_secs.as_ref(),
            &limits::IDLE_TIMEOUT_SECS,
            30,
        )?,
        tls,
    })
}

/// A listener on `url` with every other setting at its default, as `--listen` gives.
pub fn listener_at(url: &str) -> Result<Listener, String> {
    let validator = Validator::new("", std::path::Path::new(COMMAND_LINE), &[]);
    validate(&validator, 0, &RawListener::at(url)).map_err(|error| error.message)
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
