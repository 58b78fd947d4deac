//! Black-box tests of `cefrelay run`: the real binary, real sockets on 127.0.0.1, an agent
//! stand-in that records every line it receives.

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use crate::util::{cef_threat, cefrelay, wait_until, Agent, RefusingPort, Relay, PATIENCE};

fn send_lines(relay: &Relay, lines: &[String]) {
    let mut stream = relay.tcp();
    for line in lines {
        stream.write_all(line.as_bytes()).expect("write");
        stream.write_all(b"\n").expect("write");
    }
}

/// Events the agent sink holds: waiting in its buffer, or read and not yet released (it reads
/// one batch before connecting).
fn held(relay: &Relay) -> u64 {
    relay.metric("cefrelay_sink_queue_depth") + relay.metric("cefrelay_sink_unreleased_events")
}

fn markers(lines: &[String]) -> std::collections::BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.split("externalId=").nth(1).map(|id| id.to_string()))
        .collect()
}

#[test]
fn tcp_lf_frames_reach_the_agent_byte_identical_in_raw_format() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &["--filter", "cef"]);
    let lines: Vec<String> = (0..100).map(cef_threat).collect();
    send_lines(&relay, &lines);
    assert!(
        wait_until(PATIENCE, || agent.count() >= 100),
        "got {}",
        agent.count()
    );
    // Default format is traditional; the RFC 3164 header survives it unchanged but for the tag space.
    let received = agent.lines();
    assert!(
        received[0].starts_with("<14>Nov 22 10:00:00 fw01 CEF: 0|Palo Alto Networks|"),
        "{}",
        received[0]
    );
    assert_eq!(markers(&received), markers(&lines));
}

#[test]
fn raw_format_is_byte_identical() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[forward]\nformat = \"raw\"\n",
        dir.path(),
    );
    let lines: Vec<String> = (0..20).map(cef_threat).collect();
    send_lines(&relay, &lines);
    assert!(wait_until(PATIENCE, || agent.count() >= 20));
    assert_eq!(agent.lines(), lines);
}

#[test]
fn tcp_octet_counted_frames_are_split_by_their_counts() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let mut stream = relay.tcp();
    for id in 0..50 {
        let line = cef_threat(id);
        write!(stream, "{} {line}", line.len()).expect("write");
    }
    assert!(
        wait_until(PATIENCE, || agent.count() >= 50),
        "got {}",
        agent.count()
    );
    assert_eq!(markers(&agent.lines()).len(), 50);
}

#[test]
fn udp_datagrams_reach_the_agent() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for id in 0..50 {
        socket
            .send_to(cef_threat(id).as_bytes(), ("127.0.0.1", relay.port))
            .expect("send");
        // Loopback UDP has no flow control: pace the sender so the test is about the relay.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        wait_until(PATIENCE, || agent.count() >= 50),
        "got {}",
        agent.count()
    );
}

