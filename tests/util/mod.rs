//! Helpers shared by the black-box tests: run the real `cefrelay` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod http_server;
pub mod mariadb;
pub mod panos_corpus;
pub mod small_disk;

/// The binary under test. Proxy variables of the environment running the tests are removed:
/// the tests' HTTP sinks are on loopback and must be reached directly.
pub fn cefrelay() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cefrelay"));
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        command.env_remove(name).env_remove(name.to_lowercase());
    }
    command
}

pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `cefrelay parse` with a fixed reference time so that year inference is deterministic.
pub fn parse_file(path: &Path, extra_args: &[&str]) -> Output {
    cefrelay()
        .args(["parse", "--now", "2026-01-01T00:00:30Z"])
        .args(extra_args)
        .arg(path)
        .output()
        .expect("run cefrelay parse")
}

pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .expect("parse prints UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line}: {e}")))
        .collect()
}

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A port nobody listens on right now (bound to port 0, then released). Another test can take it
/// before it is bound again, so it is only for the relay's ports in a `Relay::on_fresh_ports`
/// launch, which starts again on fresh ones when a bind fails.
///
/// Never the same number twice in one run: two relays given one UDP port would both bind it (the
/// relay sets SO_REUSEPORT there) and split its datagrams, with no failed start to try again on.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    // Ports turned down stay bound until one is found, so the kernel offers others meanwhile.
    let mut turned_down = Vec::new();
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = tcp.local_addr().expect("local addr").port();
        // The same number must be free for UDP too, since listeners use both.
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && HANDED_OUT.lock().expect("lock").insert(port)
        {
            return port;
        }
        turned_down.push(tcp);
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes; the limit only bounds a
/// failing test, nothing is asserted about how long it took.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    condition()
}

pub const PATIENCE: Duration = Duration::from_secs(30);

/// The agent stand-in: a TCP listener that keeps every line it receives, across connections.
pub struct Agent {
    pub address: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    /// Delay per line read, to play a slow agent.
    thread: Option<thread::JoinHandle<()>>,
}

