//! Where to send (`--to`), and the flag combinations refused before anything is opened.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use rustls::pki_types::ServerName;

use crate::cli::{SendArgs, SendFramingArg};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug)]
pub(super) struct Destination {
    /// As given on the command line, for messages.
    pub(super) url: String,
    pub(super) transport: Transport,
    pub(super) addresses: Vec<SocketAddr>,
    /// What the server's certificate must name (tls://): the host as written, IP or DNS name.
    pub(super) server_name: ServerName<'static>,
}

impl Destination {
    /// Parses `scheme://host:port` and resolves the host. Unless `allow_remote`, every address the
    /// host stands for must be loopback: tests and tools must not spray logs at real collectors.
    pub(super) fn parse(url: &str, allow_remote: bool) -> Result<Destination, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("--to `{url}` needs a scheme: udp://, tcp:// or tls://"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            other => {
                return Err(format!(
                    "--to: unknown scheme `{other}`: use udp, tcp or tls"
                ))
            }
        };
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once("]:").ok_or_else(|| {
                format!("--to `{url}`: expected [IPv6]:PORT, e.g. tcp://[::1]:514")
            })?,
            None => {
                let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
                    format!("--to `{url}` needs a port, e.g. {scheme}://127.0.0.1:514")
                })?;
                if host.contains(':') {
                    return Err(format!(
                        "--to `{url}`: write IPv6 addresses in brackets, e.g. {scheme}://[::1]:514"
                    ));
                }
                (host, port)
            }
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("--to `{url}`: `{port}` is not a port number (1-65535)"))?;
        if host.is_empty() {
            return Err(format!("--to `{url}` has no host"));
        }
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (host, port)
                .to_socket_addrs()
                .map_err(|error| format!("--to: cannot resolve `{host}`: {error}"))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(format!("--to: `{host}` resolves to no address"));
        }
        if !allow_remote {
            if let Some(remote) = addresses
                .iter()
                .find(|address| !address.ip().to_canonical().is_loopback())
            {
                return Err(format!(
                    "refusing to send to {url}: {} is not a loopback address (127.0.0.0/8 or ::1); \
                     add --allow-remote to send to another host",
                    remote.ip()
                ));
            }
        }
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("--to: `{host}` cannot be a TLS server name"))?;
        Ok(Destination {
            url: url.to_string(),
            transport,
            addresses,
            server_name,
        })
    }
}

/// Flag combinations that cannot work, refused before anything is opened.
pub(super) fn check_flags(args: &SendArgs, destination: &Destination) -> Result<(), String> {
    let tls_flag = [
        (args.tls_ca.is_some(), "--tls-ca"),
        (args.tls_insecure, "--tls-insecure"),
        (args.tls_cert.is_some(), "--tls-cert"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag));
    match destination.transport {
        Transport::Tls if args.tls_ca.is_none() && !args.tls_insecure => {
            return Err(
                "tls:// needs --tls-ca FILE (the CA that signed the receiver's \
                        certificate), or --tls-insecure to accept any certificate (tests only)"
                    .into(),
            )
        }
        Transport::Udp | Transport::Tcp if tls_flag.is_some() => {
            return Err(format!(
                "{} only applies to tls:// destinations",
                tls_flag.unwrap_or_default()
            ))
        }
        Transport::Udp if args.framing == SendFramingArg::Octet => {
            return Err(
                "--framing octet is for tcp:// and tls://; UDP sends one datagram per \
                        message"
                    .into(),
            )
        }
        _ => {}
    }
    if !is_header_token(&args.marker) {
        return Err(format!(
            "--marker `{}`: use letters, digits and . _ - : only (it must stay one CEF value)",
            args.marker
        ));
    }
    if let Some(hostname) = &args.hostname {
        if !is_header_token(hostname) {
            return Err(format!(
                "--hostname `{hostname}`: use letters, digits and . _ - : only (a syslog HOSTNAME)"
            ));
        }
    }
    Ok(())
}

/// A word that survives both a syslog header and a CEF value unchanged.
pub(super) fn is_header_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && !text.ends_with(':')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_destinations_are_accepted_in_every_spelling() {
        for url in [
            "udp://127.0.0.1:514",
            "tcp://127.9.8.7:5514",
            "tls://[::1]:6514",
            "TCP://[::ffff:127.0.0.1]:514",
        ] {
            let destination = Destination::parse(url, false).expect(url);
            assert_eq!(destination.addresses.len(), 1, "{url}");
        }
    }

    #[test]
    fn remote_destinations_need_allow_remote() {
        let error = Destination::parse("udp://8.8.8.8:514", false).expect_err("remote");
        assert!(
            error.contains("loopback") && error.contains("--allow-remote"),
            "{error}"
        );
        assert!(Destination::parse("udp://8.8.8.8:514", true).is_ok());
        assert!(Destination::parse("tcp://[2001:db8::1]:514", false).is_err());
    }

    #[test]
    fn malformed_destinations_say_what_is_wrong() {
        for (url, reason) in [
            ("127.0.0.1:514", "scheme"),
            ("http://127.0.0.1:514", "unknown scheme"),
            ("tcp://127.0.0.1", "needs a port"),
            ("tcp://::1:514", "brackets"),
            ("tcp://[::1]514", "[IPv6]:PORT"),
            ("tcp://127.0.0.1:0", "port number"),
            ("tcp://127.0.0.1:65536", "port number"),
            ("tcp://:514", "no host"),
        ] {
            let error = Destination::parse(url, false).expect_err(url);
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    #[test]
    fn marker_and_hostname_must_stay_single_tokens() {
        assert!(is_header_token("bench-run_2.a:1"));
        for bad in ["", "two words", "a=b", "back\\slash", "pipe|", "colon:"] {
            assert!(!is_header_token(bad), "{bad}");
        }
    }
}
