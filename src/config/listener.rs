//! `[[listener]]`: where the relay receives syslog, validated (address, framing, sizes, TLS files).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cefrelay_syslog::framing::{FramingMode, DEFAULT_MAX_FRAME};
use ipnet::IpNet;

use super::files;
use super::limits;
use super::raw::{Framing, ProxyProtocolVersion, RawListener};
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
    /// Set when a load balancer in front opens each connection with a PROXY protocol header.
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// The PROXY protocol on a TCP or TLS listener: the header a balancer writes before the syslog
/// stream (before the TLS ClientHello on a TLS listener) names the original sender, who then
/// stands in for the balancer everywhere the relay uses the peer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyProtocol {
    pub version: ProxyProtocolVersion,
    /// The balancers: a header from any other address closes the connection.
    pub trusted: Vec<IpNet>,
    /// Connections without a header are served too, with their socket's address (a balancer's
    /// health check, senders that connect directly during a migration).
    pub optional: bool,
    /// How long the whole header may take to arrive.
    pub header_timeout: Duration,
}

impl ProxyProtocol {
    /// Whether `peer` is one of the trusted balancers (an IPv4 peer on a dual-stack socket
    /// arrives as `::ffff:a.b.c.d` and is matched as IPv4).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted.iter().any(|network| network.contains(&peer))
    }
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
    let proxy_protocol = proxy_protocol(check, &key, &protocol, raw)?;
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
            32 * 1024 * 1024,
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
        proxy_protocol,
    })
}

/// The PROXY protocol keys of one listener, validated: `trusted_proxies` required with
/// `proxy_protocol`, neither on UDP, and no PROXY key without `proxy_protocol`.
fn proxy_protocol(
    check: &Validator<'_>,
    key: &dyn Fn(&str) -> String,
    protocol: &Protocol,
    raw: &RawListener,
) -> Result<Option<ProxyProtocol>, ConfigError> {
    let Some(version) = &raw.proxy_protocol else {
        // Refused rather than ignored: a balancer's settings without the header would otherwise
        // leave every sender looking like the balancer with no word of why.
        let stray = [
            (
                "trusted_proxies",
                raw.trusted_proxies.as_ref().map(|v| v.span()),
            ),
            (
                "proxy_protocol_optional",
                raw.proxy_protocol_optional.as_ref().map(|v| v.span()),
            ),
            (
                "proxy_header_timeout_secs",
                raw.proxy_header_timeout_secs.as_ref().map(|v| v.span()),
            ),
        ]
        .into_iter()
        .find_map(|(name, span)| span.map(|span| (name, span)));
        return match stray {
            Some((name, span)) => Err(check.error(
                key(name),
                Some(span),
                format!("{name} needs proxy_protocol = \"v1\", \"v2\" or \"any\""),
            )),
            None => Ok(None),
        };
    };
    if *protocol == Protocol::Udp {
        return Err(check.error(
            key("proxy_protocol"),
            Some(version.span()),
            "the PROXY protocol is for tcp:// and tls:// listeners; a UDP sender's address survives \
             a balancer that leaves it in the datagram (DNAT, direct server return) or HAProxy's \
             `mode log`"
                .into(),
        ));
    }
    let Some(trusted) = &raw.trusted_proxies else {
        return Err(check.error(
            key("trusted_proxies"),
            Some(version.span()),
            "proxy_protocol needs trusted_proxies: the addresses or CIDR networks of the \
             balancers whose headers are believed"
                .into(),
        ));
    };
    let networks = check.networks(key("trusted_proxies"), trusted)?;
    if networks.is_empty() {
        return Err(check.error(
            key("trusted_proxies"),
            Some(trusted.span()),
            "lists no balancer: every header would be refused".into(),
        ));
    }
    Ok(Some(ProxyProtocol {
        version: *version.get_ref(),
        trusted: networks,
        optional: raw
            .proxy_protocol_optional
            .as_ref()
            .is_some_and(|optional| *optional.get_ref()),
        header_timeout: check.secs(
            &key("proxy_header_timeout_secs"),
            raw.proxy_header_timeout_secs.as_ref(),
            &limits::PROXY_HEADER_TIMEOUT_SECS,
            5,
        )?,
    }))
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

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_udp_listener_asks_for_a_32_mib_receive_buffer_by_default() {
        // 8 MiB lost 3–9 % of issue 16's mix at 400 k msg/s to kernel drops while the relay's
        // core was busy elsewhere (README, UDP); 32 MiB lost none in the same runs.
        let text = "[[listener]]\naddress = \"udp://127.0.0.1:5514\"\n";
        let config = Config::from_toml(text, std::path::Path::new("c.toml")).expect("valid");
        assert_eq!(config.listeners[0].receive_buffer_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn proxy_protocol_keys_are_refused_naming_key_and_line_where_they_cannot_work() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        for (text, key, line) in [
            ("[[listener]]\naddress = \"udp://127.0.0.1:5514\"\nproxy_protocol = \"v2\"\ntrusted_proxies = [\"10.0.0.1\"]\n", "listener[0].proxy_protocol", 3),
            ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\n\nproxy_protocol = \"any\"\n", "listener[0].trusted_proxies", 4),
            ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nproxy_protocol = \"v1\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n", "listener[0].trusted_proxies", 4),
            ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nproxy_protocol = \"v1\"\ntrusted_proxies = []\n", "listener[0].trusted_proxies", 4),
            ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nproxy_protocol_optional = true\n", "listener[0].proxy_protocol_optional", 3),
            ("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nproxy_protocol = \"v3\"\n", "listener[0].proxy_protocol", 3),
        ] {
            let error = Config::from_toml(text, &file).expect_err(text);
            assert_eq!(error.key.as_deref(), Some(key), "{text}: {error}");
            assert_eq!(error.line, Some(line), "{text}: {error}");
        }
    }

    #[test]
    fn a_proxy_protocol_listener_trusts_its_balancers_also_as_mapped_ipv4() {
        let text = "[[listener]]\naddress = \"tcp://[::]:5514\"\nproxy_protocol = \"v2\"\ntrusted_proxies = [\"10.1.0.0/16\", \"2001:db8::7\"]\n";
        let config = Config::from_toml(text, std::path::Path::new("c.toml")).expect("valid");
        let proxy = config.listeners[0]
            .proxy_protocol
            .as_ref()
            .expect("proxy protocol on");
        assert!(!proxy.optional);
        assert_eq!(proxy.header_timeout.as_secs(), 5);
        for (peer, trusted) in [
            ("10.1.2.3", true),
            ("::ffff:10.1.2.3", true),
            ("10.2.0.1", false),
            ("2001:db8::7", true),
            ("2001:db8::8", false),
        ] {
            assert_eq!(proxy.trusts(peer.parse().unwrap()), trusted, "{peer}");
        }
    }
}
