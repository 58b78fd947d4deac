//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, v1 text and v2 binary) on TCP and TLS
//! listeners: a load balancer in front writes, before anything else on the connection, the address
//! of the sender it is relaying for, and that sender then stands in for the balancer everywhere the
//! relay uses the peer.
//!
//! The header is read byte-exactly from the raw TCP stream: what follows it (the syslog stream, or
//! the TLS ClientHello, since a balancer in TCP passthrough writes the header before the client's
//! first byte) stays in the socket for the framing decoder or the TLS acceptor. The header syntax
//! is parsed by the `ppp` crate; reading it off the socket, bounding it and deciding whom to trust
//! is done here.
//!
//! Who may send what:
//! - from an address in `trusted_proxies`: a header (v2 LOCAL, the balancer's own health check,
//!   is served as the balancer's connection), or with `proxy_protocol_optional` no header;
//! - from any other address: never a header (anyone could forge one); without one, served only
//!   with `proxy_protocol_optional` (a sender connecting directly), else closed.
//!
//! Whether a connection opens with a header is told by its first byte: `P` starts a v1 header,
//! CR a v2 one; syslog starts with `<` or a digit and TLS with 0x16.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::{v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::config::{ProxyProtocol, ProxyProtocolVersion};
use crate::telemetry::events;
use crate::telemetry::metrics::{CloseReason, ListenerMetrics, ProxyHeaderResult};

/// A v1 header is at most 107 bytes, CRLF included (the specification's bound).
const V1_MAX: usize = 107;
/// The v2 signature, then version and command, family and transport, and the length of the rest.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;
/// The largest address block of a v2 header (two UNIX paths). What the length announces beyond
/// it (and beyond the addresses of a smaller family) is TLVs, which the relay does not use: read
/// and dropped as they come, never held, so a header of any announced length costs no memory.
const V2_ADDRESSES_MAX: usize = 216;

/// What the start of a connection said about who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A trusted balancer's header named the original sender.
    Client(SocketAddr),
    /// A v2 LOCAL header: the balancer's own connection (its health check), no client address.
    Local,
    /// A header without a client address (v1 UNKNOWN, v2 UNSPEC or UNIX).
    Unknown,
    /// No header, where none is required.
    Direct,
}

impl Opening {
    /// The sender the relay sees for this connection: the header's client, else the socket's
    /// peer.
    pub fn sender(self, socket_peer: SocketAddr) -> SocketAddr {
        match self {
            Opening::Client(client) => client,
            Opening::Local | Opening::Unknown | Opening::Direct => socket_peer,
        }
    }

    /// Counts the header, if there was one.
    pub fn count(self, metrics: &ListenerMetrics) {
        let result = match self {
            Opening::Client(_) => ProxyHeaderResult::Accepted,
            Opening::Local => ProxyHeaderResult::Local,
            Opening::Unknown => ProxyHeaderResult::Unknown,
            Opening::Direct => return,
        };
        metrics.proxy_header(result).inc();
    }
}

/// Why a connection is closed before it was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Untrusted {
        sent_header: bool,
    },
    Missing,
    Malformed(String),
    Timeout,
    /// With the header optional, nothing arrived for `idle_timeout_secs`: an idle connection.
    Idle,
    /// The peer closed (or reset) the connection before sending anything: a balancer's plain
    /// TCP check, a port scan. Nothing to count or say.
    Closed,
}

impl Refused {
    /// Counts the refusal and says so (rate-limited).
    pub fn report(&self, peer: SocketAddr, settings: &ProxyProtocol, metrics: &ListenerMetrics) {
        match self {
            Refused::Untrusted { sent_header } => events::ProxyHeaderUntrusted {
                peer,
                sent_header: *sent_header,
            }
            .emit(metrics),
            Refused::Missing => events::ProxyHeaderMissing { peer }.emit(metrics),
            Refused::Malformed(reason) => {
                events::ProxyHeaderMalformed { peer, reason }.emit(metrics);
            }
            Refused::Timeout => events::ProxyHeaderTimedOut {
                peer,
                timeout_secs: settings.header_timeout.as_secs(),
            }
            .emit(metrics),
            Refused::Idle => metrics.closed(CloseReason::IdleTimeout).inc(),
            Refused::Closed => tracing::debug!("connection closed before it sent anything"),
        }
    }
}

/// Which header a connection's first byte starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Version {
    fn started_by(first: u8) -> Option<Version> {
        match first {
            b'P' => Some(Version::V1),
            b'\r' => Some(Version::V2),
            _ => None,
        }
    }

    fn taken_by(self, listener: ProxyProtocolVersion) -> bool {
        matches!(
            (self, listener),
            (_, ProxyProtocolVersion::Any)
                | (Version::V1, ProxyProtocolVersion::V1)
                | (Version::V2, ProxyProtocolVersion::V2)
        )
    }
}