#[test]
fn agent_filter_counts_a_mixed_input() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let mixed = vec![
        cef_threat(1),
        "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|src=192.0.2.1".to_string(),
        "<14>Nov 22 10:00:00 fw 1,2026/11/22 10:00:00,0123456789,THREAT,url,2816,2026/11/22 10:00:00".to_string(),
        "<13>Nov 22 10:00:00 host sshd[1]: plain syslog, not CEF".to_string(),
        "<14>Nov 22 10:00:00 fw CEF:0|broken".to_string(),
        "<164>Nov 22 10:00:00 host CEF: 0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|rt=x cs1=marker".to_string(),
    ];
    send_lines(&relay, &mixed);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_filter_total")
        >= 6));
    // The PAN-OS CSV THREAT line is converted to CEF (`[panos] csv = "convert"`), then kept.
    assert_eq!(
        relay.metric(r#"cefrelay_filter_total{action="forward",reason="cef"}"#),
        2
    );
    assert_eq!(
        relay.metric(r#"cefrelay_filter_total{action="forward",reason="troubleshoot_mock"}"#),
        1
    );
    assert_eq!(
        relay.metric(r#"cefrelay_filter_total{action="drop",reason="traffic"}"#),
        1
    );
    assert_eq!(
        relay.metric(r#"cefrelay_filter_total{action="drop",reason="not_cef"}"#),
        1
    );
    assert_eq!(
        relay.metric(r#"cefrelay_filter_total{action="drop",reason="invalid_cef"}"#),
        1
    );
    assert!(wait_until(PATIENCE, || agent.count() >= 3));
    assert_eq!(agent.count(), 3);
}

#[test]
fn oversized_and_malformed_frames_are_counted_and_valid_frames_keep_flowing() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\nmax_message_bytes = 1000\n",
        dir.path(),
    );
    let mut bad = std::net::TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    let mut good = std::net::TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    let huge = format!("{}\n", "x".repeat(5000));
    for id in 0..10 {
        bad.write_all(huge.as_bytes()).expect("write");
        writeln!(bad, "{}", cef_threat(id)).expect("write");
        writeln!(good, "{}", cef_threat(100 + id)).expect("write");
    }
    // An octet count that promises more than max_message_bytes.
    bad.write_all(b"99999 <14>Nov 22 10:00:00 x\n")
        .expect("write");
    writeln!(good, "{}", cef_threat(200)).expect("write");
    assert!(
        wait_until(PATIENCE, || agent.count() >= 21),
        "got {}",
        agent.count()
    );
    assert!(relay.metric("cefrelay_oversized_frames_total") >= 11);
}

#[test]
fn agent_down_at_start_then_up_gets_everything() {
    let agent_port = RefusingPort::new();
    let relay = Relay::start(agent_port.port, &[]);
    let lines: Vec<String> = (0..200).map(cef_threat).collect();
    send_lines(&relay, &lines);
    assert!(wait_until(PATIENCE, || held(&relay) >= 200));
    let agent = agent_port.start_agent(Duration::ZERO);
    assert!(
        wait_until(PATIENCE, || markers(&agent.lines()).len() >= 200),
        "got {}",
        agent.count()
    );
}

#[test]
fn agent_restarted_mid_stream_loses_nothing() {
    // Held for the whole test, so that the port is still ours when the agent comes back.
    let agent_port = RefusingPort::new();
    let agent = agent_port.start_agent(Duration::ZERO);
    let relay = Relay::start(agent_port.port, &[]);
    let first: Vec<String> = (0..300).map(cef_threat).collect();
    send_lines(&relay, &first);
    assert!(wait_until(PATIENCE, || agent.count() >= 100));
    let mut seen = markers(&agent.stop());
    // While the agent is away the relay keeps receiving.
    let second: Vec<String> = (300..600).map(cef_threat).collect();
    send_lines(&relay, &second);
    let agent = agent_port.start_agent(Duration::ZERO);
    assert!(
        wait_until(PATIENCE, || {
            let mut all = seen.clone();
            all.extend(markers(&agent.lines()));
            all.len() >= 600
        }),
        "lost messages across the agent restart"
    );
    seen.extend(markers(&agent.lines()));
    assert_eq!(seen.len(), 600);
}

#[test]
fn slow_agent_throttles_the_sender_and_loses_nothing() {
    let agent = Agent::start(0, Duration::from_micros(200));
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = Relay::with_config(
        agent.address.port(),
        "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\
         [forward]\nqueue_events = 512\nresend_window_bytes = 65536\n",
        dir.path(),
    );
    let lines: Vec<String> = (0..5000).map(cef_threat).collect();
    send_lines(&relay, &lines);
    let mut deepest = 0;
    assert!(
        wait_until(Duration::from_secs(60), || {
            deepest = deepest.max(relay.metric("cefrelay_sink_queue_depth"));
            agent.count() >= 5000
        }),
        "got {}",
        agent.count()
    );
    assert_eq!(markers(&agent.lines()).len(), 5000);
    // Events waiting in the buffer never exceeded its bound: it counts events, and what the
    // sink has read (its resend window) is counted apart.
    assert!(
        deepest > 0,
        "the depth was sampled while events were in flight"
    );
    assert!(deepest <= 512, "{deepest} events waited at once");
}

#[test]
fn sigterm_drains_the_queue_and_exits_zero() {
    let agent_port = RefusingPort::new();
    let mut relay = Relay::start(agent_port.port, &[]);
    let lines: Vec<String> = (0..100).map(cef_threat).collect();
    send_lines(&relay, &lines);
    assert!(wait_until(PATIENCE, || held(&relay) >= 100));
    let agent = agent_port.start_agent(Duration::ZERO);
    relay.signal("TERM");
    let status = relay.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(wait_until(PATIENCE, || agent.count() >= 100));
    assert_eq!(markers(&agent.lines()).len(), 100);
}

#[test]
fn bad_config_exits_64_naming_key_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[filter]\nmode = \"cef\"\n\n[[listener]]\naddress = \"tcp://nowhere\"\n",
    )
    .expect("write");
    for command in [vec!["check-config"], vec!["run", "--config"]] {
        let output = cefrelay().args(&command).arg(&path).output().expect("run");
        assert_eq!(output.status.code(), Some(64), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("bad.toml:5"), "{stderr}");
        assert!(stderr.contains("listener[0].address"), "{stderr}");
    }
    std::fs::write(&path, "[filter]\nmood = \"cef\"\n").expect("write");
    let output = cefrelay()
        .args(["check-config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml:2") && stderr.contains("mood"),
        "{stderr}"
    );
}

