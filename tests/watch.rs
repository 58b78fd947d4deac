//! `cefrelay tap` and `cefrelay top` against a running relay: the real binaries, loopback
//! sockets, an agent stand-in that counts what it gets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::util::{cef_threat, cefrelay, free_port, wait_until, Agent, Relay, PATIENCE};

/// A PAN-OS-like CEF TRAFFIC line with a unique marker: the `cef` filter drops it.
fn cef_traffic(id: usize) -> String {
    format!(
        "<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|src=192.0.2.{} dst=198.51.100.7 externalId={id}",
        id % 250
    )
}

fn send_lines(relay: &Relay, lines: &[String]) {
    let mut stream = relay.tcp();
    for line in lines {
        stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
    }
}

fn marker(event: &Value) -> &str {
    let message = event["message"].as_str().expect("a message");
    message.rsplit("externalId=").next().expect("a marker")
}

/// A running `cefrelay tap --json`, its output read as it comes.
struct Tapping {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Tapping {
    /// Starts the tap and waits until the relay has opened it, so nothing sent after is missed.
    fn start(relay: &Relay, args: &[&str]) -> Tapping {
        let mut child = cefrelay()
            .args(["tap", "--json", "--admin", &relay.admin.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cefrelay tap");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let tapping = Tapping {
            child,
            stdout,
            stderr,
        };
        let opened = wait_until(PATIENCE, || {
            tapping
                .stderr()
                .iter()
                .any(|line| line.starts_with("tapping "))
        });
        assert!(opened, "the tap never opened: {:?}", tapping.stderr());
        tapping
    }

    fn events(&self) -> Vec<Value> {
        let lines = self.stdout.lock().expect("lock").clone();
        lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect()
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("lock").clone()
    }

    /// Waits for the tap to exit by itself: whether it succeeded, and the events it printed.
    fn finish(mut self) -> (bool, Vec<Value>) {
        let mut status = None;
        wait_until(PATIENCE, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        let status = status.expect("the tap stops by itself");
        // Its output is read to the end once the pipes close.
        wait_until(PATIENCE, || Arc::strong_count(&self.stdout) == 1);
        (status.success(), self.events())
    }
}

impl Drop for Tapping {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` line by line in a thread; the thread lets go of the lines at end of file.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let filling = lines.clone();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            filling.lock().expect("lock").push(line);
        }
    });
    lines
}

#[test]
fn tap_shows_exactly_the_messages_sent_with_their_fate_and_stops_at_the_limit() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let tap = Tapping::start(&relay, &["--limit", "4"]);
    let sent = [
        cef_threat(9101),
        cef_traffic(9102),
        cef_threat(9103),
        cef_traffic(9104),
    ];
    send_lines(&relay, &sent);
    let (succeeded, events) = tap.finish();
    assert!(succeeded, "a tap that reached its limit exits 0");
    let markers: Vec<&str> = events.iter().map(marker).collect();
    assert_eq!(markers, ["9101", "9102", "9103", "9104"], "{events:#?}");
    for (event, line) in events.iter().zip(&sent) {
        assert_eq!(event["message"], line.as_str());
        assert_eq!(event["sender"], "127.0.0.1");
        assert!(event["time"].as_str().is_some_and(|t| t.starts_with("20")));
    }
    for threat in [&events[0], &events[2]] {
        assert_eq!(threat["stage"], "forwarded");
        assert_eq!(threat["decision"], "cef");
        assert_eq!(threat["sinks"], serde_json::json!(["agent"]));
    }
    for traffic in [&events[1], &events[3]] {
        assert_eq!(traffic["stage"], "dropped");
        assert_eq!(traffic["decision"], "traffic");
        assert_eq!(traffic["reason"], "filter");
        assert_eq!(traffic["sinks"], serde_json::json!([]));
    }
    // The relay went on as if nobody had watched.
    assert!(wait_until(PATIENCE, || agent.count() == 2));
}

#[test]
fn tap_match_and_stage_choose_the_messages_shown() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let threats = Tapping::start(
        &relay,
        &[
            "--match",
            "type=THREAT",
            "--match",
            "externalId~^92(02|04)$",
            "--limit",
            "2",
        ],
    );
    let dropped = Tapping::start(&relay, &["--stage", "dropped", "--limit", "1"]);
    send_lines(
        &relay,
        &[
            cef_threat(9201),
            cef_threat(9202),
            cef_traffic(9204),
            cef_threat(9203),
            cef_threat(9204),
        ],
    );
    let (succeeded, events) = threats.finish();
    assert!(succeeded);
    let markers: Vec<&str> = events.iter().map(marker).collect();
    assert_eq!(markers, ["9202", "9204"], "{events:#?}");
    assert!(events.iter().all(|e| e["stage"] == "forwarded"));
    let (succeeded, events) = dropped.finish();
    assert!(succeeded);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (marker(&events[0]), &events[0]["stage"]),
        ("9204", &"dropped".into())
    );
}

/// The status line's start of `GET path`, read with a time limit: a tap that opened by mistake
/// would otherwise stream for ever.
fn status_of(admin: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(admin).expect("connect to the admin endpoint");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("write");
    let mut status = [0u8; 12];
    match stream.read_exact(&mut status) {
        Ok(()) => String::from_utf8_lossy(&status).into_owned(),
        Err(error) => format!("no answer: {error}"),
    }
}

/// Opens `count` taps over raw connections and holds them: `None` for each one refused.
fn open_taps(admin: SocketAddr, count: usize) -> Vec<Option<TcpStream>> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(admin).ok()?;
            stream.set_read_timeout(Some(PATIENCE)).ok()?;
            stream
                .write_all(b"GET /tap HTTP/1.1\r\nHost: x\r\n\r\n")
                .ok()?;
            let mut status = [0u8; 12];
            stream.read_exact(&mut status).ok()?;
            (&status == b"HTTP/1.1 200").then_some(stream)
        })
        .collect()
}

/// The relay's limit of taps open at once (`telemetry::tap::MAX_TAPS`).
const MAX_TAPS: usize = 4;

#[test]
fn a_tap_that_goes_away_leaves_the_relay_delivering_and_frees_its_place() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let tap = Tapping::start(&relay, &["--match", "type=THREAT"]);
    let first: Vec<String> = (0..200).map(cef_threat).collect();
    send_lines(&relay, &first);
    assert!(wait_until(PATIENCE, || !tap.events().is_empty()));
    drop(tap);
    let second: Vec<String> = (200..400).map(cef_threat).collect();
    send_lines(&relay, &second);
    assert!(
        wait_until(PATIENCE, || agent.count() == 400),
        "{} of 400 reached the agent",
        agent.count()
    );
    assert_eq!(
        relay.metric("cefrelay_filter_total{action=\"forward\",reason=\"cef\"}"),
        400
    );
    // The relay noticed the tap leave (it sends nothing, so only its end of stream tells): every
    // place is free again, and one tap beyond the limit is refused.
    assert!(wait_until(PATIENCE, || {
        let held = open_taps(relay.admin, MAX_TAPS);
        held.iter().all(Option::is_some) && status_of(relay.admin, "/tap") == "HTTP/1.1 503"
    }));
    // Those closed with no message flowing, so no failed write frees their places: only the
    // relay reading their end of stream does.
    assert!(wait_until(PATIENCE, || {
        open_taps(relay.admin, MAX_TAPS).iter().all(Option::is_some)
    }));
}

#[test]
fn a_malformed_tap_is_refused_and_the_relay_runs_on() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    for query in [
        "/tap?limit=184467440737095516160",
        "/tap?stage=parsed",
        "/tap?match=type~(",
        "/tap?match=%20=x",
        "/tap?limit=0&limit=",
    ] {
        assert_eq!(status_of(relay.admin, query), "HTTP/1.1 400", "{query}");
    }
    let output = cefrelay()
        .args([
            "tap",
            "--admin",
            &relay.admin.to_string(),
            "--match",
            "type~(",
        ])
        .output()
        .expect("run tap");
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the regex does not compile"), "{stderr}");
    send_lines(&relay, &[cef_threat(9301)]);
    assert!(wait_until(PATIENCE, || agent.count() == 1));
}

#[test]
fn tap_and_top_without_a_relay_say_so_and_fail() {
    let nobody = format!("127.0.0.1:{}", free_port());
    for command in [&["tap", "--limit", "1"][..], &["top", "--headless"]] {
        let output = cefrelay()
            .args(command)
            .args(["--admin", &nobody])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{command:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no relay answers on {nobody}")),
            "{stderr}"
        );
        assert!(stderr.contains("[admin] listen"), "{stderr}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("cefrelay.toml");
    std::fs::write(&config, "[admin]\nlisten = \"\"\n").expect("write config");
    let output = cefrelay()
        .args(["tap", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("turns the relay's admin endpoint off"),
        "{stderr}"
    );
}

/// The rows of the plain-text section titled `title`, split into cells.
fn section(text: &str, title: &str) -> Vec<Vec<String>> {
    text.split("\n\n")
        .find(|block| block.starts_with(&format!("{title}\n")))
        .unwrap_or_else(|| panic!("no {title} in {text}"))
        .lines()
        .skip(2)
        .map(|row| row.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn positive(cell: &str) -> bool {
    cell.parse::<f64>().is_ok_and(|n| n > 0.0)
}

#[test]
fn top_headless_shows_rates_per_listener_sender_decision_and_sink_under_load() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    // A steady load for as long as top looks (bounded, should top never return).
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, port) = (stop.clone(), relay.port);
        thread::spawn(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            for id in 0..6000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let line = if id % 2 == 0 {
                    cef_threat(id)
                } else {
                    cef_traffic(id)
                };
                stream
                    .write_all(format!("{line}\n").as_bytes())
                    .expect("write");
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    assert!(wait_until(PATIENCE, || agent.count() > 0));
    let output = cefrelay()
        .args(["top", "--admin", &relay.admin.to_string()])
        .output()
        .expect("run top");
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");

    let listener = format!("tcp://127.0.0.1:{}", relay.port);
    let listeners = section(&text, "Listeners");
    let row = listeners
        .iter()
        .find(|r| r[0] == listener)
        .expect("the TCP listener");
    assert!(positive(&row[1]), "events/s: {text}");
    let senders = section(&text, "Senders");
    let row = senders
        .iter()
        .find(|r| r[0] == "127.0.0.1")
        .expect("the sender");
    assert!(
        positive(&row[1]) && positive(&row[2]) && positive(&row[3]),
        "{text}"
    );
    let decisions = section(&text, "Filter decisions");
    for (decision, action) in [("cef", "forward"), ("traffic", "drop")] {
        let row = decisions
            .iter()
            .find(|r| r[0] == decision)
            .expect("the decision");
        assert_eq!(row[1], action);
        assert!(positive(&row[2]), "{decision}/s: {text}");
    }
    let sinks = section(&text, "Sinks");
    let row = sinks
        .iter()
        .find(|r| r[0] == "agent")
        .expect("the agent sink");
    assert!(positive(&row[1]), "sent/s: {text}");
    assert_eq!(
        row.last().map(String::as_str),
        Some("yes"),
        "connected: {text}"
    );
}
