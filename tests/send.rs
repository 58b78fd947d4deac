//! `cefrelay send`, black-box: the real binary against receivers in this process on 127.0.0.1
//! (TCP, UDP, TLS with certificates made by rcgen). Every wait is bounded; nothing asserts how
//! long anything took.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::util::RefusingPort;

/// Bounds every wait of a failing test; a passing one is much quicker.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs `cefrelay send ARGS` to completion (killed after [`PATIENCE`]).
fn send(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cefrelay"))
        .arg("send")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cefrelay send");
    let started = Instant::now();
    while child.try_wait().expect("wait for cefrelay send").is_none() {
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("cefrelay send {args:?} did not finish within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Accepts `connections` TCP connections on 127.0.0.1 and reads each to the end; the handle
/// gives everything received, per connection.
fn tcp_sink(connections: usize) -> (u16, JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("sink address").port();
    let handle = thread::spawn(move || {
        let readers: Vec<JoinHandle<Vec<u8>>> = (0..connections)
            .map(|_| {
                let (stream, _) = accept_within(&listener, PATIENCE);
                thread::spawn(move || read_all(stream))
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| reader.join().expect("reader thread"))
            .collect()
    });
    (port, handle)
}

fn accept_within(listener: &TcpListener, limit: Duration) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).expect("nonblocking accept");
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                stream
                    .set_read_timeout(Some(PATIENCE))
                    .expect("read timeout");
                return (stream, peer);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock && started.elapsed() < limit => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("no connection to the sink: {error}"),
        }
    }
}

fn read_all(mut stream: impl Read) -> Vec<u8> {
    let mut received = Vec::new();
    stream.read_to_end(&mut received).expect("read to the end");
    received
}

/// The `externalId` value of one message.
fn marker_of(message: &str) -> &str {
    let (_, rest) = message
        .split_once("externalId=")
        .unwrap_or_else(|| panic!("no externalId in {message}"));
    rest.split(' ').next().unwrap_or_default()
}

fn lf_messages(received: &[u8]) -> Vec<String> {
    let text = String::from_utf8(received.to_vec()).expect("UTF-8 messages");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the last message is cut off"
    );
    text.lines().map(str::to_string).collect()
}

/// Asserts that `messages` are exactly `prefix-0` .. `prefix-(count-1)`, each once.
fn assert_every_marker_once(messages: &[String], prefix: &str, count: usize) {
    assert_eq!(messages.len(), count, "messages received");
    let markers: BTreeSet<&str> = messages.iter().map(|m| marker_of(m)).collect();
    let expected: BTreeSet<String> = (0..count).map(|n| format!("{prefix}-{n}")).collect();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(markers, expected, "every marker exactly once");
}

