//! `cefrelay install` and `cefrelay uninstall`: what cef_installer.py did, done safely. Our own
//! files are written whole (temp file and rename); the admin's configuration is kept unless
//! `--force`; rsyslog and syslog-ng files are only ever edited line by line, in place (see
//! [`syslog_conf`]). Every step says what it did or, with `--dry-run`, `--root` or no systemd,
//! what it would do; a second run with the same flags changes nothing and says so.

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::cli::{InstallArgs, Target, UninstallArgs};
use crate::config::{
    listener_at, parse_endpoint, Agent, Config, FilterMode, Protocol, DEFAULT_ADMIN,
    DEFAULT_LISTENERS,
};
use crate::exit;
use crate::host::proc_net::{self, Transport};
use crate::host::syslog_conf;
use crate::sanitize::{for_terminal, lines_for_terminal};

/// The unit file: `deploy/cefrelay.service` is the one source of truth.
pub const UNIT: &str = include_str!("../../deploy/cefrelay.service");
/// The example configuration with every key documented, installed next to the real one.
const EXAMPLE_CONFIG: &str = include_str!("../../deploy/cefrelay.toml");

const CONFIG_PATH: &str = "/etc/cefrelay/cefrelay.toml";
const EXAMPLE_PATH: &str = "/etc/cefrelay/cefrelay.example.toml";
const UNIT_PATH: &str = "/etc/systemd/system/cefrelay.service";
const TLS_DROP_IN_PATH: &str = "/etc/systemd/system/cefrelay.service.d/tls.conf";
const BINARY_PATH: &str = "/usr/local/bin/cefrelay";
const SERVICE: &str = "cefrelay.service";
/// Where systemd puts `LoadCredential=` files for the service (readable by its dynamic user only).
const CREDENTIALS_DIR: &str = "/run/credentials/cefrelay.service";
const SYSLOG_DAEMONS: [&str; 2] = ["rsyslog.service", "syslog-ng.service"];
/// The files whose whole text `--dry-run` prints: the ones an admin reviews before letting
/// `install` write them. The example configuration is `deploy/cefrelay.toml` as shipped, and the
/// binary is this program.
const SHOWN_BY_DRY_RUN: [&str; 3] = [CONFIG_PATH, UNIT_PATH, TLS_DROP_IN_PATH];

impl Target {
    /// systemd is driven only on the live system; otherwise its commands are printed.
    fn drives_systemd(&self) -> bool {
        !self.dry_run && self.root == Path::new("/") && Path::new("/run/systemd/system").exists()
    }

    fn on_disk(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// What the steps of one run did, for the closing line and the systemd commands.
#[derive(Default)]
struct Outcome {
    changed: bool,
    syslog_daemons_edited: bool,
}

pub fn install(args: &InstallArgs) -> anyhow::Result<u8> {
    let agent = choose_agent(args);
    let filter = args.filter.unwrap_or(FilterMode::Cef);
    let config = match render_config(args, agent, filter) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("cefrelay install: {error}");
            return Ok(exit::BAD_CONFIG);
        }
    };
    let target = &args.target;
    let mut outcome = Outcome::default();

    let binary = std::env::current_exe().context("finding this program's own path")?;
    let binary = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let kept_config = write_config(target, &config, args.force, &mut outcome)?;
    write_file(
        target,
        EXAMPLE_PATH,
        EXAMPLE_CONFIG.as_bytes(),
        0o644,
        &mut outcome,
    )?;
    write_file(target, BINARY_PATH, &binary, 0o755, &mut outcome)?;
    write_file(target, UNIT_PATH, UNIT.as_bytes(), 0o644, &mut outcome)?;
    match tls_drop_in(args) {
        Some(drop_in) => write_file(
            target,
            TLS_DROP_IN_PATH,
            drop_in.as_bytes(),
            0o644,
            &mut outcome,
        )?,
        None => remove_file(target, TLS_DROP_IN_PATH, &mut outcome)?,
    }

    handle_conflicts(
        target,
        args.disable_conflicting_inputs,
        filter,
        &mut outcome,
    )?;

    let mut commands: Vec<Vec<String>> = Vec::new();
    if outcome.changed {
        commands.push(systemctl(&["daemon-reload"]));
    }
    if outcome.syslog_daemons_edited {
        // They must let go of 514 before the relay binds it.
        commands.push(systemctl(&[
            "try-restart",
            SYSLOG_DAEMONS[0],
            SYSLOG_DAEMONS[1],
        ]));
    }
    // Where systemd cannot be asked, the files say whether anything is left to do.
    let (enabled, active) = match service_state(target) {
        Some(state) => (state.enabled, state.active),
        None => (!outcome.changed, !outcome.changed),
    };
    if !enabled {
        commands.push(systemctl(&["enable", SERVICE]));
    }
    if outcome.changed || !active {
        // `restart` starts a stopped unit too.
        commands.push(systemctl(&["restart", SERVICE]));
    }
    run_commands(target, &commands)?;

