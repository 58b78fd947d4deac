//! A PAN-OS firewall at its default settings sends CSV: the relay converts it to the CEF the
//! firewall would send with the CEF format strings, and every output gets what it expects.

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use crate::util::{project_path, wait_until, Agent, Relay, PATIENCE};

/// The project's own PAN-OS CSV lines (with their syslog headers), by log type.
fn csv_lines(log_type: &str) -> Vec<String> {
    let path = project_path(&format!("fixtures/panos/{log_type}.log"));
    std::fs::read_to_string(path)
        .expect("read the fixture")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.contains("CEF:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_firewall_at_default_settings_reaches_the_agent_as_cef_over_udp_and_tcp() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let threat = csv_lines("threat");
    let system = csv_lines("system");
    let config = csv_lines("config");
    let traffic = csv_lines("traffic");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for line in threat.iter().chain(&traffic) {
        udp.send_to(line.as_bytes(), ("127.0.0.1", relay.port))
            .expect("send");
        // Loopback UDP has no flow control: pace the sender so the test is about the relay.
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut tcp = relay.tcp();
    for line in system.iter().chain(&config).chain(&traffic) {
        tcp.write_all(format!("{line}\n").as_bytes()).expect("send");
    }
    drop(tcp);

    let expected = threat.len() + system.len() + config.len();
    assert!(
        wait_until(PATIENCE, || agent.count() >= expected),
        "the agent got {} of {expected}: {:?}",
        agent.count(),
        agent.lines()
    );
    let lines = agent.lines();
    for line in &lines {
        assert!(
            line.contains(" CEF:0|Palo Alto Networks|PAN-OS|"),
            "not the firewall's CEF: {line}"
        );
        // The traditional forward format the agent parses, with the CEF where the CSV was.
        assert!(line.starts_with('<'), "{line}");
        assert!(!line.contains(",20"), "CSV left in the line: {line}");
    }
    for (log_type, sent) in [
        ("THREAT", threat.len()),
        ("SYSTEM", system.len()),
        ("CONFIG", config.len()),
    ] {
        let got = lines
            .iter()
            .filter(|line| line.contains(&format!("|{log_type}|")))
            .count();
        assert_eq!(got, sent, "{log_type} lines at the agent");
        let converted = relay.metric(&format!(
            "cefrelay_panos_converted_total{{type=\"{log_type}\"}}"
        ));
        assert_eq!(converted as usize, sent, "{log_type} converted");
    }
    // TRAFFIC is converted too, then dropped by the default agent filter, as CEF TRAFFIC is.
    assert_eq!(
        relay.metric("cefrelay_panos_converted_total{type=\"TRAFFIC\"}") as usize,
        2 * traffic.len()
    );
    assert_eq!(
        relay.metric("cefrelay_filter_total{action=\"drop\",reason=\"traffic\"}") as usize,
        2 * traffic.len()
    );
    assert!(lines.iter().all(|line| !line.contains("|TRAFFIC|")));
    assert_eq!(relay.metric("cefrelay_panos_unconverted_total"), 0);
}

#[test]
fn the_converted_threat_carries_the_csv_columns_under_the_firewalls_cef_keys() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let mut tcp = relay.tcp();
    let line = &csv_lines("threat")[0];
    tcp.write_all(format!("{line}\n").as_bytes()).expect("send");
    drop(tcp);
    assert!(wait_until(PATIENCE, || agent.count() == 1));
    let cef = agent.lines().remove(0);
    // From the CSV: src 192.0.2.10, dst 198.51.100.20, rule, user, the session's ports.
    for pair in [
        "src=192.0.2.10 ",
        "dst=198.51.100.20 ",
        "cs1Label=Rule cs1=Outbound Web ",
        "suser=example\\\\alice ",
        "spt=51544 ",
        "dpt=80 ",
        "act=reset-both ",
        "deviceExternalId=007200001234 ",
    ] {
        assert!(cef.contains(pair), "`{pair}` not in {cef}");
    }
    assert!(cef.contains("|THREAT|"), "{cef}");
}

#[test]
fn keep_leaves_the_csv_for_outputs_that_take_non_cef_and_drop_drops_it() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let threat = csv_lines("threat");
    for (mode, filter, expected_at_agent) in [("keep", "all", threat.len()), ("drop", "all", 0)] {
        let config = dir.path().join(format!("{mode}.toml"));
        std::fs::write(&config, format!("[panos]\ncsv = \"{mode}\"\n")).expect("write config");
        let relay = Relay::start(
            agent.address.port(),
            &[
                "--config",
                config.to_str().expect("utf-8"),
                "--filter",
                filter,
            ],
        );
        let before = agent.count();
        let mut tcp = relay.tcp();
        for line in &threat {
            tcp.write_all(format!("{line}\n").as_bytes()).expect("send");
        }
        drop(tcp);
        if expected_at_agent > 0 {
            assert!(wait_until(PATIENCE, || agent.count() >= before + expected_at_agent));
            let lines = agent.lines();
            assert!(
                lines[before..].iter().all(|l| l.contains(",THREAT,")),
                "{lines:?}"
            );
        } else {
            assert!(wait_until(
                PATIENCE,
                || relay.metric("cefrelay_panos_dropped_total") as usize == threat.len()
            ));
        }
        assert_eq!(relay.metric("cefrelay_panos_converted_total"), 0, "{mode}");
    }
}

#[test]
fn parse_to_cef_writes_each_golden_csv_line_as_its_cef_byte_for_byte() {
    let dir = project_path("fixtures/panos-cef");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("list the goldens") {
        let csv = entry.expect("entry").path();
        if csv.extension().is_none_or(|ext| ext != "csv") {
            continue;
        }
        let output = crate::util::cefrelay()
            .args(["parse", "--to-cef"])
            .arg(&csv)
            .output()
            .expect("run cefrelay parse");
        assert!(output.status.success(), "{output:?}");
        let expected = std::fs::read(csv.with_extension("cef")).expect("read the golden CEF");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&expected),
            "{}",
            csv.display()
        );
        cases += 1;
    }
    assert!(cases >= 15, "only {cases} goldens");
}
