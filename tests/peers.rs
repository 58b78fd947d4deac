//! Real peers from Debian's packages (installed by `.ci/peers`, which `.ci/test` runs):
//! `logger` sends to the relay exactly as `cef_troubleshoot.py` does, and rsyslog, configured as
//! `cef_installer.py` leaves it, forwards the same input so that our traditional output can be
//! compared with the format the agent has always received.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{cef_threat, free_port, wait_until, Agent, Ca, Relay, PATIENCE};

/// The body `cef_troubleshoot.py` sends with `logger -p local4.warn -t CEF:` (GUIDE §4).
const MOCK: &str = "0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|rt=$common=event-formatted-receive_time deviceExternalId=0002D01655 src=1.1.1.1 dst=2.2.2.2 sourceTranslatedAddress=1.1.1.1 destinationTranslatedAddress=3.3.3.3 cs1Label=Rule cs1=CEF_TEST_InternetDNS |data0=example";

fn peer(program: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{program} is not installed: run `bash .ci/peers` (bash .ci/test does)"
    );
    Command::new(program)
}

/// `transport`: `--udp`, `--tcp` (LF framing) or `--octet-count` (TCP, RFC 6587 octet counting).
fn logger(port: u16, transport: &str) {
    let framing: &[&str] = match transport {
        "--octet-count" => &["--tcp", "--octet-count"],
        other => &[other][..],
    };
    let status = peer("logger")
        .args(["-p", "local4.warn", "-t", "CEF:", "-n", "127.0.0.1"])
        .args(["-P", &port.to_string()])
        .args(framing)
        .arg(MOCK)
        .status()
        .expect("run logger");
    assert!(status.success());
}

#[test]
fn logger_mock_messages_pass_the_filter_over_udp_and_tcp() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    for _ in 0..5 {
        logger(relay.port, "--udp");
        logger(relay.port, "--tcp");
        logger(relay.port, "--octet-count");
    }
    assert!(
        wait_until(PATIENCE, || agent.count() >= 15),
        "got {}",
        agent.count()
    );
    assert_eq!(
        relay.metric("cefrelay_filter_total{action=\"forward\",reason=\"troubleshoot_mock\"}"),
        15
    );
    for line in agent.lines() {
        // What the agent's CEF rule looks for: "CEF:" and then "0|".
        let cef = line.find("CEF:").expect("CEF: in the forwarded line");
        assert!(
            line[cef..].contains("0|TestCommonEventFormat|MOCK|"),
            "{line}"
        );
        assert!(line.starts_with("<164>"), "local4.warn is PRI 164: {line}");
    }
}

/// An imtcp input on a port of its own choosing (port 0), which it writes to the file `name` in
/// `dir` once it listens: see `listening_port`.
fn imtcp_input(dir: &Path, name: &str) -> String {
    format!(
        "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{}\")\n",
        dir.join(name).display()
    )
}

/// The port an `imtcp_input` listens on, once it does. rsyslogd writes the file between its
/// bind and its listen; bound, the port is already its own, so a connection that succeeds is
/// rsyslogd's.
fn listening_port(dir: &Path, name: &str) -> u16 {
    let mut port = None;
    let written = wait_until(PATIENCE, || {
        port = std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok());
        port.is_some()
    });
    assert!(written, "rsyslogd never wrote {name}");
    let port = port.expect("a port");
    wait_for_port(port);
    port
}

