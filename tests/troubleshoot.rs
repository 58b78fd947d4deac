//! `cefrelay cef-troubleshoot` against real relays, agents and senders on 127.0.0.1.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::util::{cefrelay, Agent, RefusingPort, Relay};
use serde_json::Value;

/// A configuration file with UDP and TCP listeners on `port`, the admin endpoint and the agent.
fn write_config(
    dir: &Path,
    port: u16,
    admin: SocketAddr,
    agent_port: u16,
    filter: &str,
) -> PathBuf {
    let path = dir.join("cefrelay.toml");
    std::fs::write(
        &path,
        format!(
            "[[listener]]\naddress = \"udp://127.0.0.1:{port}\"\n\
             [[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\
             [filter]\nmode = \"{filter}\"\n\
             [forward]\naddress = [\"tcp://127.0.0.1:{agent_port}\"]\nreconnect_max_ms = 500\n\
             [admin]\nlisten = \"{admin}\"\n"
        ),
    )
    .expect("write config");
    path
}

/// A relay on the configuration file `write_config` leaves in `dir`, with the file's path; it
/// starts again on fresh ports when one was taken before the relay bound it.
fn start_relay(dir: &Path, agent_port: u16) -> (Relay, PathBuf) {
    start_relay_with(dir, agent_port, "")
}

/// [`start_relay`] with `extra` TOML at the end of the file.
fn start_relay_with(dir: &Path, agent_port: u16, extra: &str) -> (Relay, PathBuf) {
    let mut config = PathBuf::new();
    let relay = Relay::on_fresh_ports(|port, admin| {
        config = write_config(dir, port, admin, agent_port, "cef");
        let text = std::fs::read_to_string(&config).expect("read config");
        std::fs::write(&config, format!("{text}{extra}")).expect("write config");
        Relay::try_from_file(&config, port, admin)
    })
    .expect("the relay did not start in five tries");
    (relay, config)
}

/// A loopback address on a port held with nothing listening: nothing answers there.
fn refusing(held: &RefusingPort) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], held.port))
}

