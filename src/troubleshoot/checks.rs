//! The checks, in the order they run. Each returns a [`Check`]; none changes anything on the host
//! (the one exception, `--capture`, only listens on a port nobody listens on).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Check, Context, Status, DEFAULT_CONFIG, POLL};
use crate::cli::TroubleshootArgs;
use crate::config::{Agent, Config, FilterMode, PanosCsv, Protocol};
use crate::host::proc_net::{self, Transport};
use crate::host::syslog_conf;
use crate::telemetry::admin::Client;

/// The body `cef_troubleshoot.py` sends with `logger -p local4.warn -t CEF:` (GUIDE §4).
pub const MOCK_BODY: &str = "0|TestCommonEventFormat|MOCK|common=event-format-test|end|TRAFFIC|1|rt=$common=event-formatted-receive_time deviceExternalId=0002D01655 src=1.1.1.1 dst=2.2.2.2 sourceTranslatedAddress=1.1.1.1 destinationTranslatedAddress=3.3.3.3 cs1Label=Rule cs1=CEF_TEST_InternetDNS |data0=example";

const PANOS_CEF_HINT: &str = "on PAN-OS: Device > Server Profiles > Syslog > Custom Log Format: set the CEF format for each log type (PAN-OS 10+ has no CEF preset), and attach the profile to a Log Forwarding profile on the security rules";

/// Check 1: The configuration is valid, exactly as `check-config` and `run` validate it.
pub fn configuration(args: TroubleshootArgs) -> (Option<Context>, Check) {
    let mut check = Check::new(1, "configuration");
    let path = args.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| DEFAULT_CONFIG.into())
    });
    let (loaded, source) = match &path {
        Some(path) => (Config::load(path), path.display().to_string()),
        None => (Ok(Config::default()), "built-in defaults".to_string()),
    };
    match loaded {
        Ok(config) => {
            check.saw(format!(
                "{source}: valid ({} listeners, filter {}, forward {}://{})",
                config.listeners.len(),
                filter_name(config.filter),
                config.forward.protocol,
                list(&config.forward.addresses)
            ));
            let admin = Client::of(&config);
            let context = Context {
                config,
                config_path: path,
                admin,
                args,
            };
            (Some(context), check)
        }
        Err(error) => {
            check.saw(error.to_string()).worse(
                Status::Fail,
                format!("correct the key named above, then `cefrelay check-config {source}`"),
            );
            (None, check)
        }
    }
}

/// Checks 2 to 10.
pub fn all(context: &Context) -> Vec<Check> {
    let running = relay_running(context);
    let relay_answers = running.status != Status::Fail;
    let mut checks = vec![
        running,
        listeners(context),
        conflicts(context),
        agent_port(context),
    ];
    checks.push(firewall(context));
    checks.push(selinux(context));
    checks.push(time_sync());
    checks.push(if relay_answers {
        end_to_end(context)
    } else {
        skipped(9, "end to end", "the relay does not answer (check 2)")
    });
    checks.push(if relay_answers && context.args.live > 0 {
        live_traffic(context)
    } else if context.args.live == 0 {
        skipped(10, "live traffic", "--live 0")
    } else {
        skipped(10, "live traffic", "the relay does not answer (check 2)")
    });
    checks
}

fn skipped(number: u8, name: &'static str, why: &str) -> Check {
    let mut check = Check::new(number, name);
    check.status = Status::Skip;
    check.saw(format!("not run: {why}"));
    check
}