/// Reads the PROXY header, if any, off the start of `stream` (accepted from `peer`), consuming
/// exactly its bytes. With the header required the whole of it must arrive within the header
/// timeout; with it optional the first byte may take as long as an idle connection may stay
/// silent (a direct sender may connect before it has anything to send), the rest of a header
/// the header timeout.
pub async fn read_opening(
    stream: &mut TcpStream,
    peer: SocketAddr,
    settings: &ProxyProtocol,
    idle_timeout: Duration,
) -> Result<Opening, Refused> {
    let trusted = settings.trusts(peer.ip());
    if !trusted && !settings.optional {
        return Err(Refused::Untrusted { sent_header: false });
    }
    let start = Instant::now();
    let first_by = start
        + if settings.optional {
            idle_timeout
        } else {
            settings.header_timeout
        };
    let mut first = [0u8; 1];
    let first = match timeout_at(first_by, stream.peek(&mut first)).await {
        Err(_) if settings.optional => return Err(Refused::Idle),
        Err(_) => return Err(Refused::Timeout),
        Ok(Ok(1)) => first[0],
        Ok(_) => return Err(Refused::Closed),
    };
    let Some(version) = Version::started_by(first) else {
        return if settings.optional {
            Ok(Opening::Direct)
        } else {
            Err(Refused::Missing)
        };
    };
    if !trusted {
        return Err(Refused::Untrusted { sent_header: true });
    }
    if !version.taken_by(settings.version) {
        let (sent, takes) = match version {
            Version::V1 => ("v1", "v2"),
            Version::V2 => ("v2", "v1"),
        };
        return Err(Refused::Malformed(format!(
            "a {sent} header on a listener that takes {takes}"
        )));
    }
    let header_by = if settings.optional {
        Instant::now()
    } else {
        start
    } + settings.header_timeout;
    let read = async {
        match version {
            Version::V1 => read_v1(stream).await,
            Version::V2 => read_v2(stream).await,
        }
    };
    timeout_at(header_by, read)
        .await
        .map_err(|_| Refused::Timeout)?
}

/// A read that failed inside the header: cut short is malformed, anything else (a reset) is the
/// peer gone.
fn cut_short(error: std::io::Error) -> Refused {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        Refused::Malformed("the connection ended inside the header".into())
    } else {
        Refused::Closed
    }
}

