//! `cefrelay send`: a syslog load generator for CEF. Sends generated PAN-OS CEF (or the lines of
//! a file) over UDP, TCP or TLS and reports what it did, for the benchmark harness and for
//! troubleshooting a relay.
//!
//! Speed comes from doing per message only what must differ: the records are built once (see
//! [`cefrelay_panos::generate::Pool`]), each message copies pre-built bytes and splices in its marker, and
//! a connection writes about 64 KiB of frames per system call.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use cefrelay_panos::generate::{write_decimal, HeaderFormat, Mix, Pool, SyslogHeader};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::cli::{SendArgs, SendFramingArg, SyslogFormatArg};
use crate::sanitize::for_terminal;

/// Messages sent when neither --count nor --duration says otherwise.
const DEFAULT_COUNT: u64 = 1000;
/// Messages a connection takes from the shared counter at a time: about 64 KiB of ~1 KB
/// messages, one `write_all` per batch.
const BATCH_MESSAGES: u64 = 64;
const BATCH_BYTES: usize = 64 * 1024;
/// A connection (including the TLS handshake) that takes longer than this has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// After the stop (--duration, Ctrl-C) a batch already being written gets this long to finish,
/// so that the receiver does not see a cut-off last message; and closing gets as long again.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// How long a TLS connection waits for the server to close after close_notify (servers close at
/// once; this only bounds one that does not).
const TLS_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Failed reconnects in a row after which a connection gives up (the others carry on).
const RECONNECT_ATTEMPTS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// With --rate, a connection sleeps at least this long between bursts: smooth enough for any
/// receiver, and at most 200 wake-ups per second however high the rate.
const PACING_TICK: Duration = Duration::from_millis(5);
/// HOSTNAME of generated messages when the machine's own name cannot be used.
const FALLBACK_HOSTNAME: &str = "cefrelay-send";

/// Runs the command: 0 when at least one message was sent, 1 when none could be, 64 for flags
/// that cannot work (as `run` does for a bad configuration).
pub fn run(args: &SendArgs) -> anyhow::Result<u8> {
    let destination = match Destination::parse(&args.to, args.allow_remote)
        .and_then(|destination| check_flags(args, &destination).map(|()| destination))
    {
        Ok(destination) => destination,
        Err(message) => {
            eprintln!("cefrelay send: {}", for_terminal(&message));
            return Ok(crate::exit::BAD_CONFIG);
        }
    };
    let source = Source::load(args)?;
    let total = message_total(args, &source);
    let framing = match (destination.transport, args.framing) {
        (Transport::Udp, _) => Framing::Datagram,
        (_, SendFramingArg::Lf) => Framing::Lf,
        (_, SendFramingArg::Octet) => Framing::Octet,
    };
    let tls = match destination.transport {
        Transport::Tls => Some(tls_connector(args)?),
        Transport::Udp | Transport::Tcp => None,
    };
    let plan = Plan {
        connector: Connector {
            addresses: destination.addresses.clone(),
            tls: tls.map(|connector| (connector, destination.server_name.clone())),
        },
        destination,
        encoder: Encoder::new(source, framing),
        total,
        duration: args.duration,
        rate: args.rate,
        connections: usize::from(args.connections),
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(plan.connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("cefrelay-send")
        .build()
        .context("starting the async runtime")?;
    let url = plan.destination.url.clone();
    let report = runtime.block_on(send(plan))?;
    report.print(args.json)?;
    if report.sent > 0 {
        return Ok(0);
    }
    eprintln!(
        "cefrelay send: nothing could be sent to {}{}",
        for_terminal(&url),
        report
            .last_error
            .map(|error| format!(": {}", for_terminal(&error)))
            .unwrap_or_default()
    );
    Ok(1)
}

// ---------------------------------------------------------------------------------------------
// What to send, where, and how much
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug)]
struct Destination {
    /// As given on the command line, for messages.
    url: String,
    transport: Transport,
    addresses: Vec<SocketAddr>,
    /// What the server's certificate must name (tls://): the host as written, IP or DNS name.
    server_name: ServerName<'static>,
}

