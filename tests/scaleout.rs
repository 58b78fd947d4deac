//! Scale-out, live: a real HAProxy (Debian's, started here) in TCP mode with `send-proxy-v2` and
//! `/health` checks in front of three real relays with disk buffers, one counting agent behind
//! them. Senders on their own loopback addresses; a relay killed with SIGKILL mid-stream and
//! started again; a relay whose agent is unreachable taken out of the rotation.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::util::{free_port, wait_until, Agent, RefusingPort, Relay, PATIENCE};

/// One relay of the pool: its files and ports stay, so it can be started again after a kill.
struct Member {
    config: PathBuf,
    port: u16,
    admin: SocketAddr,
    relay: Option<Relay>,
    _dir: tempfile::TempDir,
}

impl Member {
    /// A relay taking PROXY protocol v2 from HAProxy on 127.0.0.1 only, forwarding to
    /// `agent_port` through a disk buffer.
    fn start(agent_port: u16) -> Member {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("cefrelay.toml");
        for _ in 0..5 {
            let (port, admin) = (free_port(), SocketAddr::from(([127, 0, 0, 1], free_port())));
            std::fs::write(
                &config,
                format!(
                    "state_dir = \"{state}\"\n\
                     [[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n\
                     proxy_protocol = \"v2\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
                     [forward]\naddress = [\"tcp://127.0.0.1:{agent_port}\"]\n\
                     buffer = {{ type = \"disk\" }}\n\
                     [admin]\nlisten = \"{admin}\"\n",
                    state = dir.path().display()
                ),
            )
            .expect("write config");
            if let Some(relay) = Relay::try_from_file(&config, port, admin) {
                return Member {
                    config,
                    port,
                    admin,
                    relay: Some(relay),
                    _dir: dir,
                };
            }
        }
        panic!("no relay started on five fresh ports");
    }

    fn relay(&self) -> &Relay {
        self.relay.as_ref().expect("the relay runs")
    }

    fn kill_9(&mut self) {
        let mut relay = self.relay.take().expect("the relay runs");
        relay.child.kill().expect("SIGKILL");
        relay.child.wait().expect("reap");
    }

    /// Starts it again on its ports, with its disk buffer.
    fn restart(&mut self) {
        let relay = Relay::try_from_file(&self.config, self.port, self.admin)
            .expect("the relay starts again on its own ports");
        self.relay = Some(relay);
    }
}

/// HAProxy with its configuration, stopped when dropped.
struct Haproxy {
    child: Child,
    port: u16,
    stats: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `balance source` over `members`, each checked on `/health` at its admin port.
    fn start(members: &[&Member]) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let servers: String = members
            .iter()
            .enumerate()
            .map(|(n, m)| {
                format!(
                    "    server relay{n} 127.0.0.1:{} send-proxy-v2 check port {}\n",
                    m.port,
                    m.admin.port()
                )
            })
            .collect();
        for _ in 0..5 {
            let (port, stats) = (free_port(), free_port());
            let config = dir.path().join("haproxy.cfg");
            std::fs::write(
                &config,
                format!(
                    "global\n    maxconn 1000\n\
                     defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n    retries 10\n    option redispatch 1\n\
                     frontend syslog\n    bind 127.0.0.1:{port}\n    default_backend relays\n\
                     backend relays\n    balance source\n    option httpchk GET /health\n    http-check expect status 200\n\
                     \x20   default-server inter 200ms fall 2 rise 2 on-marked-down shutdown-sessions\n{servers}\
                     listen stats\n    mode http\n    bind 127.0.0.1:{stats}\n    stats enable\n    stats uri /stats\n"
                ),
            )
            .expect("write haproxy.cfg");
            let mut child = Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("haproxy (bash .ci/peers installs it)");
            let mut exited = false;
            let up = wait_until(PATIENCE, || {
                exited = matches!(child.try_wait(), Ok(Some(_)));
                exited || TcpStream::connect(("127.0.0.1", stats)).is_ok()
            });
            assert!(up, "haproxy never listened");
            if !exited {
                return Haproxy {
                    child,
                    port,
                    stats,
                    _dir: dir,
                };
            }
        }
        panic!("haproxy did not start on five fresh ports");
    }