#[test]
fn tcp_lf_delivers_every_message_once_over_several_connections() {
    let (port, sink) = tcp_sink(3);
    let output = send(&[
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
        "--count",
        "5000",
        "--connections",
        "3",
        "--marker",
        "lf-test",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let received = sink.join().expect("sink");
    let messages: Vec<String> = received.iter().flat_map(|r| lf_messages(r)).collect();
    assert_every_marker_once(&messages, "lf-test", 5000);
    let bytes: usize = received.iter().map(Vec::len).sum();
    let report = stdout(&output);
    assert!(
        report.starts_with(&format!("sent 5000 messages ({bytes} bytes) in ")),
        "{report}"
    );
    assert!(report.trim_end().ends_with(", 0 errors"), "{report}");
    for message in &messages {
        assert!(message.starts_with('<'), "syslog header: {message}");
        assert!(
            message.contains(" CEF:0|Palo Alto Networks|PAN-OS|"),
            "{message}"
        );
    }
}

#[test]
fn tcp_octet_counting_frames_match_their_bodies() {
    let (port, sink) = tcp_sink(1);
    let output = send(&[
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
        "--count",
        "1500",
        "--framing",
        "octet",
        "--format",
        "rfc5424",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let received = sink.join().expect("sink").concat();
    let mut messages = Vec::new();
    let mut rest = &received[..];
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|b| *b == b' ')
            .expect("MSG-LEN followed by a space");
        let length: usize = std::str::from_utf8(&rest[..space])
            .expect("ASCII length")
            .parse()
            .expect("decimal MSG-LEN");
        let body = &rest[space + 1..space + 1 + length];
        assert!(body.starts_with(b"<"), "a frame starts at its PRI");
        messages.push(String::from_utf8(body.to_vec()).expect("UTF-8 message"));
        rest = &rest[space + 1 + length..];
    }
    assert_every_marker_once(&messages, "cefrelay-send", 1500);
    assert!(messages.iter().all(|m| !m.ends_with('\n')));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(report["sent"], 1500);
    assert_eq!(report["bytes"], received.len());
    assert_eq!(report["errors"], 0);
    assert!(report["seconds"].is_number() && report["rate"].is_number());
}

#[test]
fn udp_sends_one_datagram_per_message() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP sink");
    // Room for every datagram even when this thread is not scheduled for a while (CI runs the
    // tests in parallel on 2 cores): the default buffer overflowed there.
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(4 << 20)
        .expect("receive buffer");
    let port = socket.local_addr().expect("sink address").port();
    let receiver = thread::spawn(move || {
        let mut datagrams = Vec::new();
        let mut buffer = vec![0u8; 65536];
        // Long enough for the sender to start; once it has, a second of silence means done.
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        while datagrams.len() < 200 {
            match socket.recv(&mut buffer) {
                Ok(size) => {
                    datagrams.push(String::from_utf8_lossy(&buffer[..size]).into_owned());
                    socket
                        .set_read_timeout(Some(Duration::from_secs(1)))
                        .expect("read timeout");
                }
                Err(_) => break,
            }
        }
        datagrams
    });
    let output = send(&[
        "--to",
        &format!("udp://127.0.0.1:{port}"),
        "--count",
        "200",
        "--rate",
        "2000",
        "--marker",
        "udp-test",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("sent 200 messages"));
    let datagrams = receiver.join().expect("receiver");
    // With room for all of them, loopback delivers every datagram.
    assert_eq!(datagrams.len(), 200, "{} of 200 arrived", datagrams.len());
    let markers: BTreeSet<&str> = datagrams.iter().map(|d| marker_of(d)).collect();
    assert_eq!(markers.len(), datagrams.len(), "no datagram twice");
    assert!(markers.iter().all(|m| m.starts_with("udp-test-")));
    assert!(
        datagrams.iter().all(|d| !d.ends_with('\n')),
        "no framing in UDP"
    );
}

#[test]
fn file_lines_are_sent_as_they_are_once_or_looped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("messages.log");
    std::fs::write(&file, "<14>first\r\n\n<14>second\n<14>third").expect("write messages");
    let file = file.to_str().expect("UTF-8 path");

    let (port, sink) = tcp_sink(1);
    let output = send(&["--to", &format!("tcp://127.0.0.1:{port}"), "--file", file]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        lf_messages(&sink.join().expect("sink").concat()),
        ["<14>first", "<14>second", "<14>third"]
    );

    let (port, sink) = tcp_sink(1);
    let to = format!("tcp://127.0.0.1:{port}");
    let output = send(&["--to", &to, "--file", file, "--loop", "--count", "7"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = lf_messages(&sink.join().expect("sink").concat());
    assert_eq!(messages.len(), 7);
    assert_eq!(messages[3], "<14>first");
    assert_eq!(messages[6], "<14>first");
}

#[test]
fn a_duration_run_reports_exactly_what_the_receiver_got() {
    let (port, sink) = tcp_sink(2);
    let output = send(&[
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
        "--duration",
        "0.5",
        "--rate",
        "400",
        "--connections",
        "2",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    let sent = report["sent"].as_u64().expect("sent");
    assert!(sent > 0);
    let messages: Vec<String> = sink
        .join()
        .expect("sink")
        .iter()
        .flat_map(|r| lf_messages(r))
        .collect();
    assert_every_marker_once(&messages, "cefrelay-send", sent as usize);
}

#[test]
fn a_reset_connection_is_reopened_and_the_run_completes() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = listener.local_addr().expect("sink address").port();
    let sink = thread::spawn(move || {
        // Read a little, then close with data still unread: the kernel answers with RST.
        let (mut first, _) = accept_within(&listener, PATIENCE);
        let mut head = vec![0u8; 200 * 1024];
        first.read_exact(&mut head).expect("first bytes");
        drop(first);
        let (second, _) = accept_within(&listener, PATIENCE);
        read_all(second)
    });
    let output = send(&[
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
        "--count",
        "20000",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("reconnecting"),
        "{}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(report["sent"], 20000);
    assert!(report["errors"].as_u64() >= Some(1), "{report}");
    // What was in flight when the connection broke is lost (TCP cannot tell the sender), but
    // the run carries on to the end on the new connection.
    let tail = String::from_utf8(sink.join().expect("sink")).expect("UTF-8");
    assert!(tail.ends_with("\n"));
    assert!(tail.lines().any(|m| marker_of(m) == "cefrelay-send-19999"));
}

/// A certificate authority that signs the receiver's and the sender's certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key, as PEM.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn write(&self, path: &Path) -> String {
        std::fs::write(path, &self.pem).expect("write CA");
        path.to_str().expect("UTF-8 path").to_string()
    }
}

/// A TLS receiver for one connection; with `client_ca` it demands a client certificate. The
/// handle gives what was received, or the TLS error that ended the connection.
fn tls_sink(ca: &Ca, client_ca: Option<&Ca>) -> (u16, JoinHandle<Result<Vec<u8>, String>>) {
    let (cert, key) = ca.issue(
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(client_ca) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(client_ca.pem.as_bytes()).expect("CA PEM"))
                .expect("client CA");
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("client verifier"),
            )
        }
    };
    let config = Arc::new(
        builder
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert PEM")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM"),
            )
            .expect("server config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TLS sink");
    let port = listener.local_addr().expect("sink address").port();
    let handle = thread::spawn(move || {
        let (stream, _) = accept_within(&listener, PATIENCE);
        let connection = ServerConnection::new(config).expect("server connection");
        let mut tls = StreamOwned::new(connection, stream);
        let mut received = Vec::new();
        tls.read_to_end(&mut received)
            .map_err(|error| error.to_string())?;
        Ok(received)
    });
    (port, handle)
}