/// Reads a v1 header up to its LF: what has arrived is peeked, and only the bytes up to the LF
/// are taken, so nothing after the header is consumed.
async fn read_v1(stream: &mut TcpStream) -> Result<Opening, Refused> {
    let mut header = Vec::with_capacity(V1_MAX);
    let mut window = [0u8; V1_MAX];
    loop {
        let room = V1_MAX - header.len();
        let peeked = stream.peek(&mut window[..room]).await.map_err(cut_short)?;
        if peeked == 0 {
            return Err(cut_short(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let take = memchr::memchr(b'\n', &window[..peeked]).map_or(peeked, |lf| lf + 1);
        let start = header.len();
        header.resize(start + take, 0);
        stream
            .read_exact(&mut header[start..])
            .await
            .map_err(cut_short)?;
        // Garbage is refused at once, not after 107 bytes or the timeout.
        if !b"PROXY ".starts_with(&header[..header.len().min(6)]) {
            return Err(Refused::Malformed("not a v1 header".into()));
        }
        if header.ends_with(b"\n") {
            return parse_v1(&header).map_err(Refused::Malformed);
        }
        if header.len() == V1_MAX {
            return Err(Refused::Malformed(format!(
                "a v1 header longer than {V1_MAX} bytes"
            )));
        }
    }
}

/// Reads a v2 header: the fixed 16 bytes, the address block, and the TLVs after it, which are
/// dropped.
async fn read_v2(stream: &mut TcpStream) -> Result<Opening, Refused> {
    let mut header = vec![0u8; V2_FIXED];
    stream.read_exact(&mut header).await.map_err(cut_short)?;
    if header[..V2_SIGNATURE.len()] != V2_SIGNATURE {
        return Err(Refused::Malformed("not a v2 header signature".into()));
    }
    let announced = usize::from(u16::from_be_bytes([header[14], header[15]]));
    let kept = announced.min(V2_ADDRESSES_MAX);
    header.resize(V2_FIXED + kept, 0);
    stream
        .read_exact(&mut header[V2_FIXED..])
        .await
        .map_err(cut_short)?;
    let mut dropped = [0u8; 512];
    let mut left = announced - kept;
    while left > 0 {
        let n = left.min(dropped.len());
        stream
            .read_exact(&mut dropped[..n])
            .await
            .map_err(cut_short)?;
        left -= n;
    }
    parse_v2(&header).map_err(Refused::Malformed)
}

/// A whole v1 header, CRLF included.
fn parse_v1(header: &[u8]) -> Result<Opening, String> {
    let parsed = v1::Header::try_from(header).map_err(|error| error.to_string())?;
    if parsed.header.len() != header.len() {
        return Err("a CR inside the v1 header".into());
    }
    Ok(match parsed.addresses {
        v1::Addresses::Tcp4(a) => Opening::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Tcp6(a) => Opening::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Unknown => Opening::Unknown,
    })
}

/// A v2 header as [`read_v2`] keeps it: the fixed part and up to [`V2_ADDRESSES_MAX`] bytes
/// after it, whatever its length field says.
fn parse_v2(header: &[u8]) -> Result<Opening, String> {
    // The length field is set to what was kept, so that the parser sees a whole header.
    let mut kept = header.to_vec();
    let length = u16::try_from(header.len() - V2_FIXED).map_err(|_| "too long".to_string())?;
    kept[14..V2_FIXED].copy_from_slice(&length.to_be_bytes());
    let parsed = v2::Header::try_from(kept.as_slice()).map_err(|error| error.to_string())?;
    Ok(match (parsed.command, parsed.addresses) {
        (v2::Command::Local, _) => Opening::Local,
        (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
            Opening::Client((a.source_address, a.source_port).into())
        }
        (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
            Opening::Client((a.source_address, a.source_port).into())
        }
        (v2::Command::Proxy, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => {
            Opening::Unknown
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn settings(version: ProxyProtocolVersion, trusted: &str, optional: bool) -> ProxyProtocol {
        ProxyProtocol {
            version,
            trusted: vec![trusted.parse().expect("CIDR")],
            optional,
            header_timeout: Duration::from_secs(30),
        }
    }

    /// A v2 header: `command` 0 (LOCAL) or 1 (PROXY), family and transport byte, the address
    /// block and the TLVs.
    fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        let length = u16::try_from(addresses.len() + tlvs.len()).expect("short");
        header.extend(length.to_be_bytes());
        header.extend(addresses);
        header.extend(tlvs);
        header
    }

    fn tcp4(source: [u8; 4], port: u16) -> Vec<u8> {
        let mut block = source.to_vec();
        block.extend([10, 0, 0, 1]);
        block.extend(port.to_be_bytes());
        block.extend(514u16.to_be_bytes());
        block
    }

    /// Writes `sent` from a client bound to `from`, reads the opening on the accepted socket, and
    /// returns it with whatever the socket holds after it (the client closes after writing).
    async fn open_with(
        from: &str,
        settings: &ProxyProtocol,
        sent: &[u8],
    ) -> (Result<Opening, Refused>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{from}:0").parse().expect("address"))
            .expect("bind client");
        let mut client = socket
            .connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (mut server, peer) = listener.accept().await.expect("accept");
        client.write_all(sent).await.expect("write");
        client.shutdown().await.expect("FIN");
        let opening = read_opening(&mut server, peer, settings, Duration::from_secs(30)).await;
        let mut rest = Vec::new();
        if opening.is_ok() {
            server.read_to_end(&mut rest).await.expect("read the rest");
        }
        (opening, rest)
    }

    #[tokio::test]
    async fn a_v2_header_names_the_client_and_leaves_the_stream_after_it_unread() {
        let trusted = settings(ProxyProtocolVersion::V2, "127.0.0.1/32", false);
        // A TLV (type 0x04, NOOP) after the addresses is read past.
        let mut sent = v2(1, 0x11, &tcp4([192, 0, 2, 7], 40000), &[0x04, 0, 2, 9, 9]);
        sent.extend(b"<14>hello\n");
        let (opening, rest) = open_with("127.0.0.1", &trusted, &sent).await;
        assert_eq!(
            opening,
            Ok(Opening::Client("192.0.2.7:40000".parse().unwrap()))
        );
        assert_eq!(rest, b"<14>hello\n");
    }

    #[tokio::test]
    async fn tlvs_longer_than_any_address_block_are_read_past_and_what_follows_is_kept() {
        let trusted = settings(ProxyProtocolVersion::Any, "127.0.0.1/32", false);
        let tlvs: Vec<u8> = [0x04u8, 0x0f, 0xa0]
            .into_iter()
            .chain(std::iter::repeat_n(7, 4000))
            .collect();
        let mut sent = v2(1, 0x11, &tcp4([192, 0, 2, 8], 1), &tlvs);
        sent.extend(b"\x16\x03\x01");
        let (opening, rest) = open_with("127.0.0.1", &trusted, &sent).await;
        assert_eq!(opening, Ok(Opening::Client("192.0.2.8:1".parse().unwrap())));
        assert_eq!(rest, b"\x16\x03\x01");
    }

    #[tokio::test]
    async fn a_v2_local_header_is_the_balancers_own_connection() {
        let trusted = settings(ProxyProtocolVersion::V2, "127.0.0.1/32", false);
        let (opening, rest) = open_with("127.0.0.1", &trusted, &v2(0, 0x00, &[], &[])).await;
        assert_eq!(opening, Ok(Opening::Local));
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn a_v1_header_is_taken_up_to_its_crlf_and_no_further() {
        let trusted = settings(ProxyProtocolVersion::V1, "127.0.0.0/8", false);
        let sent = b"PROXY TCP6 2001:db8::5 2001:db8::1 5140 514\r\n<14>hi\n";
        let (opening, rest) = open_with("127.0.0.1", &trusted, sent).await;
        assert_eq!(
            opening,
            Ok(Opening::Client("[2001:db8::5]:5140".parse().unwrap()))
        );
        assert_eq!(rest, b"<14>hi\n");
        let (opening, rest) = open_with("127.0.0.1", &trusted, b"PROXY UNKNOWN\r\nX").await;
        assert_eq!(opening, Ok(Opening::Unknown));
        assert_eq!(rest, b"X");
    }

    #[tokio::test]
    async fn a_header_that_is_not_one_is_malformed() {
        let any = settings(ProxyProtocolVersion::Any, "127.0.0.1/32", false);
        let v1_only = settings(ProxyProtocolVersion::V1, "127.0.0.1/32", false);
        let too_long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        let mut bad_signature = v2(1, 0x11, &tcp4([192, 0, 2, 7], 1), &[]);
        bad_signature[3] = b'X';
        for (listener, sent) in [
            (&any, b"PROXY TCP4 300.0.0.1 10.0.0.1 1 2\r\n".to_vec()),
            (&any, b"PRIVATE\n".to_vec()),
            (&any, too_long.into_bytes()),
            (&any, bad_signature),
            // The address block shorter than the family needs.
            (&any, v2(1, 0x11, &[1, 2, 3], &[])),
            (&any, b"PROXY TCP4 192.0.2.1".to_vec()),
            (&v1_only, v2(1, 0x11, &tcp4([192, 0, 2, 7], 1), &[])),
        ] {
            let (opening, _) = open_with("127.0.0.1", listener, &sent).await;
            assert!(
                matches!(opening, Err(Refused::Malformed(_))),
                "{:?}: {opening:?}",
                String::from_utf8_lossy(&sent)
            );
        }
    }

    #[tokio::test]
    async fn trust_decides_who_may_send_a_header_and_who_may_go_without() {
        let header = v2(1, 0x11, &tcp4([192, 0, 2, 7], 1), &[]);
        let required = settings(ProxyProtocolVersion::V2, "127.0.0.2/32", false);
        let optional = settings(ProxyProtocolVersion::V2, "127.0.0.2/32", true);
        // From the balancer: a header, or without one only when optional.
        let (from_balancer, _) = open_with("127.0.0.2", &required, b"<14>direct\n").await;
        assert_eq!(from_balancer, Err(Refused::Missing));
        let (from_balancer, rest) = open_with("127.0.0.2", &optional, b"<14>direct\n").await;
        assert_eq!(from_balancer, Ok(Opening::Direct));
        assert_eq!(rest, b"<14>direct\n");
        // From elsewhere: never a header, and nothing at all when the header is required (refused
        // for its address before anything is read).
        let (forged, _) = open_with("127.0.0.3", &optional, &header).await;
        assert_eq!(forged, Err(Refused::Untrusted { sent_header: true }));
        for sent in [&header[..], b"<14>direct\n"] {
            let (refused, _) = open_with("127.0.0.3", &required, sent).await;
            assert_eq!(refused, Err(Refused::Untrusted { sent_header: false }));
        }
        let (direct, _) = open_with("127.0.0.3", &optional, b"<14>direct\n").await;
        assert_eq!(direct, Ok(Opening::Direct));
        // A balancer's plain TCP check: connected, closed, nothing said.
        let (check, _) = open_with("127.0.0.2", &required, b"").await;
        assert_eq!(check, Err(Refused::Closed));
    }

    #[tokio::test]
    async fn a_header_that_does_not_arrive_in_time_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (mut server, peer) = listener.accept().await.expect("accept");
        let trusted = ProxyProtocol {
            header_timeout: Duration::from_secs(1),
            ..settings(ProxyProtocolVersion::V1, "127.0.0.1/32", false)
        };
        client.write_all(b"PROXY TCP4 192.0").await.expect("write");
        let opening = read_opening(&mut server, peer, &trusted, Duration::from_secs(600)).await;
        assert_eq!(opening, Err(Refused::Timeout));
    }
}
