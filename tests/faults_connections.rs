//! Fault injection on the TCP listener (issue 10, items 5 and 6): connection floods, slow
//! trickles and stopping the relay mid-stream. The real binary, real sockets on loopback (source
//! addresses across 127.0.0.0/8 stand for different senders), unique markers counted at the agent
//! stand-in. Time limits only bound a failing test.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{cef_threat, cefrelay, wait_until, Agent, Relay, PATIENCE};

/// The relay on a configuration with `{port}`, `{agent}`, `{admin}` and `{dir}` filled in, JSON
/// logs at info level in `dir/relay.log`.
fn start_relay(agent: &Agent, dir: &Path, listener_keys: &str) -> Relay {
    Relay::on_fresh_ports(|port, admin| {
        let config = format!(
            "state_dir = \"{dir}\"\n\
             [[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n{listener_keys}\n\
             [forward]\naddress = [\"tcp://{agent}\"]\n\
             [admin]\nlisten = \"{admin}\"\n\
             [log]\nformat = \"json\"\n",
            dir = dir.display(),
            agent = agent.address,
        );
        let path = dir.join("cefrelay.toml");
        std::fs::write(&path, config).expect("write config");
        let log = std::fs::File::create(dir.join("relay.log")).expect("create log");
        let mut command = cefrelay();
        command
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(log);
        Relay::try_spawn(command, port, admin)
    })
    .unwrap_or_else(|| panic!("the relay did not start in 5 attempts: {}", log_text(dir)))
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default()
}

/// The relay's JSON log lines whose message contains `message`.
fn log_records(dir: &Path, message: &str) -> Vec<serde_json::Value> {
    log_text(dir)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| {
            record["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(message))
        })
        .collect()
}

/// The `externalId` markers the agent received, and how many lines carried one already seen.
fn delivered(agent: &Agent) -> (BTreeSet<usize>, usize) {
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    for line in agent.lines() {
        if let Some(id) = line
            .split("externalId=")
            .nth(1)
            .and_then(|id| id.trim().parse().ok())
        {
            if !seen.insert(id) {
                duplicates += 1;
            }
        }
    }
    (seen, duplicates)
}

/// The soft limit on open descriptors raised to `wanted` (the relay, started after, inherits it).
fn raise_open_files(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[expect(unsafe_code, reason = "getrlimit/setrlimit have no safe wrapper")]
    // SAFETY: getrlimit and setrlimit read and write the one rlimit passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur >= wanted,
        "this test needs {wanted} open files; the hard limit is {} (ulimit -Hn)",
        limit.rlim_max
    );
}

/// A connection to `port` from `source` (any address in 127.0.0.0/8 is ours on loopback).
fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    socket
        .connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)).into(),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("connect from {source}: {e}"));
    socket.into()
}

fn sample(relay: &Relay, name: &str, reason: &str) -> u64 {
    relay.metric(&format!(
        "{name}{{listener=\"tcp://127.0.0.1:{}\",reason=\"{reason}\"}}",
        relay.port
    ))
}