#[test]
fn sighup_reloads_the_filter_and_a_bad_file_changes_nothing() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[filter]\nmode = \"cef\"\n";
    let relay = Relay::with_config(agent.address.port(), config, dir.path());
    let plain = |n: usize| format!("<13>Nov 22 10:00:00 host app: not CEF {n}");
    let path = dir.path().join("cefrelay.toml");
    let listen = format!("tcp://127.0.0.1:{}", relay.port);

    send_lines(&relay, &[plain(1), cef_threat(1)]);
    assert!(wait_until(PATIENCE, || agent.count() >= 1));

    // A file that does not validate: the running configuration stays.
    std::fs::write(&path, "[filter]\nmode = \"nonsense\"\n").expect("write config");
    relay.signal("HUP");
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_config_reloads_total")
        >= 1));
    send_lines(&relay, &[plain(2), cef_threat(2)]);
    assert!(wait_until(PATIENCE, || agent.count() >= 2));

    std::fs::write(
        &path,
        format!("[[listener]]\naddress = \"{listen}\"\n[filter]\nmode = \"all\"\n"),
    )
    .expect("write config");
    relay.signal("HUP");
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_config_reloads_total")
        >= 2));
    send_lines(&relay, &[plain(3), cef_threat(3)]);
    assert!(wait_until(PATIENCE, || agent.count() >= 4));
    let lines = agent.lines();
    assert!(!lines
        .iter()
        .any(|l| l.ends_with("not CEF 1") || l.ends_with("not CEF 2")));
    assert!(lines.iter().any(|l| l.ends_with("not CEF 3")), "{lines:?}");
}

#[test]
fn udp_forward_sends_one_datagram_per_message() {
    let agent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind agent");
    agent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let forward = format!("udp://{}", agent.local_addr().expect("address"));
    let relay = Relay::start_with(&["--forward", &forward]);
    let lines: Vec<String> = (0..20).map(cef_threat).collect();
    send_lines(&relay, &lines);
    let mut received = Vec::new();
    let mut buffer = [0u8; 65536];
    while received.len() < 20 {
        let n = agent.recv(&mut buffer).expect("a datagram from the relay");
        received.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    assert!(
        received
            .iter()
            .all(|d| !d.ends_with('\n') && d.contains("CEF: 0|Palo Alto")),
        "{received:?}"
    );
    assert_eq!(markers(&received), markers(&lines));
}

#[test]
fn a_taken_port_fails_the_start_with_the_fix_on_its_own_line() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = squatter.local_addr().expect("address").port();
    // The listen port fails the start before the admin endpoint is opened: none is needed.
    let output = cefrelay()
        .args([
            "run",
            "--listen",
            &format!("tcp://127.0.0.1:{port}"),
            "--admin",
            "",
        ])
        .output()
        .expect("run cefrelay");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Address already in use (os error 98)\nanother process holds the port"),
        "{stderr}"
    );
}

