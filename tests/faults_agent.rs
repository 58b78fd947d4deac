//! Fault injection on the agent forward: the agent stand-in is a separate process
//! (`util/agent_standin.py`) that is paused with SIGSTOP and killed with SIGKILL while
//! `cefrelay send` streams unique markers through the real relay. Every scenario must lose
//! nothing; duplicates (the resend window written again) are reported, not failed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::util::{cefrelay, project_path, wait_until, RefusingPort, Relay};

/// The agent stand-in process; killed when dropped.
struct StandIn {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl StandIn {
    fn start(port: u16, dir: &Path) -> StandIn {
        Self::reading_at(port, dir, 0)
    }

    /// A stand-in that reads at most `rate` bytes per second per connection (0: as fast as it can).
    fn reading_at(port: u16, dir: &Path, rate: u64) -> StandIn {
        // It writes its port once it listens (the one asked for, or a free one for 0).
        let port_file = dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new("python3")
            .arg(project_path("tests/util/agent_standin.py"))
            .arg(port.to_string())
            .arg(dir)
            .arg(rate.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the agent stand-in (python3)");
        let mut listening = None;
        let up = wait_until(Duration::from_secs(30), || {
            listening = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.parse::<u16>().ok());
            listening.is_some()
        });
        assert!(up, "the agent stand-in never listened");
        let port = listening.expect("port");
        StandIn {
            port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal}");
    }

