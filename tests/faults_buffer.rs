//! Fault injection against the sinks' buffers, black-box: the real binary, real sockets on
//! 127.0.0.1, an agent stand-in that records every line, unique markers (`externalId=N`) counted
//! at the receiving end. Each test reports what it lost and how many duplicates the agent saw;
//! losing any event fails it, duplicates (at least once) do not.
//!
//! The full-disk tests put the state directory on a 5 MiB tmpfs (`mount -t tmpfs`, root only:
//! elsewhere they say so on one line and pass without running).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::small_disk::SmallDisk;
use crate::util::{cef_threat, wait_until, Agent, RefusingPort, Relay, PATIENCE};

/// Bounds the waits for a whole backlog to go through (debug build, two shared cores).
const BACKLOG_PATIENCE: Duration = Duration::from_secs(240);

fn ids(lines: &[String]) -> BTreeSet<usize> {
    lines
        .iter()
        .filter_map(|line| line.split("externalId=").nth(1))
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// Lost and duplicated events of `expected` among the lines the agent received; printed.
fn tally(
    scenario: &str,
    lines: &[String],
    expected: impl Iterator<Item = usize>,
) -> (usize, usize) {
    let seen = ids(lines);
    let expected: Vec<usize> = expected.collect();
    let lost = expected.iter().filter(|id| !seen.contains(id)).count();
    let delivered = lines
        .iter()
        .filter_map(|line| line.split("externalId=").nth(1))
        .filter_map(|id| id.parse::<usize>().ok())
        .filter(|id| expected.binary_search(id).is_ok())
        .count();
    let duplicates = delivered - (expected.len() - lost);
    eprintln!(
        "{scenario}: sent {}, lost {lost}, duplicates {duplicates}",
        expected.len()
    );
    (lost, duplicates)
}

/// A gauge that may have a fraction (`…_seconds`).
fn gauge(relay: &Relay, sample: &str) -> Option<f64> {
    let text = relay.try_metrics()?;
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(name, _)| *name == sample)
        .and_then(|(_, value)| value.parse().ok())
}

/// Events a sink holds: waiting in its buffer, or read and not yet released (the agent sink
/// reads one batch before it connects).
fn held(relay: &Relay, sink: &str) -> u64 {
    relay.metric(&format!("cefrelay_sink_queue_depth{{sink=\"{sink}\"}}"))
        + relay.metric(&format!(
            "cefrelay_sink_unreleased_events{{sink=\"{sink}\"}}"
        ))
}

fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().extension().is_some_and(|e| e == "wal"))
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

fn disk_config(state: &Path, listeners: &str, buffer: &str) -> String {
    format!(
        "state_dir = \"{}\"\n{listeners}[forward]\nbuffer = {{ {buffer} }}\n",
        state.display()
    )
}

const TCP_LISTENER: &str = "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n";
const UDP_LISTENER: &str = "[[listener]]\naddress = \"udp://127.0.0.1:{port}\"\n";

