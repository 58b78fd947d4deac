//! Issue 10: limits and inputs that passed `check-config` and then lost events or crashed, and
//! counters and logs that did not say what happened. Black-box: the real binary, loopback only.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::{cef_threat, cefrelay, wait_until, Agent, Ca, RefusingPort, Relay, PATIENCE};

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("cefrelay.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn check_config(path: &Path) -> Output {
    cefrelay()
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run check-config")
}

/// `cefrelay run` with `args`, which must exit by itself: a relay that starts instead is killed
/// and the test fails.
fn run_expecting_exit(args: &[&str]) -> Output {
    let mut child = cefrelay()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cefrelay run");
    let exited = wait_until(PATIENCE, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("wait for cefrelay run");
    assert!(
        exited,
        "cefrelay run started instead of refusing: {output:?}"
    );
    output
}

/// check-config and run both exit 64, and stderr names `file:line` and the key.
fn assert_refused(dir: &Path, text: &str, line: usize, key: &str) {
    let path = write_config(dir, text);
    let at = format!("cefrelay.toml:{line}: key `{key}`");
    for (how, output) in [
        ("check-config", check_config(&path)),
        (
            "run",
            run_expecting_exit(&[
                "--config",
                path.to_str().expect("utf-8 path"),
                "--admin",
                "",
            ]),
        ),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{how} of\n{text}\n{stderr}");
        assert!(stderr.contains(&at), "{how}: `{at}` not in\n{stderr}");
    }
}

#[test]
fn sizes_that_would_discard_every_datagram_or_abort_on_allocation_exit_64_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Only written into configurations that must be refused before anything is bound; held so
    // that, should the relay ever bind it, it is not another test's port.
    let held = RefusingPort::new();
    let port = held.port;
    for (value, key_line) in [
        // Wrapped to a 0-byte buffer: every datagram was silently discarded.
        ("18446744073709551615", 3),
        // Allocated up front: the process aborted, a crash loop under systemd.
        ("1000000000000", 3),
        ("1e12", 3),
        ("-1", 3),
        ("65537", 3),
    ] {
        let text = format!(
            "[[listener]]\naddress = \"udp://127.0.0.1:{port}\"\nmax_message_bytes = {value}\n"
        );
        assert_refused(dir.path(), &text, key_line, "listener[0].max_message_bytes");
    }
    let tcp = format!(
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\nmax_message_bytes = 67108865\n"
    );
    assert_refused(dir.path(), &tcp, 4, "listener[0].max_message_bytes");
    let counts = [
        ("[forward]\nqueue_events = 0\n", 2, "forward.queue_events"),
        (
            "[forward]\nbuffer = { type = \"memory\", max_events = 1000000000000 }\n",
            2,
            "forward.buffer.max_events",
        ),
        (
            "[forward]\nresend_window_bytes = 1099511627776\n",
            2,
            "forward.resend_window_bytes",
        ),
        (
            "shutdown_grace_secs = 18446744073709551615\n",
            1,
            "shutdown_grace_secs",
        ),
    ];
    for (text, line, key) in counts {
        let text = format!("{text}[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n");
        assert_refused(dir.path(), &text, line, key);
    }
}

#[test]
fn udp_max_message_bytes_at_the_top_of_its_range_relays_the_largest_datagrams() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"udp://127.0.0.1:{port}\"\nmax_message_bytes = 65536\n",
        dir.path(),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    // The largest payload a datagram over IPv4 carries.
    let mut big = cef_threat(1);
    big.push_str(" msg=");
    big.push_str(&"x".repeat(65_507 - big.len()));
    socket
        .send_to(big.as_bytes(), ("127.0.0.1", relay.port))
        .expect("send the largest datagram");
    socket
        .send_to(cef_threat(2).as_bytes(), ("127.0.0.1", relay.port))
        .expect("send");
    assert!(
        wait_until(PATIENCE, || agent.count() >= 2),
        "got {} of 2",
        agent.count()
    );
    assert_eq!(relay.metric("cefrelay_oversized_frames_total"), 0);
}