    if !outcome.changed && commands.is_empty() {
        println!("nothing to do: cefrelay is installed as asked");
    } else if target.dry_run {
        println!("dry run: nothing was changed");
    }
    if kept_config {
        println!(
            "note: {CONFIG_PATH} was kept; add --force to replace it with the configuration above"
        );
    }
    Ok(0)
}

pub fn uninstall(args: &UninstallArgs) -> anyhow::Result<u8> {
    let target = &args.target;
    let mut outcome = Outcome::default();
    let installed = target.on_disk(UNIT_PATH).exists();
    let mut commands = Vec::new();
    if installed {
        // Stop the relay first so the syslog daemons can take 514 back.
        commands.push(systemctl(&["disable", "--now", SERVICE]));
    }
    run_commands(target, &commands)?;
    remove_file(target, UNIT_PATH, &mut outcome)?;
    remove_file(target, TLS_DROP_IN_PATH, &mut outcome)?;
    remove_dir_if_empty(target, "/etc/systemd/system/cefrelay.service.d")?;
    remove_file(target, BINARY_PATH, &mut outcome)?;
    remove_file(target, EXAMPLE_PATH, &mut outcome)?;
    if args.purge {
        remove_file(target, CONFIG_PATH, &mut outcome)?;
        remove_dir_if_empty(target, "/etc/cefrelay")?;
    } else if target.on_disk(CONFIG_PATH).exists() {
        println!("kept {CONFIG_PATH} (--purge removes it)");
    }
    for edit in syslog_conf::plan_restore(&target.root)? {
        show_edit("restore", &edit);
        if !target.dry_run {
            syslog_conf::apply(&edit)?;
        }
        outcome.changed = true;
        outcome.syslog_daemons_edited = true;
    }
    let mut after = Vec::new();
    if outcome.changed {
        after.push(systemctl(&["daemon-reload"]));
    }
    if outcome.syslog_daemons_edited {
        after.push(systemctl(&[
            "try-restart",
            SYSLOG_DAEMONS[0],
            SYSLOG_DAEMONS[1],
        ]));
    }
    run_commands(target, &after)?;
    if !outcome.changed && commands.is_empty() {
        println!("nothing to do: cefrelay is not installed");
    } else if target.dry_run {
        println!("dry run: nothing was changed");
    }
    Ok(0)
}

/// `--agent`, else the agent whose port listens on this host, saying which and why. Without a
/// listener it stays the long-standing default (legacy), and says so: a relay pointed at a port
/// nobody listens on only buffers. The legacy agent was retired in 2024, so when both listen the
/// Azure Monitor agent is the one meant.
fn choose_agent(args: &InstallArgs) -> Agent {
    if let Some(agent) = args.agent {
        return agent;
    }
    let ama = listener_on(Agent::Ama);
    let legacy = listener_on(Agent::Legacy);
    let (agent, why) = match (&ama, &legacy) {
        (Some(holder), None) => (Agent::Ama, format!("{holder} listens on its port")),
        (None, Some(holder)) => (Agent::Legacy, format!("{holder} listens on its port")),
        (Some(ama), Some(legacy)) => (
            Agent::Ama,
            format!(
                "{ama} listens on its port, and {legacy} on the legacy agent's ({}); the legacy agent is retired",
                Agent::Legacy.port()
            ),
        ),
        (None, None) => (
            Agent::Legacy,
            format!(
                "nothing listens on 127.0.0.1:{} (Azure Monitor agent) nor 127.0.0.1:{} (legacy agent), so the default stays; give --agent ama for the Azure Monitor agent",
                Agent::Ama.port(),
                Agent::Legacy.port()
            ),
        ),
    };
    println!(
        "agent: {} (127.0.0.1:{}): {why}",
        value_name(agent),
        agent.port()
    );
    if args.target.root != Path::new("/") {
        println!("  (the agent's port was looked up on this host, not under --root)");
    }
    agent
}

/// Who listens on `agent`'s port where the relay forwards (127.0.0.1, or the IPv4 wildcard), in
/// words: the process where it can be seen (other users' processes need root), else "a process".
fn listener_on(agent: Agent) -> Option<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, agent.port()));
    let bound = proc_net::listening(Transport::Tcp, address);
    let first = bound.first()?;
    let owners = proc_net::owners(&[first.inode]);
    Some(match owners.get(&first.inode) {
        Some(owner) => for_terminal(&owner.to_string()).into_owned(),
        None => "a process".to_string(),
    })
}