fn troubleshoot(config: &Path, extra: &[&str]) -> (Output, Value) {
    let output = cefrelay()
        .args(["cef-troubleshoot", "--json", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .expect("run cef-troubleshoot");
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output, json)
}

/// The check numbered `number`: (status, what it saw, its fixes), all as text.
fn check(json: &Value, number: u64) -> (String, String, String) {
    let check = json["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["number"] == number))
        .unwrap_or_else(|| panic!("no check {number} in {json}"));
    let join = |v: &Value| {
        v.as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    (
        check["status"].as_str().unwrap_or_default().to_string(),
        join(&check["saw"]),
        join(&check["fix"]),
    )
}

#[test]
fn a_healthy_relay_passes_and_every_mock_is_counted() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let (relay, config) = start_relay(dir.path(), agent.address.port());

    let (output, json) = troubleshoot(&config, &["--live", "1", "--mocks", "4"]);
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(json["result"], "pass");
    assert_eq!(check(&json, 1).0, "pass");
    assert_eq!(check(&json, 2).0, "pass");
    let (status, saw, _) = check(&json, 3);
    assert_eq!(status, "pass", "{saw}");
    assert!(saw.contains("cefrelay (pid"), "{saw}");
    // The agent here is the test's stand-in, not the Azure Monitor agent: named, and a warning.
    let (status, saw, fix) = check(&json, 5);
    assert_eq!(status, "warn", "{saw}");
    assert!(saw.contains("accepts connections (tests-"), "{saw}");
    assert!(
        fix.contains("is not the Azure Monitor agent (mdsd)"),
        "{fix}"
    );
    let (status, saw, _) = check(&json, 9);
    assert_eq!(status, "pass", "{saw}");
    assert!(
        saw.contains("8 of 8 received and passed the filter, 8 written"),
        "{saw}"
    );
    assert!(
        saw.contains("CommonSecurityLog | where DeviceVendor == \"TestCommonEventFormat\""),
        "{saw}"
    );
    // The agent got every mock, each with its own marker as the host.
    let mocks: Vec<String> = agent
        .lines()
        .into_iter()
        .filter(|l| l.contains("0|TestCommonEventFormat|MOCK|"))
        .collect();
    assert_eq!(mocks.len(), 8, "{mocks:?}");
    assert_eq!(
        relay.metric("cefrelay_filter_total{action=\"forward\",reason=\"troubleshoot_mock\"}"),
        8
    );
    // Text output (no --json) says the same for people.
    let text = cefrelay()
        .args([
            "cef-troubleshoot",
            "--live",
            "0",
            "--mocks",
            "1",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run cef-troubleshoot");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("[PASS]  9. end to end"), "{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");
}

#[test]
fn a_relay_with_an_admin_token_is_troubleshot_with_the_token_of_its_configuration() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "troubleshoot-token\n").expect("write token");
    let extra = format!("token_file = {:?}\n", token.to_str().expect("utf-8 path"));
    // `extra` lands in the [admin] table, the file's last.
    let (relay, config) = start_relay_with(dir.path(), agent.address.port(), &extra);
    let (status, _) = relay.admin_get("/peers").expect("GET /peers");
    assert!(
        status.contains("401"),
        "the counters are closed without it: {status}"
    );

    let (output, json) = troubleshoot(&config, &["--live", "1", "--mocks", "2"]);
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(check(&json, 2).0, "pass");
    let (status, saw, _) = check(&json, 9);
    assert_eq!(status, "pass", "{saw}");
    assert!(
        saw.contains("4 of 4 received and passed the filter, 4 written"),
        "{saw}"
    );

    // The configuration of another relay (another token): check 2 says why nothing can be read.
    let other_token = dir.path().join("other-token");
    std::fs::write(&other_token, "not-the-relays\n").expect("write token");
    let text = std::fs::read_to_string(&config).expect("read config");
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        text.replace(&extra, &format!("token_file = {other_token:?}\n")),
    )
    .expect("write config");
    let (output, json) = troubleshoot(&other, &["--live", "0", "--mocks", "1", "--timeout", "2"]);
    assert_ne!(output.status.code(), Some(0), "{json:#}");
    let (status, saw, fix) = check(&json, 2);
    assert_eq!(status, "fail", "{saw}");
    assert!(saw.contains("401, the relay refuses the token"), "{saw}");
    assert!(fix.contains("--config"), "{fix}");
}

#[test]
fn nothing_listening_fails_with_how_to_start_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Held, not listening: nothing can answer on the relay's TCP port (bound sockets that do not
    // listen are not in /proc/net/tcp, so check 3 sees nothing there), nor on the admin address.
    // The UDP port of that number is not held (a bound UDP socket is what check 3 looks for);
    // were another test's UDP socket to get it, TCP still shows "nothing listens".
    let (listen, admin, agent) = (
        RefusingPort::new(),
        RefusingPort::new(),
        RefusingPort::new(),
    );
    let config = write_config(dir.path(), listen.port, refusing(&admin), agent.port, "cef");
    let (output, json) = troubleshoot(&config, &["--live", "1"]);
    assert_eq!(output.status.code(), Some(1));
    let (status, _, fix) = check(&json, 2);
    assert_eq!(status, "fail");
    assert!(fix.contains("cefrelay run --config"), "{fix}");
    let (status, saw, fix) = check(&json, 3);
    assert_eq!(status, "fail");
    assert!(saw.contains("nothing listens"), "{saw}");
    assert!(fix.contains("start cefrelay"), "{fix}");
    assert_eq!(check(&json, 9).0, "skip");
}

#[test]
fn another_process_holding_the_port_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The TCP port is held from the moment it is chosen; a UDP port of the same number that is
    // taken sends us to another one.
    let (port, _tcp, _udp) = loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("hold a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)) {
            break (port, tcp, udp);
        }
    };
    let (admin, agent) = (RefusingPort::new(), RefusingPort::new());
    let config = write_config(dir.path(), port, refusing(&admin), agent.port, "cef");
    let (output, json) = troubleshoot(&config, &["--live", "0"]);
    assert_eq!(output.status.code(), Some(1));
    let (status, saw, fix) = check(&json, 3);
    assert_eq!(status, "fail");
    // The holder is this process: the test binary `tests` (the name the kernel shows is its file
    // name, `tests-<hash>` cut to 15 bytes).
    assert!(saw.contains("held by tests-"), "{saw}");
    assert!(fix.contains("holds the port"), "{fix}");
}

