//! TLS listeners (RFC 5425), black-box: the real binary, real sockets on 127.0.0.1, certificates
//! made for each test by rcgen, and a rustls client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::util::{cef_threat, cefrelay, wait_until, Agent, Ca, Relay, PATIENCE};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn tls_config(extra: &str) -> String {
    format!(
        "[[listener]]\naddress = \"tls://127.0.0.1:{{port}}\"\ntls_cert = \"server.pem\"\ntls_key = \"server.key\"\n{extra}\n[filter]\nmode = \"cef-all\"\n"
    )
}

pub(crate) fn client_config(ca: &Ca, client: Option<(String, String)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("CA PEM"))
        .expect("add CA");
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("client cert")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key"),
            )
            .expect("client auth"),
    };
    Arc::new(config)
}

fn connect(relay: &Relay, config: Arc<ClientConfig>) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let connection = ClientConnection::new(config, name).expect("client connection");
    let socket = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    StreamOwned::new(connection, socket)
}

fn send(stream: &mut impl Write, ids: std::ops::Range<usize>) -> std::io::Result<()> {
    for id in ids {
        stream.write_all(format!("{}\n", cef_threat(id)).as_bytes())?;
    }
    stream.flush()
}

fn delivered(agent: &Agent, id: usize) -> bool {
    let marker = format!("externalId={id}");
    agent.lines().iter().any(|line| line.ends_with(&marker))
}

#[test]
fn tls_frames_reach_the_agent() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA");
    ca.write_server_files(dir.path());
    let relay = Relay::with_config(agent.address.port(), &tls_config(""), dir.path());

    let mut stream = connect(&relay, client_config(&ca, None));
    send(&mut stream, 0..200).expect("send over TLS");
    assert!(
        wait_until(PATIENCE, || agent.count() >= 200),
        "got {}",
        agent.count()
    );
    assert!((0..200).all(|id| delivered(&agent, id)));
    assert_eq!(relay.metric("cefrelay_tls_handshake_failures_total"), 0);
}

#[test]
fn mutual_tls_rejects_a_client_without_a_valid_certificate() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA");
    ca.write_server_files(dir.path());
    std::fs::write(dir.path().join("clients.pem"), &ca.pem).expect("write client CA");
    let relay = Relay::with_config(
        agent.address.port(),
        &tls_config("tls_client_ca = \"clients.pem\""),
        dir.path(),
    );

    // No certificate at all, then one from a CA the relay does not trust.
    let mut anonymous = connect(&relay, client_config(&ca, None));
    let _ = send(&mut anonymous, 0..10);
    let _ = anonymous.read(&mut [0u8; 16]);
    let stranger = Ca::new("other CA").issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let mut untrusted = connect(&relay, client_config(&ca, Some(stranger)));
    let _ = send(&mut untrusted, 10..20);
    let _ = untrusted.read(&mut [0u8; 16]);
    assert!(
        wait_until(PATIENCE, || relay
            .metric("cefrelay_tls_handshake_failures_total")
            >= 2),
        "both handshakes must fail"
    );

    // A client with a certificate from the trusted CA gets through.
    let trusted = ca.issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let mut good = connect(&relay, client_config(&ca, Some(trusted)));
    send(&mut good, 100..150).expect("send with a client certificate");
    assert!(wait_until(PATIENCE, || agent.count() >= 50));
    assert!(
        (0..20).all(|id| !delivered(&agent, id)),
        "rejected clients delivered data"
    );
    assert!((100..150).all(|id| delivered(&agent, id)));
}