/// The configuration the flags describe, validated exactly as `run` will read it.
fn render_config(args: &InstallArgs, agent: Agent, filter: FilterMode) -> Result<String, String> {
    let mut listeners = args.listen.clone();
    if listeners.is_empty() {
        listeners = DEFAULT_LISTENERS.map(String::from).to_vec();
    }
    for url in &listeners {
        listener_at(url).map_err(|message| format!("--listen {url}: {message}"))?;
    }
    let tls_given = listeners.iter().any(|url| url.starts_with("tls://"));
    if args.tls_cert.is_some() && !tls_given {
        listeners.extend(["tls://0.0.0.0:6514", "tls://[::]:6514"].map(String::from));
    } else if tls_given && args.tls_cert.is_none() {
        return Err("a tls:// listener needs --tls-cert and --tls-key".into());
    }
    let port = agent.port();
    let agent = value_name(agent);
    let forward = match &args.forward {
        Some(url) => {
            let (protocol, _) = parse_endpoint(url).map_err(|m| format!("--forward {url}: {m}"))?;
            if protocol == Protocol::Tls {
                return Err(format!(
                    "--forward {url}: the agent forward speaks tcp:// or udp://"
                ));
            }
            url.clone()
        }
        None => format!("tcp://127.0.0.1:{port}"),
    };
    let filter = value_name(filter);

    let mut text = format!(
        "# cefrelay configuration, written by `cefrelay install`. Every key, with its default and meaning:\n\
         # {EXAMPLE_PATH}. After an edit: `cefrelay check-config {CONFIG_PATH}`, then\n\
         # `systemctl reload cefrelay` (filter, certificates) or `systemctl restart cefrelay` (the rest).\n"
    );
    let tail = format!(
        "\n[filter]\nmode = \"{filter}\"\n\n[forward]\nagent = \"{agent}\"\naddress = [{}]\n\n[admin]\nlisten = \"{DEFAULT_ADMIN}\"\n",
        toml_string(&forward)
    );
    // The service reads the TLS files where systemd hands them over, which exists only while it
    // runs; the files given now (under --root, where that system has them) are checked in their
    // place, as `run` will load them.
    let credential = |name: &str| Some(PathBuf::from(format!("{CREDENTIALS_DIR}/{name}")));
    let as_written = TlsPaths {
        cert: credential("tls-cert.pem"),
        key: credential("tls-key.pem"),
        client_ca: args
            .tls_client_ca
            .as_ref()
            .and(credential("tls-client-ca.pem")),
    };
    let on_target = |path: &PathBuf| args.target.on_disk(&absolute(path).display().to_string());
    let as_given = TlsPaths {
        cert: args.tls_cert.as_ref().map(on_target),
        key: args.tls_key.as_ref().map(on_target),
        client_ca: args.tls_client_ca.as_ref().map(on_target),
    };
    let checked = format!("{text}{}{tail}", listener_tables(&listeners, &as_given));
    Config::from_toml(&checked, Path::new(CONFIG_PATH)).map_err(|e| e.to_string())?;
    text.push_str(&listener_tables(&listeners, &as_written));
    text.push_str(&tail);
    Ok(text)
}

/// How the configuration file (and the command line) spells `value`.
fn value_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|possible| possible.get_name().to_string())
        .unwrap_or_default()
}

struct TlsPaths {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
}