    /// SIGKILL, and wait until the process is gone (its sockets reset).
    fn kill(mut self) -> (u16, PathBuf) {
        self.signal("KILL");
        let _ = self.child.wait();
        (self.port, self.dir.clone())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What reached the stand-in over all its lives: unique markers and whole lines received.
fn received(dir: &Path, prefix: &str) -> (HashSet<String>, usize) {
    let mut unique = HashSet::new();
    let mut lines = 0;
    let needle = format!("externalId={prefix}-");
    for entry in std::fs::read_dir(dir).expect("read the stand-in's directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "log") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read a connection file");
        // A torn last line (the connection broke mid-batch) is not a delivery; its batch is
        // written again whole on the next connection.
        let complete = bytes
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(&[][..], |last| &bytes[..=last]);
        for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line);
            let Some(at) = line.find(&needle) else {
                continue;
            };
            let marker: String = line[at + needle.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            lines += 1;
            unique.insert(marker);
        }
    }
    (unique, lines)
}

/// Streams `count` THREAT records with unique markers into the relay in the background.
fn send(relay: &Relay, prefix: &str, count: u64, rate: Option<u64>) -> Child {
    let mut command = cefrelay();
    command
        .args(["send", "--to", &format!("tcp://127.0.0.1:{}", relay.port)])
        .args(["--count", &count.to_string(), "--mix", "threat=100"])
        .args(["--marker", prefix])
        .stdout(Stdio::null());
    if let Some(rate) = rate {
        command.args(["--rate", &rate.to_string()]);
    }
    command.spawn().expect("start cefrelay send")
}

struct Outcome {
    lost: u64,
    duplicates: u64,
    resent: u64,
}

/// Waits until every marker arrived (or the count stops moving for a while) and reports.
fn settle(relay: &Relay, dir: &Path, prefix: &str, count: u64, mut sender: Child) -> Outcome {
    assert!(
        sender.wait().expect("wait for send").success(),
        "send failed"
    );
    let mut last = 0;
    let mut still = 0;
    wait_until(Duration::from_secs(120), || {
        let (unique, _) = received(dir, prefix);
        let now = unique.len() as u64;
        still = if now == last { still + 1 } else { 0 };
        last = now;
        // 15 s without progress: whatever is missing is not coming.
        now >= count || still > 750
    });
    let (unique, lines) = received(dir, prefix);
    let outcome = Outcome {
        lost: count - unique.len() as u64,
        duplicates: (lines - unique.len()) as u64,
        resent: relay.metric("cefrelay_sink_resent_events_total"),
    };
    eprintln!(
        "{prefix}: {count} sent, lost {}, duplicates {}, resent (relay) {}",
        outcome.lost, outcome.duplicates, outcome.resent
    );
    outcome
}

fn relay_for(agent_port: u16, state: &Path, buffer: &str) -> Relay {
    Relay::with_config(
        agent_port,
        &format!(
            "state_dir = \"{}\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{{port}}\"\n\
             [forward]\n{buffer}\n",
            state.display()
        ),
        state,
    )
}

/// The agent stops reading for 4 s (its queues fill, the relay's writes stall), is killed and
/// comes back after `down`: everything the dead process had not read is written again.
fn paused_then_killed(prefix: &str, down: Duration, buffer: &str) -> Outcome {
    let out = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    // Held for the whole test, so that the port is still ours when the stand-in comes back.
    let agent_port = RefusingPort::new();
    let standin = StandIn::start(agent_port.port, out.path());
    let relay = relay_for(agent_port.port, state.path(), buffer);
    let count = 40_000;
    let sender = send(&relay, prefix, count, Some(5_000));
    thread::sleep(Duration::from_secs(1));
    standin.signal("STOP");
    thread::sleep(Duration::from_secs(4));
    let (port, dir) = standin.kill();
    thread::sleep(down);
    let _standin = StandIn::start(port, &dir);
    settle(&relay, out.path(), prefix, count, sender)
}

#[test]
fn a_paused_then_killed_agent_back_after_1s_loses_nothing() {
    let outcome = paused_then_killed("pause1", Duration::from_secs(1), "");
    assert_eq!(outcome.lost, 0);
    assert!(outcome.resent > 0, "the resend window was written again");
}

#[test]
fn a_paused_then_killed_agent_back_after_12s_loses_nothing() {
    // Longer than the old 10 s age after which written events were taken as delivered.
    let outcome = paused_then_killed("pause12", Duration::from_secs(12), "");
    assert_eq!(outcome.lost, 0);
    assert!(outcome.resent > 0, "the resend window was written again");
}

#[test]
fn a_paused_then_killed_agent_loses_nothing_with_a_disk_buffer() {
    let outcome = paused_then_killed(
        "pausedisk",
        Duration::from_secs(1),
        "buffer = { type = \"disk\" }",
    );
    assert_eq!(outcome.lost, 0);
}

#[test]
fn a_busy_agent_killed_twice_at_full_speed_loses_nothing() {
    let out = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let prefix = "busy";
    let count = 150_000;
    // Slower than the relay can write (~20 MB/s against ~1 KB events at full speed): the relay's
    // send queue and the agent's receive queue stay full, as in front of a busy agent.
    let rate = 20_000_000;
    // Held for the whole test, so that the port is still ours each time the stand-in comes back.
    let agent_port = RefusingPort::new();
    let mut standin = StandIn::reading_at(agent_port.port, out.path(), rate);
    let relay = relay_for(agent_port.port, state.path(), "");
    let sender = send(&relay, prefix, count, None);
    for kill_at in [30_000, 80_000] {
        let reached = wait_until(Duration::from_secs(60), || {
            received(out.path(), prefix).1 >= kill_at
        });
        assert!(reached, "the agent never got {kill_at} lines");
        let (port, dir) = standin.kill();
        thread::sleep(Duration::from_millis(200));
        standin = StandIn::reading_at(port, &dir, rate);
    }
    let outcome = settle(&relay, out.path(), prefix, count, sender);
    assert_eq!(outcome.lost, 0);
    drop(standin);
}

/// A long grace period, so that a relay waiting it out would be seen to hang.
fn relay_with_long_grace(agent_port: u16, state: &Path) -> Relay {
    Relay::with_config(
        agent_port,
        &format!(
            "state_dir = \"{}\"\nshutdown_grace_secs = 600\n\
             [[listener]]\naddress = \"tcp://127.0.0.1:{{port}}\"\n",
            state.display()
        ),
        state,
    )
}

/// The relay's exit code; the limit is far below the grace period it must not wait out.
fn exit_code(relay: &mut Relay) -> Option<i32> {
    relay
        .exited_within(Duration::from_secs(60))
        .and_then(|status| status.code())
}

#[test]
fn sigterm_with_nothing_pending_and_the_agent_down_exits_at_once() {
    let state = tempfile::tempdir().expect("temp dir");
    let agent = RefusingPort::new();
    let mut relay = relay_with_long_grace(agent.port, state.path());
    relay.signal("TERM");
    assert_eq!(exit_code(&mut relay), Some(0));
}

#[test]
fn sigterm_after_the_agent_read_everything_and_died_exits_0_reporting_no_loss() {
    let out = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let standin = StandIn::start(0, out.path());
    let mut relay = relay_with_long_grace(standin.port, state.path());
    let prefix = "readall";
    let sender = send(&relay, prefix, 3_000, Some(3_000));
    let outcome = settle(&relay, out.path(), prefix, 3_000, sender);
    assert_eq!(outcome.lost, 0);
    // Released as soon as the agent was seen reading: nothing is held for it any more.
    assert!(wait_until(Duration::from_secs(30), || relay
        .metric("cefrelay_sink_unreleased_events")
        == 0));
    standin.kill();
    relay.signal("TERM");
    assert_eq!(exit_code(&mut relay), Some(0));
}

/// The agent never comes: when the grace period ends, everything accepted and not sent is
/// reported lost — what waits in the memory buffer and what a reader holds waiting for room —
/// and the exit code says so.
#[test]
fn sigterm_with_the_agent_down_reports_every_event_it_loses() {
    let state = tempfile::tempdir().expect("temp dir");
    let agent = RefusingPort::new();
    let config = state.path().join("cefrelay.toml");
    let log = state.path().join("relay.log");
    let mut relay = Relay::on_fresh_ports(|port, admin| {
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nshutdown_grace_secs = 1\n\
                 [[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\
                 [forward]\naddress = [\"tcp://127.0.0.1:{}\"]\nqueue_events = 100\n",
                state.path().display(),
                agent.port
            ),
        )
        .expect("write config");
        let mut command = cefrelay();
        command
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--admin", &admin.to_string()])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        Relay::try_spawn(command, port, admin)
    })
    .expect("relay started");
    let mut sender = send(&relay, "lost", 300, None);
    // The buffer fills (100 events); the reader holds the next batch, waiting for room, and
    // the sink holds what it took while trying to reach the agent.
    let held = |relay: &Relay| {
        relay.metric("cefrelay_sink_queue_depth")
            + relay.metric("cefrelay_sink_unreleased_events")
            + relay.metric("cefrelay_events_awaiting_buffer")
    };
    let (mut last, mut same) = (0, 0);
    assert!(wait_until(Duration::from_secs(30), || {
        let now = held(&relay);
        same = if now == last { same + 1 } else { 0 };
        last = now;
        relay.metric("cefrelay_events_awaiting_buffer") > 0 && same >= 10
    }));
    let accepted = held(&relay);
    relay.signal("TERM");
    assert_eq!(exit_code(&mut relay), Some(1));
    let _ = sender.kill();
    let _ = sender.wait();
    let text = std::fs::read_to_string(&log).expect("read the log");
    let reported = text
        .split("events_lost=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|number| number.parse::<u64>().ok());
    assert_eq!(reported, Some(accepted), "{text}");
}
