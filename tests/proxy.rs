//! The PROXY protocol on TCP and TLS listeners, black-box: a real HAProxy from Debian (started by
//! each test, its configuration in a temporary directory) in front of the real relay, senders on
//! their own loopback addresses (127.0.0.2, 127.0.0.3) so that the balancer's address (127.0.0.1)
//! and theirs differ, and hand-written headers where HAProxy would never send a bad one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::tls::client_config;
use crate::util::{free_port, wait_until, Agent, Ca, Relay, PATIENCE};

/// HAProxy in TCP mode, one frontend on `port` and one server: the relay. Killed when dropped.
struct Haproxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `server_options` follow `server relay 127.0.0.1:RELAY` (`send-proxy-v2`, `check`, …).
    fn start(relay_port: u16, server_options: &str) -> Haproxy {
        let program = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("haproxy is not installed: run `bash .ci/peers` (bash .ci/test does)");
        // Another test may take the frontend's port before HAProxy binds it: HAProxy then exits,
        // and it starts again on a fresh one.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let socket = dir.path().join("admin.sock");
            let config = format!(
                "global\n    stats socket {socket} mode 600 level admin\n\
                 defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1m\n    timeout server 1m\n\
                 frontend syslog\n    bind 127.0.0.1:{port}\n    default_backend relays\n\
                 backend relays\n    server relay 127.0.0.1:{relay_port} {server_options}\n",
                socket = socket.display()
            );
            let path = dir.path().join("haproxy.cfg");
            std::fs::write(&path, config).expect("write haproxy.cfg");
            let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
            let child = Command::new(program)
                .args(["-db", "-f"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn haproxy");
            let mut haproxy = Haproxy {
                child,
                port,
                _dir: dir,
            };
            let mut exited = false;
            // The command socket answers only once HAProxy runs its event loop, which it enters
            // after every listener is bound.
            let ready = wait_until(PATIENCE, || {
                exited = matches!(haproxy.child.try_wait(), Ok(Some(_)));
                exited || answers(&socket)
            });
            assert!(ready, "haproxy never answered on its command socket");
            if !exited {
                return haproxy;
            }
        }
        panic!("haproxy exited before it was ready, five times");
    }

    /// A connection to the frontend from `source`, as a sender on that address.
    fn connect_from(&self, source: &str) -> TcpStream {
        connect_from(source, self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let mut reply = String::new();
    stream.write_all(b"show info\n").is_ok()
        && stream.read_to_string(&mut reply).is_ok()
        && reply.contains("Name: HAProxy")
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `source`.
fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let source: SocketAddr = format!("{source}:0").parse().expect("source address");
    socket
        .bind(&source.into())
        .expect("bind the source address");
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .expect("connect");
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// A CEF THREAT line without a timestamp or a hostname (as PAN-OS sends by default): the
/// forward writes the sender's address as its HOSTNAME.
fn line(marker: &str) -> String {
    format!("<14>CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.1 externalId={marker}\n")
}

/// The line the agent got for `marker`, once it has it.
fn delivered(agent: &Agent, marker: &str) -> String {
    let needle = format!("externalId={marker}");
    let mut found = None;
    wait_until(PATIENCE, || {
        found = agent.lines().into_iter().find(|l| l.ends_with(&needle));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("{marker} never reached the agent: {:?}", agent.lines()))
}

/// The HOSTNAME field of a traditional-format line: `<PRI>Mmm dd hh:mm:ss HOST …`.
fn hostname(line: &str) -> &str {
    line.split(' ')
        .filter(|part| !part.is_empty())
        .nth(3)
        .unwrap_or_default()
}

/// The relay closed the connection: end of stream or a reset (it closed with bytes unread).
fn closed_by_the_relay(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

/// A v2 PROXY header for a TCP connection over IPv4 from `client`.
fn v2_header(client: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(client) = client else {
        panic!("IPv4 only")
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c".to_vec();
    header.extend(client.ip().octets());
    header.extend([127, 0, 0, 1]);
    header.extend(client.port().to_be_bytes());
    header.extend(514u16.to_be_bytes());
    header
}

fn relay_config(listener: &str) -> String {
    format!("[[listener]]\naddress = \"tcp://127.0.0.1:{{port}}\"\n{listener}\n")
}

/// What the relay's /peers lists, by address.
fn peers(relay: &Relay) -> serde_json::Value {
    let (_, body) = relay.admin_get("/peers").expect("GET /peers");
    let json: serde_json::Value = serde_json::from_str(&body).expect("/peers is JSON");
    json["peers"].clone()
}

#[test]
fn lines_through_haproxy_carry_the_senders_address_with_v2_and_v1() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        &relay_config("proxy_protocol = \"any\"\ntrusted_proxies = [\"127.0.0.1\"]"),
        dir.path(),
    );
    for (options, marker) in [("send-proxy-v2", "via-v2"), ("send-proxy", "via-v1")] {
        let haproxy = Haproxy::start(relay.port, options);
        let mut sender = haproxy.connect_from("127.0.0.2");
        sender.write_all(line(marker).as_bytes()).expect("send");
        let got = delivered(&agent, marker);
        assert_eq!(hostname(&got), "127.0.0.2", "{options}: {got}");
    }
    let accepted = format!(
        "cefrelay_proxy_headers_total{{listener=\"tcp://127.0.0.1:{}\",result=\"accepted\"}}",
        relay.port
    );
    assert_eq!(relay.metric(&accepted), 2);
    let peers = peers(&relay);
    assert!(peers.get("127.0.0.2").is_some(), "{peers}");
    assert!(
        peers.get("127.0.0.1").is_none(),
        "the balancer is no sender: {peers}"
    );
}

#[test]
fn max_connections_per_sender_counts_the_sender_behind_the_balancer_not_the_balancer() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        &relay_config(
            "proxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.1/32\"]\nmax_connections_per_sender = 1",
        ),
        dir.path(),
    );
    let haproxy = Haproxy::start(relay.port, "send-proxy-v2");
    let mut first = haproxy.connect_from("127.0.0.2");
    first.write_all(line("first").as_bytes()).expect("send");
    delivered(&agent, "first");
    // Another sender through the same balancer is a sender of its own.
    let mut other = haproxy.connect_from("127.0.0.3");
    other.write_all(line("other").as_bytes()).expect("send");
    assert_eq!(hostname(&delivered(&agent, "other")), "127.0.0.3");
    // A second connection from the first sender is one too many.
    let mut second = haproxy.connect_from("127.0.0.2");
    second.write_all(line("second").as_bytes()).expect("send");
    let refused = format!(
        "cefrelay_connections_rejected_total{{listener=\"tcp://127.0.0.1:{}\",reason=\"per_sender_limit\"}}",
        relay.port
    );
    assert!(
        wait_until(PATIENCE, || relay.metric(&refused) == 1),
        "the second connection from 127.0.0.2 was not refused"
    );
    first
        .write_all(line("still-open").as_bytes())
        .expect("send");
    delivered(&agent, "still-open");
    assert!(!agent
        .lines()
        .iter()
        .any(|l| l.ends_with("externalId=second")));
}

#[test]
fn a_tls_listener_behind_haproxy_in_tcp_passthrough_sees_the_sender() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("proxy test CA");
    ca.write_server_files(dir.path());
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tls://127.0.0.1:{port}\"\ntls_cert = \"server.pem\"\ntls_key = \"server.key\"\nproxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        dir.path(),
    );
    let haproxy = Haproxy::start(relay.port, "send-proxy-v2");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let connection = ClientConnection::new(client_config(&ca, None), name).expect("client");
    let mut tls = StreamOwned::new(connection, haproxy.connect_from("127.0.0.2"));
    tls.write_all(line("over-tls").as_bytes())
        .expect("send over TLS");
    tls.flush().expect("flush");
    assert_eq!(hostname(&delivered(&agent, "over-tls")), "127.0.0.2");
    let peers = peers(&relay);
    assert!(peers.get("127.0.0.2").is_some(), "{peers}");
}