impl Agent {
    /// Listens on `port`: 0 takes a free one, which `address` then says; any other port should
    /// be held by a `RefusingPort` (`RefusingPort::start_agent`), or another test may have it.
    pub fn start(port: u16, delay_per_line: Duration) -> Agent {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind agent port");
        let address = listener.local_addr().expect("agent address");
        listener.set_nonblocking(true).expect("nonblocking");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (lines2, stop2) = (lines.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut readers = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        let (lines, stop) = (lines2.clone(), stop2.clone());
                        readers.push(thread::spawn(move || {
                            stream
                                .set_read_timeout(Some(Duration::from_millis(50)))
                                .expect("timeout");
                            let mut reader = BufReader::new(stream);
                            let mut line = String::new();
                            while !stop.load(Ordering::Relaxed) {
                                match reader.read_line(&mut line) {
                                    Ok(0) => break,
                                    Ok(_) if line.ends_with('\n') => {
                                        lines
                                            .lock()
                                            .expect("lock")
                                            .push(line.trim_end_matches('\n').to_string());
                                        line.clear();
                                        if !delay_per_line.is_zero() {
                                            thread::sleep(delay_per_line);
                                        }
                                    }
                                    Ok(_) => {}
                                    Err(e)
                                        if matches!(
                                            e.kind(),
                                            std::io::ErrorKind::WouldBlock
                                                | std::io::ErrorKind::TimedOut
                                        ) => {}
                                    Err(_) => break,
                                }
                            }
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
            for reader in readers {
                let _ = reader.join();
            }
        });
        Agent {
            address,
            lines,
            stop,
            thread: Some(thread),
        }
    }

    pub fn count(&self) -> usize {
        self.lines.lock().expect("lock").len()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// Closes the listener and every connection, like a killed agent.
    pub fn stop(mut self) -> Vec<String> {
        self.shutdown();
        self.lines()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The relay under test, killed when dropped.
pub struct Relay {
    pub child: Child,
    pub port: u16,
    pub admin: SocketAddr,
}

impl Relay {
    /// Starts `cefrelay run` listening on UDP and TCP `port`, with extra arguments.
    pub fn start(agent_port: u16, extra: &[&str]) -> Relay {
        let forward = format!("tcp://127.0.0.1:{agent_port}");
        let mut args = vec!["--forward", forward.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(&args)
    }

    /// Starts `cefrelay run` with a configuration file; `{port}` in `toml` is the listen port.
    pub fn with_config(agent_port: u16, toml: &str, dir: &Path) -> Relay {
        let forward = format!("tcp://127.0.0.1:{agent_port}");
        let path = dir.join("cefrelay.toml");
        Self::started(Self::on_fresh_ports(|port, admin| {
            std::fs::write(&path, toml.replace("{port}", &port.to_string())).expect("write config");
            let config = path.to_str().expect("utf-8 path");
            Self::try_command(port, admin, &["--forward", &forward, "--config", config])
        }))
    }

    /// Starts `cefrelay run` listening on UDP and TCP `port` with exactly these extra arguments
    /// (no `--forward` added).
    pub fn start_with(args: &[&str]) -> Relay {
        Self::started(Self::on_fresh_ports(|port, admin| {
            let listen_udp = format!("udp://127.0.0.1:{port}");
            let listen_tcp = format!("tcp://127.0.0.1:{port}");
            let mut all = vec!["--listen", &listen_udp, "--listen", &listen_tcp];
            all.extend_from_slice(args);
            Self::try_command(port, admin, &all)
        }))
    }

    /// `cefrelay run --config FILE` and nothing else (the file says where everything is), on
    /// `port` and `admin`; `None` when it exits first, as for `try_spawn`.
    pub fn try_from_file(path: &Path, port: u16, admin: SocketAddr) -> Option<Relay> {
        Self::try_command_as_is(
            port,
            admin,
            &["--config", path.to_str().expect("utf-8 path")],
        )
    }

    /// Launches on a fresh listen port and admin address until one start binds both: another
    /// test may take a number between `free_port` and the relay binding it. `launch` returns
    /// `None` when the relay exited before it answered (`try_spawn`); after five such starts this
    /// gives up with `None`.
    pub fn on_fresh_ports(
        mut launch: impl FnMut(u16, SocketAddr) -> Option<Relay>,
    ) -> Option<Relay> {
        (0..5).find_map(|_| {
            let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
            launch(free_port(), admin)
        })
    }

    fn started(relay: Option<Relay>) -> Relay {
        relay.expect("the relay exited before its admin endpoint answered, five times")
    }

    fn try_command(port: u16, admin: SocketAddr, args: &[&str]) -> Option<Relay> {
        let admin_flag = admin.to_string();
        let mut all = vec!["--admin", admin_flag.as_str()];
        all.extend_from_slice(args);
        Self::try_command_as_is(port, admin, &all)
    }

    fn try_command_as_is(port: u16, admin: SocketAddr, args: &[&str]) -> Option<Relay> {
        let mut command = cefrelay();
        command
            .arg("run")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        Self::try_spawn(command, port, admin)
    }

    /// Spawns `command` (a `cefrelay run …` listening on `port`, its admin endpoint on `admin`)
    /// and waits until the admin endpoint answers. `None` when the relay exits first — e.g. a
    /// port that another test took between `free_port` and the relay binding it.
    pub fn try_spawn(mut command: Command, port: u16, admin: SocketAddr) -> Option<Relay> {
        let child = command.spawn().expect("spawn cefrelay run");
        let mut relay = Relay { child, port, admin };
        let mut exited = false;
        let up = wait_until(PATIENCE, || {
            exited = matches!(relay.child.try_wait(), Ok(Some(_)));
            exited || relay.try_metrics().is_some()
        });
        assert!(up, "the relay's admin endpoint never answered");
        (!exited).then_some(relay)
    }

    pub fn try_metrics(&self) -> Option<String> {
        self.admin_get("/metrics").map(|(_, body)| body)
    }

    /// GET `path` from the admin endpoint: the status line and the body.
    pub fn admin_get(&self, path: &str) -> Option<(String, String)> {
        let mut stream = TcpStream::connect_timeout(&self.admin, Duration::from_secs(2)).ok()?;
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.lines().next().unwrap_or_default().to_string();
        Some((status, body.to_string()))
    }

    /// The value of one sample, e.g. `cefrelay_filter_total{action="drop",reason="traffic"}`;
    /// a name without labels sums every sample of that metric.
    pub fn metric(&self, sample: &str) -> u64 {
        let text = self.try_metrics().unwrap_or_default();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(name, _)| {
                *name == sample || (!sample.contains('{') && name.split('{').next() == Some(sample))
            })
            .filter_map(|(_, value)| value.parse::<u64>().ok())
            .sum()
    }

    pub fn tcp(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the relay")
    }

    /// Waits for the relay to exit by itself; `None` while it still runs after `limit` (which
    /// only bounds a failing test).
    pub fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PAN-OS-like CEF THREAT line with a unique marker.
pub fn cef_threat(id: usize) -> String {
    format!(
        "<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.8|url|THREAT|3|src=192.0.2.{} dst=198.51.100.7 request=http://example.com/?q={id} cs1Label=Rule cs1=Allow Web externalId={id}",
        id % 250
    )
}

/// A certificate authority made for one test, signing the server's and clients' certificates.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key, as PEM.
    pub fn issue(&self, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        self.issue_until(names, usage, None)
    }

    /// [`Self::issue`], valid until `not_after` (rcgen's far-future default without one).
    pub fn issue_until(
        &self,
        names: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
        not_after: Option<time::OffsetDateTime>,
    ) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("leaf params");
        if let Some(not_after) = not_after {
            params.not_after = not_after;
        }
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// server.pem and server.key for 127.0.0.1 and localhost, and ca.pem, in `dir`.
    pub fn write_server_files(&self, dir: &Path) {
        self.write_server_files_until(dir, None);
    }

    /// [`Self::write_server_files`] with a server certificate valid until `not_after`.
    pub fn write_server_files_until(&self, dir: &Path, not_after: Option<time::OffsetDateTime>) {
        let (cert, key) = self.issue_until(
            &["127.0.0.1", "localhost"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            not_after,
        );
        std::fs::write(dir.join("server.pem"), cert).expect("write cert");
        std::fs::write(dir.join("server.key"), key).expect("write key");
        std::fs::write(dir.join("ca.pem"), &self.pem).expect("write CA");
    }
}

/// A loopback TCP port that no other test can take while this lives: bound and never listening,
/// so connections to it are refused (an agent that is down). It is bound with SO_REUSEADDR, so a
/// listener that also sets it (std, tokio, Python with SO_REUSEADDR; not socket2 by default) can
/// listen on the port beside it: the agent or sink comes up, and when it closes the port refuses
/// again, still held. The kernel does not hand out a bound port for port 0 while unbound ones
/// remain, so other tests do not get it; only a bind to this very number with SO_REUSEADDR could.
pub struct RefusingPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind port 0");
        let port = socket
            .local_addr()
            .expect("local address")
            .as_socket()
            .expect("an IP address")
            .port();
        RefusingPort {
            _socket: socket,
            port,
        }
    }

    /// The agent comes up on this port, which stays held: once the agent stops, connections are
    /// refused again until the next one starts.
    pub fn start_agent(&self, delay_per_line: Duration) -> Agent {
        Agent::start(self.port, delay_per_line)
    }
}