#[test]
fn a_listener_twice_on_one_address_exits_64_in_check_config_run_and_on_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    // As above: a port of ours, in configurations refused before anything is bound.
    let held = RefusingPort::new();
    let port = held.port;
    for (second, line) in [
        (format!("udp://127.0.0.1:{port}"), 5),
        (format!("tcp://127.0.0.1:{port}"), 5),
    ] {
        let scheme = &second[..3];
        let text = format!(
            "[[listener]]\naddress = \"{scheme}://127.0.0.1:{port}\"\n\n[[listener]]\naddress = \"{second}\"\n"
        );
        assert_refused(dir.path(), &text, line, "listener[1].address");
    }
    let listen = format!("udp://127.0.0.1:{port}");
    let output = run_expecting_exit(&["--listen", &listen, "--listen", &listen, "--admin", ""]);
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--listen"));
}

#[test]
fn a_state_directory_the_relay_cannot_write_exits_64_naming_state_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where a directory should be: no one, root included, can create the buffer there.
    std::fs::write(dir.path().join("occupied"), "x").expect("write");
    let state = dir.path().join("occupied").join("state");
    // As above: a port of ours, in configurations refused before anything is bound.
    let held = RefusingPort::new();
    let port = held.port;
    let disk_buffer = format!(
        "state_dir = \"{}\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[forward]\nbuffer = {{ type = \"disk\" }}\n",
        state.display()
    );
    assert_refused(dir.path(), &disk_buffer, 1, "state_dir");
    let http_sink = format!(
        "state_dir = \"{}\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[[sink]]\nname = \"web\"\ntype = \"http\"\nurl = \"http://127.0.0.1:9\"\n",
        state.display()
    );
    assert_refused(dir.path(), &http_sink, 1, "state_dir");
    // Nothing needs the state directory: it is not checked.
    let memory_only = format!(
        "state_dir = \"{}\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n",
        state.display()
    );
    let output = check_config(&write_config(dir.path(), &memory_only));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn tls_files_that_run_would_refuse_fail_check_config_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    Ca::new("test CA").write_server_files(dir.path());
    std::fs::write(dir.path().join("garbage.pem"), "not a certificate\n").expect("write");
    std::fs::create_dir(dir.path().join("a-directory.pem")).expect("mkdir");
    // As above: a port of ours, in configurations refused before anything is bound.
    let held = RefusingPort::new();
    let port = held.port;
    let listener = |cert: &str, key: &str, ca: &str| {
        format!(
            "[[listener]]\naddress = \"tls://127.0.0.1:{port}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\ntls_client_ca = \"{ca}\"\n"
        )
    };
    for (text, line, key) in [
        (
            listener("missing.pem", "server.key", "ca.pem"),
            3,
            "listener[0].tls_cert",
        ),
        (
            listener("server.pem", "missing.key", "ca.pem"),
            4,
            "listener[0].tls_key",
        ),
        (
            listener("server.pem", "server.key", "missing.pem"),
            5,
            "listener[0].tls_client_ca",
        ),
        // Unreadable: a directory cannot be read as a file, even by root.
        (
            listener("a-directory.pem", "server.key", "ca.pem"),
            3,
            "listener[0].tls_cert",
        ),
        // Readable but unusable: run refused these with 64 while check-config passed them.
        (
            listener("garbage.pem", "server.key", "ca.pem"),
            3,
            "listener[0].tls_cert",
        ),
        (
            listener("server.pem", "garbage.pem", "ca.pem"),
            3,
            "listener[0].tls_cert",
        ),
        (
            listener("server.pem", "server.key", "garbage.pem"),
            3,
            "listener[0].tls_cert",
        ),
    ] {
        assert_refused(dir.path(), &text, line, key);
    }
    let good = listener("server.pem", "server.key", "ca.pem");
    let output = check_config(&write_config(dir.path(), &good));
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    // An HTTP sink's extra CA file: run refused it with 64, check-config passed it.
    let sink = |ca: &str| {
        format!(
            "state_dir = \"state\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[[sink]]\nname = \"web\"\ntype = \"http\"\nurl = \"https://127.0.0.1:9\"\nca_file = \"{ca}\"\n"
        )
    };
    for ca in ["missing.pem", "garbage.pem", "a-directory.pem"] {
        assert_refused(dir.path(), &sink(ca), 8, "sink[0].ca_file");
    }
    let output = check_config(&write_config(dir.path(), &sink("ca.pem")));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