impl Destination {
    /// Parses `scheme://host:port` and resolves the host. Unless `allow_remote`, every address the
    /// host stands for must be loopback: tests and tools must not spray logs at real collectors.
    fn parse(url: &str, allow_remote: bool) -> Result<Destination, String> {
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
fn check_flags(args: &SendArgs, destination: &Destination) -> Result<(), String> {
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
fn is_header_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && !text.ends_with(':')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// Where the messages come from.
#[derive(Debug, Clone)]
enum Source {
    Generated {
        pool: Arc<Pool>,
        marker: Arc<str>,
        header: SyslogHeader,
    },
    /// Lines of --file, sent as they are; message `n` is line `n % len` (never empty).
    File { lines: Arc<[Box<[u8]>]> },
}

impl Source {
    fn load(args: &SendArgs) -> anyhow::Result<Source> {
        if let Some(path) = &args.file {
            return Ok(Source::File {
                lines: read_lines(path)?.into(),
            });
        }
        let now = time::OffsetDateTime::now_utc();
        let format = match args.format {
            SyslogFormatArg::Rfc3164 => HeaderFormat::Rfc3164,
            SyslogFormatArg::Rfc5424 => HeaderFormat::Rfc5424,
        };
        let hostname = args.hostname.clone().unwrap_or_else(machine_hostname);
        Ok(Source::Generated {
            pool: Arc::new(Pool::new(
                args.mix.as_ref().unwrap_or(&Mix::default()),
                args.seed,
                now,
            )),
            marker: args.marker.as_str().into(),
            header: SyslogHeader::new(format, &hostname, now),
        })
    }
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Box<[u8]>>> {
    let text = std::fs::read(path).with_context(|| format!("reading --file {}", path.display()))?;
    let lines: Vec<Box<[u8]>> = text
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(Box::from)
        .collect();
    if lines.is_empty() {
        bail!("--file {} holds no messages", path.display());
    }
    Ok(lines)
}

/// This machine's name if it can stand in a syslog header, else a fixed one.
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| is_header_token(name))
        .unwrap_or_else(|| FALLBACK_HOSTNAME.to_string())
}

/// How many messages to send; `None` means until --duration ends (or Ctrl-C).
fn message_total(args: &SendArgs, source: &Source) -> Option<u64> {
    match (source, args.count) {
        // One pass over the file unless --loop, never more than --count.
        (Source::File { lines }, count) if !args.repeat => {
            let lines = lines.len() as u64;
            Some(count.map_or(lines, |count| count.min(lines)))
        }
        (_, Some(count)) => Some(count),
        (_, None) if args.duration.is_some() => None,
        (_, None) => Some(DEFAULT_COUNT),
    }
}

struct Plan {
    destination: Destination,
    connector: Connector,
    encoder: Encoder,
    total: Option<u64>,
    duration: Option<Duration>,
    rate: Option<f64>,
    connections: usize,
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Each message followed by LF (RFC 6587 non-transparent framing).
    Lf,
    /// `LEN SP MSG` (RFC 6587 octet counting).
    Octet,
    /// One UDP datagram per message, nothing added.
    Datagram,
}

/// Turns message numbers into framed bytes; each connection has its own (for its clock).
#[derive(Debug, Clone)]
struct Encoder {
    source: Source,
    framing: Framing,
}

impl Encoder {
    fn new(source: Source, framing: Framing) -> Self {
        Encoder { source, framing }
    }

    /// Stamps the messages of the next batch with the current time.
    fn refresh_clock(&mut self) {
        if let Source::Generated { header, .. } = &mut self.source {
            header.set_time(time::OffsetDateTime::now_utc());
        }
    }

    /// Appends message `n`, framed.
    fn encode(&self, n: u64, out: &mut Vec<u8>) {
        match &self.source {
            Source::Generated {
                pool,
                marker,
                header,
            } => {
                let record = pool.record(n);
                if self.framing == Framing::Octet {
                    write_decimal(record.line_len(header, marker, n) as u64, out);
                    out.push(b' ');
                }
                record.write_line(header, marker, n, out);
            }
            Source::File { lines } => {
                let line = &lines[(n % lines.len() as u64) as usize];
                if self.framing == Framing::Octet {
                    write_decimal(line.len() as u64, out);
                    out.push(b' ');
                }
                out.extend_from_slice(line);
            }
        }
        if self.framing == Framing::Lf {
            out.push(b'\n');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sharing the work, pacing, stopping
// ---------------------------------------------------------------------------------------------

/// Hands out message numbers to the connections, so that every number is sent once, whichever
/// connection is faster.
struct Counter {
    next: AtomicU64,
    total: u64,
}

impl Counter {
    fn claim(&self, want: u64) -> Range<u64> {
        let start = self.next.fetch_add(want, Ordering::Relaxed);
        start.min(self.total)..start.saturating_add(want).min(self.total)
    }
}

/// Keeps one connection at its share of --rate: messages go in bursts of whatever is due, with
/// at least [`PACING_TICK`] between bursts.
struct Pacer {
    per_second: f64,
    start: Instant,
    released: u64,
}

impl Pacer {
    /// Waits until at least one message is due, then releases up to `want` of them.
    async fn allowance(&mut self, want: u64) -> u64 {
        loop {
            match self.release(self.start.elapsed(), want) {
                Ok(released) => return released,
                Err(wake) => {
                    let wake = self
                        .start
                        .checked_add(wake)
                        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                    tokio::time::sleep_until(wake).await;
                }
            }
        }
    }

    /// At `elapsed` since the start: how many messages go now (at most `want`), or when (since
    /// the start) to look again.
    fn release(&mut self, elapsed: Duration, want: u64) -> Result<u64, Duration> {
        // The first message is due at once, the next ones every 1/rate seconds after it.
        let due = (elapsed.as_secs_f64() * self.per_second) as u64 + 1;
        if due > self.released {
            let released = (due - self.released).min(want);
            self.released += released;
            return Ok(released);
        }
        let next_due = Duration::try_from_secs_f64(self.released as f64 / self.per_second)
            .unwrap_or(Duration::MAX);
        Err(next_due.max(elapsed.saturating_add(PACING_TICK)))
    }
}

/// The end of --duration, or Ctrl-C.
#[derive(Clone)]
struct Stop {
    deadline: Option<Instant>,
    interrupted: CancellationToken,
}

impl Stop {
    fn reached(&self) -> bool {
        self.interrupted.is_cancelled() || self.deadline.is_some_and(|at| Instant::now() >= at)
    }

    async fn wait(&self) {
        match self.deadline {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = self.interrupted.cancelled() => {}
            },
            None => self.interrupted.cancelled().await,
        }
    }

    /// `work`'s output, or `None` if the stop comes first.
    async fn or_stop<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            output = work => Some(output),
            () = self.wait() => None,
        }
    }

    /// `work`'s output, or `None` if it is still running [`FINISH_GRACE`] after the stop.
    async fn or_stop_with_grace<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            output = work => Some(output),
            () = async { self.wait().await; tokio::time::sleep(FINISH_GRACE).await } => None,
        }
    }
}