fn listener_tables(listeners: &[String], tls: &TlsPaths) -> String {
    let mut text = String::new();
    for url in listeners {
        text.push_str(&format!("\n[[listener]]\naddress = {}\n", toml_string(url)));
        if !url.starts_with("tls://") {
            continue;
        }
        for (key, path) in [
            ("tls_cert", &tls.cert),
            ("tls_key", &tls.key),
            ("tls_client_ca", &tls.client_ca),
        ] {
            if let Some(path) = path {
                let value = toml_string(&path.display().to_string());
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
    }
    text
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

/// `LoadCredential=` hands root-only key files to the dynamic service user.
fn tls_drop_in(args: &InstallArgs) -> Option<String> {
    let cert = args.tls_cert.as_ref()?;
    let key = args.tls_key.as_ref()?;
    let mut text = format!(
        "# Written by `cefrelay install`: the TLS files, readable by the service only at {CREDENTIALS_DIR}.\n\
         # They are read when the service starts: after renewing them, `systemctl restart cefrelay`.\n\
         [Service]\nLoadCredential=tls-cert.pem:{}\nLoadCredential=tls-key.pem:{}\n",
        absolute(cert).display(),
        absolute(key).display()
    );
    if let Some(ca) = &args.tls_client_ca {
        text.push_str(&format!(
            "LoadCredential=tls-client-ca.pem:{}\n",
            absolute(ca).display()
        ));
    }
    Some(text)
}

/// The configuration is the admin's once written: kept (with the difference shown) unless `force`.
/// Returns whether an existing, different file was kept.
fn write_config(
    target: &Target,
    text: &str,
    force: bool,
    outcome: &mut Outcome,
) -> anyhow::Result<bool> {
    let path = target.on_disk(CONFIG_PATH);
    match fs::read_to_string(&path) {
        Ok(existing) if existing != text => {
            print!("{}", diff(&existing, text, CONFIG_PATH));
            if !force {
                println!(
                    "kept {CONFIG_PATH}: it differs from what these flags write (shown above)"
                );
                return Ok(true);
            }
            let backup = format!("{}{}", path.display(), syslog_conf::BACKUP_SUFFIX);
            if !target.dry_run {
                fs::copy(&path, &backup)
                    .with_context(|| format!("copying {} to {backup}", path.display()))?;
            }
            println!(
                "{} {CONFIG_PATH} (--force; the old one is {CONFIG_PATH}{})",
                verb(target, "replaced"),
                syslog_conf::BACKUP_SUFFIX
            );
            show_text(target, CONFIG_PATH, text.as_bytes());
            write_atomically(target, &path, text.as_bytes(), 0o644)?;
            outcome.changed = true;
            Ok(false)
        }
        _ => {
            write_file(target, CONFIG_PATH, text.as_bytes(), 0o644, outcome)?;
            Ok(false)
        }
    }
}

/// Creates or replaces one of our own files; says "unchanged" when it already holds `contents`.
fn write_file(
    target: &Target,
    path: &str,
    contents: &[u8],
    mode: u32,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let on_disk = target.on_disk(path);
    let existing = fs::read(&on_disk).ok();
    let same_mode = fs::metadata(&on_disk).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode);
    if existing.as_deref() == Some(contents) && same_mode {
        println!("unchanged {path}");
        return Ok(());
    }
    let action = if existing.is_some() {
        "replaced"
    } else {
        "created"
    };
    println!("{} {path} (mode {mode:04o})", verb(target, action));
    show_text(target, path, contents);
    write_atomically(target, &on_disk, contents, mode)?;
    outcome.changed = true;
    Ok(())
}

/// Under `--dry-run`, the whole text of a file an admin reviews ([`SHOWN_BY_DRY_RUN`]), between
/// lines that name it, so that it can be read (or copied) as it would be written.
fn show_text(target: &Target, path: &str, contents: &[u8]) {
    if !target.dry_run || !SHOWN_BY_DRY_RUN.contains(&path) {
        return;
    }
    let text = String::from_utf8_lossy(contents);
    println!("----- {path} -----");
    print!("{}", lines_for_terminal(&text));
    if !text.ends_with('\n') {
        println!();
    }
    println!("----- end of {path} -----");
}

/// Temp file in the same directory, then rename: readers (and a running binary) never see half a file.
fn write_atomically(
    target: &Target,
    on_disk: &Path,
    contents: &[u8],
    mode: u32,
) -> anyhow::Result<()> {
    if target.dry_run {
        return Ok(());
    }
    let dir = on_disk.parent().context("a file path has a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temp = dir.join(format!(
        ".{}.cefrelay-new",
        on_disk.file_name().unwrap_or_default().to_string_lossy()
    ));
    let result = (|| -> io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(contents)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, on_disk)
    })();
    if let Err(error) = result {
        let _ = fs::remove_file(&temp);
        return Err(error).with_context(|| format!("writing {}", on_disk.display()));
    }
    Ok(())
}

fn remove_file(target: &Target, path: &str, outcome: &mut Outcome) -> anyhow::Result<()> {
    let on_disk = target.on_disk(path);
    if !on_disk.exists() {
        return Ok(());
    }
    println!("{} {path}", verb(target, "removed"));
    if !target.dry_run {
        fs::remove_file(&on_disk).with_context(|| format!("removing {}", on_disk.display()))?;
    }
    outcome.changed = true;
    Ok(())
}

fn remove_dir_if_empty(target: &Target, path: &str) -> anyhow::Result<()> {
    if !target.dry_run {
        // Fails, as it should, when the admin keeps other files there.
        let _ = fs::remove_dir(target.on_disk(path));
    }
    Ok(())
}