#[test]
fn real_senders_keep_delivering_under_5000_idle_and_200_slowloris_connections() {
    raise_open_files(10_000);
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    // The defaults: max_connections 4096, max_connections_per_sender 256; a short frame timeout
    // so that the slow trickles end within the test.
    let relay = start_relay(&agent, dir.path(), "frame_timeout_secs = 3");
    let port = relay.port;

    // 4 700 idle connections from 25 senders (188 each, under the per-sender limit), then 300
    // from one sender (256 admitted, 44 refused): 4 956 admitted into 4 096 places, so at least
    // 860 of the oldest are closed to make room.
    let mut idle = Vec::new();
    for i in 0..4_700u32 {
        idle.push(connect_from(
            Ipv4Addr::new(127, 0, 0, 2 + (i % 25) as u8),
            port,
        ));
    }
    for _ in 0..300 {
        idle.push(connect_from(Ipv4Addr::new(127, 0, 0, 40), port));
    }
    // 200 slow trickles from one more sender: a byte each 300 ms, never a whole frame.
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| connect_from(Ipv4Addr::new(127, 0, 1, 2), port))
        .collect();
    let stop_trickling = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop_trickling.clone();
        thread::spawn(move || {
            let mut slow = slow;
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < PATIENCE {
                for stream in &mut slow {
                    let _ = stream.write(b"<");
                }
                thread::sleep(Duration::from_millis(300));
            }
            slow
        })
    };

    // Meanwhile: 4 real senders from 127.0.0.1, each 10 connections of 100 unique markers, and
    // 1 000 more idle connections opened as they send.
    let write_errors = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..4usize)
        .map(|sender| {
            let errors = write_errors.clone();
            thread::spawn(move || {
                for connection in 0..10 {
                    let mut stream = connect_from(Ipv4Addr::new(127, 0, 0, 1), port);
                    for n in 0..100 {
                        let id = sender * 10_000 + connection * 100 + n;
                        if let Err(e) = stream.write_all(format!("{}\n", cef_threat(id)).as_bytes())
                        {
                            errors
                                .lock()
                                .expect("lock")
                                .push(format!("marker {id}: {e}"));
                        }
                        if n % 10 == 0 {
                            thread::sleep(Duration::from_millis(2));
                        }
                    }
                }
            })
        })
        .collect();
    let churn = thread::spawn(move || {
        (0..1_000u32)
            .map(|i| connect_from(Ipv4Addr::new(127, 0, 2, 2 + (i % 10) as u8), port))
            .collect::<Vec<_>>()
    });
    for sender in senders {
        sender.join().expect("sender");
    }
    let churned = churn.join().expect("churn");

    let expected: BTreeSet<usize> = (0..4)
        .flat_map(|s| (0..1_000).map(move |i| s * 10_000 + (i / 100) * 100 + i % 100))
        .collect();
    let complete = wait_until(PATIENCE, || delivered(&agent).0.len() >= expected.len());
    let (got, duplicates) = delivered(&agent);
    let missing: Vec<_> = expected.difference(&got).take(10).collect();
    assert!(
        complete && missing.is_empty(),
        "{} of {} markers delivered (duplicates {duplicates}), e.g. missing {missing:?}",
        got.len(),
        expected.len()
    );
    assert!(
        write_errors.lock().expect("lock").is_empty(),
        "real senders were cut off: {:?}",
        write_errors.lock().expect("lock")
    );
    println!(
        "delivered {} of {} markers ({duplicates} duplicates) with 5 000 idle + 200 slowloris + 1 000 churned connections",
        got.len(),
        expected.len()
    );

    // The slow trickles are closed by the frame deadline (none of them is ever the longest idle:
    // the older idle connections go first), their unfinished frames counted.
    let all_timed_out = wait_until(PATIENCE, || {
        sample(&relay, "cefrelay_connections_closed_total", "frame_timeout") >= 200
    });
    stop_trickling.store(true, Ordering::Relaxed);
    let slow = trickler.join().expect("trickler");
    let timed_out = sample(&relay, "cefrelay_connections_closed_total", "frame_timeout");
    assert!(
        all_timed_out && timed_out == 200,
        "frame timeouts: {timed_out}"
    );
    assert!(sample(&relay, "cefrelay_abandoned_bytes_total", "frame_timeout") >= 200);
    let per_sender = sample(
        &relay,
        "cefrelay_connections_rejected_total",
        "per_sender_limit",
    );
    assert_eq!(per_sender, 44, "refused at the per-sender limit");
    let evicted = sample(&relay, "cefrelay_connections_closed_total", "evicted_idle");
    assert!(evicted >= 860, "closed to make room: {evicted}");
    assert_eq!(
        sample(
            &relay,
            "cefrelay_connections_rejected_total",
            "max_connections"
        ),
        0
    );
    assert!(relay.metric("cefrelay_connections_active") <= 4096);
    println!(
        "evicted_idle {evicted}, per_sender_limit {per_sender}, frame_timeout {timed_out}, open {}",
        relay.metric("cefrelay_connections_active")
    );
    // Rate-limited: one line per 10 s and kind, not one per connection.
    let log = log_text(dir.path());
    let noisy = log
        .lines()
        .filter(|l| l.contains("max_connections reached") || l.contains("connection refused"))
        .count();
    assert!(
        noisy <= 12,
        "{noisy} lines about connection limits were logged"
    );
    drop((idle, slow, churned));
}