/// Check 2: The relay runs: its admin endpoint answers (and, where systemd runs, the unit's state).
fn relay_running(context: &Context) -> Check {
    let mut check = Check::new(2, "relay running");
    let unit = systemd_unit_state();
    if let Some(state) = &unit {
        check.saw(format!("systemd unit cefrelay.service: {state}"));
    }
    let Some(client) = &context.admin else {
        check.saw("the admin endpoint is off ([admin] listen = \"\")").worse(
            Status::Fail,
            "set [admin] listen = \"127.0.0.1:9514\" (the troubleshooter reads the relay's counters there) and restart cefrelay",
        );
        return check;
    };
    let admin = client.address;
    match client.get("/health") {
        Some((200, _)) => {
            check.saw(format!("http://{admin}/health: every sink reachable"));
        }
        Some((_, body)) => {
            check
                .saw(format!("http://{admin}/health: {}", body.trim()))
                .worse(
                    Status::Warn,
                    "the relay runs but cannot reach a sink: for the agent see check 5; for an HTTP sink, its errors are in the relay's log and /metrics",
                );
        }
        None => {
            check.saw(format!("nothing answers on http://{admin}/health")).worse(
                Status::Fail,
                match unit.as_deref() {
                    Some(_) => "sudo systemctl start cefrelay; journalctl -u cefrelay -n 50 shows why it stopped".to_string(),
                    None => format!("start the relay: {}", context.run_command()),
                },
            );
            return check;
        }
    }
    // /health is open to probes; the counters checks 9 and 10 read are behind the token.
    if let Some((401, _)) = client.get("/peers") {
        let sent = if context.config.admin_token.is_some() {
            "refuses the token of [admin] token_file"
        } else {
            "requires a token and this configuration has no [admin] token_file"
        };
        check.saw(format!("http://{admin}/peers: 401, the relay {sent}")).worse(
            Status::Fail,
            "run the troubleshooter with the configuration the relay runs with (--config), or restart the relay after changing the token",
        );
    }
    check
}