#[test]
fn a_closed_agent_port_fails_and_capture_shows_what_would_arrive() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Held without listening while the test runs: the agent port refuses, and `--capture` can
    // still listen there (std binds with SO_REUSEADDR, beside the holder).
    let agent = RefusingPort::new();
    let (_relay, config) = start_relay(dir.path(), agent.port);

    let (output, json) = troubleshoot(&config, &["--live", "0", "--mocks", "2", "--timeout", "3"]);
    assert_eq!(output.status.code(), Some(1));
    let (status, saw, fix) = check(&json, 5);
    assert_eq!(status, "fail", "{saw}");
    assert!(fix.contains("25226") || fix.contains("OMS"), "{fix}");
    let (status, saw, fix) = check(&json, 9);
    assert_eq!(status, "fail");
    assert!(
        saw.contains("4 of 4 received") && saw.contains("0 written"),
        "{saw}"
    );
    assert!(fix.contains("check 5"), "{fix}");

    // --capture listens on the free agent port: the relay delivers there, so everything passes
    // check 9 and the captured lines are shown.
    let (_, json) = troubleshoot(&config, &["--live", "0", "--mocks", "2", "--capture"]);
    let (status, saw, _) = check(&json, 9);
    assert_eq!(status, "pass", "{saw}");
    assert!(saw.contains("captured on the agent port"), "{saw}");
    assert!(saw.contains("TestCommonEventFormat"), "{saw}");
}

const PANOS_CSV_THREAT: &str = "<14>Nov 22 10:00:00 PA-VM 1,2026/11/22 10:00:00,012801096514,THREAT,url,2305,2026/11/22 10:00:00,192.0.2.1,198.51.100.2\n";

#[test]
fn a_sender_of_panos_csv_is_converted_and_its_types_are_reported() {
    let (exit, (status, saw, _)) = live_traffic_of(PANOS_CSV_THREAT, "");
    assert_eq!(exit, Some(0), "{saw}");
    assert_eq!(status, "pass", "{saw}");
    assert!(
        saw.contains("sends PAN-OS's default CSV")
            && saw.contains("THREAT")
            && saw.contains("converted to CEF"),
        "{saw}"
    );
    assert!(!saw.contains(" 0 forwarded"), "{saw}");
}

#[test]
fn a_sender_of_panos_csv_kept_as_csv_gets_the_conversion_and_cef_format_hints() {
    let (exit, (status, saw, fix)) = live_traffic_of(PANOS_CSV_THREAT, "[panos]\ncsv = \"keep\"\n");
    assert_eq!(exit, Some(1), "{saw}");
    assert_eq!(status, "fail", "{saw}");
    assert!(
        saw.contains("127.0.0.1") && saw.contains("0 forwarded"),
        "{saw}"
    );
    assert!(
        fix.contains("default CSV")
            && fix.contains("csv = \"convert\"")
            && fix.contains("Custom Log Format"),
        "{fix}"
    );
}

#[test]
fn a_sender_whose_every_message_the_filter_drops_is_told_why() {
    let line = "<14>Nov 22 10:00:00 PA-VM CEF:0|Palo Alto Networks|PAN-OS|10.1.0|end|TRAFFIC|1|src=192.0.2.1 dst=198.51.100.2 act=allow\n";
    let (exit, (status, saw, fix)) = live_traffic_of(line, "");
    assert_eq!(exit, Some(1), "{saw}");
    assert_eq!(status, "fail", "{saw}");
    assert!(
        saw.contains("0 forwarded") && saw.contains("TRAFFIC"),
        "{saw}"
    );
    assert!(
        fix.contains("only TRAFFIC") && fix.contains("cef-all"),
        "{fix}"
    );
}

/// Check 10 of a run during which one sender repeats `line` to a healthy relay with filter "cef":
/// (status, what it saw, its fixes). The mocks must still pass: only the live traffic is dropped.
/// Check 10 of `cef-troubleshoot` while a sender writes `line` over and over to a relay with
/// `extra` configuration, and the troubleshooter's exit code.
fn live_traffic_of(line: &'static str, extra: &str) -> (Option<i32>, (String, String, String)) {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let (relay, config) = start_relay_with(dir.path(), agent.address.port(), extra);

    // The firewall sends all through the live window.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        let mut stream = relay.tcp();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if stream.write_all(line.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (output, json) = troubleshoot(&config, &["--live", "2", "--mocks", "1"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sender.join();
    assert_eq!(check(&json, 9).0, "pass");
    (output.status.code(), check(&json, 10))
}