/// Sends `ids` over one TCP connection as fast as the relay takes them, in a thread; the
/// counter says how many were written.
fn tcp_sender(
    port: u16,
    ids: std::ops::Range<usize>,
) -> (std::thread::JoinHandle<()>, Arc<AtomicUsize>) {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let thread = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        for id in ids {
            stream
                .write_all(format!("{}\n", cef_threat(id)).as_bytes())
                .expect("send");
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (thread, written)
}

#[test]
fn a_full_disk_holds_tcp_senders_back_and_loses_nothing_once_space_returns() {
    // The scenario: state on a 5 MiB tmpfs, a disk buffer whose segments (64 MiB by
    // default) are larger than the disk, the agent down while far more than 5 MiB arrive.
    const EVENTS: usize = 60_000;
    let Some(disk) = SmallDisk::mount("5m") else {
        return;
    };
    let state = disk.path().join("state");
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = disk_config(
        &state,
        TCP_LISTENER,
        "type = \"disk\", when_full = \"block\"",
    );
    let down = RefusingPort::new();
    let agent_port = down.port;
    let relay = Relay::with_config(agent_port, &config, config_dir.path());
    let (sender, written) = tcp_sender(relay.port, 0..EVENTS);

    // The disk fills: the buffer says so, /health says so, nothing is dropped.
    let failing = "cefrelay_sink_buffer_write_failing{sink=\"agent\"}";
    assert!(
        wait_until(PATIENCE, || relay.metric(failing) == 1),
        "the full disk was never reported ({} of {EVENTS} written)",
        written.load(Ordering::SeqCst)
    );
    let (status, body) = relay.admin_get("/health").expect("/health answers");
    assert!(status.contains("503"), "{status}: {body}");
    assert!(
        body.contains("disk buffer cannot write: agent (") && body.contains("space"),
        "{body}"
    );
    let dropped = |reason: &str| {
        relay.metric(&format!(
            "cefrelay_sink_dropped_events_total{{sink=\"agent\",reason=\"{reason}\"}}"
        ))
    };
    assert_eq!(dropped("write_error") + dropped("buffer_full"), 0);
    // The relay stops reading while it cannot write; once the socket buffers are full too, the
    // sender is held back (and the relay keeps retrying the write meanwhile). On a machine whose
    // TCP buffers grow large (tcp_rmem up to 32 MiB here), the kernel may take the whole run
    // before that: then everything was written, and the proof is the delivery below.
    let settled = wait_until(PATIENCE, || {
        let before = written.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        written.load(Ordering::SeqCst) == before
    });
    assert!(settled, "the sender never stopped writing");
    assert_eq!(relay.metric(failing), 1);
    assert_eq!(dropped("write_error") + dropped("buffer_full"), 0);
    eprintln!(
        "disk full, sender held back after {} of {EVENTS} events",
        written.load(Ordering::SeqCst)
    );

    // The agent comes back: the backlog goes out, its disk space is freed, the sender resumes.
    let agent = down.start_agent(Duration::ZERO);
    assert!(
        wait_until(BACKLOG_PATIENCE, || ids(&agent.lines()).len() == EVENTS),
        "only {} of {EVENTS} events reached the agent",
        ids(&agent.lines()).len()
    );
    sender.join().expect("the sender finished");
    let (lost, _) = tally("full disk, TCP", &agent.lines(), 0..EVENTS);
    assert_eq!(lost, 0);
    assert_eq!(dropped("write_error") + dropped("buffer_full"), 0);
    assert!(wait_until(PATIENCE, || relay.metric(failing) == 0));
    let (status, body) = relay.admin_get("/health").expect("/health answers");
    assert!(status.contains("200"), "{status}: {body}");

    // Everything released: no disk space is held for delivered events.
    let buffer_dir = state.join("buffer/agent");
    assert!(
        wait_until(BACKLOG_PATIENCE, || {
            held(&relay, "agent") == 0 && wal_bytes(&buffer_dir) == 0
        }),
        "{} bytes of segments left for delivered events",
        wal_bytes(&buffer_dir)
    );

    // A restart replays nothing that was delivered, and new events flow.
    drop(relay);
    let relay = Relay::with_config(agent_port, &config, config_dir.path());
    let mut stream = relay.tcp();
    writeln!(stream, "{}", cef_threat(EVENTS)).expect("send");
    assert!(wait_until(PATIENCE, || ids(&agent.lines()).contains(&EVENTS)));
    assert_eq!(
        relay.metric("cefrelay_sink_replayed_events_total{sink=\"agent\"}"),
        0,
        "delivered events were replayed after the restart"
    );
}

#[test]
fn udp_into_a_full_disk_is_dropped_and_counted_and_flows_again_when_space_returns() {
    const EVENTS: usize = 500;
    let Some(disk) = SmallDisk::mount("5m") else {
        return;
    };
    let state = disk.path().join("state");
    let config_dir = tempfile::tempdir().expect("temp dir");
    let down = RefusingPort::new();
    let agent_port = down.port;
    let relay = Relay::with_config(
        agent_port,
        &disk_config(&state, UDP_LISTENER, "type = \"disk\""),
        config_dir.path(),
    );
    let filler = disk.fill("filler");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let send = |range: std::ops::Range<usize>| {
        for id in range {
            udp.send_to(cef_threat(id).as_bytes(), ("127.0.0.1", relay.port))
                .expect("send");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    send(0..EVENTS);
    let received = |relay: &Relay| relay.metric("cefrelay_received_frames_total");
    let dropped = |relay: &Relay| {
        relay.metric("cefrelay_sink_dropped_events_total{sink=\"agent\",reason=\"write_error\"}")
            + relay
                .metric("cefrelay_sink_dropped_events_total{sink=\"agent\",reason=\"buffer_full\"}")
    };
    assert!(
        wait_until(PATIENCE, || received(&relay) > 0
            && dropped(&relay) == received(&relay)),
        "received {}, dropped {}",
        received(&relay),
        dropped(&relay)
    );
    let failing = "cefrelay_sink_buffer_write_failing{sink=\"agent\"}";
    assert_eq!(relay.metric(failing), 1);
    let (status, body) = relay.admin_get("/health").expect("/health answers");
    assert!(
        status.contains("503") && body.contains("disk buffer cannot write"),
        "{body}"
    );

    // Space returns: the next datagrams are buffered, and delivered once the agent is up.
    std::fs::remove_file(filler).expect("remove the filler");
    let dropped_while_full = dropped(&relay);
    send(EVENTS..2 * EVENTS);
    let agent = down.start_agent(Duration::ZERO);
    let arrived = || ids(&agent.lines()).range(EVENTS..).count() as u64;
    let received_after = || received(&relay) - dropped_while_full;
    assert!(
        wait_until(PATIENCE, || arrived() > 0 && arrived() == received_after()),
        "{} of {} arrived",
        arrived(),
        received_after()
    );
    assert_eq!(dropped(&relay), dropped_while_full);
    assert_eq!(relay.metric(failing), 0);
    eprintln!(
        "full disk, UDP: {dropped_while_full} dropped and counted while full; after: received {}, lost 0 (kernel drops: {})",
        received_after(),
        EVENTS as u64 - received_after()
    );
}

#[test]
fn a_slow_udp_sender_with_the_agent_down_loses_nothing_in_the_memory_buffer() {
    // One datagram every 5 ms: every batch holds one event. The buffer holds 65 536 events,
    // not 256 batches.
    const EVENTS: usize = 1000;
    let down = RefusingPort::new();
    let agent_port = down.port;
    let relay = Relay::start(agent_port, &[]);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for id in 0..EVENTS {
        udp.send_to(cef_threat(id).as_bytes(), ("127.0.0.1", relay.port))
            .expect("send");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        wait_until(PATIENCE, || relay.metric("cefrelay_received_frames_total")
            == EVENTS as u64),
        "the kernel dropped datagrams at 200/s on loopback: {} of {EVENTS} received",
        relay.metric("cefrelay_received_frames_total")
    );
    assert!(
        wait_until(PATIENCE, || held(&relay, "agent") == EVENTS as u64),
        "{} of {EVENTS} buffered",
        held(&relay, "agent")
    );
    assert_eq!(
        relay.metric("cefrelay_sink_dropped_events_total{sink=\"agent\",reason=\"buffer_full\"}"),
        0
    );
    let agent = down.start_agent(Duration::ZERO);
    assert!(
        wait_until(PATIENCE, || ids(&agent.lines()).len() == EVENTS),
        "{} of {EVENTS} arrived",
        ids(&agent.lines()).len()
    );
    let (lost, _) = tally("memory buffer, slow UDP", &agent.lines(), 0..EVENTS);
    assert_eq!(lost, 0);
}

#[test]
fn small_tcp_batches_are_not_throttled_after_256_of_them() {
    const EVENTS: usize = 1000;
    let down = RefusingPort::new();
    let agent_port = down.port;
    let relay = Relay::start(agent_port, &[]);
    let mut stream = relay.tcp();
    for id in 0..EVENTS {
        writeln!(stream, "{}", cef_threat(id)).expect("send");
        // A pause, so that the relay reads (and batches) one line at a time.
        std::thread::sleep(Duration::from_millis(2));
    }
    // All of them are taken into the buffer although the agent is down: nothing waits in the
    // socket for room.
    assert!(
        wait_until(PATIENCE, || held(&relay, "agent") == EVENTS as u64),
        "{} of {EVENTS} were taken in",
        held(&relay, "agent")
    );
    let agent = down.start_agent(Duration::ZERO);
    assert!(wait_until(PATIENCE, || ids(&agent.lines()).len() == EVENTS));
    let (lost, _) = tally(
        "memory buffer, small TCP batches",
        &agent.lines(),
        0..EVENTS,
    );
    assert_eq!(lost, 0);
}

#[test]
fn events_written_to_the_agent_no_longer_count_as_waiting() {
    for buffer in ["type = \"memory\"", "type = \"disk\""] {
        let agent = Agent::start(0, Duration::ZERO);
        let dir = tempfile::tempdir().expect("temp dir");
        let relay = Relay::with_config(
            agent.address.port(),
            &disk_config(&dir.path().join("state"), TCP_LISTENER, buffer),
            dir.path(),
        );
        let mut stream = relay.tcp();
        for id in 0..100 {
            writeln!(stream, "{}", cef_threat(id)).expect("send");
        }
        assert!(wait_until(PATIENCE, || agent.count() >= 100));
        // The sink has read and written every event: none waits, whatever the agent sink still
        // holds for a possible resend.
        assert_eq!(
            relay.metric("cefrelay_sink_queue_depth{sink=\"agent\"}"),
            0,
            "{buffer}"
        );
        assert_eq!(
            gauge(
                &relay,
                "cefrelay_sink_oldest_event_age_seconds{sink=\"agent\"}"
            ),
            Some(0.0),
            "{buffer}"
        );
        assert!(
            gauge(&relay, "cefrelay_sink_unreleased_events{sink=\"agent\"}")
                .is_some_and(|held| held <= 100.0),
            "{buffer}"
        );
        // And once released, nothing is held at all.
        assert!(
            wait_until(PATIENCE, || relay
                .metric("cefrelay_sink_unreleased_events{sink=\"agent\"}")
                == 0),
            "{buffer}"
        );
        assert_eq!(
            relay.metric("cefrelay_sink_buffered_bytes{sink=\"agent\"}"),
            0
        );
    }
}

/// The other half of the split: with the agent down, what the relay accepts waits (and ages)
/// apart from the one batch the sink took before it found the agent gone; once the agent is
/// back, nothing waits and there is no oldest age. An alert on waiting events or their age
/// fires for an agent that is down, never for a healthy relay's resend window.
#[test]
fn with_the_agent_down_events_wait_and_age_until_it_comes_back() {
    const EVENTS: usize = 50;
    for buffer in ["type = \"memory\"", "type = \"disk\""] {
        let down = RefusingPort::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "state_dir = \"{}\"\n{TCP_LISTENER}[forward]\nreconnect_max_ms = 200\nbuffer = {{ {buffer} }}\n",
            dir.path().join("state").display()
        );
        let relay = Relay::with_config(down.port, &config, dir.path());
        let waiting = || relay.metric("cefrelay_sink_queue_depth{sink=\"agent\"}");
        let age = || {
            gauge(
                &relay,
                "cefrelay_sink_oldest_event_age_seconds{sink=\"agent\"}",
            )
        };
        let mut stream = relay.tcp();
        // The first event: the sink takes it and then finds the agent down.
        writeln!(stream, "{}", cef_threat(0)).expect("send");
        assert!(
            wait_until(PATIENCE, || held(&relay, "agent") == 1),
            "{buffer}: {} held",
            held(&relay, "agent")
        );
        for id in 1..EVENTS {
            writeln!(stream, "{}", cef_threat(id)).expect("send");
        }
        assert!(
            wait_until(PATIENCE, || waiting() >= EVENTS as u64 - 1),
            "{buffer}: {} waiting",
            waiting()
        );
        assert!(
            wait_until(PATIENCE, || age().is_some_and(|seconds| seconds > 0.0)),
            "{buffer}: the oldest waiting event has an age, got {:?}",
            age()
        );

        let agent = down.start_agent(Duration::ZERO);
        assert!(
            wait_until(BACKLOG_PATIENCE, || ids(&agent.lines()).len() == EVENTS),
            "{buffer}: {} of {EVENTS} arrived",
            ids(&agent.lines()).len()
        );
        assert!(
            wait_until(PATIENCE, || waiting() == 0 && age() == Some(0.0)),
            "{buffer}: {} still waiting, age {:?}",
            waiting(),
            age()
        );
    }
}