#[test]
fn untrusted_missing_and_malformed_headers_are_closed_and_counted_while_others_go_on() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        &relay_config("proxy_protocol = \"any\"\ntrusted_proxies = [\"127.0.0.2/32\"]"),
        dir.path(),
    );
    let count = |result: &str| {
        relay.metric(&format!(
            "cefrelay_proxy_headers_total{{listener=\"tcp://127.0.0.1:{}\",result=\"{result}\"}}",
            relay.port
        ))
    };
    // A balancer's connection that stays open through everything below.
    let mut good = connect_from("127.0.0.2", relay.port);
    good.write_all(&v2_header("192.0.2.10:40000".parse().unwrap()))
        .expect("header");
    good.write_all(line("before").as_bytes()).expect("send");
    assert_eq!(hostname(&delivered(&agent, "before")), "192.0.2.10");

    // A header from an address that is no balancer: anyone could forge one.
    let mut forged = connect_from("127.0.0.3", relay.port);
    let mut sent = v2_header("192.0.2.66:1".parse().unwrap());
    sent.extend(line("forged").as_bytes());
    let _ = forged.write_all(&sent);
    assert!(closed_by_the_relay(&mut forged));
    assert!(wait_until(PATIENCE, || count("untrusted") == 1));

    // The balancer without a header, where one is required.
    let mut bare = connect_from("127.0.0.2", relay.port);
    let _ = bare.write_all(line("bare").as_bytes());
    assert!(closed_by_the_relay(&mut bare));
    assert!(wait_until(PATIENCE, || count("missing") == 1));

    // The balancer with a header that is not one.
    for (n, header) in [
        &b"PROXY TCP4 999.0.2.1 127.0.0.1 1 514\r\n"[..],
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x03abc",
    ]
    .into_iter()
    .enumerate()
    {
        let mut malformed = connect_from("127.0.0.2", relay.port);
        let _ = malformed.write_all(header);
        let _ = malformed.write_all(line("malformed").as_bytes());
        assert!(closed_by_the_relay(&mut malformed));
        assert!(wait_until(PATIENCE, || count("malformed") == n as u64 + 1));
    }

    good.write_all(line("after").as_bytes()).expect("send");
    assert_eq!(hostname(&delivered(&agent, "after")), "192.0.2.10");
    for marker in ["forged", "bare", "malformed"] {
        let needle = format!("externalId={marker}");
        assert!(
            !agent.lines().iter().any(|l| l.ends_with(&needle)),
            "{marker}"
        );
    }
    assert_eq!(count("accepted"), 1);
    assert!(peers(&relay).get("192.0.2.66").is_none());
}