#[test]
fn a_frame_trickled_past_frame_timeout_closes_the_connection_and_slow_whole_frames_do_not() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = start_relay(&agent, dir.path(), "frame_timeout_secs = 1");
    let mut trickle = relay.tcp();
    let mut slow = relay.tcp();
    trickle
        .set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    // Over 3 s (three frame timeouts): 12 whole frames, 200 or 300 ms apart, on one connection;
    // a byte every 100 ms that never makes a frame on the other.
    let mut trickle_closed = false;
    for n in 0..30 {
        if n % 5 == 0 || n % 5 == 2 {
            slow.write_all(format!("{}\n", cef_threat(n)).as_bytes())
                .expect("a sender of whole frames is not cut off");
        }
        if !trickle_closed {
            let _ = trickle.write(b"x");
            // The relay's FIN, or its reset when a byte arrived after it closed.
            trickle_closed = match trickle.read(&mut [0u8; 16]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            };
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(trickle_closed, "the trickling connection was never closed");
    assert!(wait_until(PATIENCE, || agent.count() >= 12));
    assert_eq!(delivered(&agent).0.len(), 12);
    assert_eq!(
        sample(&relay, "cefrelay_connections_closed_total", "frame_timeout"),
        1
    );
    assert!(sample(&relay, "cefrelay_abandoned_bytes_total", "frame_timeout") >= 1);
    assert_eq!(relay.metric("cefrelay_connections_active"), 1);
}

/// A sender that writes unique markers. A cooperative one looks for the relay's FIN before each
/// write, as rsyslog does, and then closes its side: what its writes completed is what the relay
/// must deliver.
struct Sender {
    written: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

impl Sender {
    fn start(port: u16, first_id: usize, cooperative: bool) -> Sender {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let written = Arc::new(AtomicUsize::new(0));
        let count = written.clone();
        let thread = thread::spawn(move || {
            let mut stream = stream;
            let start = Instant::now();
            let mut n = 0;
            // About 10 000 lines a second, until the relay closes (bounded by PATIENCE).
            while !(cooperative && peer_closed(&stream)) && start.elapsed() < PATIENCE {
                let line = format!("{}\n", cef_threat(first_id + n));
                if stream.write_all(line.as_bytes()).is_err() {
                    break;
                }
                n += 1;
                count.store(n, Ordering::Release);
                if n % 10 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
            // Keep the socket until the relay is done with it.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.read(&mut [0u8; 64]);
        });
        Sender { written, thread }
    }
}

/// The peer has closed its side (its FIN is there to read), without waiting.
fn peer_closed(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    #[expect(unsafe_code, reason = "a non-blocking recv has no safe wrapper")]
    // SAFETY: a one-byte peek into `byte` on the descriptor `stream` keeps open.
    let got = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    got == 0
}

#[test]
fn sigterm_reads_what_senders_had_sent_before_closing_and_loses_none_of_it() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut relay = start_relay(&agent, dir.path(), "");
    let senders: Vec<Sender> = (0..4)
        .map(|s| Sender::start(relay.port, s * 1_000_000, true))
        .collect();
    // Mid-stream: every sender is writing.
    assert!(wait_until(PATIENCE, || agent.count() >= 4_000));
    relay.signal("TERM");
    let status = relay
        .exited_within(PATIENCE)
        .expect("the relay did not exit");
    let mut expected = BTreeSet::new();
    for (s, sender) in senders.into_iter().enumerate() {
        sender.thread.join().expect("sender");
        let written = sender.written.load(Ordering::Acquire);
        expected.extend((0..written).map(|n| s * 1_000_000 + n));
    }
    let (got, duplicates) = delivered(&agent);
    let missing: Vec<_> = expected.difference(&got).take(10).collect();
    println!(
        "written {}, delivered {} ({duplicates} duplicates), exit {status}",
        expected.len(),
        got.len()
    );
    assert!(
        missing.is_empty(),
        "{} of {} written markers lost, e.g. {missing:?}\n{}",
        expected.difference(&got).count(),
        expected.len(),
        log_text(dir.path())
    );
    assert_eq!(status.code(), Some(0));
    let stopped = log_records(dir.path(), "listener stopped");
    assert_eq!(stopped.len(), 1, "{}", log_text(dir.path()));
    let fields = &stopped[0]["fields"];
    assert_eq!(fields["abandoned_bytes"], 0, "{fields}");
    assert_eq!(fields["connections_drained"], 4, "{fields}");
    assert_eq!(fields["frames_received"], expected.len() as u64, "{fields}");
}

#[test]
fn sigterm_with_a_sender_that_never_stops_delivers_everything_it_read() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut relay = start_relay(&agent, dir.path(), "");
    let sender = Sender::start(relay.port, 0, false);
    assert!(wait_until(PATIENCE, || agent.count() >= 2_000));
    relay.signal("TERM");
    // The drain is bounded although the sender keeps writing.
    let status = relay
        .exited_within(PATIENCE)
        .expect("the relay did not exit");
    sender.thread.join().expect("sender");
    let written = sender.written.load(Ordering::Acquire);
    let (got, duplicates) = delivered(&agent);
    let stopped = log_records(dir.path(), "listener stopped");
    assert_eq!(stopped.len(), 1, "{}", log_text(dir.path()));
    let fields = &stopped[0]["fields"];
    println!(
        "written {written}, delivered {} ({duplicates} duplicates), {fields}",
        got.len()
    );
    assert_eq!(status.code(), Some(0));
    // Every frame the relay read reached the agent, in order from the first. The rest was still
    // arriving when the drain ended: what sat in the kernel is counted in abandoned_bytes; what
    // the sender wrote after the close is refused by TCP (the sender learns it from a later
    // write failing) and no receiver can count it.
    assert_eq!(fields["frames_received"], got.len() as u64, "{fields}");
    assert_eq!(got.iter().next_back().map(|last| last + 1), Some(got.len()));
    assert!(written >= got.len());
    assert!(fields["abandoned_bytes"].as_u64().is_some(), "{fields}");
}

#[test]
fn sigterm_counts_an_unfinished_frame_as_abandoned_and_delivers_the_whole_ones() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut relay = start_relay(&agent, dir.path(), "");
    // 500 whole lines and the start of one more; the sender then waits, neither writing nor
    // closing, and never reads (it does not notice the relay's FIN).
    let mut stream = relay.tcp();
    for id in 0..500 {
        stream
            .write_all(format!("{}\n", cef_threat(id)).as_bytes())
            .expect("write");
    }
    let unfinished = b"<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THR";
    stream.write_all(unfinished).expect("write");
    assert!(wait_until(PATIENCE, || agent.count() >= 500));
    relay.signal("TERM");
    let status = relay
        .exited_within(PATIENCE)
        .expect("the relay did not exit");
    assert_eq!(status.code(), Some(0));
    assert_eq!(delivered(&agent).0, (0..500).collect::<BTreeSet<_>>());
    let stopped = log_records(dir.path(), "listener stopped");
    assert_eq!(stopped.len(), 1, "{}", log_text(dir.path()));
    let fields = &stopped[0]["fields"];
    assert_eq!(fields["frames_received"], 500, "{fields}");
    assert_eq!(fields["connections_drained"], 1, "{fields}");
    assert_eq!(
        fields["abandoned_bytes"],
        unfinished.len() as u64,
        "{fields}"
    );
    let warned = log_records(dir.path(), "never became a frame");
    assert_eq!(warned.len(), 1, "{}", log_text(dir.path()));
    assert_eq!(warned[0]["fields"]["reason"], "shutdown");
    drop(stream);
}

#[test]
fn new_connection_keys_out_of_range_exit_64_naming_key_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("limits.toml");
    for (key, value) in [
        ("max_connections_per_sender", "0"),
        ("frame_timeout_secs", "0"),
        ("frame_timeout_secs", "100000"),
    ] {
        std::fs::write(
            &path,
            format!("[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\n{key} = {value}\n"),
        )
        .expect("write");
        let output = cefrelay()
            .arg("check-config")
            .arg(&path)
            .output()
            .expect("run check-config");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{key} = {value}: {stderr}");
        assert!(
            stderr.contains("limits.toml:3") && stderr.contains(&format!("listener[0].{key}")),
            "{stderr}"
        );
    }
    std::fs::write(
        &path,
        "[[listener]]\naddress = \"tcp://127.0.0.1:5514\"\nmax_connections_per_sender = 1\nframe_timeout_secs = 86400\n",
    )
    .expect("write");
    let status = Command::new(env!("CARGO_BIN_EXE_cefrelay"))
        .arg("check-config")
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .expect("run check-config");
    assert!(status.success());
}