fn systemd_unit_state() -> Option<String> {
    if !Path::new("/run/systemd/system").exists() {
        return None;
    }
    let output = Command::new("systemctl")
        .args(["is-active", "cefrelay"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Check 3: Every configured listener is bound, and by cefrelay rather than rsyslog or syslog-ng.
fn listeners(context: &Context) -> Check {
    let mut check = Check::new(3, "listeners");
    for listener in &context.config.listeners {
        let transport = match listener.protocol {
            Protocol::Udp => Transport::Udp,
            Protocol::Tcp | Protocol::Tls => Transport::Tcp,
        };
        let name = listener.name();
        let bound = proc_net::listening(transport, listener.address);
        let inodes: Vec<u64> = bound.iter().map(|b| b.inode).collect();
        let owners = proc_net::owners(&inodes);
        let mut names: Vec<String> = owners.values().map(|o| o.to_string()).collect();
        names.sort();
        names.dedup();
        if bound.is_empty() {
            check.saw(format!("{name}: nothing listens")).worse(
                Status::Fail,
                format!(
                    "start cefrelay (sudo systemctl start cefrelay, or {}); if it runs, its log (journalctl -u cefrelay) says why it could not bind",
                    context.run_command()
                ),
            );
        } else if let Some(other) = owners.values().find(|o| o.name != "cefrelay") {
            check
                .saw(format!("{name}: held by {}", names.join(", ")))
                .worse(
                    Status::Fail,
                    format!(
                        "{} holds the port: remove its input on port {} (cefrelay install --disable-conflicting-inputs comments it out), restart {}, then restart cefrelay",
                        other.name,
                        listener.address.port(),
                        other.name
                    ),
                );
        } else if owners.is_empty() {
            check
                .saw(format!(
                    "{name}: bound by a process this user cannot see (run as root to see which)"
                ))
                .worse(Status::Warn, "sudo cefrelay cef-troubleshoot");
        } else {
            check.saw(format!("{name}: bound by {}", names.join(", ")));
        }
    }
    check
}

/// The syslog daemons that compete for the relay's ports.
const SYSLOG_DAEMONS: [&str; 3] = ["rsyslogd", "syslog-ng", "syslogd"];

/// Check 4: rsyslog or syslog-ng still configured to take port 514 or to forward CEF to the agent: both
/// would give duplicate events. A daemon that holds a listener's port right now fails it whatever
/// its files say (its input may come from a file this check does not read).
fn conflicts(context: &Context) -> Check {
    let mut check = Check::new(4, "conflicting syslog daemons");
    let found = syslog_conf::find(Path::new("/"));
    let mut holders = Vec::new();
    for listener in &context.config.listeners {
        let transport = match listener.protocol {
            Protocol::Udp => Transport::Udp,
            Protocol::Tcp | Protocol::Tls => Transport::Tcp,
        };
        let bound = proc_net::listening(transport, listener.address);
        let owners = proc_net::owners(&bound.iter().map(|b| b.inode).collect::<Vec<_>>());
        for owner in owners.values() {
            if SYSLOG_DAEMONS.contains(&owner.name.as_str()) {
                holders.push((listener.name(), owner.to_string()));
            }
        }
    }
    holders.sort();
    holders.dedup();
    for (listener, owner) in &holders {
        check.saw(format!("{owner} holds {listener}")).worse(
            Status::Fail,
            "sudo cefrelay install --disable-conflicting-inputs (or remove that daemon's input on the port), restart the daemon, then restart cefrelay",
        );
    }
    if found.is_empty() && holders.is_empty() {
        check.saw("no rsyslog or syslog-ng input on 514 and no old CEF forwarding rule");
    }
    for conflict in &found {
        if conflict.disabled_by_install() {
            check.saw(conflict.to_string()).worse(
                Status::Fail,
                "sudo cefrelay install --disable-conflicting-inputs (comments out exactly these lines, keeps a .cefrelay.bak copy, restarts the daemon)",
            );
        } else {
            check.saw(conflict.to_string()).worse(
                Status::Warn,
                format!("stop {} from receiving the firewalls on 514 (fixed together with the inputs above); leave the agent's own file alone", conflict.daemon),
            );
        }
    }
    check
}

/// The processes that listen on an agent port: the Azure Monitor agent's `mdsd`, and the legacy
/// OMS agent (`omsagent`, a Ruby program).
const AGENT_PROCESSES: [&str; 4] = ["mdsd", "azuremonitoragent", "omsagent", "ruby"];

/// Check 5: The agent port accepts connections, and which process listens there: anything else
/// there (a stray `nc`) takes the events and keeps them from Sentinel.
fn agent_port(context: &Context) -> Check {
    let mut check = Check::new(5, "agent port");
    let forward = &context.config.forward;
    for address in &forward.addresses {
        if forward.protocol == Protocol::Udp {
            check
                .saw(format!(
                    "udp://{address}: UDP cannot tell whether anything listens"
                ))
                .worse(
                    Status::Warn,
                    "prefer a tcp:// forward: the agent listens on TCP and UDP loses events silently",
                );
            continue;
        }
        let bound = proc_net::listening(Transport::Tcp, *address);
        let owners = proc_net::owners(&bound.iter().map(|b| b.inode).collect::<Vec<_>>());
        let known = owners.values().next();
        let owner = known.map_or_else(
            || "a process this user cannot see".to_string(),
            |o| o.to_string(),
        );
        match TcpStream::connect_timeout(address, Duration::from_secs(2)) {
            Ok(_) => {
                check.saw(format!("tcp://{address} accepts connections ({owner})"));
                if let Some(other) = known.filter(|o| !AGENT_PROCESSES.contains(&o.name.as_str())) {
                    check.worse(
                        Status::Warn,
                        format!(
                            "{other} is not the Azure Monitor agent (mdsd) nor the legacy agent (omsagent/ruby): events sent there do not reach Sentinel; stop it and start the agent"
                        ),
                    );
                }
            }
            Err(error) => {
                let fix = match forward.agent {
                    Agent::Legacy => "the legacy OMS agent listens on 25226: check it with `sudo /opt/microsoft/omsagent/bin/service_control status`; it is retired — for the Azure Monitor Agent use `--agent ama` (port 28330)",
                    Agent::Ama => "the Azure Monitor Agent opens 28330 only once a Data Collection Rule for CEF/Syslog targets this machine: create the DCR in Azure, then `systemctl status azuremonitoragent`",
                };
                check
                    .saw(format!("tcp://{address}: {error}"))
                    .worse(Status::Fail, fix);
            }
        }
    }
    check
}

/// Check 6: Host firewall rules that would drop the listen ports.
// One piece: nftables, then iptables, then firewalld, each a few lines, in the order tried.
fn firewall(context: &Context) -> Check {
    let mut check = Check::new(6, "host firewall");
    let ports: Vec<(u16, &str)> = context
        .config
        .listeners
        .iter()
        .map(|l| {
            let transport = if l.protocol == Protocol::Udp {
                "udp"
            } else {
                "tcp"
            };
            (l.address.port(), transport)
        })
        .collect();
    let mut any_tool = false;
    if let Some(state) = run_tool("firewall-cmd", &["--state"]) {
        any_tool = true;
        if state.trim() == "running" {
            let open = run_tool("firewall-cmd", &["--list-ports"]).unwrap_or_default();
            let services = run_tool("firewall-cmd", &["--list-services"]).unwrap_or_default();
            for (port, transport) in &ports {
                let entry = format!("{port}/{transport}");
                let by_service = *port == 514 && services.split_whitespace().any(|s| s == "syslog");
                if open.split_whitespace().any(|p| p == entry) || by_service {
                    check.saw(format!("firewalld opens {entry}"));
                } else {
                    check.saw(format!("firewalld does not open {entry}")).worse(
                        Status::Fail,
                        format!("sudo firewall-cmd --permanent --add-port={entry} && sudo firewall-cmd --reload"),
                    );
                }
            }
        } else {
            check.saw("firewalld is installed but not running");
        }
    }
    for (tool, args) in [("nft", &["list", "ruleset"][..]), ("iptables", &["-S"][..])] {
        if !tool_exists(tool) {
            continue;
        }
        any_tool = true;
        match Command::new(tool).args(args).output() {
            Ok(output) if output.status.success() => {
                let rules = String::from_utf8_lossy(&output.stdout);
                for (port, transport) in &ports {
                    let dropping: Vec<&str> = rules
                        .lines()
                        .filter(|line| {
                            line.contains(&format!("dport {port}"))
                                || line.contains(&format!("--dport {port} "))
                        })
                        .filter(|line| {
                            let line = line.to_ascii_lowercase();
                            line.contains("drop") || line.contains("reject")
                        })
                        .collect();
                    for rule in dropping {
                        check
                            .saw(format!("{tool}: {} drops {transport} {port}", rule.trim()))
                            .worse(
                                Status::Fail,
                                format!("remove or narrow that {tool} rule so senders reach {transport}/{port}"),
                            );
                    }
                }
                check.saw(format!(
                    "{tool}: read the rules; none drops the listen ports explicitly"
                ));
            }
            _ => {
                check
                    .saw(format!("{tool}: the rules cannot be read without root"))
                    .worse(
                        Status::Warn,
                        format!(
                            "sudo {tool} {} | grep -E 'dport (514|6514)'",
                            args.join(" ")
                        ),
                    );
            }
        }
    }
    if !any_tool {
        check.saw("no firewalld, nft or iptables on this host");
    }
    check
}

/// Check 7: SELinux mode and, when enforcing, whether the listen ports carry a syslog port type.
fn selinux(context: &Context) -> Check {
    let mut check = Check::new(7, "SELinux");
    let Ok(mode) = std::fs::read_to_string("/sys/fs/selinux/enforce") else {
        check.saw("SELinux is not enabled");
        return check;
    };
    if mode.trim() != "1" {
        check.saw("SELinux is permissive");
        return check;
    }
    check.saw("SELinux is enforcing");
    match run_tool("semanage", &["port", "-l"]) {
        Some(ports) => {
            let syslog_ports: Vec<&str> = ports
                .lines()
                .filter(|l| l.starts_with("syslogd_port_t"))
                .collect();
            for listener in &context.config.listeners {
                let port = listener.address.port().to_string();
                let labelled = syslog_ports
                    .iter()
                    .any(|l| l.split([' ', ',']).any(|p| p == port));
                if !labelled {
                    let transport = if listener.protocol == Protocol::Udp {
                        "udp"
                    } else {
                        "tcp"
                    };
                    check
                        .saw(format!("{transport}/{port} is not a syslogd_port_t port"))
                        .worse(
                            Status::Warn,
                            format!(
                                "sudo semanage port -a -t syslogd_port_t -p {transport} {port}"
                            ),
                        );
                }
            }
        }
        None => {
            check.saw("semanage is not available to read the port labels").worse(
                Status::Warn,
                "sudo semanage port -l | grep syslogd_port_t (package policycoreutils-python-utils)",
            );
        }
    }
    check
}

/// Check 8: The clock is synchronised: RFC 3164 timestamps carry no year and no zone, so a wrong clock
/// mis-dates every event.
fn time_sync() -> Check {
    let mut check = Check::new(8, "time sync");
    if let Some(value) = run_tool("timedatectl", &["show", "-p", "NTPSynchronized", "--value"]) {
        match value.trim() {
            "yes" => {
                check.saw("timedatectl: the system clock is synchronised");
            }
            other => {
                check
                    .saw(format!("timedatectl: NTPSynchronized={other}"))
                    .worse(
                        Status::Warn,
                        "sudo timedatectl set-ntp true (or configure chrony)",
                    );
            }
        }
    } else if let Some(tracking) = run_tool("chronyc", &["tracking"]) {
        if tracking.contains("Normal") {
            check.saw("chrony: leap status normal (synchronised)");
        } else {
            check
                .saw("chrony: not synchronised")
                .worse(Status::Warn, "chronyc sources -v shows why");
        }
    } else {
        check
            .saw("neither timedatectl nor chronyc could tell whether the clock is synchronised")
            .worse(
                Status::Warn,
                "install and enable chrony or systemd-timesyncd",
            );
    }
    check
}

/// Check 9: The mock messages of `cef_troubleshoot.py`, each with a unique marker as its hostname, over
/// UDP and TCP to the listeners; the relay's own counters must show each one written to the sink.
// One piece: send, then wait, then read the relay's counters: the steps of one probe.
fn end_to_end(context: &Context) -> Check {
    let mut check = Check::new(9, "end to end");
    let Some(admin) = &context.admin else {
        return skipped(9, "end to end", "no admin endpoint");
    };
    let capture = start_capture(context, &mut check);
    let mut markers = Vec::new();
    for (transport, protocol) in [("udp", Protocol::Udp), ("tcp", Protocol::Tcp)] {
        let Some(listener) = context
            .config
            .listeners
            .iter()
            .find(|l| l.protocol == protocol)
        else {
            check.saw(format!(
                "no {transport} listener configured: not tested over {transport}"
            ));
            continue;
        };
        let target = loopback_for(listener.address);
        let batch: Vec<String> = (0..context.args.mocks)
            .map(|n| format!("cefrelay-check-{}-{transport}-{n}", std::process::id()))
            .collect();
        let sent = send_mocks(protocol, target, &batch);
        match sent {
            Ok(()) => {
                check.saw(format!(
                    "sent {} mock messages over {transport} to {target}",
                    batch.len()
                ));
                markers.extend(batch);
            }
            Err(error) => {
                check
                    .saw(format!("could not send to {transport}://{target}: {error}"))
                    .worse(Status::Fail, "see check 3: the listener is not reachable");
            }
        }
    }
    if markers.is_empty() {
        return check;
    }
    let deadline = Instant::now() + Duration::from_secs(context.args.timeout);
    let journeys = loop {
        let journeys = mock_journeys(admin);
        let all_written = markers
            .iter()
            .all(|m| journeys.get(m).is_some_and(|(_, written)| *written));
        if all_written || Instant::now() >= deadline {
            break journeys;
        }
        std::thread::sleep(POLL);
    };
    let received = markers.iter().filter(|m| journeys.contains_key(*m)).count();
    let written = markers
        .iter()
        .filter(|m| journeys.get(*m).is_some_and(|(_, written)| *written))
        .count();
    check.saw(format!(
        "{received} of {} received and passed the filter, {written} written to the agent",
        markers.len()
    ));
    check.saw(
        "in the workspace, the mock events are: CommonSecurityLog | where DeviceVendor == \"TestCommonEventFormat\" | where TimeGenerated > ago(1h)",
    );
    if received < markers.len() {
        check.worse(
            Status::Fail,
            "mock messages did not reach the relay: check 3 (listeners) and 6 (firewall)",
        );
    } else if written < markers.len() {
        check.worse(
            Status::Fail,
            "the relay could not write to the agent: check 5 (agent port); the events wait in its queue",
        );
    }
    if let Some(capture) = capture {
        std::thread::sleep(POLL);
        let lines = capture.lock().map(|l| l.clone()).unwrap_or_default();
        check.saw(format!("captured on the agent port: {} lines", lines.len()));
        for line in lines.iter().take(3) {
            check.saw(format!("  {line}"));
        }
    }
    check
}

/// With `--capture`, and only when nothing listens on the agent port, listen there for the
/// duration of the check and keep what arrives.
fn start_capture(context: &Context, check: &mut Check) -> Option<Arc<Mutex<Vec<String>>>> {
    if !context.args.capture || context.config.forward.protocol != Protocol::Tcp {
        return None;
    }
    let address = *context.config.forward.addresses.first()?;
    let listener = match TcpListener::bind(address) {
        Ok(listener) => listener,
        Err(error) => {
            check.saw(format!(
                "--capture: cannot listen on {address} ({error}); something already does"
            ));
            return None;
        }
    };
    check.saw(format!(
        "--capture: listening on {address} in place of the agent"
    ));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let lifetime = Duration::from_secs(context.args.timeout + 1);
    std::thread::spawn(move || {
        let _ = listener.set_nonblocking(true);
        let until = Instant::now() + lifetime;
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => {
                    let sink = sink.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(lifetime));
                        for line in BufReader::new(stream).lines().map_while(Result::ok) {
                            if let Ok(mut lines) = sink.lock() {
                                lines.push(line);
                            }
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    Some(lines)
}

/// A wildcard listen address is reached on the loopback address of its family.
fn loopback_for(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), address.port())
        }
        _ => address,
    }
}

/// `logger -p local4.warn -t CEF:` framing: `<164>TIMESTAMP HOST CEF: BODY`, HOST = marker.
fn mock_line(marker: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second]"
    );
    let timestamp = now.format(&format).unwrap_or_default();
    format!("<164>{timestamp} {marker} CEF: {MOCK_BODY}")
}