/// Prints the conflicts and, when asked, comments them out.
fn handle_conflicts(
    target: &Target,
    disable: bool,
    filter: FilterMode,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let found = syslog_conf::find(&target.root);
    for conflict in &found {
        println!("conflict: {}", for_terminal(&conflict.to_string()));
    }
    let to_disable: Vec<_> = found
        .iter()
        .filter(|c| c.disabled_by_install())
        .cloned()
        .collect();
    if to_disable.is_empty() {
        return Ok(());
    }
    if !disable {
        println!(
            "left as they are: comment out the lines above and restart the daemon, or run again with --disable-conflicting-inputs"
        );
        return Ok(());
    }
    for edit in syslog_conf::plan_disable(&target.root, &to_disable)? {
        show_edit("disable", &edit);
        if !target.dry_run {
            syslog_conf::apply(&edit)
                .with_context(|| format!("editing {}", edit.on_disk.display()))?;
        }
    }
    if to_disable
        .iter()
        .any(|c| matches!(c.kind, syslog_conf::Kind::CefForward { .. }))
    {
        println!("{}", what_the_filter_forwards_instead(filter));
    }
    outcome.changed = true;
    outcome.syslog_daemons_edited = true;
    Ok(())
}

/// Said when the old forwarding rule goes: it sent the agent every line containing `CEF:` or
/// `ASA-` (PAN-OS TRAFFIC and Cisco ASA included), and from now on the relay's filter decides, so
/// whatever that filter drops stops reaching Sentinel, and nothing else would say so.
fn what_the_filter_forwards_instead(filter: FilterMode) -> String {
    let mut text = format!(
        "note: the forwarding rule disabled above sent the agent whatever it matched (cef_installer.py's rule: every line containing CEF: or ASA-, so PAN-OS TRAFFIC and Cisco ASA too); from now on the relay's filter decides. filter {}: {}",
        filter.name(),
        filter.in_words()
    );
    if matches!(filter, FilterMode::Cef | FilterMode::CefAll) {
        text.push_str(
            "\n  to forward what the rule did, install with --filter legacy (or set [filter] mode = \"legacy\" and `systemctl reload cefrelay`)",
        );
    }
    text
}

fn show_edit(what: &str, edit: &syslog_conf::Edit) {
    let path = edit.path.display().to_string();
    println!(
        "{what} in {path} (in place; the file before is {path}{}):",
        syslog_conf::BACKUP_SUFFIX
    );
    print!("{}", diff(&edit.before, &edit.after, &path));
}

fn diff(before: &str, after: &str, path: &str) -> String {
    let text = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(1)
        .header(path, &format!("{path} (new)"))
        .to_string();
    text.lines()
        .map(|line| format!("{}\n", for_terminal(line)))
        .collect()
}

/// "created", or under `--dry-run` "would create".
fn verb(target: &Target, done: &str) -> String {
    if target.dry_run {
        format!("would {}", done.strip_suffix('d').unwrap_or(done))
    } else {
        done.to_string()
    }
}

fn systemctl(args: &[&str]) -> Vec<String> {
    std::iter::once("systemctl")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

struct ServiceState {
    enabled: bool,
    active: bool,
}

/// The unit's state where systemd runs this system; `None` otherwise.
fn service_state(target: &Target) -> Option<ServiceState> {
    if !target.drives_systemd() {
        return None;
    }
    let ok = |verb: &str| {
        Command::new("systemctl")
            .args([verb, "--quiet", SERVICE])
            .status()
            .is_ok_and(|s| s.success())
    };
    Some(ServiceState {
        enabled: ok("is-enabled"),
        active: ok("is-active"),
    })
}

/// Runs the commands where systemd drives this system; otherwise prints them for the admin.
fn run_commands(target: &Target, commands: &[Vec<String>]) -> anyhow::Result<()> {
    let live = target.drives_systemd();
    if !live && !commands.is_empty() {
        let why = if target.dry_run {
            "dry run"
        } else if target.root != Path::new("/") {
            "--root"
        } else {
            "systemd does not run here"
        };
        println!("not run ({why}); the commands are:");
    }
    for command in commands {
        let line = command.join(" ");
        if !live {
            println!("  {line}");
            continue;
        }
        println!("running: {line}");
        let status = Command::new(&command[0])
            .args(&command[1..])
            .status()
            .with_context(|| format!("running {line}"))?;
        if !status.success() {
            bail!("`{line}` failed ({status}); `journalctl -u cefrelay` or `systemctl status` says why");
        }
    }
    Ok(())
}