/// What one connection did.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    bytes: u64,
    errors: u64,
    last_error: Option<String>,
}

impl Tally {
    fn error(&mut self, error: &io::Error) {
        self.errors += 1;
        self.last_error = Some(error.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

struct Connector {
    addresses: Vec<SocketAddr>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

enum Connection {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connector {
    /// A TCP connection (and TLS handshake), within [`CONNECT_TIMEOUT`].
    async fn connect(&self) -> io::Result<Connection> {
        let connect = async {
            let tcp = TcpStream::connect(&self.addresses[..]).await?;
            // Batches are large; the last, small one should not wait for Nagle.
            tcp.set_nodelay(true)?;
            match &self.tls {
                None => Ok(Connection::Tcp(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|tls| Connection::Tls(Box::new(tls)))
                    .map_err(|error| {
                        io::Error::new(error.kind(), format!("TLS handshake failed: {error}"))
                    }),
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }
}

impl Connection {
    async fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        match self {
            Connection::Tcp(stream) => stream.write_all(batch).await,
            Connection::Tls(stream) => {
                stream.write_all(batch).await?;
                stream.flush().await
            }
        }
    }

    /// Ends the stream cleanly: FIN for TCP, close_notify then FIN for TLS.
    async fn close(&mut self) -> io::Result<()> {
        match self {
            Connection::Tcp(stream) => stream.shutdown().await,
            Connection::Tls(stream) => {
                stream.shutdown().await?;
                // A TLS 1.3 server sends session tickets we never read, and closing a socket
                // with unread data sends RST instead of FIN, which can make the server drop the
                // messages it has not read yet. So read until the server has closed its side.
                let mut discard = [0u8; 4096];
                let server_closed = async {
                    while matches!(stream.read(&mut discard).await, Ok(read) if read > 0) {}
                };
                let _ = tokio::time::timeout(TLS_CLOSE_WAIT, server_closed).await;
                Ok(())
            }
        }
    }
}

fn tls_connector(args: &SendArgs) -> anyhow::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &args.tls_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(path, "--tls-ca")? {
                roots.add(certificate).with_context(|| {
                    format!("--tls-ca {}: unusable CA certificate", path.display())
                })?;
            }
            builder.with_root_certificates(roots)
        }
        // check_flags let this through only with --tls-insecure.
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate { provider })),
    };
    let config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let private_key = PrivateKeyDer::from_pem_file(key).with_context(|| {
                format!(
                    "--tls-key {}: no PEM private key could be read",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(read_certificates(cert, "--tls-cert")?, private_key)
                .with_context(|| {
                    format!(
                        "--tls-cert {} and --tls-key {} do not make a usable pair",
                        cert.display(),
                        key.display()
                    )
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn read_certificates(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{flag} {}: cannot read", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: not PEM certificates", path.display()))?;
    if certificates.is_empty() {
        bail!("{flag} {}: no certificate in the file", path.display());
    }
    Ok(certificates)
}

/// `--tls-insecure`: trusts whatever certificate the server shows, for tests against throwaway
/// certificates. Signatures are still checked, so the handshake itself is sound; only the
/// server's identity is not.
#[derive(Debug)]
struct AcceptAnyServerCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// Opens every connection (a failure here is an error naming the address), then sends until the
/// count or the duration is reached.
async fn send(plan: Plan) -> anyhow::Result<Report> {
    let Plan {
        destination,
        connector,
        encoder,
        total,
        duration,
        rate,
        connections,
    } = plan;
    let url = &destination.url;
    let interrupted = CancellationToken::new();
    tokio::spawn({
        let interrupted = interrupted.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.cancel();
            }
        }
    });
    let mut workers = tokio::task::JoinSet::new();
    let counter = Arc::new(Counter {
        next: AtomicU64::new(0),
        total: total.unwrap_or(u64::MAX),
    });
    let pacer = |start| {
        rate.map(|rate| Pacer {
            per_second: rate / connections as f64,
            start,
            released: 0,
        })
    };
    let start;
    if destination.transport == Transport::Udp {
        let mut sockets = Vec::with_capacity(connections);
        for _ in 0..connections {
            sockets.push(
                udp_socket(destination.addresses[0])
                    .await
                    .with_context(|| format!("cannot open a UDP socket to {url}"))?,
            );
        }
        start = Instant::now();
        let stop = Stop {
            deadline: duration.map(|duration| start + duration),
            interrupted,
        };
        for socket in sockets {
            workers.spawn(send_datagrams(
                socket,
                encoder.clone(),
                counter.clone(),
                pacer(start),
                stop.clone(),
            ));
        }
    } else {
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            let connection = connector.connect().await.map_err(|error| {
                let hint = if error.kind() == io::ErrorKind::ConnectionRefused {
                    "; is a receiver listening there?"
                } else {
                    ""
                };
                anyhow::anyhow!("cannot connect to {url}: {error}{hint}")
            })?;
            streams.push(connection);
        }
        start = Instant::now();
        let stop = Stop {
            deadline: duration.map(|duration| start + duration),
            interrupted,
        };
        let connector = Arc::new(connector);
        for (number, connection) in streams.into_iter().enumerate() {
            workers.spawn(send_stream(
                StreamWorker {
                    name: format!("connection {} to {url}", number + 1),
                    connector: connector.clone(),
                    encoder: encoder.clone(),
                    counter: counter.clone(),
                    pacer: pacer(start),
                    stop: stop.clone(),
                },
                connection,
            ));
        }
    }
    let mut report = Report::default();
    while let Some(tally) = workers.join_next().await {
        let tally = tally.context("a sending task failed")?;
        report.sent += tally.sent;
        report.bytes += tally.bytes;
        report.errors += tally.errors;
        report.last_error = tally.last_error.or(report.last_error);
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// A socket connected to `to`, so that each message is one plain `send` and ICMP errors
/// (port unreachable) come back to us as errors.
async fn udp_socket(to: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(to).await?;
    Ok(socket)
}

async fn send_datagrams(
    socket: UdpSocket,
    mut encoder: Encoder,
    counter: Arc<Counter>,
    mut pacer: Option<Pacer>,
    stop: Stop,
) -> Tally {
    let mut tally = Tally::default();
    let mut datagram = Vec::with_capacity(4096);
    while !stop.reached() {
        let want = match &mut pacer {
            Some(pacer) => match stop.or_stop(pacer.allowance(BATCH_MESSAGES)).await {
                Some(want) => want,
                None => break,
            },
            None => BATCH_MESSAGES,
        };
        let claimed = counter.claim(want);
        if claimed.is_empty() {
            break;
        }
        encoder.refresh_clock();
        for n in claimed {
            datagram.clear();
            encoder.encode(n, &mut datagram);
            match socket.send(&datagram).await {
                Ok(_) => {
                    tally.sent += 1;
                    tally.bytes += datagram.len() as u64;
                }
                // Port unreachable, buffer full, datagram too large: counted, and on we go.
                Err(error) => tally.error(&error),
            }
        }
    }
    tally
}

/// Everything a TCP or TLS connection's task needs besides the connection itself.
struct StreamWorker {
    /// For messages: "connection 2 to tcp://127.0.0.1:514".
    name: String,
    connector: Arc<Connector>,
    encoder: Encoder,
    counter: Arc<Counter>,
    pacer: Option<Pacer>,
    stop: Stop,
}

async fn send_stream(mut worker: StreamWorker, first: Connection) -> Tally {
    let mut tally = Tally::default();
    let mut connection = Some(first);
    let mut batch = Vec::with_capacity(BATCH_BYTES + 8 * 1024);
    // Failed connects and writes since the last batch that went through.
    let mut failures = 0u32;
    'batches: while !worker.stop.reached() {
        let want = match &mut worker.pacer {
            Some(pacer) => match worker.stop.or_stop(pacer.allowance(BATCH_MESSAGES)).await {
                Some(want) => want,
                None => break,
            },
            None => BATCH_MESSAGES,
        };
        let claimed = worker.counter.claim(want);
        if claimed.is_empty() {
            break;
        }
        batch.clear();
        worker.encoder.refresh_clock();
        for n in claimed.clone() {
            worker.encoder.encode(n, &mut batch);
        }
        // Until this batch is written: a batch lost to a reset connection is written again on
        // the next one, so a receiver sees every message (the cut-off one possibly twice).
        loop {
            let Some(open) = connection.as_mut() else {
                if failures >= RECONNECT_ATTEMPTS {
                    eprintln!(
                        "cefrelay send: {}: giving up after {failures} failed attempts in a row",
                        for_terminal(&worker.name)
                    );
                    break 'batches;
                }
                let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.min(5));
                if worker
                    .stop
                    .or_stop(tokio::time::sleep(backoff.min(MAX_BACKOFF)))
                    .await
                    .is_none()
                {
                    break 'batches;
                }
                match worker.stop.or_stop(worker.connector.connect()).await {
                    None => break 'batches,
                    Some(Ok(fresh)) => connection = Some(fresh),
                    Some(Err(error)) => {
                        failures += 1;
                        tally.error(&error);
                    }
                }
                continue;
            };
            match worker
                .stop
                .or_stop_with_grace(open.write_batch(&batch))
                .await
            {
                None => {
                    // The receiver stopped reading and the stop has come: the batch is lost.
                    connection = None;
                    break 'batches;
                }
                Some(Ok(())) => {
                    tally.sent += claimed.end - claimed.start;
                    tally.bytes += batch.len() as u64;
                    failures = 0;
                    break;
                }
                Some(Err(error)) => {
                    if failures == 0 {
                        eprintln!(
                            "cefrelay send: {}: {}; reconnecting",
                            for_terminal(&worker.name),
                            for_terminal(&error.to_string())
                        );
                    }
                    failures += 1;
                    tally.error(&error);
                    connection = None;
                }
            }
        }
    }
    if let Some(mut open) = connection {
        match tokio::time::timeout(FINISH_GRACE, open.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tally.error(&error),
            Err(_) => tally.error(&io::Error::new(
                io::ErrorKind::TimedOut,
                "closing the connection timed out",
            )),
        }
    }
    tally
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// The `--json` report, keys in this order.
#[derive(serde::Serialize)]
struct Summary {
    sent: u64,
    bytes: u64,
    seconds: f64,
    rate: f64,
    errors: u64,
}

#[derive(Debug, Default)]
struct Report {
    sent: u64,
    /// Bytes of framed messages handed to the kernel (TLS record overhead not included).
    bytes: u64,
    seconds: f64,
    errors: u64,
    last_error: Option<String>,
}

impl Report {
    fn print(&self, json: bool) -> anyhow::Result<()> {
        // A run shorter than the clock's resolution still gets a finite rate.
        let seconds = self.seconds.max(1e-9);
        let rate = self.sent as f64 / seconds;
        let line = if json {
            serde_json::to_string(&Summary {
                sent: self.sent,
                bytes: self.bytes,
                seconds: (self.seconds * 1000.0).round() / 1000.0,
                rate: (rate * 10.0).round() / 10.0,
                errors: self.errors,
            })
            .context("encoding the JSON report")?
        } else {
            format!(
                "sent {} messages ({} bytes) in {:.3} s: {:.0} msg/s, {:.1} MB/s, {} errors",
                self.sent,
                self.bytes,
                self.seconds,
                rate,
                self.bytes as f64 / seconds / 1e6,
                self.errors
            )
        };
        writeln!(io::stdout().lock(), "{line}").context("writing the report to standard output")
    }
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
    fn claims_split_the_count_without_overlap_or_overrun() {
        let counter = Counter {
            next: AtomicU64::new(0),
            total: 100,
        };
        assert_eq!(counter.claim(64), 0..64);
        assert_eq!(counter.claim(64), 64..100);
        assert!(counter.claim(64).is_empty());
        let unlimited = Counter {
            next: AtomicU64::new(u64::MAX - 1),
            total: u64::MAX,
        };
        assert_eq!(unlimited.claim(64), u64::MAX - 1..u64::MAX);
    }

    #[test]
    fn octet_framing_counts_the_message_bytes() {
        let lines: Arc<[Box<[u8]>]> = vec![Box::from(&b"<14>hello"[..])].into();
        let encoder = Encoder::new(Source::File { lines }, Framing::Octet);
        let mut out = Vec::new();
        encoder.encode(5, &mut out);
        assert_eq!(out, b"9 <14>hello");
    }

    #[test]
    fn marker_and_hostname_must_stay_single_tokens() {
        assert!(is_header_token("bench-run_2.a:1"));
        for bad in ["", "two words", "a=b", "back\\slash", "pipe|", "colon:"] {
            assert!(!is_header_token(bad), "{bad}");
        }
    }

    #[test]
    fn the_pacer_releases_messages_at_the_rate_in_bursts() {
        let mut pacer = Pacer {
            per_second: 1000.0,
            start: Instant::now(),
            released: 0,
        };
        let (mut elapsed, mut released, mut bursts) = (Duration::ZERO, 0, 0);
        while elapsed <= Duration::from_secs(1) {
            match pacer.release(elapsed, 1_000_000) {
                Ok(n) => {
                    released += n;
                    bursts += 1;
                }
                Err(wake) => {
                    assert!(wake > elapsed, "the pacer must not busy-loop");
                    elapsed = wake;
                }
            }
        }
        // One at the start, then one every millisecond.
        assert_eq!(released, 1001);
        assert!(bursts <= 202, "{bursts} bursts: one sleep per message?");
        // A slow rate sleeps until the next message, not a tick at a time.
        let mut slow = Pacer {
            per_second: 2.0,
            start: Instant::now(),
            released: 0,
        };
        assert_eq!(slow.release(Duration::ZERO, 64), Ok(1));
        assert_eq!(
            slow.release(Duration::ZERO, 64),
            Err(Duration::from_millis(500))
        );
    }
}