/// rsyslogd in the foreground with the cef_installer.py rule, forwarding in the traditional format;
/// its input is `imtcp_input(dir, "listen.port")`.
fn rsyslog(dir: &Path, agent: u16) -> Child {
    let config = format!(
        "global(workDirectory=\"{dir}\")\n\
         module(load=\"imtcp\")\n\
         {input}\
         if $rawmsg contains \"CEF:\" or $rawmsg contains \"ASA-\" then {{\n\
           action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{agent}\" protocol=\"tcp\" template=\"RSYSLOG_TraditionalForwardFormat\")\n\
           stop\n\
         }}\n",
        dir = dir.display(),
        input = imtcp_input(dir, "listen.port"),
    );
    let path = dir.join("rsyslog.conf");
    std::fs::write(&path, config).expect("write rsyslog.conf");
    peer("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&path)
        .arg("-i")
        .arg(dir.join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd")
}

#[test]
fn traditional_output_matches_rsyslogs_forward_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = Agent::start(0, Duration::ZERO);
    let theirs = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(
        ours.address.port(),
        &["--agent", "ama", "--filter", "legacy"],
    );
    let mut rsyslogd = rsyslog(dir.path(), theirs.address.port());
    let rsyslog_port = listening_port(dir.path(), "listen.port");

    // The shapes PAN-OS and the troubleshooter send (header variants, tags, RFC 5424).
    let input = [
        "<14>Nov 22 10:00:00 PA-VM CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.1 externalId=1",
        "<164>Nov  2 01:02:03 myhost CEF: 0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|src=1.1.1.1 externalId=2",
        "<14>Nov 22 10:00:00 fw01.example.com CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|SYSTEM|1|msg=a b c externalId=3",
        "<13>Nov 22 10:00:00 host app[42]: %ASA-6-302013: Built outbound TCP connection externalId=4",
        "<14>1 2026-11-22T10:00:00+01:00 PA-VM - - - - CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.9 externalId=5",
        "<14>1 2026-11-22T10:00:00.123Z fw01 logforwarder 77 panwlogs - CEF:0|Palo Alto Networks|LF|2.0|THREAT|url|3|dtz=UTC externalId=6",
    ];
    let payload: String = input.iter().map(|line| format!("{line}\n")).collect();
    for port in [relay.port, rsyslog_port] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        std::io::Write::write_all(&mut stream, payload.as_bytes()).expect("send");
    }
    let settled = wait_until(PATIENCE, || {
        ours.count() >= input.len() && theirs.count() >= input.len()
    });
    let _ = rsyslogd.kill();
    let _ = rsyslogd.wait();
    assert!(
        settled,
        "ours {:?}\ntheirs {:?}",
        ours.lines(),
        theirs.lines()
    );
    let key = |line: &String| {
        line.rsplit_once("externalId=")
            .map(|(_, id)| id.to_string())
            .unwrap_or_default()
    };
    let mut ours = ours.lines();
    let mut theirs = theirs.lines();
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    let differences: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .filter(|(mine, rsyslogs)| mine != rsyslogs)
        .map(|(mine, rsyslogs)| format!("ours:    {mine}\nrsyslog: {rsyslogs}"))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// rsyslogd in the foreground with `config` (its workDirectory is `dir`).
fn rsyslogd(dir: &Path, config: &str) -> Child {
    let path = dir.join("rsyslog-peer.conf");
    std::fs::write(
        &path,
        format!("global(workDirectory=\"{}\")\n{config}", dir.display()),
    )
    .expect("write rsyslog config");
    peer("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&path)
        .arg("-i")
        .arg(dir.join("rsyslog-peer.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd")
}

fn wait_for_port(port: u16) {
    assert!(
        wait_until(PATIENCE, || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "nothing listens on {port}"
    );
}

/// rsyslog as a real forwarding client: over plain TCP with octet counting, and over TLS (its
/// openssl driver, verifying our certificate), into one relay.
#[test]
fn rsyslog_forwards_into_cefrelay_over_tcp_and_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = Agent::start(0, Duration::ZERO);
    let ca = Ca::new("peer test CA");
    ca.write_server_files(dir.path());
    let config = dir.path().join("cefrelay.toml");
    let mut tls_port = 0;
    let relay = Relay::on_fresh_ports(|port, admin| {
        // The TLS port is one more the relay binds: taken meanwhile, it fails this start like the
        // other two, and the next start gets fresh ones.
        tls_port = free_port();
        std::fs::write(
            &config,
            format!(
                "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\
                 [[listener]]\naddress = \"tls://127.0.0.1:{tls_port}\"\ntls_cert = \"server.pem\"\ntls_key = \"server.key\"\n\
                 [filter]\nmode = \"cef-all\"\n\
                 [forward]\naddress = [\"tcp://{agent}\"]\n\
                 [admin]\nlisten = \"{admin}\"\n",
                agent = agent.address,
            ),
        )
        .expect("write config");
        Relay::try_from_file(&config, port, admin)
    })
    .expect("the relay started");
    let mut rsyslog = rsyslogd(
        dir.path(),
        &format!(
            "global(DefaultNetstreamDriverCAFile=\"{ca}\")\n\
             module(load=\"imtcp\")\n\
             {input}\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{tcp}\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{tls_port}\" protocol=\"tcp\" StreamDriver=\"ossl\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/certvalid\")\n",
            ca = dir.path().join("ca.pem").display(),
            tcp = relay.port,
            input = imtcp_input(dir.path(), "input.port"),
        ),
    );
    let input = listening_port(dir.path(), "input.port");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", input)).expect("connect");
    for id in 0..50 {
        std::io::Write::write_all(&mut stream, format!("{}\n", cef_threat(id)).as_bytes())
            .expect("send to rsyslog");
    }
    // Every message twice: once over TCP (as RFC 5424, octet-counted), once over TLS.
    let arrived = wait_until(PATIENCE, || agent.count() >= 100);
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    assert!(
        arrived,
        "got {}: {:?}",
        agent.count(),
        agent.lines().first()
    );
    for id in 0..50 {
        let marker = format!("externalId={id}");
        let copies = agent
            .lines()
            .iter()
            .filter(|l| l.ends_with(&marker))
            .count();
        assert_eq!(copies, 2, "{marker}");
    }
    assert_eq!(relay.metric("cefrelay_tls_handshake_failures_total"), 0);
}

/// rsyslog as the receiving end, the way the agent's own syslog ingestion parses what it gets:
/// host, tag and message of each forwarded line must come out as they went in.
#[test]
fn rsyslog_as_the_agent_parses_every_forwarded_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("agent.log");
    let mut rsyslog = rsyslogd(
        dir.path(),
        &format!(
            "module(load=\"imtcp\")\n\
             template(name=\"fields\" type=\"string\" string=\"%hostname%|%syslogtag%|%msg:2:$%\\n\")\n\
             {input}\
             action(type=\"omfile\" file=\"{out}\" template=\"fields\")\n",
            input = imtcp_input(dir.path(), "agent.port"),
            out = out.display()
        ),
    );
    let agent_port = listening_port(dir.path(), "agent.port");
    let relay = Relay::start(agent_port, &["--agent", "ama"]);
    let lines = [
        "<14>Nov 22 10:00:00 PA-VM CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.1 externalId=1",
        "<14>1 2026-11-22T10:00:00+01:00 fw01 - - - - CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|msg=a b externalId=2",
        "<164>Nov  2 01:02:03 myhost CEF: 0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|src=1.1.1.1 externalId=3",
        "<14>Nov 22 10:00:00 PA-VM CEF:0|Palo Alto Networks|PAN-OS|10.1.8|virus|THREAT|5|msg=line one\\nline two externalId=4",
    ];
    let mut stream = relay.tcp();
    for line in lines {
        std::io::Write::write_all(&mut stream, format!("{line}\n").as_bytes()).expect("send");
    }
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let arrived = wait_until(PATIENCE, || read().lines().count() >= lines.len());
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    assert!(arrived, "{}", read());
    let parsed = read();
    let expected = [
        "PA-VM|CEF:|0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.1 externalId=1",
        "fw01|-|CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|msg=a b externalId=2",
        "myhost|CEF:|0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|src=1.1.1.1 externalId=3",
        // A PAN-OS threat gains its MITRE classification (here by subtype: a virus).
        "PA-VM|CEF:|0|Palo Alto Networks|PAN-OS|10.1.8|virus|THREAT|5|msg=line one\\nline two externalId=4 \
         threatAttackID=TA0002 threatAttackName=Execution mitreSource=subtype",
    ];
    for want in expected {
        assert!(
            parsed.lines().any(|line| line == want),
            "{want}\nnot in\n{parsed}"
        );
    }
}

#[test]
fn cef_troubleshoot_fails_check_4_when_rsyslog_holds_a_listener_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rsyslog = rsyslogd(
        dir.path(),
        &format!(
            "module(load=\"imtcp\")\n{}action(type=\"omfile\" file=\"{}\")\n",
            imtcp_input(dir.path(), "held.port"),
            dir.path().join("received.log").display()
        ),
    );
    let port = listening_port(dir.path(), "held.port");
    let config = dir.path().join("cefrelay.toml");
    std::fs::write(
        &config,
        format!("[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n[admin]\nlisten = \"\"\n"),
    )
    .expect("write config");
    let output = crate::util::cefrelay()
        .args(["cef-troubleshoot", "--json", "--live", "0", "--config"])
        .arg(&config)
        .output()
        .expect("run cef-troubleshoot");
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let check = json["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["number"] == 4))
        .expect("check 4")
        .clone();
    assert_eq!(check["status"], "fail", "{check:#}");
    let saw = check["saw"].to_string();
    assert!(
        saw.contains("rsyslogd (pid") && saw.contains(&format!("tcp://127.0.0.1:{port}")),
        "{saw}"
    );
}