#[test]
fn tls_garbage_is_counted_and_other_connections_keep_delivering() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA");
    ca.write_server_files(dir.path());
    let relay = Relay::with_config(agent.address.port(), &tls_config(""), dir.path());

    let mut good = connect(&relay, client_config(&ca, None));
    send(&mut good, 0..50).expect("first half");
    // Plain syslog, and a fake ClientHello record header followed by junk, on the TLS port.
    let mut plain = relay.tcp();
    let _ = plain.write_all(cef_threat(900).as_bytes());
    let _ = plain.write_all(b"\n");
    let mut junk = relay.tcp();
    let _ = junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef]);
    drop(junk);
    drop(plain);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_tls_handshake_failures_total")
        >= 2));
    send(&mut good, 50..100).expect("second half on the same connection");
    assert!(
        wait_until(PATIENCE, || agent.count() >= 100),
        "got {}",
        agent.count()
    );
    assert!(
        !delivered(&agent, 900),
        "plain text went through a TLS-only port"
    );
}

#[test]
fn plain_and_tls_share_a_port_when_allowed() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA");
    ca.write_server_files(dir.path());
    let relay = Relay::with_config(
        agent.address.port(),
        &tls_config("tls_accept_plain = true"),
        dir.path(),
    );
    let mut secure = connect(&relay, client_config(&ca, None));
    send(&mut secure, 0..20).expect("TLS");
    let mut plain = relay.tcp();
    send(&mut plain, 20..40).expect("plain");
    assert!(wait_until(PATIENCE, || agent.count() >= 40));
    assert!((0..40).all(|id| delivered(&agent, id)));
}

#[test]
fn sighup_reloads_certificates_without_dropping_open_connections() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let old_ca = Ca::new("old CA");
    old_ca.write_server_files(dir.path());
    let relay = Relay::with_config(agent.address.port(), &tls_config(""), dir.path());
    let mut open = connect(&relay, client_config(&old_ca, None));
    send(&mut open, 0..10).expect("before the reload");
    assert!(wait_until(PATIENCE, || agent.count() >= 10));

    let new_ca = Ca::new("new CA");
    new_ca.write_server_files(dir.path());
    relay.signal("HUP");
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_config_reloads_total")
        >= 1));

    send(&mut open, 10..20).expect("the open connection survives the reload");
    let mut renewed = connect(&relay, client_config(&new_ca, None));
    send(&mut renewed, 20..30).expect("a new connection gets the new certificate");
    assert!(wait_until(PATIENCE, || agent.count() >= 30));
    assert!((0..30).all(|id| delivered(&agent, id)));

    let mut stale = connect(&relay, client_config(&old_ca, None));
    let refused = send(&mut stale, 30..31).is_err() || stale.read(&mut [0u8; 1]).is_err();
    assert!(refused, "a client trusting only the old CA still connected");
}

#[test]
fn the_certificate_expiry_is_exported_and_follows_a_sighup_reload() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("test CA");
    ca.write_server_files_until(dir.path(), Some(rcgen::date_time_ymd(2031, 5, 17)));
    let relay = Relay::with_config(agent.address.port(), &tls_config(""), dir.path());
    let sample = format!(
        "cefrelay_tls_certificate_expiry_timestamp_seconds{{listener=\"tls://127.0.0.1:{}\"}}",
        relay.port
    );
    // 2031-05-17T00:00:00Z
    assert_eq!(relay.metric(&sample), 1_936_742_400);

    // Renewed: the new date once SIGHUP has loaded it.
    ca.write_server_files_until(dir.path(), Some(rcgen::date_time_ymd(2032, 1, 1)));
    relay.signal("HUP");
    assert!(
        wait_until(PATIENCE, || relay.metric(&sample) == 1_956_528_000),
        "{}",
        relay.metric(&sample)
    );
    assert_eq!(
        relay.metric("cefrelay_config_reloads_total{result=\"ok\"}"),
        1
    );
}

#[test]
fn unreadable_certificate_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cefrelay.toml");
    std::fs::write(
        &path,
        "[[listener]]\naddress = \"tls://127.0.0.1:6514\"\ntls_cert = \"missing.pem\"\ntls_key = \"missing.key\"\n",
    )
    .expect("write config");
    let output = cefrelay()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run cefrelay");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tls_cert") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}