    /// Each server's status as HAProxy's statistics page says (`UP`, `DOWN`, …).
    fn statuses(&self) -> Vec<(String, String)> {
        let Some(csv) = http_get(self.stats, "/stats;csv") else {
            return Vec::new();
        };
        csv.lines()
            .filter(|line| line.starts_with("relays,relay"))
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                (fields[1].to_string(), fields[17].to_string())
            })
            .collect()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::Read;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}

/// A TCP connection to `port` from the loopback address `source`.
fn connect_from(source: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(socket.into())
}

fn line(sender: u8, n: usize) -> String {
    format!(
        "<14>Nov 22 10:00:00 fw{sender} CEF:0|Palo Alto Networks|PAN-OS|10.1|url|THREAT|3|\
         src=10.0.{sender}.1 externalId=s{sender}-{n}\n"
    )
}

/// Sends `count` lines from `source` through `port`. A sender learns that a relay has read all
/// it sent only when, after its own end of stream, the relay closes the connection in turn; a
/// connection that breaks instead may have lost what was in the sockets' buffers, so it
/// connects again and sends everything once more. Every line arrives at least once, and the
/// duplicates are counted at the agent.
fn send_all(sender: u8, port: u16, count: usize, progress: &AtomicUsize) {
    use std::io::Read;
    let source = Ipv4Addr::new(127, 0, 0, sender);
    loop {
        let Ok(mut stream) = connect_from(source, port) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        let written = (0..count).all(|n| {
            let sent = stream.write_all(line(sender, n).as_bytes()).is_ok();
            progress.fetch_add(usize::from(sent), Ordering::Relaxed);
            sent
        });
        let read_all = written
            && stream.shutdown(std::net::Shutdown::Write).is_ok()
            && matches!(stream.read(&mut [0u8; 1]), Ok(0));
        if read_all {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn markers(agent: &Agent) -> (HashSet<String>, usize) {
    let lines = agent.lines();
    let unique = lines
        .iter()
        .filter_map(|l| l.rsplit("externalId=").next())
        .map(str::to_string)
        .collect::<HashSet<_>>();
    (unique, lines.len())
}

const SENDERS: [u8; 4] = [2, 3, 4, 5];

#[test]
fn behind_haproxy_a_relay_killed_mid_stream_loses_no_marker_and_senders_keep_their_addresses() {
    const PER_SENDER: usize = 50_000;
    let agent = Agent::start(0, Duration::ZERO);
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::start(agent.address.port()))
        .collect();
    let haproxy = Haproxy::start(&members.iter().collect::<Vec<_>>());
    assert!(wait_until(PATIENCE, || {
        let statuses = haproxy.statuses();
        statuses.len() == 3 && statuses.iter().all(|(_, s)| s == "UP")
    }));

    let progress = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = SENDERS
        .iter()
        .map(|&sender| {
            let (progress, port) = (progress.clone(), haproxy.port);
            thread::spawn(move || send_all(sender, port, PER_SENDER, &progress))
        })
        .collect();
    // Mid-stream: the relay that took the most so far is killed, and started again.
    let total = PER_SENDER * SENDERS.len();
    assert!(wait_until(PATIENCE, || progress.load(Ordering::Relaxed) >= total / 3));
    let busiest = (0..members.len())
        .max_by_key(|&i| members[i].relay().metric("cefrelay_received_frames_total"))
        .expect("three relays");
    members[busiest].kill_9();
    // HAProxy's checks see it gone and send its senders to the others; then it comes back.
    let name = format!("relay{busiest}");
    assert!(wait_until(PATIENCE, || haproxy.statuses().iter().any(
        |(server, status)| *server == name && status.starts_with("DOWN")
    )));
    members[busiest].restart();
    for sender in senders {
        sender.join().expect("sender");
    }
    // TCP syslog has no acknowledgment: what sat in HAProxy's and the kernel's buffers when the
    // relay died is lost to the sender, and HAProxy closes a connection it could not forward
    // just as cleanly as one it did. The sender here stands for one with an end-to-end
    // acknowledgment: once the relays are idle, a sender whose markers are not all at the agent
    // sends everything again (bounded rounds). What the relays accepted must never need it —
    // the killed relay replays its disk buffer (checked below).
    let expected_of = |s: u8| (0..PER_SENDER).map(move |n| format!("s{s}-{n}"));
    let idle = |members: &[Member]| {
        members
            .iter()
            .all(|m| m.relay().metric("cefrelay_sink_queue_depth") == 0)
    };
    let mut resent = Vec::new();
    for _round in 0..3 {
        assert!(wait_until(PATIENCE, || idle(&members)));
        let (unique, _) = markers(&agent);
        let incomplete: Vec<u8> = SENDERS
            .iter()
            .copied()
            .filter(|&s| !expected_of(s).all(|m| unique.contains(&m)))
            .collect();
        if incomplete.is_empty() {
            break;
        }
        resent.extend(incomplete.iter().copied());
        let progress = AtomicUsize::new(0);
        for sender in incomplete {
            send_all(sender, haproxy.port, PER_SENDER, &progress);
        }
    }
    assert!(
        members[busiest]
            .relay()
            .metric("cefrelay_sink_replayed_events_total")
            > 0,
        "the killed relay's disk buffer was replayed"
    );

    let expected: HashSet<String> = SENDERS.iter().flat_map(|&s| expected_of(s)).collect();
    let complete = wait_until(PATIENCE, || markers(&agent).0.is_superset(&expected));
    let (unique, lines) = markers(&agent);
    let missing = expected.difference(&unique).count();
    let state: Vec<String> = members
        .iter()
        .map(|m| {
            let relay = m.relay();
            let metrics = relay.try_metrics().unwrap_or_default();
            let connections: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    (l.starts_with("cefrelay_proxy_headers_total")
                        || l.starts_with("cefrelay_connections_total")
                        || l.starts_with("cefrelay_connections_closed_total"))
                        && !l.ends_with(" 0")
                })
                .collect();
            format!(
                "{connections:?} received {} sent {} replayed {} held {} connected {}",
                relay.metric("cefrelay_received_frames_total"),
                relay.metric("cefrelay_sink_sent_events_total"),
                relay.metric("cefrelay_sink_replayed_events_total"),
                relay.metric("cefrelay_sink_queue_depth"),
                relay.metric("cefrelay_sink_connected"),
            )
        })
        .collect();
    assert!(
        complete,
        "{missing} of {total} markers never arrived; killed relay {busiest}; relays: {state:#?}; \
         haproxy: {:?}",
        haproxy.statuses()
    );
    eprintln!(
        "scale-out: {total} markers delivered, {} duplicates after a SIGKILL; senders that sent again: {resent:?}",
        lines - unique.len()
    );

    // The relays saw the senders, never HAProxy's own address.
    let mut seen = BTreeSet::new();
    for member in &members {
        let (_, peers) = member.relay().admin_get("/peers").expect("/peers");
        let peers: serde_json::Value = serde_json::from_str(&peers).expect("JSON");
        for (address, _) in peers["peers"].as_object().expect("peers").iter() {
            seen.insert(address.clone());
        }
    }
    let senders: BTreeSet<String> = SENDERS.iter().map(|s| format!("127.0.0.{s}")).collect();
    assert!(
        !seen.is_empty() && seen.is_subset(&senders),
        "peers seen: {seen:?}"
    );
}