fn send_mocks(protocol: Protocol, target: SocketAddr, markers: &[String]) -> std::io::Result<()> {
    match protocol {
        Protocol::Udp => {
            let local: SocketAddr = if target.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(local)?;
            for marker in markers {
                socket.send_to(mock_line(marker).as_bytes(), target)?;
            }
            Ok(())
        }
        _ => {
            let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
            for marker in markers {
                stream.write_all(format!("{}\n", mock_line(marker)).as_bytes())?;
            }
            stream.flush()
        }
    }
}

/// marker → (forwarded, written), from the relay's `GET /mocks`.
fn mock_journeys(admin: &Client) -> HashMap<String, (bool, bool)> {
    let Some((200, body)) = admin.get("/mocks") else {
        return HashMap::new();
    };
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    parsed["mocks"]
        .as_array()
        .map(|mocks| {
            mocks
                .iter()
                .filter_map(|m| {
                    Some((
                        m["marker"].as_str()?.to_string(),
                        (m["forwarded"].as_bool()?, m["written"].as_bool()?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Check 10: Live traffic per sending host over `--live` seconds, with PAN-OS hints.
fn live_traffic(context: &Context) -> Check {
    let mut check = Check::new(10, "live traffic");
    let Some(admin) = &context.admin else {
        return skipped(10, "live traffic", "no admin endpoint");
    };
    let before = peer_counts(admin);
    std::thread::sleep(Duration::from_secs(context.args.live));
    let after = peer_counts(admin);
    let seconds = context.args.live;
    let mut hosts: Vec<&String> = after.keys().collect();
    hosts.sort();
    let mut senders = 0;
    for host in hosts {
        let delta = |field: &str| {
            let now = after[host].get(field).and_then(Value::as_u64).unwrap_or(0);
            let then = before
                .get(host)
                .and_then(|c| c.get(field))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            now.saturating_sub(then)
        };
        let received = delta("received");
        if received == 0 {
            continue;
        }
        senders += 1;
        let (cef, csv, forwarded) = (delta("cef_valid"), delta("panos_csv"), delta("forwarded"));
        let (traffic, not_cef, invalid) = (
            delta("dropped_traffic"),
            delta("dropped_not_cef"),
            delta("dropped_invalid_cef"),
        );
        check.saw(format!(
            "{host}: {received} messages in {seconds} s, {cef} valid CEF, {forwarded} forwarded, dropped: {traffic} TRAFFIC, {not_cef} not CEF, {invalid} invalid CEF"
        ));
        if csv > 0 {
            let types = after[host]["panos_types"]
                .as_object()
                .map(|types| {
                    types
                        .iter()
                        .map(|(log_type, count)| {
                            format!("{log_type} {}", count.as_u64().unwrap_or(0))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let done = match context.config.panos.csv {
                PanosCsv::Convert => "converted to CEF",
                PanosCsv::Keep => "kept as CSV ([panos] csv = \"keep\")",
                PanosCsv::Drop => "dropped ([panos] csv = \"drop\")",
            };
            check.saw(format!(
                "{host} sends PAN-OS's default CSV ({csv} messages; since the start, by type: {types}), {done}"
            ));
            let unconverted = delta("panos_unconverted");
            if unconverted > 0 {
                check.worse(
                    Status::Warn,
                    format!("{unconverted} PAN-OS CSV messages from {host} could not be converted (the relay's log says why)"),
                );
            }
        }
        if forwarded == 0 {
            let hint = if csv > 0 && cef == 0 {
                format!("{host} sends PAN-OS's default CSV and [panos] csv is not \"convert\", so the agent gets nothing from it: set [panos] csv = \"convert\" (the default), or {PANOS_CEF_HINT}")
            } else if traffic == received {
                format!("{host} sends only TRAFFIC logs, which filter \"cef\" drops by design: forward THREAT/URL/SYSTEM logs too, or set [filter] mode = \"cef-all\" to keep traffic")
            } else if invalid > 0 {
                format!("{host} sends CEF the parser rejects: `cefrelay parse` on a captured line shows the error")
            } else {
                format!("the filter (mode \"{}\") drops everything {host} sends: check its syslog server profile format, or set [filter] mode", filter_name(context.config.filter))
            };
            check.worse(Status::Fail, hint);
        }
    }
    if senders == 0 {
        check
            .saw(format!("no host sent anything in {seconds} s"))
            .worse(
                Status::Warn,
                "PAN-OS: check the syslog server profile (server address, port, transport UDP/TCP/SSL, facility) and that Log Forwarding profiles on the security rules use it; Monitor > Logs > System shows syslog send errors",
            );
    }
    check
}

fn peer_counts(admin: &Client) -> serde_json::Map<String, Value> {
    admin
        .get("/peers")
        .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
        .and_then(|v| v["peers"].as_object().cloned())
        .unwrap_or_default()
}

fn tool_exists(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file())
            || ["/usr/sbin", "/sbin"]
                .iter()
                .any(|d| Path::new(d).join(tool).is_file())
    })
}

/// Runs a read-only tool; its standard output when it exists and succeeds.
fn run_tool(tool: &str, args: &[&str]) -> Option<String> {
    if !tool_exists(tool) {
        return None;
    }
    let output = Command::new(tool).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn filter_name(mode: FilterMode) -> &'static str {
    match mode {
        FilterMode::Cef => "cef",
        FilterMode::CefAll => "cef-all",
        FilterMode::Legacy => "legacy",
        FilterMode::All => "all",
    }
}

fn list(addresses: &[SocketAddr]) -> String {
    addresses
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