fn markers(lines: &[String]) -> std::collections::BTreeSet<usize> {
    lines
        .iter()
        .filter_map(|line| line.rsplit_once("externalId=")?.1.parse().ok())
        .collect()
}

#[test]
fn a_huge_octet_count_is_counted_as_malformed_and_the_frames_after_it_on_the_connection_arrive() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n",
        dir.path(),
    );
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    let mut data = format!("9999999999 {}\n", cef_threat(999_999));
    for id in 0..200 {
        data.push_str(&cef_threat(id));
        data.push('\n');
    }
    stream.write_all(data.as_bytes()).expect("write");
    let all = || markers(&agent.lines()).len() >= 200;
    assert!(
        wait_until(PATIENCE, all),
        "{} of 200 good frames arrived",
        markers(&agent.lines()).len()
    );
    assert_eq!(markers(&agent.lines()), (0..200).collect());
    assert_eq!(relay.metric("cefrelay_malformed_frames_total"), 1);
    assert_eq!(relay.metric("cefrelay_oversized_frames_total"), 0);
}

#[test]
fn an_octet_count_over_max_message_bytes_that_lies_costs_only_its_own_frame() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\nmax_message_bytes = 1000\n",
        dir.path(),
    );
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    // 99999 is a count a frame could have, only larger than this listener takes; the frames
    // after it were skipped as its bytes until 99999 bytes had gone by.
    let mut data = format!("99999 {}\n", cef_threat(999_999));
    for id in 0..100 {
        data.push_str(&cef_threat(id));
        data.push('\n');
    }
    stream.write_all(data.as_bytes()).expect("write");
    assert!(
        wait_until(PATIENCE, || markers(&agent.lines()).len() >= 100),
        "{} of 100 good frames arrived",
        markers(&agent.lines()).len()
    );
    assert_eq!(markers(&agent.lines()), (0..100).collect());
    assert_eq!(relay.metric("cefrelay_oversized_frames_total"), 1);
}

#[test]
fn failed_reloads_are_counted_apart_from_those_that_applied() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n",
        dir.path(),
    );
    let path = dir.path().join("cefrelay.toml");
    let good = format!(
        "[[listener]]\naddress = \"tcp://127.0.0.1:{}\"\n[filter]\nmode = \"all\"\n",
        relay.port
    );
    let ok = r#"cefrelay_config_reloads_total{result="ok"}"#;
    let failed = r#"cefrelay_config_reloads_total{result="failed"}"#;
    let counts = || (relay.metric(ok), relay.metric(failed));
    assert_eq!(counts(), (0, 0));

    std::fs::write(&path, &good).expect("write config");
    relay.signal("HUP");
    assert!(
        wait_until(PATIENCE, || counts() == (1, 0)),
        "{:?}",
        counts()
    );

    // Out of range: refused, the running configuration stays.
    std::fs::write(&path, format!("{good}[forward]\nqueue_events = 0\n")).expect("write");
    relay.signal("HUP");
    assert!(
        wait_until(PATIENCE, || counts() == (1, 1)),
        "{:?}",
        counts()
    );

    std::fs::write(&path, "not toml at all [").expect("write");
    relay.signal("HUP");
    assert!(
        wait_until(PATIENCE, || counts() == (1, 2)),
        "{:?}",
        counts()
    );

    std::fs::write(&path, &good).expect("write config");
    relay.signal("HUP");
    assert!(
        wait_until(PATIENCE, || counts() == (2, 2)),
        "{:?}",
        counts()
    );
}