#[test]
fn haproxy_stops_sending_to_a_relay_whose_agent_is_unreachable() {
    let agent = Agent::start(0, Duration::ZERO);
    let unreachable = RefusingPort::new();
    let healthy = [
        Member::start(agent.address.port()),
        Member::start(agent.address.port()),
    ];
    let sick = Member::start(unreachable.port);
    let haproxy = Haproxy::start(&[&healthy[0], &healthy[1], &sick]);
    assert!(wait_until(PATIENCE, || {
        let statuses = haproxy.statuses();
        statuses.iter().filter(|(_, s)| s == "UP").count() == 2
            && statuses
                .iter()
                .any(|(name, s)| name == "relay2" && s.starts_with("DOWN"))
    }));
    let (status, body) = sick.relay().admin_get("/health").expect("/health");
    assert!(
        status.contains("503") && body.contains("agent"),
        "{status} {body}"
    );

    // Senders that `balance source` would hash to any relay all land on the healthy two.
    for sender in 2..=17u8 {
        let mut stream =
            connect_from(Ipv4Addr::new(127, 0, 0, sender), haproxy.port).expect("connect");
        stream.write_all(line(sender, 0).as_bytes()).expect("send");
    }
    assert!(wait_until(PATIENCE, || agent.count() == 16));
    assert_eq!(sick.relay().metric("cefrelay_received_frames_total"), 0);
}