#[test]
fn with_the_header_optional_direct_senders_are_served_as_themselves() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        &relay_config(
            "proxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.2/32\"]\nproxy_protocol_optional = true",
        ),
        dir.path(),
    );
    for (source, marker) in [
        ("127.0.0.2", "balancer-direct"),
        ("127.0.0.3", "sender-direct"),
    ] {
        let mut direct = connect_from(source, relay.port);
        direct.write_all(line(marker).as_bytes()).expect("send");
        assert_eq!(hostname(&delivered(&agent, marker)), source);
    }
    let mut proxied = connect_from("127.0.0.2", relay.port);
    proxied
        .write_all(&v2_header("192.0.2.11:5000".parse().unwrap()))
        .expect("header");
    proxied.write_all(line("proxied").as_bytes()).expect("send");
    assert_eq!(hostname(&delivered(&agent, "proxied")), "192.0.2.11");
    // Still no header believed from a sender that is no balancer.
    let mut forged = connect_from("127.0.0.3", relay.port);
    let _ = forged.write_all(&v2_header("192.0.2.66:1".parse().unwrap()));
    assert!(closed_by_the_relay(&mut forged));
}

#[test]
fn haproxy_health_checks_with_send_proxy_v2_are_local_headers_and_produce_no_event() {
    let agent = Agent::start(0, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        &relay_config("proxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.1/32\"]"),
        dir.path(),
    );
    let _haproxy = Haproxy::start(relay.port, "send-proxy-v2 check inter 100ms");
    let listener = format!("tcp://127.0.0.1:{}", relay.port);
    let local = format!("cefrelay_proxy_headers_total{{listener=\"{listener}\",result=\"local\"}}");
    assert!(
        wait_until(PATIENCE, || relay.metric(&local) >= 3),
        "no LOCAL health checks counted: {}",
        relay.try_metrics().unwrap_or_default()
    );
    for result in ["accepted", "untrusted", "missing", "malformed", "timeout"] {
        let sample =
            format!("cefrelay_proxy_headers_total{{listener=\"{listener}\",result=\"{result}\"}}");
        assert_eq!(relay.metric(&sample), 0, "{result}");
    }
    assert_eq!(
        relay.metric(&format!(
            "cefrelay_received_frames_total{{listener=\"{listener}\"}}"
        )),
        0
    );
    assert_eq!(agent.count(), 0);
}