/// A relay whose standard error goes to `log`.
fn relay_logging_to(log: &Path, agent_port: u16, dir: &Path) -> Relay {
    Relay::on_fresh_ports(|port, admin| {
        let config = write_config(
            dir,
            &format!(
                "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[filter]\nmode = \"all\"\n"
            ),
        );
        let mut command: Command = cefrelay();
        command
            .arg("run")
            .args(["--config", config.to_str().expect("utf-8 path")])
            .args(["--forward", &format!("tcp://127.0.0.1:{agent_port}")])
            .args(["--admin", &admin.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(log).expect("create log"));
        Relay::try_spawn(command, port, admin)
    })
    .expect("the relay started")
}

#[test]
fn invalid_utf8_frames_are_logged_once_per_burst_with_the_peer_not_once_per_frame() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("relay.log");
    let relay = relay_logging_to(&log, agent.address.port(), dir.path());
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    let mut data = Vec::new();
    for id in 0..300 {
        data.extend_from_slice(cef_threat(id).as_bytes());
        data.extend_from_slice(b" cs2=caf\xe9 \xff\xfe\n");
    }
    stream.write_all(&data).expect("write");
    assert!(
        wait_until(PATIENCE, || relay.metric("cefrelay_invalid_utf8_total")
            >= 300),
        "counted {}",
        relay.metric("cefrelay_invalid_utf8_total")
    );
    // Still relayed, decoded lossily.
    assert!(wait_until(PATIENCE, || agent.count() >= 300));
    drop(relay); // killed and waited for: the log is complete
    let text = std::fs::read_to_string(&log).expect("read the log");
    let warnings: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("not valid UTF-8"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("127.0.0.1"),
        "the peer: {}",
        warnings[0]
    );
}

#[test]
fn a_log_level_that_would_silence_the_relay_exits_64_in_check_config_and_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A bare word that is not a level is, to tracing, a module name: nothing would be logged.
    assert_refused(dir.path(), "[log]\nlevel = \"verbose\"\n", 2, "log.level");
    for valid in ["debug", "info,cefrelay=debug", "off"] {
        let path = write_config(dir.path(), &format!("[log]\nlevel = \"{valid}\"\n"));
        let output = check_config(&path);
        assert!(output.status.success(), "{valid}: {output:?}");
    }
}

#[test]
fn flags_are_checked_by_the_same_rules_as_the_file_and_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A UDP forward cannot carry octet-counted framing, whether the address is in the file or
    // given with --forward (the flag used to change the framing behind the file's back).
    let path = write_config(dir.path(), "[forward]\nframing = \"octet-counted\"\n");
    let output = run_expecting_exit(&[
        "--config",
        path.to_str().expect("utf-8 path"),
        "--forward",
        "udp://127.0.0.1:9",
        "--admin",
        "",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("key `forward.framing`"), "{stderr}");

    for (flag, value, says) in [
        ("--forward", "tls://127.0.0.1:9", "tcp:// or udp://"),
        ("--admin", "0.0.0.0:9514", "loopback"),
        ("--listen", "smtp://127.0.0.1:25", "udp, tcp or tls"),
    ] {
        let output = run_expecting_exit(&[flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("<command line>: key `{flag}`")) && stderr.contains(says),
            "{flag} {value}: {stderr}"
        );
    }
}

#[test]
fn a_udp_port_another_process_receives_on_is_refused_rather_than_shared() {
    // Bound the way the relay binds its own UDP sockets (SO_REUSEPORT), which is what would let
    // a second socket join the port without an error and take half of the datagrams.
    let holder = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .expect("socket");
    holder.set_reuse_port(true).expect("SO_REUSEPORT");
    holder
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let port = holder
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("inet")
        .port();
    let listen = format!("udp://127.0.0.1:{port}");
    let output = run_expecting_exit(&["--listen", &listen, "--admin", ""]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {listen}"))
            && stderr.contains("already receives on this UDP port"),
        "{stderr}"
    );
}