#[test]
fn tls_with_the_receivers_ca_delivers_every_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("send test CA");
    let ca_file = ca.write(&dir.path().join("ca.pem"));
    let (port, sink) = tls_sink(&ca, None);
    let output = send(&[
        "--to",
        &format!("tls://127.0.0.1:{port}"),
        "--tls-ca",
        &ca_file,
        "--count",
        "3000",
        "--mix",
        "threat=100",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    // read_to_end succeeding means the sender ended with close_notify, not a bare FIN.
    let messages = lf_messages(&sink.join().expect("sink").expect("TLS stream"));
    assert_every_marker_once(&messages, "cefrelay-send", 3000);
    assert!(messages.iter().all(|m| m.contains("|THREAT|")));
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("send test CA");
    let ca_file = ca.write(&dir.path().join("ca.pem"));
    let (client_cert, client_key) = ca.issue(&["sender"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert_file = dir.path().join("client.pem");
    let key_file = dir.path().join("client.key");
    std::fs::write(&cert_file, client_cert).expect("write client cert");
    std::fs::write(&key_file, client_key).expect("write client key");
    let (port, sink) = tls_sink(&ca, Some(&ca));
    let output = send(&[
        "--to",
        &format!("tls://127.0.0.1:{port}"),
        "--tls-ca",
        &ca_file,
        "--tls-cert",
        cert_file.to_str().expect("UTF-8 path"),
        "--tls-key",
        key_file.to_str().expect("UTF-8 path"),
        "--count",
        "100",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = lf_messages(&sink.join().expect("sink").expect("TLS stream"));
    assert_every_marker_once(&messages, "cefrelay-send", 100);
}

#[test]
fn tls_insecure_accepts_a_certificate_nobody_vouches_for() {
    let (port, sink) = tls_sink(&Ca::new("unknown CA"), None);
    let output = send(&[
        "--to",
        &format!("tls://127.0.0.1:{port}"),
        "--tls-insecure",
        "--count",
        "10",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        lf_messages(&sink.join().expect("sink").expect("TLS stream")).len(),
        10
    );
}

#[test]
fn tls_refuses_a_server_signed_by_another_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trusted = Ca::new("trusted CA").write(&dir.path().join("trusted.pem"));
    let (port, sink) = tls_sink(&Ca::new("other CA"), None);
    let output = send(&[
        "--to",
        &format!("tls://127.0.0.1:{port}"),
        "--tls-ca",
        &trusted,
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("tls://127.0.0.1:{port}")) && message.contains("certificate"),
        "{message}"
    );
    assert!(sink.join().expect("sink").is_err(), "no TLS session");
}

#[test]
fn tls_without_a_ca_or_insecure_is_refused_up_front() {
    let output = send(&["--to", "tls://127.0.0.1:6514"]);
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr(&output).contains("--tls-ca"), "{}", stderr(&output));
}

/// An address of this machine that is not loopback, if it has one (a container may not).
fn local_non_loopback_address() -> Option<IpAddr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn a_remote_destination_is_refused_without_allow_remote() {
    let output = send(&["--to", "udp://8.8.8.8:514", "--count", "1"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("loopback"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "nothing sent, nothing reported");

    // Where the machine has a non-loopback address, prove that nothing leaves: a receiver on
    // that address hears nothing, until --allow-remote is given.
    let Some(ip) = local_non_loopback_address() else {
        return;
    };
    let receiver = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        .expect("bind receiver");
    let to = format!(
        "udp://{}",
        SocketAddr::new(ip, receiver.local_addr().expect("addr").port())
    );
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let output = send(&["--to", &to, "--count", "5"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--allow-remote"),
        "{}",
        stderr(&output)
    );
    let mut buffer = [0u8; 65536];
    assert!(
        receiver.recv(&mut buffer).is_err(),
        "a refused send sent something"
    );

    let output = send(&["--to", &to, "--count", "5", "--allow-remote"]);
    assert!(output.status.success(), "{}", stderr(&output));
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    assert!(receiver.recv(&mut buffer).is_ok(), "--allow-remote sends");
}

#[test]
fn connection_refused_names_the_address() {
    // Held, never listening, until the test ends: a port closed after a bind could be taken by
    // another test's listener before the send, which would then connect.
    let held = RefusingPort::new();
    let port = held.port;
    let output = send(&["--to", &format!("tcp://127.0.0.1:{port}")]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("tcp://127.0.0.1:{port}"))
            && message.to_lowercase().contains("refused"),
        "{message}"
    );
}

#[test]
fn ipv6_loopback_is_a_destination_too() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        return; // no IPv6 on this machine
    };
    let port = listener.local_addr().expect("addr").port();
    let reader = thread::spawn(move || {
        let (stream, _) = accept_within(&listener, PATIENCE);
        read_all(stream)
    });
    let output = send(&["--to", &format!("tcp://[::1]:{port}"), "--count", "50"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(lf_messages(&reader.join().expect("reader")).len(), 50);
}