#[test]
fn logs_carry_no_colour_codes_when_standard_error_is_not_a_terminal() {
    use std::io::BufRead;
    let mut child = crate::util::cefrelay()
        .args(["run", "--listen", "tcp://127.0.0.1:0", "--admin", ""])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in std::io::BufReader::new(stderr).lines().take(50) {
        let line = line.expect("a log line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("listening"), "{seen}");
    assert!(!seen.contains('\u{1b}'), "escape codes in a pipe: {seen:?}");
}

#[test]
fn the_start_up_log_says_what_the_filter_drops_and_the_first_drop_per_sender_is_named() {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};
    let agent = Agent::start(0, Duration::ZERO);
    let mut child = crate::util::cefrelay()
        .args(["run", "--admin", ""])
        .args(["--listen", "tcp://127.0.0.1:0"])
        .args([
            "--forward",
            &format!("tcp://127.0.0.1:{}", agent.address.port()),
        ])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (log, stderr) = (log.clone(), child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let text = || log.lock().unwrap().clone();
    assert!(
        wait_until(PATIENCE, || text().contains("listening")),
        "{}",
        text()
    );
    let start_up = text();
    assert!(start_up.contains("cefrelay starting"), "{start_up}");
    assert!(
        start_up.contains("agent filter: forwards valid CEF except PAN-OS TRAFFIC; drops TRAFFIC"),
        "{start_up}"
    );
    assert!(start_up.contains("sink=agent"), "{start_up}");

    let traffic =
        "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|src=10.0.0.1";
    let asa = "<166>Nov 22 10:00:00 asa %ASA-6-302013: Built outbound TCP connection";
    // Port 0: the kernel's choice, which the start-up log names (`bound=127.0.0.1:PORT`).
    let bound = start_up
        .split("bound=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the bound address in the log");
    let bound = bound.trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':');
    let mut stream = std::net::TcpStream::connect(bound).expect("connect");
    for line in [traffic, asa, traffic, asa, &cef_threat(1)] {
        stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }
    assert!(wait_until(PATIENCE, || agent.count() == 1));
    assert!(wait_until(PATIENCE, || text().contains("lines without CEF")));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let all = text();
    assert_eq!(
        all.matches("dropping PAN-OS TRAFFIC from this sender")
            .count(),
        1,
        "{all}"
    );
    assert_eq!(
        all.matches("dropping this sender's lines without CEF")
            .count(),
        1,
        "{all}"
    );
    assert!(
        all.contains("cef-all"),
        "the setting that forwards TRAFFIC is named: {all}"
    );
}

#[test]
fn metrics_say_the_build_and_the_process_and_version_names_the_commit() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let metrics = relay.try_metrics().expect("/metrics");
    let version = String::from_utf8(
        cefrelay()
            .arg("--version")
            .output()
            .expect("--version")
            .stdout,
    )
    .expect("utf-8");
    // `cefrelay 0.1.0 (commit abc123def456, 2026-11-27)`: the same commit on both.
    let commit = version
        .split("commit ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("a commit in --version");
    assert!(
        metrics.contains(&format!(
            "cefrelay_build_info{{version=\"{}\",commit=\"{commit}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{version}\n{metrics}"
    );
    assert!(relay.metric("process_resident_memory_bytes") > 0);
    assert!(relay.metric("process_open_fds") > 0);
    let started: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_start_time_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("process_start_time_seconds");
    assert!(started > 1_700_000_000.0, "{started}");
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let run = |args: &[&str]| {
        let output = cefrelay().args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let bash = run(&["completions", "bash"]);
    let zsh = run(&["completions", "zsh"]);
    let man = run(&["man"]);
    assert!(man.contains(".TH cefrelay 1"), "{man}");
    for command in [
        "run",
        "check-config",
        "send",
        "cef-troubleshoot",
        "install",
        "rules",
        "userid",
    ] {
        assert!(bash.contains(command), "bash completion lacks {command}");
        assert!(zsh.contains(command), "zsh completion lacks {command}");
        assert!(
            man.contains(&command.replace('-', "\\-")),
            "the man page lacks {command}"
        );
    }
}

#[test]
fn a_summary_line_reports_what_came_in_and_went_out() {
    use std::io::BufRead;
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("cefrelay.toml");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\naddress = \"tcp://127.0.0.1:0\"\n[forward]\naddress = [\"tcp://127.0.0.1:{}\"]\n\
             [admin]\nlisten = \"\"\n[log]\nsummary_secs = 1\n",
            agent.address.port()
        ),
    )
    .expect("write config");
    let mut child = cefrelay()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the relay");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut next_with = |needle: &str| {
        lines
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle}"))
    };
    let listening = next_with("listening");
    let bound = listening
        .split("bound=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("bound address")
        .to_string();
    let mut stream = std::net::TcpStream::connect(bound.as_str()).expect("connect");
    let traffic = "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|a=b";
    for line in [cef_threat(1), cef_threat(2), traffic.to_string()] {
        stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }
    assert!(wait_until(PATIENCE, || agent.count() == 2));
    // The summaries until the three messages are accounted for (an interval may end between
    // them): received, forwarded and dropped add up.
    let number = |line: &str, after: &str| -> u64 {
        line.split(after)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0)
    };
    let (mut received, mut forwarded, mut traffic) = (0, 0, 0);
    let mut seen = Vec::new();
    // Bounded: a summary that missed a message would otherwise keep this test reading forever.
    while received < 3 && seen.len() < 60 {
        let line = next_with("summary: received");
        received += number(&line, "received ");
        forwarded += number(&line, "forwarded ");
        traffic += number(&line, "traffic=");
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((received, forwarded, traffic), (3, 2, 1), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("sinks: agent: sent")),
        "{seen:#?}"
    );
}
